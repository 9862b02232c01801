import sys, json
from pyiceberg.catalog.sql import SqlCatalog
c = SqlCatalog("sluice", uri="sqlite:///" + sys.argv[1], warehouse="file:///tmp")
t = c.load_table(("shop", "race"))
print(json.dumps({"namespaces": [list(n) for n in c.list_namespaces()],
                  "tables": [list(x) for x in c.list_tables("shop")], "writer": t.properties.get("writer")}))
