import sys, json

from _common import normalise, source_rows, load_request
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import StaticTable

request = load_request()
problems = []

expected = {row["id"]: row for row in source_rows(request)}

catalog = SqlCatalog("sluice", uri=request["catalog_uri"], warehouse=request["warehouse"])
table = catalog.load_table((request["namespace"], request["table"]))
upsert_rows = table.scan().to_arrow().to_pylist()
actual = {}
for row in upsert_rows:
    row = normalise(row, request)
    if row["id"] in actual:
        problems.append("upsert: key %s appears twice" % row["id"])
    actual[row["id"]] = row
for key in sorted(set(actual) | set(expected)):
    if key not in actual:
        problems.append("upsert: key %s missing" % key)
    elif key not in expected:
        problems.append("upsert: key %s should not exist" % key)
    elif actual[key] != expected[key]:
        problems.append("upsert: key %s: %r, expected %r" % (key, actual[key], expected[key]))

changes = StaticTable.from_metadata(request["append_metadata"]).scan().to_arrow().to_pylist()
offsets = sorted(r["_offset"] for r in changes)
if offsets != list(range(len(offsets))):
    problems.append("append: _offsets are not dense 0..n-1: %s" % offsets[:60])
ops = {}
for r in changes:
    ops[r["_op"]] = ops.get(r["_op"], 0) + 1
# The last change of every source key (by offset) is its current row. (A key change is one row holding the
# after image only, so a full replay cannot remove the old key.)
last = {}
for r in sorted(changes, key=lambda r: r["_offset"]):
    last[r["id"]] = r
for key, row in expected.items():
    change = last.get(key)
    if change is None:
        problems.append("append: no change for source key %s" % key)
    elif change["_op"] == "d":
        problems.append("append: the last change of source key %s is a delete" % key)
    elif normalise(change, request) != row:
        problems.append("append: key %s last image %r, expected %r" % (key, normalise(change, request), row))

with open(sys.argv[2], "w") as out:
    json.dump({"problems": problems, "source_rows": len(expected), "upsert_rows": len(upsert_rows),
               "append_rows": len(changes), "append_ops": ops, "distinct_offsets": len(set(offsets))}, out)
