import sys, json
from _common import missing_package, render, row_groups, exit_without_teardown
try:
    import pyarrow.parquet as pq
    import pyarrow as pa
    import duckdb
except ImportError as error:
    missing_package(error)

path = sys.argv[1]
result = {}

parquet_file = pq.ParquetFile(path)
table = parquet_file.read()
metadata = parquet_file.metadata
result["pyarrow_types"] = {field.name: str(field.type) for field in table.schema}
result["pyarrow_values"] = {name: [render(v) for v in table.column(name).to_pylist()] for name in table.column_names}
result["num_rows"] = metadata.num_rows
result["num_row_groups"] = metadata.num_row_groups
result["created_by"] = metadata.created_by
result["key_value_metadata"] = {
    key.decode(): value.decode() for key, value in (metadata.metadata or {}).items() if key != b"ARROW:schema"
}
result["field_ids"] = {}
for field in parquet_file.schema_arrow:
    field_metadata = field.metadata or {}
    result["field_ids"][field.name] = int(field_metadata.get(b"PARQUET:field_id", b"-1"))
    if pa.types.is_list(field.type):
        element_metadata = field.type.value_field.metadata or {}
        result["field_ids"][field.name + ".element"] = int(element_metadata.get(b"PARQUET:field_id", b"-1"))
statistics = []
for group, chunks in row_groups(metadata):
    columns = {}
    for chunk in chunks:
        stats = chunk.statistics
        entry = {"compression": chunk.compression, "encodings": list(chunk.encodings),
                 "has_dictionary_page": chunk.has_dictionary_page}
        if stats is not None:
            entry["null_count"] = stats.null_count
            entry["has_min_max"] = stats.has_min_max
            if stats.has_min_max:
                entry["min"] = render(stats.min)
                entry["max"] = render(stats.max)
        columns[chunk.path_in_schema] = entry
    statistics.append({"num_rows": group.num_rows, "columns": columns})
result["row_groups"] = statistics

connection = duckdb.connect()
connection.execute("SET TimeZone = 'UTC'")
cursor = connection.execute("SELECT * FROM read_parquet(?)", [path])
names = [description[0] for description in cursor.description]
rows = cursor.fetchall()
result["duckdb_types"] = {
    row[0]: row[1] for row in connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
}
result["duckdb_values"] = {name: [render(row[index]) for row in rows] for index, name in enumerate(names)}
print(json.dumps(result))
exit_without_teardown()
