import sys, json, fastavro
with open(sys.argv[1], 'rb') as f:
    reader = fastavro.reader(f)
    records = list(reader)
    schema = reader.writer_schema
    print(json.dumps({"codec": reader.codec, "meta": reader.metadata.get("schema-id"),
        "count": len(records), "name": schema["name"],
        "fieldIds": [f.get("field-id") for f in schema["fields"]],
        "path": records[11]["data_file"]["file_path"],
        "snapshot": records[11]["snapshot_id"],
        "counts": records[11]["data_file"]["value_counts"],
        "bounds": records[11]["data_file"]["lower_bounds"][0]["value"].hex(),
        "offsets": records[11]["data_file"]["split_offsets"],
        "tags": records[11]["data_file"]["tags"]}))
