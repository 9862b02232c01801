import sys, fastavro
schema = {"type": "record", "name": "row", "fields": [
    {"name": "id", "type": "long", "field-id": 1},
    {"name": "name", "type": ["null", "string"], "field-id": 2},
    {"name": "scores", "type": {"type": "array", "items": "double", "element-id": 4}, "field-id": 3},
    {"name": "attrs", "type": {"type": "map", "values": "long"}, "field-id": 5}]}
rows = [{"id": i, "name": None if i % 3 == 0 else "n%d" % i, "scores": [i / 2.0] * (i % 4),
         "attrs": {"a": i}} for i in range(3000)]
with open(sys.argv[1], 'wb') as f:
    fastavro.writer(f, fastavro.parse_schema(schema), rows, codec="deflate", sync_interval=1000,
                    metadata={"k": "v"})
