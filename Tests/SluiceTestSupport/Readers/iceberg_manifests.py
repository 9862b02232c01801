import sys, json, fastavro
meta = json.load(open(sys.argv[1]))
snap = [s for s in meta["snapshots"] if s["snapshot-id"] == meta["current-snapshot-id"]][0]
def path(p): return p[len("file://"):] if p.startswith("file://") else p
with open(path(snap["manifest-list"]), "rb") as f:
    r = fastavro.reader(f)
    lst = list(r); ls = r.writer_schema; lmeta = dict(r.metadata)
out = {"listName": ls["name"], "listIds": {f["name"]: f.get("field-id") for f in ls["fields"]},
       "listMeta": sorted(k for k in lmeta if not k.startswith("avro.")), "manifests": []}
for m in lst:
    with open(path(m["manifest_path"]), "rb") as f:
        r = fastavro.reader(f)
        entries = list(r); s = r.writer_schema; md = dict(r.metadata)
    df = [x for x in s["fields"] if x["name"] == "data_file"][0]["type"]
    part = [x for x in df["fields"] if x["name"] == "partition"][0]
    out["manifests"].append({
        "name": s["name"], "ids": {f["name"]: f.get("field-id") for f in s["fields"]},
        "dataFileName": df["name"], "dataFileIds": {f["name"]: f.get("field-id") for f in df["fields"]},
        "partitionName": part["type"]["name"], "partitionFieldIds": [f.get("field-id") for f in part["type"]["fields"]],
        "meta": {k: v for k, v in md.items() if not k.startswith("avro.")},
        "content": m["content"], "sequenceNumber": m["sequence_number"],
        "addedSnapshot": m["added_snapshot_id"],
        "entries": [{"status": e["status"], "seq": e["sequence_number"], "fseq": e["file_sequence_number"],
                     "content": e["data_file"]["content"], "lower": {str(kv["key"]): kv["value"].hex() for kv in (e["data_file"]["lower_bounds"] or [])},
                     "counts": {str(kv["key"]): kv["value"] for kv in (e["data_file"]["value_counts"] or [])}}
                    for e in entries]})
print(json.dumps(out))
