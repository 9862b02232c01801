"""The type matrix: every type the PostgreSQL or MariaDB connector lists, snapshotted and streamed through every sink,
read back by independent engines and compared value by value with the source database's own SELECT.

    python type_matrix.py --source postgres|mysql --url URL --sluice PATH --work DIR
                          [--duckdb15-python PATH] [--no-spark]
                          [--docs-out FILE | --check-docs FILE | --write-docs FILE]

1. Creates the table (tm_sources: psql / the mariadb CLI) with edge rows 1…9, writes a pipeline with every sink
   (parquet changelog and append, iceberg upsert and append, delta, snowflake_stage, jsonl) and runs
   `sluice run --until-caught-up` (the snapshot).
2. Streams: copies of the rows under new keys, updates (to NULL, from NULL, a small column beside TOASTed values),
   a primary-key change and a delete; runs sluice again.
3. Takes the source's SELECT after the copies (S1) and at the end (S2), each column as the source's text.
4. Reads every output with every engine that can read it (tm_readers) and compares each value, brought into the
   plain form of its Sluice kind (tm_values), with the source's text parsed per type (tm_sources). Change rows are
   matched by (op, key): r/c images equal S1, u images S2, deletes their before image; current tables equal S2.
   Also: the streamed copy of each row equals its snapshot row, in every output.
5. The docs table (source type → Sluice kind → Parquet / Iceberg / Delta / Snowflake type → what pyarrow, Spark and
   duckdb show) is generated from the outputs themselves: the log's `_schemas`, the Parquet footer, the Iceberg
   metadata JSON, the Delta log's schemaString and the stage's setup.snowflake.sql.

Prints every mismatch (output, engine, column, row: source text, engine value, engine type) and exits 1 on any
mismatch, reader failure or (with --check-docs) docs that differ from the generated table; 0 otherwise.
"""
import argparse, glob, json, os, re, shutil, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import missing_package
try:
    import pyarrow, pyarrow.parquet  # noqa: F401  (the readers' venv)
    import duckdb  # noqa: F401
except ImportError as error:
    missing_package(error)
import tm_readers
from tm_readers import Bad, adapt
from tm_sources import (COPY_OFFSET, DELETED, FILLED, MOVED_FROM, MOVED_TO, SMALL_UPDATE, SNAPSHOT_KEYS, TO_NULL,
                        expected_records, make_source)
from tm_values import MICROS_PER_DAY, same, show

PIPELINE = "tm"
BEGIN, END = "<!-- type-matrix:begin -->", "<!-- type-matrix:end -->"


def log(message):
    print("[type-matrix] " + message, file=sys.stderr, flush=True)


# The pipeline -----------------------------------------------------------------------------------------------------

def pipeline_yaml(source):
    sinks = """
  parquet_changelog:
    type: parquet
    path: out/parquet-changelog
    layout: changelog
  parquet_append:
    type: parquet
    path: out/parquet-append
    layout: append
  iceberg_upsert:
    type: iceberg
    warehouse: out/iceberg-upsert
    catalog: filesystem
    namespace: tm
    mode: upsert
    commit_interval: 1s
  iceberg_append:
    type: iceberg
    warehouse: out/iceberg-append
    catalog: filesystem
    namespace: tm
    mode: append
    commit_interval: 1s
  delta:
    type: delta
    path: out/delta
    fsync: false
    max_file_age: 1s
  stage:
    type: snowflake_stage
    path: out/stage
    fsync: false
    max_file_age: 1s
  jsonl:
    type: jsonl
    path: out/jsonl
    fsync: false
"""
    return "\n".join(["name: %s" % PIPELINE, "log:", "  path: log/%s.sluicelog" % PIPELINE, "  sync: normal",
                      "sources:", source.source_yaml(), "sinks:" + sinks.rstrip("\n"),
                      "runtime:", "  status_interval: 0", "  flush_interval: 50ms"]) + "\n"


def run_sluice(sluice, work, name):
    started = time.time()
    with open(os.path.join(work, name + ".stderr"), "w") as err:
        done = subprocess.run([sluice, "run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"],
                              cwd=work, stdout=subprocess.DEVNULL, stderr=err, timeout=300)
    text = open(os.path.join(work, name + ".stderr")).read()
    if done.returncode != 0:
        raise RuntimeError("sluice run (%s) exited %d:\n%s" % (name, done.returncode, text[-3000:]))
    log("sluice run (%s): %.1f s" % (name, time.time() - started))
    return text


def log_schema(sluice, work, stream_table):
    """The newest schema version of the table in the log's `_schemas` stream ({column: column schema})."""
    out = subprocess.run([sluice, "log", "read", "pipeline.yaml", "_schemas"], cwd=work, capture_output=True,
                         timeout=120)
    if out.returncode != 0:
        raise RuntimeError("sluice log read _schemas failed: %s" % out.stderr.decode()[-1000:])
    best = None
    for line in out.stdout.decode().splitlines():
        record = json.loads(line)["record"]
        if record["table"]["name"] == stream_table and (best is None or record["version"] > best["version"]):
            best = record
    if best is None:
        raise RuntimeError("no schema of table %s in _schemas" % stream_table)
    return {c["name"]: c for c in best["columns"]}


# The outputs ------------------------------------------------------------------------------------------------------

class Output:
    """One sink output read by one engine: `shape` changes (one row per change, matched to `layout`'s expected
    records) or current (the table as the source has it)."""

    def __init__(self, sink, engine, shape, layout, table):
        self.sink, self.engine, self.shape, self.layout, self.table = sink, engine, shape, layout, table


def newest_metadata(warehouse):
    files = glob.glob(os.path.join(warehouse, "*", "*", "metadata", "v*.metadata.json"))
    if not files:
        return None
    return max(files, key=lambda f: int(re.search(r"v(\d+)\.metadata\.json$", f).group(1)))


def parquet_files(folder):
    return sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True))


def read_outputs(args, source, work, spark):
    name = "%s.%s" % (source.schema, source.table)
    out = os.path.join(work, "out")
    changelog = parquet_files(os.path.join(out, "parquet-changelog", name))
    append = parquet_files(os.path.join(out, "parquet-append", name))
    staged = parquet_files(os.path.join(out, "stage", name))
    outputs = []

    def add(sink, engine, shape, layout, load):
        started = time.time()
        try:
            table = load()
        except Exception as error:  # one engine failing on one output is reported, the others still run
            table = tm_readers.Table(error="%s: %s" % (type(error).__name__, str(error)[:1500]))
        log("read %s with %s: %.1f s" % (sink, engine, time.time() - started))
        outputs.append(Output(sink, engine, shape, layout, table))

    import duckdb as duckdb2
    pyarrow_name, duckdb_name = "pyarrow " + pyarrow.__version__, "duckdb " + duckdb2.__version__
    for sink, files, layout in (("parquet changelog", changelog, "changelog"), ("parquet append", append, "append"),
                                ("snowflake_stage files", staged, "changelog")):
        add(sink, pyarrow_name, "changes", layout, lambda: tm_readers.pyarrow_files(files))
        add(sink, duckdb_name, "changes", layout, lambda: tm_readers.duckdb_files(files))
        if spark is not None:
            add(sink, "spark " + spark.version, "changes", layout, lambda: spark.files(files))
    add("snowflake_stage → apply.duckdb.sql", duckdb_name, "current", None,
        lambda: tm_readers.duckdb_stage_target(os.path.join(out, "stage", name), work))

    import pyiceberg, deltalake
    upsert, append_meta = newest_metadata(os.path.join(out, "iceberg-upsert")), newest_metadata(
        os.path.join(out, "iceberg-append"))
    delta_changes, delta_current = os.path.join(out, "delta", name, "changes"), os.path.join(out, "delta", name,
                                                                                            "current")
    add("iceberg upsert", "pyiceberg " + pyiceberg.__version__, "current", None,
        lambda: tm_readers.pyiceberg_table(upsert))
    add("iceberg append", "pyiceberg " + pyiceberg.__version__, "changes", "changelog",
        lambda: tm_readers.pyiceberg_table(append_meta))
    add("delta changes", "deltalake " + deltalake.__version__, "changes", "changelog",
        lambda: tm_readers.deltalake_table(delta_changes))
    add("delta current", "deltalake " + deltalake.__version__, "current", None,
        lambda: tm_readers.deltalake_table(delta_current))
    if args.duckdb15_python:
        def q(path):
            return "'" + path.replace("'", "''") + "'"
        reads = [{"name": "iceberg upsert", "sql": "iceberg_scan(%s)" % q(upsert or "missing")},
                 {"name": "iceberg append", "sql": "iceberg_scan(%s)" % q(append_meta or "missing")},
                 {"name": "delta changes", "sql": "delta_scan(%s)" % q(delta_changes)},
                 {"name": "delta current", "sql": "delta_scan(%s)" % q(delta_current)}]
        started = time.time()
        tables, version = tm_readers.duckdb15_tables(args.duckdb15_python, reads, work)
        log("read iceberg and delta with DuckDB %s extensions: %.1f s" % (version, time.time() - started))
        engine = "duckdb %s (iceberg, delta extensions)" % (version or "1.5.5")
        for sink, shape, layout in (("iceberg upsert", "current", None), ("iceberg append", "changes", "changelog"),
                                    ("delta changes", "changes", "changelog"), ("delta current", "current", None)):
            outputs.append(Output(sink, engine, shape, layout, tables[sink]))
    else:
        outputs.append(Output("iceberg and delta", "duckdb 1.5.5 (iceberg, delta extensions)", "current", None,
                              tm_readers.Table(error="not run: no --duckdb15-python / SLUICE_DUCKDB15_PYTHON "
                                                     "(scripts/install-deps.sh makes .venv-duckdb15)")))
    jsonl = os.path.join(out, "jsonl", "%s.%s.jsonl" % (PIPELINE, name))
    add("jsonl", "python json", "changes", "events", lambda: tm_readers.jsonl_records(jsonl))
    return outputs


# Comparison -------------------------------------------------------------------------------------------------------

def doc_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(doc_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(doc_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b
                                             and not isinstance(a, bool))


def as_doc(value):
    if isinstance(value, dict) and "$doc" in value:
        return True, value["$doc"]
    try:
        return True, json.loads(value)
    except (TypeError, ValueError):
        return False, None


def matches(expected, actual, kind, engine_type=""):
    """Whether an engine's plain value is the source's, allowing only the documented per-sink forms."""
    if isinstance(actual, Bad):
        return False
    if kind == "timetz" and isinstance(expected, tuple) and isinstance(actual, int):
        # a time of day in UTC: how a `time` column of an Iceberg table created before times became text holds it
        micros, offset = expected
        return actual == (micros - offset * 1_000_000) % MICROS_PER_DAY
    if kind == "json" and expected is not None and actual is not None and (
            isinstance(expected, dict) or isinstance(actual, dict)):
        ok_e, doc_e = as_doc(expected)
        ok_a, doc_a = as_doc(actual)
        return ok_e and ok_a and doc_equal(doc_e, doc_a)
    return same(expected, actual)


class Report:
    def __init__(self):
        self.mismatches = []   # (output label, column, row label, message)
        self.errors = []       # (output label, message)
        self.checked = {}      # output label → values compared
        self.limitations = set()  # (output label, column, what): documented differences, printed, not failures

    def mismatch(self, output, column, row, message):
        self.mismatches.append((output, column, row, message))

    def print(self, out):
        for label, column, what in sorted(self.limitations):
            print("DOCUMENTED  [%s]  column %s: %s" % (label, column, what), file=out)
        if self.mismatches or self.errors:
            print("Summary (column: outputs / engines with a mismatch):", file=out)
            by_column = {}
            for label, column, _, _ in self.mismatches:
                by_column.setdefault(column, [])
                if label not in by_column[column]:
                    by_column[column].append(label)
            for column, labels in by_column.items():
                print("  %s: %s" % (column, "; ".join(labels)), file=out)
            for label, message in self.errors:
                print("  (unreadable) %s" % label, file=out)
        for label, message in self.errors:
            print("READER FAILED  [%s]  %s" % (label, message), file=out)
        grouped = {}
        for label, column, row, message in self.mismatches:
            grouped.setdefault((label, column), []).append((row, message))
        for (label, column), items in grouped.items():
            print("MISMATCH  [%s]  column %s: %d row(s)" % (label, column, len(items)), file=out)
            for row, message in items[:6]:
                print("    %s: %s" % (row, message), file=out)
            if len(items) > 6:
                print("    … and %d more rows" % (len(items) - 6), file=out)


def compare_output(output, source, schema, s1, s2, report):
    label = "%s / %s" % (output.sink, output.engine)
    table = output.table
    if table.error:
        report.errors.append((label, table.error))
        return {}
    if table.whole_error:
        report.errors.append((label, "refuses the output as a whole (%s); read column by column: %s" % (
            table.whole_error, "every column readable" if not table.column_errors else
            "unreadable: " + ", ".join("%s (%s)" % kv for kv in table.column_errors.items()))))
    jsonl = output.engine == "python json"
    columns = [c.name for c in source.columns]
    engine_type = lambda c: table.types.get(c, "—")  # noqa: E731
    parsed = {}

    def expected(row_texts, key, column):
        cache = parsed.setdefault(id(row_texts), {})
        if column not in cache:
            value = source.parse(source.column(column), row_texts[column])
            if schema[column]["kind"] == "decimal" and isinstance(value, int) and not isinstance(value, bool):
                # an integer column the source declares as exact decimal (MySQL BIGINT UNSIGNED: "above Int64.max
                # → exact decimal", connectors/mysql/README.md): the value as decimal text
                value = str(value)
            cache[column] = value
        return cache[column]

    def plain(row, column):
        spec = schema[column]
        return adapt(row.get(column), spec["kind"], spec.get("elementKind"), jsonl)

    def check(row, row_texts, row_label, only_key=False, unchanged=()):
        for column in columns:
            if column in table.column_errors:
                continue  # reported above
            value = row.get(column)
            if column in unchanged:
                # A value the source did not send: null, named in _unchanged (connectors/parquet/README.md)
                if value is not None:
                    report.mismatch(label, column, row_label, "named in _unchanged but holds %s" % show(value))
                continue
            want = None if only_key else expected(row_texts, None, column)
            got = plain(row, column)
            report.checked[label] = report.checked.get(label, 0) + 1
            if (jsonl and schema[column]["kind"] == "json" and got is None and isinstance(want, str)
                    and want.strip() == "null"):
                # JSON lines embed a JSON value as JSON, so JSON null and SQL NULL are both null there
                # (connectors/dev/README.md); the typed sinks keep them apart ('null' text vs null).
                report.limitations.add((label, column, "JSON null is null, as SQL NULL (documented)"))
                continue
            if not matches(want, got, schema[column]["kind"], engine_type(column)):
                text = None if only_key else row_texts[column]
                report.mismatch(label, column, row_label,
                                "source %s → expected %s; engine gave %s (%s)%s" % (
                                    show(text), show(want), show(value), engine_type(column),
                                    "" if not isinstance(got, Bad) else " — " + got.why))
        key = row.get("id")

    by_op_key = {}
    if output.shape == "current":
        rows = {}
        for row in table.rows:
            key = adapt(row.get("id"), "int")
            if key in rows:
                report.mismatch(label, "id", "key %s" % key, "appears twice")
            rows[key] = row
        for key in sorted(set(rows) | set(s2)):
            if key not in rows:
                report.mismatch(label, "id", "key %s" % key, "missing (the source has it)")
            elif key not in s2:
                report.mismatch(label, "id", "key %s" % key, "should not exist (the source has no such row)")
            else:
                check(rows[key], s2[key], "key %s" % key)
        by_op_key = {("*", k): r for k, r in rows.items()}
    else:
        want = expected_records(source, s1, s2, output.layout)
        wanted = [(op, key) for op, key, _ in want]
        if all("_offset" in r for r in table.rows):
            got = sorted(table.rows, key=lambda r: (adapt(r.get("_offset"), "int"), r.get("_op") != "d"))
        else:  # the append layout has no _offset: the files' order (named by offsets), then the rows' order
            got = sorted(table.rows, key=lambda r: r.get("__order") or (0, 0))
        if all("_op" in r for r in table.rows):
            seen = [(r.get("_op"), adapt(r.get("id"), "int")) for r in got]
        else:  # … nor _op: the ops are the expected ones where the keys come in the expected order
            keys = [adapt(r.get("id"), "int") for r in got]
            seen = list(zip([op for op, _ in wanted], keys)) if keys == [k for _, k in wanted] else [
                ("?", k) for k in keys]
        if seen != wanted:
            report.mismatch(label, "(rows)", "all", "change rows (op, key) in offset order are %s, expected %s"
                            % (seen, wanted))
        pool = {}
        for r, ok in zip(got, seen):
            pool.setdefault(ok, []).append(r)
        for op, key, row_texts in want:
            candidates = pool.get((op, key)) or []
            if not candidates:
                continue
            row = candidates.pop(0)
            by_op_key[(op, key)] = row
            unchanged = set(row.get("_unchanged") or [])
            if op == "d":  # PostgreSQL's default replica identity: the key only; MySQL's binlog: the whole row
                check(row, row_texts, "key %s (op d)" % key, only_key=source.delete_image == "key")
            else:
                check(row, row_texts, "key %s (op %s)" % (key, op), unchanged=unchanged)
    return by_op_key


def has_bad(value):
    return isinstance(value, Bad) or isinstance(value, list) and any(has_bad(v) for v in value)


def snapshot_equals_stream(output, source, schema, rows, report):
    """The streamed copy of each row (same values, new key) equals its snapshot row in this output."""
    label = "%s / %s" % (output.sink, output.engine)
    jsonl = output.engine == "python json"
    if output.shape == "changes":
        pairs = [(("r", k), ("c", k + COPY_OFFSET), ()) for k in SNAPSHOT_KEYS]
    else:
        changed = {TO_NULL, FILLED, SMALL_UPDATE, MOVED_FROM, DELETED}
        pairs = [(("*", k), ("*", k + COPY_OFFSET), ()) for k in SNAPSHOT_KEYS if k + COPY_OFFSET not in changed]
        pairs.append((("*", MOVED_FROM - COPY_OFFSET), ("*", MOVED_TO), ()))
        pairs.append((("*", SMALL_UPDATE - COPY_OFFSET), ("*", SMALL_UPDATE), ("c_varchar",)))
    for snap_id, stream_id, skip in pairs:
        a, b = rows.get(snap_id), rows.get(stream_id)
        if a is None or b is None:
            continue  # a missing row is reported already
        for c in source.columns:
            if c.name in skip:
                continue
            spec = schema[c.name]
            va = adapt(a.get(c.name), spec["kind"], spec.get("elementKind"), jsonl)
            vb = adapt(b.get(c.name), spec["kind"], spec.get("elementKind"), jsonl)
            if has_bad(va) or has_bad(vb) or not (same(va, vb) or va == vb):
                if has_bad(va) and repr(va) == repr(vb):
                    continue  # the same unreadable value both times: reported against the source already
                report.mismatch(label, c.name, "snapshot key %s vs streamed key %s" % (snap_id[1], stream_id[1]),
                                "snapshot %s ≠ streamed %s" % (show(a.get(c.name)), show(b.get(c.name))))


# The docs table ---------------------------------------------------------------------------------------------------

def parquet_type(schema, column):
    leaves = [schema.column(i) for i in range(len(schema)) if schema.column(i).path.split(".")[0] == column]
    if not leaves:
        return "—"
    leaf = leaves[0]
    text = leaf.physical_type
    if text == "FIXED_LEN_BYTE_ARRAY":
        text += "(%d)" % leaf.length
    logical = str(leaf.logical_type)
    m = re.match(r"(\w+)\((.*)\)$", logical)
    if logical in ("None", "NONE"):
        logical = ""
    elif m:
        name, args = m.group(1), dict(kv.split("=") for kv in m.group(2).split(", "))
        if name == "Int":
            logical = "INT(%s,%s)" % (args["bitWidth"], "signed" if args["isSigned"] == "true" else "unsigned")
        elif name == "Decimal":
            logical = "DECIMAL(%s,%s)" % (args["precision"], args["scale"])
        elif name in ("Time", "Timestamp"):
            unit = {"microseconds": "MICROS", "milliseconds": "MILLIS", "nanoseconds": "NANOS"}[args["timeUnit"]]
            logical = "%s(%s,%s)" % (name.upper(), unit, "UTC" if args["isAdjustedToUTC"] == "true" else "local")
    else:
        logical = logical.upper()
    text = (text + " " + logical).strip()
    return "LIST<%s>" % text if leaf.path != column else text


def iceberg_type(t):
    if isinstance(t, dict) and t.get("type") == "list":
        return "list<%s>" % iceberg_type(t["element"])
    return t if isinstance(t, str) else json.dumps(t)


def delta_type(t):
    if isinstance(t, dict) and t.get("type") == "array":
        return "array<%s>" % delta_type(t["elementType"])
    return t if isinstance(t, str) else json.dumps(t)


def docs_table(source, schema, work, outputs):
    name = "%s.%s" % (source.schema, source.table)
    out = os.path.join(work, "out")
    files = parquet_files(os.path.join(out, "parquet-changelog", name))
    parquet_schema = pyarrow.parquet.ParquetFile(files[0]).schema if files else None
    iceberg = {}
    meta = newest_metadata(os.path.join(out, "iceberg-upsert"))
    if meta:
        m = json.load(open(meta))
        current = next(s for s in m["schemas"] if s["schema-id"] == m["current-schema-id"])
        iceberg = {f["name"]: iceberg_type(f["type"]) for f in current["fields"]}
    delta = {}
    for log_file in sorted(glob.glob(os.path.join(out, "delta", name, "changes", "_delta_log", "*.json"))):
        for line in open(log_file):
            action = json.loads(line)
            if "metaData" in action:
                delta = {f["name"]: delta_type(f["type"])
                         for f in json.loads(action["metaData"]["schemaString"])["fields"]}
    snowflake = {}
    setup = os.path.join(out, "stage", name, "setup.snowflake.sql")
    if os.path.exists(setup):
        text = open(setup).read()
        target = re.search(r'CREATE TABLE IF NOT EXISTS "[^"]+"\."[^"]+"\."%s" \((.*?)\n\);' % re.escape(source.table),
                           text, re.S)
        for line in (target.group(1) if target else "").splitlines():
            m = re.match(r'\s*"([^"]+)" (.*?)(?: NOT NULL)?,?$', line)
            if m:
                snowflake[m.group(1)] = m.group(2)
    engines = {o.engine.split(" ")[0]: o.table for o in outputs if o.sink == "parquet changelog"}
    versions = {o.engine.split(" ")[0]: o.engine for o in outputs if o.sink == "parquet changelog"}
    notes = []
    for engine, t in sorted(engines.items()):
        if t.error:
            notes.append("%s cannot read the file: %s" % (versions[engine], t.error.splitlines()[0][:200]))
        elif t.whole_error:
            notes.append("%s refuses to read the whole file (%s); its column shows the types of the columns it reads "
                         "on their own" % (versions[engine], error_class(t.whole_error)))

    def engine_cell(engine, column):
        t = engines.get(engine)
        if t is None or t.error:
            return "—"
        if column in t.column_errors:
            return "refused: %s" % error_class(t.column_errors[column])
        return "`%s`" % t.types[column] if column in t.types else "—"

    lines = ["From the outputs themselves: the log's `_schemas` (kind), the Parquet footer, the Iceberg metadata, the "
             "Delta log's `schemaString` and the stage's `setup.snowflake.sql`; the last three columns are what %s show "
             "for the Parquet changelog file." % ", ".join(versions.get(e, e) for e in ("pyarrow", "spark", "duckdb")),
             "",
             "| source type | Sluice kind | Parquet | Iceberg | Delta | Snowflake | pyarrow | Spark | duckdb |",
             "|---|---|---|---|---|---|---|---|---|"]
    for column in ["id"] + [c.name for c in source.columns]:
        spec = schema[column]
        kind = spec["kind"] + ("<%s>" % spec["elementKind"] if spec.get("elementKind") else "")
        label = "integer (key)" if column == "id" and source.name == "postgres" else (
            "INT (key)" if column == "id" else source.column(column).label)
        cells = [label.replace("|", "\\|"), kind,
                 parquet_type(parquet_schema, column) if parquet_schema else "—",
                 iceberg.get(column, "—"), delta.get(column, "—"), snowflake.get(column, "—"),
                 engine_cell("pyarrow", column), engine_cell("spark", column), engine_cell("duckdb", column)]
        lines.append("| " + " | ".join(cells[:1] + [code(c) for c in cells[1:]]) + " |")
    return "\n".join(lines + [""] + ["Note: %s." % n for n in notes]).rstrip("\n") + "\n"


def code(cell):
    """A table cell as code, unless it is a dash or a sentence."""
    return cell if cell.startswith("`") or cell.startswith("refused") or cell == "—" else "`%s`" % cell


def error_class(message):
    """An engine's error, short: its bracketed class and sentence (`PARQUET_TYPE_ILLEGAL …`), else its first sentence
    without the exception's name."""
    m = re.search(r"\[([A-Z_]+)\]([^.]*)", message)
    if m:
        return "%s%s" % (m.group(1), m.group(2).rstrip())
    text = re.sub(r"^(Spark: )?(\w+Exception: )?(\w+ \w+ Error: )?", "", message).split(". ")[0]
    return text if len(text) <= 90 else text[:90].rsplit(" ", 1)[0] + " …"


def docs_block(path):
    text = open(path, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        return text, None
    return text, text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write_docs(path, table):
    text, block = docs_block(path)
    if block is None:
        text = text.rstrip("\n") + "\n\n## Type matrix\n\n" + BEGIN + "\n" + table + END + "\n"
    else:
        head, rest = text.split(BEGIN, 1)
        text = head + BEGIN + "\n" + table + END + rest.split(END, 1)[1]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# Main -------------------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=["postgres", "mysql"], required=True)
    parser.add_argument("--url", help="server URL (default: SLUICE_TEST_PG_URL / SLUICE_TEST_MYSQL_URL)")
    parser.add_argument("--sluice", required=True, help="the sluice executable")
    parser.add_argument("--work", required=True, help="a folder for the pipeline, its outputs and the reports")
    parser.add_argument("--duckdb15-python", default=os.environ.get("SLUICE_DUCKDB15_PYTHON"),
                        help="Python of the DuckDB 1.5.5 venv (default SLUICE_DUCKDB15_PYTHON)")
    parser.add_argument("--no-spark", action="store_true", help="skip Spark")
    parser.add_argument("--keep", action="store_true", help="leave the source's table, slot and publication")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--docs-out", help="write the generated Markdown table to FILE")
    docs.add_argument("--check-docs", help="fail when FILE's table (between the type-matrix markers) differs")
    docs.add_argument("--write-docs", help="rewrite FILE's table between the type-matrix markers")
    args = parser.parse_args()
    args.sluice = os.path.abspath(args.sluice)  # the runs happen in the work folder
    url = args.url or os.environ.get("SLUICE_TEST_PG_URL" if args.source == "postgres" else "SLUICE_TEST_MYSQL_URL")
    if not url:
        parser.error("no --url and no SLUICE_TEST_%s_URL" % ("PG" if args.source == "postgres" else "MYSQL"))
    started = time.time()
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    for entry in ("out", "log", "duckdb-stage", "spark-tmp"):
        shutil.rmtree(os.path.join(work, entry), ignore_errors=True)
    source = make_source(args.source, url)
    spark = None
    try:
        source.reset(PIPELINE)
        source.create_and_load(work)
        with open(os.path.join(work, "pipeline.yaml"), "w") as f:
            f.write(pipeline_yaml(source))
        if not args.no_spark:
            # Spark's JVM starts while sluice runs (two cores: the JVM's start is mostly waiting)
            import threading
            holder = {}

            def start_spark():
                try:
                    holder["spark"] = tm_readers.Spark(work)
                except Exception as error:  # reported once the pipeline ran
                    holder["error"] = error
            spark_thread = threading.Thread(target=start_spark)
            spark_thread.start()
        run_sluice(args.sluice, work, "snapshot")
        changes = source.changes_sql()
        source.run_script(changes[:1], work, "stream-inserts")
        s1 = source.select(work)
        source.run_script(changes[1:], work, "stream-updates")
        s2 = source.select(work)
        run_sluice(args.sluice, work, "stream")
        schema = log_schema(args.sluice, work, source.table)
        if not args.no_spark:
            spark_thread.join()
            spark = holder.get("spark")
            if isinstance(holder.get("error"), ImportError):
                missing_package(holder["error"])
            if spark is None:
                raise RuntimeError("Spark did not start (Java 17 and pyspark: scripts/install-deps.sh): %s"
                                   % holder.get("error"))
        outputs = read_outputs(args, source, work, spark)
    finally:
        if not args.keep:
            try:
                source.cleanup()
            except Exception as error:  # the report matters more than the clean-up
                log("clean-up failed: %s" % error)
    report = Report()
    for output in outputs:
        rows = compare_output(output, source, schema, s1, s2, report)
        if rows:
            snapshot_equals_stream(output, source, schema, rows, report)
    table = docs_table(source, schema, work, outputs)
    if spark is not None:
        spark.stop()

    out = sys.stdout
    print("Type matrix, %s: %d columns × %d source rows, %d outputs×engines, %d values compared, %.0f s"
          % (args.source, len(source.columns), len(s2), len(outputs), sum(report.checked.values()),
             time.time() - started), file=out)
    for o in outputs:
        label = "%s / %s" % (o.sink, o.engine)
        bad = sum(1 for m in report.mismatches if m[0] == label)
        state = "FAILED TO READ" if o.table.error else ("%d mismatches" % bad if bad else "ok")
        print("  %-72s %6d values  %s" % (label, report.checked.get(label, 0), state), file=out)
    report.print(out)
    failed = bool(report.mismatches or report.errors)
    if args.docs_out:
        with open(args.docs_out, "w", encoding="utf-8") as f:
            f.write(table)
    if args.write_docs:
        write_docs(args.write_docs, table)
        print("wrote the type matrix table into %s" % args.write_docs, file=out)
    if args.check_docs:
        _, block = docs_block(args.check_docs)
        if block != table:
            failed = True
            print("DOCS DIFFER: the table in %s (between %s and %s) is not what the sinks wrote; the generated "
                  "table (rewrite with --write-docs):\n%s" % (args.check_docs, BEGIN, END, table), file=out)
    print("RESULT: %s" % ("FAILED" if failed else "all values match"), file=out)
    out.flush()
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
