import json, os, shutil, datetime
from _common import missing_package, canonical, compare_rows, open_duckdb_stage, load_request, exit_without_teardown
try:
    import duckdb
    import pyarrow
    from deltalake import DeltaTable
except ImportError as error:
    missing_package(error)

def rows_of(cursor):
    names = [d[0] for d in cursor.description]
    return [{n: canonical(v) for n, v in zip(names, row)} for row in cursor.fetchall()]

def duckdb_apply(request):
    expected = load_expected(request)
    folder = request["folder"]
    test_stage = request["test_stage"]
    con, name, apply, ledger = open_duckdb_stage(folder, test_stage)
    applied = 0
    replays = 0
    for index, entry in enumerate(ledger):
        shutil.copy(os.path.join(folder, entry["file"]), os.path.join(test_stage, name, entry["file"]))
        con.execute(apply)
        applied += 1
        # The same file again: COPY INTO's load history skips it.
        con.execute(apply)
        # An older file delivered again under a new name (load history expired, FORCE, or a second copy) after
        # newer ones: the MERGE guard and the tombstones must ignore it.
        for back in request.get("replay_back", []):
            if index - back >= 0 and index % request.get("replay_every", 1) == 0:
                old = ledger[index - back]["file"]
                copy = "replay-%d-%d-%s" % (index, back, old)
                shutil.copy(os.path.join(folder, old), os.path.join(test_stage, name, copy))
                con.execute(apply)
                replays += 1
    excluded = "_sluice_position, _sluice_offset, _sluice_commit_ts"
    where = ""
    if request["deletes"] == "soft":
        excluded += ", _sluice_deleted"
        where = " WHERE NOT _sluice_deleted"
    schema, table = name.split(".", 1)
    actual = rows_of(con.execute('SELECT * EXCLUDE (%s) FROM "%s"."%s"%s' % (excluded, schema, table, where)))
    staging_left = con.execute('SELECT count(*) FROM "%s"."%s__sluice_staging"' % (schema, table)).fetchone()[0]
    problems = compare_rows(actual, expected["rows"], request["columns"])
    offsets = [o for e in ledger for o in range(e["first_offset"], e["last_offset"] + 1)]
    return {"problems": problems[:20], "problem_count": len(problems), "files": len(ledger), "applied": applied,
            "replays": replays, "rows": len(actual), "staging_left": staging_left,
            "offsets_dense": offsets == list(range(len(offsets))), "offset_count": len(offsets)}

def delta_check(request):
    expected = load_expected(request)
    folder = request["folder"]
    changes = DeltaTable(os.path.join(folder, "changes"))
    table = changes.to_pyarrow_table()
    offsets = table.column("_offset").to_pylist()
    ops = table.column("_op").to_pylist()
    by_offset = {}
    duplicates = 0
    for offset, op in zip(offsets, ops):
        if offset in by_offset:
            duplicates += 1
        by_offset[offset] = op
    ops_match = [by_offset.get(i) for i in range(len(expected["ops"]))] == expected["ops"]
    result = {"changes_rows": len(offsets), "duplicates": duplicates, "ops_match": ops_match,
              "changes_version": changes.version(),
              "changes_schema": str(table.schema.field("_commit_ts").type)}
    history = changes.history()
    txns = [h for h in history]
    result["history_entries"] = len(txns)
    if request.get("current", True):
        current = DeltaTable(os.path.join(folder, "current"))
        rows = rows_of_arrow(current.to_pyarrow_table())
        problems = compare_rows(rows, expected["rows"], request["columns"])
        result.update({"current_rows": len(rows), "problems": problems[:20], "problem_count": len(problems),
                       "current_files": len(current.file_uris())})
    return result

def rows_of_arrow(table):
    names = table.column_names
    columns = [table.column(n).to_pylist() for n in names]
    return [{n: canonical(c[i]) for n, c in zip(names, columns)} for i in range(table.num_rows)]

def expected_from_jsonl(path):
    """The final state and ops of a stream from the JSON lines the jsonl sink wrote."""
    rows, ops = {}, []
    for line in open(path):
        event = json.loads(line)
        assert event["offset"] == len(ops), "jsonl offsets are not dense"
        ops.append(event["op"])
        image = event["after"] or event["before"]
        key = str(image["id"])
        if event["op"] == "d":
            rows.pop(key, None)
        else:
            row = dict(event["after"])
            for name, value in row.items():
                if isinstance(value, str) and len(value) > 19 and value[10] == "T" and value.endswith("Z"):
                    row[name] = canonical(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
            rows[key] = row
    return {"rows": rows, "ops": ops}

def load_expected(request):
    if "jsonl" in request:
        return expected_from_jsonl(request["jsonl"])
    return json.load(open(request["expected"]))

request = load_request()
if request["mode"] == "duckdb":
    print(json.dumps(duckdb_apply(request)))
else:
    print(json.dumps(delta_check(request)))
exit_without_teardown()
