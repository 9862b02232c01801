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


def source_rows(request):
    """The source table's rows (the JSON lines at request["source_rows"]), normalised, in file order."""
    rows = []
    for line in open(request["source_rows"], encoding="utf-8"):
        line = line.strip()
        if line:
            rows.append(normalise(json.loads(line), request))
    return rows


def load_request():
    """The request object: the JSON file named by the first argument."""
    return json.load(open(sys.argv[1]))


def exit_without_teardown():
    """Flushes stdout and exits 0 at once: native threads of duckdb and deltalake were seen to abort the
    interpreter's teardown ("terminate called without an active exception") after the answer was written."""
    sys.stdout.flush()
    os._exit(0)
