import sys, json
from _common import missing_package, render, row_groups, exit_without_teardown
try:
    import pyarrow.parquet as pq
    import pyarrow as pa
    import duckdb
except ImportError as error:
    missing_package(error)

def plain_type(arrow_type):
    if isinstance(arrow_type, pa.BaseExtensionType):
        return plain_type(arrow_type.storage_type)
    if pa.types.is_date32(arrow_type):
        return pa.int32()
    if pa.types.is_timestamp(arrow_type) or pa.types.is_time64(arrow_type):
        return pa.int64()
    if pa.types.is_list(arrow_type):
        field = arrow_type.value_field
        return pa.list_(pa.field(field.name, plain_type(field.type), field.nullable))
    return arrow_type

def plain_column(column):
    if isinstance(column.type, pa.BaseExtensionType):
        column = pa.chunked_array([chunk.storage for chunk in column.chunks], type=column.type.storage_type)
    target = plain_type(column.type)
    return column if target == column.type else column.cast(target)

def duckdb_expression(name, type_name):
    if type_name.endswith("[]"):
        inner = duckdb_expression("x", type_name[:-2])
        return f"list_transform({name}, x -> {inner})" if inner != "x" else name
    # ±infinity: DuckDB's own (±INT32 max days, ±INT64 max µs), which Sluice writes.
    if type_name == "DATE":
        return (f"CASE WHEN {name} = 'infinity' THEN 2147483647 WHEN {name} = '-infinity' THEN -2147483647 "
                f"ELSE ({name} - DATE '1970-01-01') END")
    if type_name.startswith("TIMESTAMP"):
        return (f"CASE WHEN {name} = 'infinity' THEN 9223372036854775807 "
                f"WHEN {name} = '-infinity' THEN -9223372036854775807 ELSE epoch_us({name}) END")
    if type_name.startswith("TIME"):
        return f"epoch_us({name}::TIME)"
    return name

def quote(name):
    return '"' + name.replace('"', '""') + '"'

results = []
connection = duckdb.connect()
connection.execute("SET TimeZone = 'UTC'")
for path in sys.argv[1:]:
    result = {"path": path}
    parquet_file = pq.ParquetFile(path)
    table = parquet_file.read()
    metadata = parquet_file.metadata
    result["columns"] = table.column_names
    result["pyarrow_types"] = {field.name: str(field.type) for field in table.schema}
    result["pyarrow_values"] = {
        name: [render(v) for v in plain_column(table.column(name)).to_pylist()] for name in table.column_names
    }
    result["num_rows"] = metadata.num_rows
    result["num_row_groups"] = metadata.num_row_groups
    result["key_value_metadata"] = {
        key.decode(): value.decode() for key, value in (metadata.metadata or {}).items() if key != b"ARROW:schema"
    }
    compressions = set()
    groups = []
    for _, chunks in row_groups(metadata):
        columns = {}
        for chunk in chunks:
            compressions.add(chunk.compression)
            stats = chunk.statistics
            entry = {}
            if stats is not None:
                entry["null_count"] = stats.null_count
                if stats.has_min_max:
                    entry["min"] = render(stats.min_raw)
                    entry["max"] = render(stats.max_raw)
            columns[chunk.path_in_schema] = entry
        groups.append(columns)
    result["row_groups"] = groups
    result["compressions"] = sorted(compressions)

    described = connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    result["duckdb_types"] = {row[0]: row[1] for row in described}
    expressions = [duckdb_expression(quote(row[0]), row[1]) + " AS " + quote(row[0]) for row in described]
    rows = connection.execute("SELECT " + ", ".join(expressions) + " FROM read_parquet(?)", [path]).fetchall()
    result["duckdb_values"] = {row[0]: [render(r[index]) for r in rows] for index, row in enumerate(described)}
    results.append(result)
print(json.dumps(results))
exit_without_teardown()
