"""The type matrix's duckdb reads, for both duckdb versions: the readers' duckdb 2.x (Parquet files, the staging
target after apply.duckdb.sql) and, run as a script in the second venv, DuckDB 1.5.5 with its own iceberg and delta
extensions (`iceberg_scan`, `delta_scan`), loaded from the files inside their PyPI wheels.

Dates and timestamps are read as the integers duckdb holds (`d:<days>`, `us:<µs since 1970>`), or as `infinity` /
`-infinity` where duckdb takes them as infinite (Python's datetime cannot hold those, BC dates or year 294246);
times as duckdb's text; everything else as duckdb hands it to Python.

    python tm_duckdb.py REQUEST.json OUT.json
REQUEST: {"extension_dir": DIR, "reads": [{"name": …, "sql": "iceberg_scan('…')" | "delta_scan('…')"}, …]}
OUT: {"version": …, "reads": {name: {"columns": [[name, type], …], "rows": [[wire values…], …]} | {"error": …}}}
"""
import json, os, sys

TIMESTAMPS = ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
TEXT = ("TIME", "TIME WITH TIME ZONE", "TIMETZ", "INTERVAL")


def expression(name, column_type, ref=None):
    """The select expression for a column (also inside lists): dates and timestamps as `d:`/`us:` integers or
    duckdb's infinity, times as text."""
    ref = ref or '"%s"' % name.replace('"', '""')
    t = column_type.upper()
    if t.endswith("[]"):
        inner = expression(None, column_type[:-2], "x")
        return ref if inner == "x" else "list_transform(%s, lambda x: %s)" % (ref, inner)
    if t == "DATE":
        return "CASE WHEN isinf(%s) THEN CAST(%s AS VARCHAR) ELSE 'd:' || (%s - DATE '1970-01-01') END" % (ref, ref, ref)
    if t in TIMESTAMPS:
        return "CASE WHEN isinf(%s) THEN CAST(%s AS VARCHAR) ELSE 'us:' || epoch_us(%s) END" % (ref, ref, ref)
    if t in TEXT:
        return "CAST(%s AS VARCHAR)" % ref
    return ref


def read(con, relation):
    """{"columns": [[name, duckdb type], …], "rows": [tuple, …], "column_errors": {name: message}} of
    `SELECT * FROM relation`. When the whole read fails, each column is read on its own (one thread, so every read
    scans in the same order) and the columns duckdb cannot read are named with their error."""
    described = con.execute("DESCRIBE SELECT * FROM %s" % relation).fetchall()
    columns = [[row[0], row[1]] for row in described]
    try:
        rows = con.execute("SELECT %s FROM %s" % (", ".join(expression(n, t) for n, t in columns), relation)).fetchall()
        return {"columns": columns, "rows": rows, "column_errors": {}}
    except Exception as error:  # find which columns fail; the others are still checked
        whole = "%s: %s" % (type(error).__name__, str(error).splitlines()[0][:500])
    con.execute("SET threads = 1")
    values, errors = {}, {}
    for name, column_type in columns:
        try:
            values[name] = [r[0] for r in con.execute("SELECT %s FROM %s" % (expression(name, column_type),
                                                                             relation)).fetchall()]
        except Exception as error:
            errors[name] = "%s: %s" % (type(error).__name__, str(error).splitlines()[0][:300])
    count = max((len(v) for v in values.values()), default=0)
    rows = [tuple(values[n][i] if n in values else None for n, _ in columns) for i in range(count)]
    return {"columns": columns, "rows": rows, "column_errors": errors, "whole_error": whole}


def extension_file(module_name, name):
    """The .duckdb_extension file inside an installed duckdb-extension-NAME wheel."""
    module = __import__(module_name)
    folder = os.path.join(os.path.dirname(module.__file__), "extensions")
    for root, _, files in os.walk(folder):
        for f in files:
            if f == name + ".duckdb_extension":
                return os.path.join(root, f)
    raise FileNotFoundError("no %s.duckdb_extension in %s" % (name, folder))


def main():
    from tm_values import wire_encode
    try:
        import duckdb
    except ImportError as error:
        print("missing python package: %s" % error, file=sys.stderr)
        sys.exit(3)
    request = json.load(open(sys.argv[1]))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # Extensions go to a folder of this run, never ~/.duckdb; no download (autoinstall off).
    con.execute("SET extension_directory = ?", [request["extension_dir"]])
    con.execute("SET autoinstall_known_extensions = false")
    for name in ("avro", "iceberg", "delta"):
        con.execute("INSTALL '%s'" % extension_file("duckdb_extension_" + name, name))
        con.execute("LOAD %s" % name)
    out = {"version": duckdb.__version__, "reads": {}}
    for item in request["reads"]:
        try:
            result = read(con, item["sql"])
            result["rows"] = [[wire_encode(v) for v in row] for row in result["rows"]]
            out["reads"][item["name"]] = result
        except Exception as error:  # reported per read: one engine refusing one table is a finding, not a crash
            out["reads"][item["name"]] = {"error": "%s: %s" % (type(error).__name__, str(error)[:2000])}
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
