"""The type matrix's engines: each reads one sink output and returns a Table — its column types as the engine names
them and its rows as the engine hands them to Python (temporals as the engine's integers or its own text, since
Python's datetime cannot hold ±infinity, BC dates or year 294246). tm_values.adapt then brings each value into
the plain form of its Sluice kind.

  pyarrow     Parquet files (both layouts, the staged files): dates and timestamps as their stored integers,
              times as the datetime.time pyarrow makes of them
  duckdb      Parquet files and the staging target after apply.duckdb.sql, with the readers' duckdb 2.x
  spark       Parquet files (local[1], one session): dates unix_date, timestamps unix_micros
  pyiceberg   Iceberg tables (StaticTable on the newest metadata file) → Arrow
  deltalake   Delta tables (delta-rs) → Arrow
  duckdb-1.5.5  Iceberg and Delta tables with DuckDB's own iceberg / delta extensions (second venv, tm_duckdb.py)
  json        the jsonl sink's lines, decoded by Python's json (Sluice's value rendering)
"""
import base64, datetime, decimal, glob, json, os, shutil, subprocess, uuid

import tm_duckdb
from tm_values import (DATE_INFINITY, DATE_NEGATIVE_INFINITY, TIMESTAMP_INFINITY, TIMESTAMP_NEGATIVE_INFINITY, Unparsed, days_from_civil, parse_date,
                       parse_iso_interval, parse_time, parse_timestamp, parse_timetz, wire_decode)


class Table:
    """One engine's read of one output: `types` {column: the engine's type name}, `rows` [{column: value}] (with
    `__order`, the row's place in the output when the engine tells it: file name and row number). `error`: the
    engine could not read it at all; `whole_error`: it refused the plain read, and `column_errors` names the columns
    it could not read even one by one (the others were read and are checked)."""

    def __init__(self, types=None, rows=None, error=None, column_errors=None, whole_error=None):
        self.types, self.rows, self.error = types or {}, rows or [], error
        self.column_errors, self.whole_error = column_errors or {}, whole_error


# Adapting engine values to the plain forms ------------------------------------------------------------------------

class Bad:
    """An engine value that has no plain form for its kind (never equal to anything)."""

    def __init__(self, value, why):
        self.value, self.why = value, why

    def __repr__(self):
        return "%s (%s)" % (repr(self.value)[:200], self.why)


def engine_temporal(text, parse, extremes):
    """A date or timestamp duckdb read (`d:<days>`, `us:<µs>`, `infinity`) or an engine's text. A finite value at
    the integer that stands for ±infinity is the engine not taking the stored infinity as infinite."""
    if text.startswith("d:") or text.startswith("us:"):
        value = int(text.split(":", 1)[1])
        if value in extremes:
            return Bad(text, "the stored %sinfinity (%d) is a finite value to this engine"
                       % ("-" if value < 0 else "+", value))
        return value
    return parse(text)


def adapt(value, kind, element_kind=None, jsonl=False):
    """An engine's value of a column of Sluice kind `kind` → the plain form (tm_values)."""
    if value is None:
        return None
    try:
        if kind == "array":
            if not isinstance(value, (list, tuple)):
                return Bad(value, "not a list")
            return [adapt(v, element_kind, None, jsonl) for v in value]
        if kind == "bool":
            return value if isinstance(value, bool) else Bad(value, "not a bool")
        if kind == "int":
            if isinstance(value, bool):
                return Bad(value, "a bool")
            if isinstance(value, int):
                return value
            if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
                # BIGINT UNSIGNED as decimal(20,0) (connectors/databricks/README.md, Type mapping)
                return int(value)
            return Bad(value, "not an integer")
        if kind == "double":
            if isinstance(value, float):
                return value
            if jsonl and value in ("NaN", "Infinity", "-Infinity"):
                return float(value)
            if jsonl and isinstance(value, int) and not isinstance(value, bool):
                return Bad(value, "an integer where a double is rendered")
            return Bad(value, "not a float")
        if kind == "decimal":
            if isinstance(value, decimal.Decimal):
                return format(value, "f")
            if isinstance(value, str):
                return value
            return Bad(value, "not a decimal")
        if kind == "string":
            return value if isinstance(value, str) else Bad(value, "not a string")
        if kind == "bytes":
            if isinstance(value, (bytes, bytearray, memoryview)):
                return bytes(value)
            if jsonl and isinstance(value, str):
                return base64.b64decode(value, validate=True)
            return Bad(value, "not bytes")
        if kind == "date":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return engine_temporal(value, parse_date, (DATE_NEGATIVE_INFINITY, DATE_INFINITY))
            if isinstance(value, datetime.date):
                return days_from_civil(value.year, value.month, value.day)
            return Bad(value, "not a date")
        if kind == "time":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return parse_time(value)
            if isinstance(value, datetime.time):
                return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
            return Bad(value, "not a time")
        if kind == "timetz":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return parse_timetz(value)
            if isinstance(value, datetime.time) and value.tzinfo is None:  # a UTC time of day (Parquet TIME UTC)
                return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
            return Bad(value, "not a timetz")
        if kind in ("timestamp", "timestamptz"):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return engine_temporal(value, parse_timestamp, (TIMESTAMP_NEGATIVE_INFINITY, TIMESTAMP_INFINITY))
            if isinstance(value, datetime.datetime):
                base = datetime.datetime(1970, 1, 1, tzinfo=value.tzinfo and datetime.timezone.utc)
                return (value - base) // datetime.timedelta(microseconds=1)
            return Bad(value, "not a timestamp")
        if kind == "interval":
            return parse_iso_interval(value) if isinstance(value, str) else Bad(value, "not ISO 8601 text")
        if kind == "uuid":
            if isinstance(value, uuid.UUID):
                return str(value)
            if isinstance(value, (bytes, bytearray)) and len(value) == 16:
                return str(uuid.UUID(bytes=bytes(value)))
            return value if isinstance(value, str) else Bad(value, "not a uuid")
        if kind == "json":
            if jsonl:
                return {"$doc": value}
            return value if isinstance(value, str) else Bad(value, "not JSON text")
    except (Unparsed, ValueError, TypeError) as error:
        return Bad(value, "unparsable: %s" % error)
    return Bad(value, "unknown kind " + str(kind))


# Arrow (pyarrow, pyiceberg, deltalake) ------------------------------------------------------------------------------

def _plain_arrow(array):
    """An Arrow array with dates and timestamps as their stored integers (times stay: pyarrow's datetime.time is
    what a user gets) and extension types as their storage."""
    import pyarrow as pa
    t = array.type
    if getattr(t, "extension_name", None):
        if t.extension_name == "arrow.uuid":
            return array  # to_pylist gives uuid.UUID
        return _plain_arrow(array.storage)
    if pa.types.is_date32(t):
        return array.cast(pa.int32())
    if pa.types.is_timestamp(t) or pa.types.is_date64(t):
        return array.cast(pa.int64())
    if pa.types.is_time32(t):
        return array.cast(pa.int32())
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        values = _plain_arrow(array.values)
        cls = pa.ListArray if pa.types.is_list(t) else pa.LargeListArray
        return cls.from_arrays(array.offsets, values, mask=array.is_null())
    return array


def arrow_table(table, order=None):
    """A pyarrow Table → Table (its types as pyarrow prints them)."""
    types = {f.name: str(f.type) for f in table.schema}
    columns = {}
    for name in table.column_names:
        chunked = table.column(name)
        values = []
        for chunk in chunked.chunks:
            values.extend(_plain_arrow(chunk).to_pylist())
        columns[name] = values
    rows = [{n: columns[n][i] for n in table.column_names} for i in range(table.num_rows)]
    for row, place in zip(rows, order or []):
        row["__order"] = place
    return Table(types, rows)


def pyarrow_files(files):
    import pyarrow as pa
    import pyarrow.parquet as pq
    if not files:
        return Table(error="no Parquet files")
    tables = [pq.read_table(f) for f in files]
    order = [(os.path.basename(f), i) for f, t in zip(files, tables) for i in range(t.num_rows)]
    return arrow_table(pa.concat_tables(tables), order)


def pyiceberg_table(metadata):
    from pyiceberg.table import StaticTable
    return arrow_table(StaticTable.from_metadata(metadata).scan().to_arrow())


def deltalake_table(path):
    from deltalake import DeltaTable
    return arrow_table(DeltaTable(path).to_pyarrow_table())


# duckdb -------------------------------------------------------------------------------------------------------------

def duckdb_connect():
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def duckdb_result(result):
    names = [c for c, _ in result["columns"]]
    table = Table({c: t for c, t in result["columns"] if not c.startswith("__")},
                  [dict(zip(names, row)) for row in result["rows"]], column_errors=result.get("column_errors"),
                  whole_error=result.get("whole_error"))
    for row in table.rows:
        if "__file" in row:
            row["__order"] = (os.path.basename(row.pop("__file")), row.pop("__row"))
    return table


def duckdb_files(files):
    if not files:
        return Table(error="no Parquet files")
    con = duckdb_connect()
    listing = "[" + ", ".join("'%s'" % f.replace("'", "''") for f in files) + "]"
    relation = ("(SELECT * EXCLUDE (filename, file_row_number), filename AS __file, file_row_number AS __row "
                "FROM read_parquet(%s, filename = true, file_row_number = true))" % listing)
    return duckdb_result(tm_duckdb.read(con, relation))


def duckdb_stage_target(folder, work):
    """Runs the stage's setup.duckdb.sql, copies every staged file into a test stage and runs apply.duckdb.sql;
    returns the target table without Sluice's bookkeeping columns."""
    from _common import open_duckdb_stage
    test_stage = os.path.join(work, "duckdb-stage")
    shutil.rmtree(test_stage, ignore_errors=True)
    con, name, apply, ledger = open_duckdb_stage(folder, test_stage)
    for entry in ledger:
        shutil.copy(os.path.join(folder, entry["file"]), os.path.join(test_stage, name, entry["file"]))
    con.execute(apply)
    schema, table = name.split(".", 1)
    result = duckdb_result(tm_duckdb.read(con, '"%s"."%s"' % (schema, table)))
    for row in result.rows:
        for column in [c for c in row if c.startswith("_sluice_")]:
            del row[column]
    result.types = {c: t for c, t in result.types.items() if not c.startswith("_sluice_")}
    return result


def duckdb15_tables(python, reads, work):
    """{name: Table} of `reads` ([{"name", "sql"}]) by DuckDB 1.5.5 with its iceberg and delta extensions."""
    request = os.path.join(work, "duckdb15-request.json")
    answer = os.path.join(work, "duckdb15-answer.json")
    with open(request, "w") as f:
        json.dump({"extension_dir": os.path.join(work, "duckdb15-extensions"), "reads": reads}, f)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tm_duckdb.py")
    done = subprocess.run([python, script, request, answer], capture_output=True, timeout=600)
    if done.returncode != 0 or not os.path.exists(answer):
        message = "tm_duckdb.py failed (exit %d): %s" % (done.returncode, done.stderr.decode(errors="replace")[-1500:])
        return {r["name"]: Table(error=message) for r in reads}, None
    out = json.load(open(answer))
    tables = {}
    for name, result in out["reads"].items():
        if "error" in result:
            tables[name] = Table(error=result["error"])
        else:
            result["rows"] = [[wire_decode(v) for v in row] for row in result["rows"]]
            tables[name] = duckdb_result(result)
    return tables, out["version"]


# Spark --------------------------------------------------------------------------------------------------------------

def java17_home():
    """JAVA_HOME for Spark: the environment's, else Debian's Java 17 when `java` on PATH is another version."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    try:
        version = subprocess.run(["java", "-version"], capture_output=True).stderr.decode()
        if 'version "17' in version:
            return None
    except OSError:
        pass
    for candidate in sorted(glob.glob("/usr/lib/jvm/java-17-openjdk-*")):
        if os.path.exists(os.path.join(candidate, "bin", "java")):
            return candidate
    return None


class Spark:
    """One local[1] SparkSession for every file the harness reads."""

    def __init__(self, work):
        home = java17_home()
        if home:
            os.environ["JAVA_HOME"] = home
        from pyspark.sql import SparkSession
        import pyspark
        self.version = pyspark.__version__
        self.session = (SparkSession.builder.master("local[1]").appName("sluice-type-matrix")
                        .config("spark.ui.enabled", "false")
                        .config("spark.sql.session.timeZone", "UTC")
                        .config("spark.driver.memory", "1g")
                        .config("spark.sql.shuffle.partitions", "1")
                        .config("spark.local.dir", os.path.join(work, "spark-tmp"))
                        .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + os.path.join(work, "spark-tmp"))
                        .getOrCreate())
        self.session.sparkContext.setLogLevel("FATAL")  # refusals come back as exceptions, reported per output

    def expression(self, ref, data_type):
        from pyspark.sql import types as T
        if isinstance(data_type, T.ArrayType):
            inner = self.expression("x", data_type.elementType)
            return ref if inner == "x" else "transform(%s, x -> %s)" % (ref, inner)
        if isinstance(data_type, T.DateType):
            return "unix_date(%s)" % ref
        if isinstance(data_type, T.TimestampType):
            return "unix_micros(%s)" % ref
        if type(data_type).__name__ == "TimestampNTZType":
            return "unix_micros(CAST(%s AS TIMESTAMP))" % ref
        if type(data_type).__name__ in ("TimeType",):
            return "CAST(%s AS STRING)" % ref
        return ref

    def files(self, files):
        """The files read as Spark infers them. When Spark refuses that (a Parquet type it does not take), the
        columns are read with an explicit schema (the Arrow schema's Spark types), halving the set until each
        column Spark cannot read is named: so one refused column does not hide the others' values."""
        if not files:
            return Table(error="no Parquet files")
        try:
            frame = self.session.read.parquet(*files)
            return self.collect(frame, {f.name: f.dataType.simpleString() for f in frame.schema.fields})
        except Exception as error:
            whole = "Spark: " + self.message(error)
        import pyarrow.parquet as pq
        arrow_schema = pq.read_schema(files[0])
        ddl = {f.name: spark_ddl(f.type) for f in arrow_schema}
        errors, good = {}, []

        def probe(names):
            try:
                schema = ", ".join("`%s` %s" % (n, ddl[n]) for n in names if ddl[n])
                frame = self.session.read.schema(schema).parquet(*files)
                frame.selectExpr(*["%s AS `%s`" % (self.expression("`%s`" % f.name, f.dataType), f.name)
                                   for f in frame.schema.fields]).collect()
                good.extend(names)
            except Exception as error:
                if len(names) == 1:
                    errors[names[0]] = "Spark: " + self.message(error)
                else:
                    probe(names[: len(names) // 2])
                    probe(names[len(names) // 2:])
        names = [n for n in ddl if ddl[n]]
        errors.update({n: "no Spark type for Arrow %s" % arrow_schema.field(n).type for n in ddl if not ddl[n]})
        probe(names)
        frame = self.session.read.schema(", ".join("`%s` %s" % (n, ddl[n]) for n in names if n in good)).parquet(*files)
        table = self.collect(frame, {f.name: f.dataType.simpleString() for f in frame.schema.fields})
        table.whole_error, table.column_errors = whole, errors
        return table

    @staticmethod
    def message(error):
        text = " ".join(str(error).strip().splitlines()[:2])
        return text[:700]

    def collect(self, frame, types):
        exprs = ["%s AS `%s`" % (self.expression("`%s`" % f.name, f.dataType), f.name) for f in frame.schema.fields]
        exprs += ["_metadata.file_name AS `__file`", "_metadata.row_index AS `__row`"]
        rows = [r.asDict(recursive=False) for r in frame.selectExpr(*exprs).collect()]
        for row in rows:
            row["__order"] = (row.pop("__file"), row.pop("__row"))
            for k, v in row.items():
                if isinstance(v, bytearray):
                    row[k] = bytes(v)
                elif isinstance(v, list):
                    row[k] = [bytes(x) if isinstance(x, bytearray) else x for x in v]
        return Table(types, rows)

    def stop(self):
        self.session.stop()


def spark_ddl(t):
    """The Spark SQL type for an Arrow type, for reading with an explicit schema (None: no such type)."""
    import pyarrow as pa
    if getattr(t, "extension_name", None):
        return "STRING" if t.extension_name == "arrow.json" else spark_ddl(t.storage_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = spark_ddl(t.value_type)
        return inner and "ARRAY<%s>" % inner
    # (unsigned as Spark reads Parquet's unsigned integers: the next wider type, UINT64 as DECIMAL(20,0))
    simple = {"bool": "BOOLEAN", "int8": "TINYINT", "int16": "SMALLINT", "int32": "INT", "int64": "BIGINT",
              "uint8": "SMALLINT", "uint16": "INT", "uint32": "BIGINT", "uint64": "DECIMAL(20,0)",
              "float": "FLOAT", "double": "DOUBLE", "string": "STRING", "large_string": "STRING",
              "binary": "BINARY", "large_binary": "BINARY", "date32[day]": "DATE"}
    if str(t) in simple:
        return simple[str(t)]
    if pa.types.is_decimal(t):
        return "DECIMAL(%d,%d)" % (t.precision, t.scale)
    if pa.types.is_timestamp(t):
        return "TIMESTAMP" if t.tz else "TIMESTAMP_NTZ"
    if pa.types.is_time64(t):
        return "TIME(6)"
    if pa.types.is_fixed_size_binary(t):
        return "BINARY"
    return None


# jsonl (Sluice's own JSON rendering, read by Python's json) -------------------------------------------------------

def jsonl_records(path):
    """The jsonl sink's events as change rows: _op, _offset, _unchanged and the image (before for deletes)."""
    rows = []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            continue
        event = json.loads(line)
        image = event["before"] if event["op"] == "d" else event["after"]
        row = dict(image or {})
        row["_op"], row["_offset"] = event["op"], event["offset"]
        row["_unchanged"] = event.get("unchanged")
        row["_before"] = event.get("before")
        rows.append(row)
    return Table({}, rows)
