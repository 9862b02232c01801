import sys, json, os, shutil, datetime, decimal
from _common import missing_package, normalise, compare_rows, source_rows, open_duckdb_stage, load_request, exit_without_teardown
try:
    import duckdb
    import pyarrow
    from deltalake import DeltaTable, QueryBuilder
except ImportError as error:
    missing_package(error)

def same(a, e):
    if isinstance(a, float) or isinstance(e, float):
        return a is not None and e is not None and float(a) == float(e)
    if isinstance(a, bool) or isinstance(e, bool):
        return a is not None and e is not None and int(a) == int(e)
    return a == e

def compare(what, actual_rows, expected, request):
    rows = [normalise(row, request) for row in actual_rows]
    return compare_rows(rows, expected, request["columns"], same=same, label=what + ": ")

def load_source(request):
    return {str(row["id"]): row for row in source_rows(request)}

def duckdb_apply(request, expected):
    folder = request["stage_folder"]
    test_stage = request["test_stage"]
    con, name, apply, ledger = open_duckdb_stage(folder, test_stage)
    replays = 0
    for index, entry in enumerate(ledger):
        shutil.copy(os.path.join(folder, entry["file"]), os.path.join(test_stage, name, entry["file"]))
        con.execute(apply)
        # The same file again: the load history skips it.
        con.execute(apply)
        # An older batch delivered again under a new name after newer ones: the guarded MERGE ignores it.
        for back in request["replay_back"]:
            if index - back >= 0:
                old = ledger[index - back]["file"]
                copy = "replay-%d-%d-%s" % (index, back, old)
                shutil.copy(os.path.join(folder, old), os.path.join(test_stage, name, copy))
                con.execute(apply)
                replays += 1
    schema, table = name.split(".", 1)
    actual = con.execute('SELECT * FROM "%s"."%s"' % (schema, table))
    names = [d[0] for d in actual.description]
    rows = [dict(zip(names, r)) for r in actual.fetchall()]
    problems = compare("duckdb target", rows, expected, request)
    staging_left = con.execute('SELECT count(*) FROM "%s"."%s__sluice_staging"' % (schema, table)).fetchone()[0]
    if staging_left:
        problems.append("duckdb: %d rows left in the staging table" % staging_left)
    offsets = [o for e in ledger for o in range(e["first_offset"], e["last_offset"] + 1)]
    if offsets != list(range(len(offsets))):
        problems.append("stage: ledger offsets are not dense 0..n-1 (%d offsets)" % len(offsets))
    # (an update that moves a key is two rows at one offset: the old key's delete, then the update)
    staged = sum(e["rows"] for e in ledger)
    if staged != len(request["expected_changes"]):
        problems.append("stage: %d rows staged, the workload made %d changes" % (staged, len(request["expected_changes"])))
    # every change, in order, from the staged files themselves
    files = [os.path.join(folder, e["file"]) for e in ledger]
    if files:
        got = con.execute("SELECT _op, id, _offset FROM read_parquet(?, union_by_name = true) "
                          "ORDER BY _offset, _op <> 'd'", [files]).fetchall()
        seq = [[op, str(i)] for op, i, _ in got]
        if seq != request["expected_changes"]:
            problems.append("stage: staged changes differ from the workload: %s" % first_difference(seq, request["expected_changes"]))
    return {"problems": problems, "files": len(ledger), "replays": replays, "rows": len(rows)}

def first_difference(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "at %d: %r, expected %r (%d vs %d changes)" % (i, g, w, len(got), len(want))
    return "%d changes, expected %d" % (len(got), len(want))

def arrow_rows(table):
    names = table.column_names
    columns = [table.column(n).to_pylist() for n in names]
    return [{n: c[i] for n, c in zip(names, columns)} for i in range(table.num_rows)]

def delta_check(request, expected):
    folder = request["lake_folder"]
    problems = []
    changes = arrow_rows(DeltaTable(os.path.join(folder, "changes")).to_pyarrow_table())
    changes.sort(key=lambda r: (r["_offset"], r["_op"] != "d"))
    offsets = sorted(set(r["_offset"] for r in changes))
    if offsets != list(range(len(offsets))):
        problems.append("delta changes: offsets are not dense 0..n-1 (%d distinct)" % len(offsets))
    triples = [(r["_offset"], r["_op"], r["id"]) for r in changes]
    if len(set(triples)) != len(triples):
        problems.append("delta changes: %d rows appear twice" % (len(triples) - len(set(triples))))
    seq = [[r["_op"], str(r["id"])] for r in changes]
    if seq != request["expected_changes"]:
        problems.append("delta changes differ from the workload: %s" % first_difference(seq, request["expected_changes"]))
    # Replaying every change in order gives the source table.
    state = {}
    for r in changes:
        key = str(r["id"])
        if r["_op"] == "d":
            state.pop(key, None)
        elif r["_op"] == "t":
            state.clear()
        else:
            row = dict(state.get(key, {}))
            unchanged = set(r["_unchanged"] or [])
            for column in request["columns"]:
                if column not in unchanged:
                    row[column] = r[column]
            state[key] = row
    problems += compare("delta changes replayed", list(state.values()), expected, request)
    current_table = DeltaTable(os.path.join(folder, "current"))
    current = arrow_rows(current_table.to_pyarrow_table())
    problems += compare("delta current", current, expected, request)
    # Readers skip files by the add actions' statistics: a filtered read (delta-rs's SQL engine) finds every
    # matching row. (Its pyarrow dataset path is not used: it reads a column without min/max as `column >= null`.)
    for name, table, rows in (("changes", DeltaTable(os.path.join(folder, "changes")), changes),
                              ("current", current_table, current)):
        for column in ["_op", "_position", "_offset"] + request["columns"]:
            values = [r[column] for r in rows if column in r and r[column] is not None]
            if not values or isinstance(values[0], (bool, list, dict, datetime.date, datetime.datetime)):
                continue
            for value in (values[0], values[-1], min(values)):
                if isinstance(value, str):
                    literal = "'" + value.replace("'", "''") + "'"
                elif isinstance(value, decimal.Decimal):
                    # (a bare literal is a float to DataFusion, which then misses decimal(12,2) values)
                    literal = "CAST('%s' AS DECIMAL(38, %d))" % (format(value, "f"), max(0, -value.as_tuple().exponent))
                else:
                    literal = repr(value)
                want = sum(1 for r in rows if r.get(column) is not None and r[column] == value)
                query = 'SELECT count(*) AS n FROM t WHERE "%s" = %s' % (column, literal)
                answer = pyarrow.table(QueryBuilder().register("t", table).execute(query).read_all())
                got = answer.column("n")[0].as_py()
                if got != want:
                    problems.append("delta %s: %s finds %d rows, the table has %d" % (name, query[:120], got, want))
    return {"problems": problems, "changes_rows": len(changes), "current_rows": len(current)}

request = load_request()
expected = load_source(request)
result = {"source_rows": len(expected)}
staged = duckdb_apply(request, expected)
lake = delta_check(request, expected)
result.update({"stage_files": staged["files"], "replays": staged["replays"], "duckdb_rows": staged["rows"],
               "changes_rows": lake["changes_rows"], "current_rows": lake["current_rows"],
               "problems": staged["problems"] + lake["problems"]})
with open(sys.argv[2], "w") as out:
    json.dump(result, out)
    out.flush()
    os.fsync(out.fileno())
exit_without_teardown()
