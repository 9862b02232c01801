"""What the reader scripts share: the missing-package exit, value rendering, the request and the final exit.

The scripts run as `python Readers/NAME.py …`, so this folder is on sys.path and `from _common import …` finds it.
"""
import sys, os, json, struct, datetime, decimal, uuid

# The exit status Python.swift (`Python.missingPackageStatus`) reports as "install the readers' packages".
MISSING_PACKAGE_STATUS = 3

EPOCH = datetime.datetime(1970, 1, 1)
EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def missing_package(error):
    """Says which package did not import and exits with MISSING_PACKAGE_STATUS."""
    print("missing python package: %s" % error, file=sys.stderr)
    sys.exit(MISSING_PACKAGE_STATUS)


def render(value):
    """A value as the Parquet tests expect it: text (floats as little-endian hex, temporals as integers), None, lists."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return struct.pack("<d", value).hex()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime.datetime):
        delta = value - (EPOCH_UTC if value.tzinfo is not None else EPOCH)
        return str(delta // datetime.timedelta(microseconds=1))
    if isinstance(value, datetime.date):
        return str((value - EPOCH.date()).days)
    if isinstance(value, datetime.time):
        return str(((value.hour * 60 + value.minute) * 60 + value.second) * 1000000 + value.microsecond)
    if isinstance(value, (list, tuple)):
        return [render(element) for element in value]
    if isinstance(value, dict):
        return {key: render(element) for key, element in value.items()}
    return "unrendered:" + type(value).__name__ + ":" + str(value)


def row_groups(metadata):
    """Each row group of a Parquet file's metadata (pyarrow's FileMetaData) with its column chunks, in order."""
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        yield group, [group.column(column) for column in range(group.num_columns)]


def canonical(value):
    """A value as the staging and Iceberg checkers compare it: JSON scalars as they are, temporals as integers."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        delta = value - (EPOCH_UTC if value.tzinfo is not None else EPOCH)
        return delta // datetime.timedelta(microseconds=1)
    if isinstance(value, datetime.date):
        return (value - EPOCH.date()).days
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return "unrendered:" + type(value).__name__


def normalise(row, request):
    """The request's columns of a row, canonical, with its JSON columns' text parsed."""
    out = {}
    for column in request["columns"]:
        value = canonical(row.get(column))
        if column in request["json_columns"] and isinstance(value, str):
            value = json.loads(value)
        out[column] = value
    return out


def same_number(a, e):
    """Equal, floats compared as floats (an int and the equal float are the same; None is no number)."""
    if isinstance(a, float) or isinstance(e, float):
        return a is not None and e is not None and float(a) == float(e)
    return a == e


def compare_rows(actual_rows, expected, columns, same=same_number, label=""):
    """The problems of `actual_rows` against `expected` (rows by their id as text): a key twice, missing or
    unexpected, or a column whose values are not `same`; each problem starts with `label`."""
    problems = []
    actual = {}
    for row in actual_rows:
        key = str(row["id"])
        if key in actual:
            problems.append("%skey %s appears twice" % (label, key))
        actual[key] = row
    for key in sorted(set(actual) | set(expected), key=int):
        if key not in actual:
            problems.append("%skey %s missing" % (label, key))
        elif key not in expected:
            problems.append("%skey %s should not exist: %.200r" % (label, key, actual[key]))
        else:
            for column in columns:
                a, e = actual[key].get(column), expected[key].get(column)
                if not same(a, e):
                    problems.append("%skey %s column %s: %.200r, expected %.200r" % (label, key, column, a, e))
    return problems


def source_rows(request):
    """The source table's rows (the JSON lines at request["source_rows"]), normalised, in file order."""
    rows = []
    for line in open(request["source_rows"], encoding="utf-8"):
        line = line.strip()
        if line:
            rows.append(normalise(json.loads(line), request))
    return rows


def open_duckdb_stage(folder, test_stage):
    """A duckdb connection with the setup statements of the table staged in `folder` run, its stage variable
    pointing at `test_stage` (files to load go to test_stage/NAME); returns it, NAME, the apply statements and
    the ledger entries."""
    import duckdb
    name = os.path.basename(folder)
    os.makedirs(os.path.join(test_stage, name), exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET VARIABLE sluice_stage = ?", [test_stage])
    con.execute(open(os.path.join(folder, "setup.duckdb.sql")).read())
    apply = open(os.path.join(folder, "apply.duckdb.sql")).read()
    ledger = [json.loads(line) for line in open(os.path.join(folder, "_ledger.jsonl"))]
    return con, name, apply, ledger


def load_request():
    """The request object: the JSON file named by the first argument."""
    return json.load(open(sys.argv[1]))


def exit_without_teardown():
    """Flushes stdout and exits 0 at once: native threads of duckdb and deltalake were seen to abort the
    interpreter's teardown ("terminate called without an active exception") after the answer was written."""
    sys.stdout.flush()
    os._exit(0)
