import sys, json, datetime, decimal
from pyiceberg.table import StaticTable
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
def render(v):
    if v is None: return "null"
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, decimal.Decimal): return format(v, "f")
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None: v = v.replace(tzinfo=datetime.timezone.utc)
        return str((v - EPOCH) // datetime.timedelta(microseconds=1))
    if isinstance(v, (bytes, bytearray)): return bytes(v).hex()
    return str(v)
args = sys.argv[1:]
if args[0] == "static":
    table = StaticTable.from_metadata(args[1]); cols = args[2].split(",")
else:
    from pyiceberg.catalog.sql import SqlCatalog
    catalog = SqlCatalog(args[2], uri=args[1], warehouse="file:///tmp")
    table = catalog.load_table((args[3], args[4])); cols = args[5].split(",")
arrow = table.scan().to_arrow()
names = arrow.column_names
rows = arrow.to_pylist()
schema = table.schema()
snapshot = table.current_snapshot()
print(json.dumps({
    "fields": [[f.field_id, f.name, str(f.field_type), f.required] for f in schema.fields],
    "identifier": list(schema.identifier_field_ids),
    "schemaId": schema.schema_id,
    "rows": ["|".join(render(r.get(c)) for c in cols) for r in rows],
    "count": len(rows),
    "snapshots": len(table.metadata.snapshots),
    "summary": dict(snapshot.summary.additional_properties) if snapshot else {},
    "operation": str(snapshot.summary.operation) if snapshot else None,
}))
