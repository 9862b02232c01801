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
# A key change is two rows at one offset (the delete of the old key, then the new row): distinct offsets are dense.
if sorted(set(offsets)) != list(range(len(set(offsets)))):
    problems.append("append: _offsets are not dense 0..n-1: %s" % offsets[:60])
for offset in sorted(set(o for o in offsets if offsets.count(o) > 1)):
    pair = sorted(r["_op"] for r in changes if r["_offset"] == offset)
    if pair != ["d", "u"]:
        problems.append("append: offset %s holds %s, not a key change's delete and update" % (offset, pair))
ops = {}
for r in changes:
    ops[r["_op"]] = ops.get(r["_op"], 0) + 1
# Replaying the changelog by offset (a delete before the update at the same offset) gives the source: the last
# change of every source key is its current row, and every other key ends deleted.
last = {}
for r in sorted(changes, key=lambda r: (r["_offset"], r["_op"] != "d")):
    last[r["id"]] = r
for key, change in last.items():
    if key not in expected and change["_op"] != "d":
        problems.append("append: key %s is not in the source but its last change is %s" % (key, change["_op"]))
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
