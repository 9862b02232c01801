"""The type matrix's sources: PostgreSQL 15 and MariaDB tables with every type the connector READMEs list, their
edge rows, the streamed changes, and the source's own SELECT (through psql / the mariadb CLI) turned into the
plain forms of tm_values.

Rows 1…9 are loaded before the first `sluice run` (the snapshot); the stream then copies them to 101…109 (the same
values under new keys), sets 101's columns to NULL, fills 104 (a copy of the all-NULL row 4) from row 8, updates a
small column of 107 (PostgreSQL: its TOASTed values travel as unchanged), moves 102 to 302 (a primary-key change)
and deletes 105.
"""
import json, os, re, subprocess, urllib.parse
from tm_values import (Unparsed, copy_unescape, float4, money_to_decimal, parse_date,
                       parse_pg_array, parse_pg_composite, parse_pg_interval, parse_time, parse_timestamp,
                       parse_timetz)

SNAPSHOT_KEYS = list(range(1, 10))
COPY_OFFSET = 100          # streamed inserts: key + 100, the same values
TO_NULL, FILLED, SMALL_UPDATE, MOVED_FROM, MOVED_TO, DELETED = 101, 104, 107, 102, 302, 105
FILL_FROM = 8


def q(text):
    """A SQL string literal (standard quoting, backslashes literal)."""
    return "'" + text.replace("'", "''") + "'"


class Column:
    """A table column: its DDL type, how its source text parses (`family`), and the SQL literal per row."""

    def __init__(self, name, ddl, family, values, label=None):
        self.name, self.ddl, self.family, self.values = name, ddl, family, values
        self.label = label or ddl


UNICODE = "Zürich 😀 עִבְרִית 中文 e\u0301 \"quoted\" 'single' back\\slash tab\t nl\n cr\r end"


class Source:
    """What both sources share: the change script and the expected images."""
    delete_image = "key"   # what a delete (and the old key of a moved row) carries: "key" or "full"

    def changes_sql(self):
        names = ", ".join(self.quote(c.name) for c in self.columns)
        t = self.table_ref
        nulls = ", ".join("%s = NULL" % self.quote(c.name) for c in self.columns)
        small = self.small_update
        return [
            "INSERT INTO %s (id, %s) SELECT id + %d, %s FROM %s WHERE id <= %d ORDER BY id"
            % (t, names, COPY_OFFSET, names, t, max(SNAPSHOT_KEYS)),
            "UPDATE %s SET %s WHERE id = %d" % (t, nulls, TO_NULL),
            self.update_from_sql(),
            "UPDATE %s SET %s WHERE id = %d" % (t, small, SMALL_UPDATE),
            "UPDATE %s SET id = %d WHERE id = %d" % (t, MOVED_TO, MOVED_FROM),
            "DELETE FROM %s WHERE id = %d" % (t, DELETED),
        ]

    def column(self, name):
        return next(c for c in self.columns if c.name == name)


# PostgreSQL -------------------------------------------------------------------------------------------------------

def _big_text_sql():
    # 1 MiB of hex digits plus a multi-byte tail: stored out of line (STORAGE EXTERNAL keeps it uncompressed)
    return "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 32768) i) || 'é😀'"


def _big_bytea_sql():
    return "(SELECT decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 16384) i) || '\\x0000'::bytea"


PG_COLUMNS = [
    Column("c_bool", "boolean", "bool", {1: "'f'", 2: "'t'", 8: "'t'"}),
    Column("c_int2", "smallint", "int", {1: "'-32768'", 2: "'32767'", 5: "'0'"}),
    Column("c_int4", "integer", "int", {1: "'-2147483648'", 2: "'2147483647'", 5: "'0'", 8: "'42'"}),
    Column("c_int8", "bigint", "int", {1: "'-9223372036854775808'", 2: "'9223372036854775807'", 5: "'0'"}),
    Column("c_oid", "oid", "int", {2: "'4294967295'", 5: "'0'"}),
    Column("c_xid", "xid", "int", {2: "'4294967295'", 8: "'3'"}),
    Column("c_numeric", "numeric", "numeric", {
        1: q("-123456789012345678901234567890.123456789012345678901234567890"),
        2: q("99999999999999999999999999999999999999999.5"), 3: "'NaN'", 5: "'0'", 6: "'Infinity'",
        8: "'12.50'", 9: "'-Infinity'"}),
    Column("c_numeric_10_2", "numeric(10,2)", "numeric", {1: "'-99999999.99'", 2: "'99999999.99'", 5: "'0'",
                                                          8: "'12.5'"}),
    Column("c_numeric_38_6", "numeric(38,6)", "numeric", {
        1: q("-99999999999999999999999999999999.999999"), 2: q("99999999999999999999999999999999.999999"),
        5: "'0'", 8: "'0.000001'"}),
    Column("c_numeric_50_10", "numeric(50,10)", "numeric", {
        1: "'-0.0000000001'", 2: q("1234567890123456789012345678901234567890.0123456789"), 5: "'0'"}),
    Column("c_real", "real", "float4", {1: "'-3.4028235e38'", 2: "'3.4028235e38'", 3: "'NaN'", 5: "'-0'",
                                        6: "'Infinity'", 7: "'1.4e-45'", 8: "'0.1'", 9: "'-Infinity'"}),
    Column("c_double", "double precision", "float8", {
        1: "'-1.7976931348623157e308'", 2: "'1.7976931348623157e308'", 3: "'NaN'", 5: "'-0'", 6: "'Infinity'",
        7: "'5e-324'", 8: "'0.1'", 9: "'-Infinity'"}),
    Column("c_money", "money", "money", {1: "'-92233720368547758.08'", 2: "'92233720368547758.07'", 5: "'0'",
                                         8: "'1234.56'"}),
    Column("c_char", "character(5)", "text", {1: "'a'", 2: "'abcde'", 5: "''", 6: "'é'", 8: "'ab'"}),
    Column("c_varchar", "character varying(20)", "text", {5: "''", 6: q("日本語テキスト"), 8: "'hello'"}),
    Column("c_text", "text", "text", {5: "''", 6: q(UNICODE), 7: _big_text_sql(), 8: "'NULL'", 9: "' '"},
           label="text (1 MiB TOASTed value in row 7)"),
    Column("c_name", "name", "text", {5: "''", 8: "'pg_name'"}),
    Column("c_bytea", "bytea", "bytea", {2: q("\\xffffffff00"), 5: q("\\x"), 6: q("\\x00"), 7: _big_bytea_sql(),
                                         8: q("\\xdeadbeef")}, label="bytea (256 KiB TOASTed value in row 7)"),
    Column("c_date", "date", "date", {1: "'4713-01-01 BC'", 2: "'5874897-12-31'", 3: "'infinity'",
                                      5: "'1970-01-01'", 8: "'2000-02-29'", 9: "'-infinity'"}),
    Column("c_time", "time", "time", {1: "'00:00:00'", 2: "'24:00:00'", 8: "'12:34:56.789012'",
                                      9: "'23:59:59.999999'"}),
    Column("c_timetz", "time with time zone", "timetz", {
        1: "'00:00:00+1559'", 2: "'24:00:00-1559'", 5: "'00:00:00+00'", 8: "'04:05:06.789+02'",
        9: "'23:00:00-03:30'"}),
    Column("c_timestamp", "timestamp", "timestamp", {
        1: "'4713-01-01 00:00:00 BC'", 2: "'294246-12-31 23:59:59.999999'", 3: "'infinity'",
        5: "'1970-01-01 00:00:00'", 6: "'1969-12-31 23:59:59.999999'", 8: "'2000-01-01 12:34:56.123456'",
        9: "'-infinity'"}),
    Column("c_timestamptz", "timestamp with time zone", "timestamptz", {
        1: "'4713-01-01 00:00:00+00 BC'", 2: "'294246-12-31 23:59:59.999999+00'", 3: "'infinity'",
        5: "'1970-01-01 00:00:00+00'", 6: "'1969-12-31 23:59:59.999999+00'", 8: "'2024-03-10 02:30:00.5+05:30'",
        9: "'-infinity'"}),
    Column("c_interval", "interval", "interval", {
        1: "'-178000000 years'", 2: "'178000000 years'", 5: "'0'", 6: "'1 day -00:00:00.000001'",
        8: "'1 year 2 mons 3 days 04:05:06.789'", 9: "'-1 years -2 mons +3 days -04:05:06'"}),
    Column("c_uuid", "uuid", "uuid", {1: "'00000000-0000-0000-0000-000000000000'",
                                      2: "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
                                      8: "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"}),
    Column("c_json", "json", "json", {
        1: q('"str"'), 2: "'[]'", 5: "'null'", 6: q('{"k": "é😀", "esc": "a\\"b\\\\c\\n"}'),
        8: q('{"a": 1,  "b": [true, null], "a": 2}'), 9: "'1.0e2'"}, label="json (JSON null in row 5)"),
    Column("c_jsonb", "jsonb", "json", {2: "'{}'", 5: "'null'", 6: q('{"k": "é😀"}'),
                                        8: q('{"a": 1, "b": [true, null]}'), 9: "'-0.0'"},
           label="jsonb (JSON null in row 5)"),
    Column("c_int4_array", "integer[]", "array:int", {1: "'{-2147483648,NULL,2147483647}'", 5: "'{}'",
                                                      6: "'{NULL}'", 8: "'{1,2,3}'"}),
    Column("c_text_array", "text[]", "array:text", {
        5: q('{""}'), 6: q('{"a,b","",NULL,"NULL","é😀","back\\\\slash","q\\"q"}'), 8: "'{a,b}'"}),
    Column("c_double_array", "double precision[]", "array:float8", {3: "'{NaN,Infinity,-Infinity,-0,NULL}'",
                                                                   8: "'{1.5,0.1}'"}),
    Column("c_numeric_array", "numeric[]", "array:numeric", {3: "'{NaN,1.50,NULL,-Infinity}'", 8: "'{12.50}'"}),
    Column("c_date_array", "date[]", "array:date", {3: "'{infinity,-infinity,NULL}'",
                                                    8: q('{2000-02-29,"4713-01-01 BC"}')}),
    Column("c_timestamptz_array", "timestamp with time zone[]", "array:timestamptz", {
        3: "'{infinity}'", 8: q('{"2000-01-01 00:00:00+00",NULL}')}),
    Column("c_bool_array", "boolean[]", "array:bool", {8: "'{t,f,NULL}'"}),
    Column("c_bytea_array", "bytea[]", "array:bytea", {8: q('{"\\\\x00ff",NULL}')}),
    Column("c_uuid_array", "uuid[]", "array:uuid", {8: "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}'"}),
    Column("c_enum", "tm.mood", "text", {5: "'sad'", 6: q("😀 emoji"), 8: "'happy'"}, label="enum (tm.mood)"),
    Column("c_domain", "tm.posint", "int", {2: "'2147483647'", 8: "'1'"}, label="domain over integer (tm.posint)"),
    Column("c_composite", "tm.pair", "composite:int,text,numeric", {
        2: q('(2147483647,"q""uote\\\\",NaN)'), 5: "'(,,)'", 6: q('(0,"",)'), 8: q('(1,"x,y",1.50)')},
        label="composite (tm.pair: a integer, b text, c numeric)"),
    Column("c_inet", "inet", "text", {1: "'0.0.0.0'", 2: "'255.255.255.255'", 6: "'::1'", 8: "'192.168.0.1/24'",
                                      9: "'2001:db8::ff00:42:8329/64'"}),
    Column("c_cidr", "cidr", "text", {6: "'2001:db8::/32'", 8: "'10.0.0.0/8'"}),
    Column("c_macaddr", "macaddr", "text", {8: "'08:00:2b:01:02:03'"}),
    Column("c_bit", "bit(4)", "text", {5: "'0000'", 8: "'1010'"}),
    Column("c_varbit", "bit varying(10)", "text", {5: "''", 8: "'1'"}),
]


class Postgres(Source):
    name = "postgres"
    schema, table = "tm", "types"
    table_ref = "tm.types"
    columns = PG_COLUMNS
    small_update = "c_varchar = 'small update'"
    session = ("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; "
               "SET extra_float_digits = 3; SET bytea_output = 'hex'; SET lc_monetary = 'C';")

    def __init__(self, url):
        self.url = url

    @staticmethod
    def quote(name):
        return '"%s"' % name

    def psql(self, sql, stdin_file=None):
        result = subprocess.run(["psql", self.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]
                                if stdin_file is None else
                                ["psql", self.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-f", stdin_file],
                                capture_output=True)
        if result.returncode != 0:
            raise RuntimeError("psql failed: %s" % result.stderr.decode(errors="replace")[-2000:])
        return result.stdout.decode()

    def run_script(self, statements, work, name):
        path = os.path.join(work, name + ".sql")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.session + "\n" + ";\n".join(statements) + ";\n")
        self.psql(None, stdin_file=path)

    def reset(self, pipeline):
        """Drops what an earlier run left: the slot, the publication, the schema."""
        self.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                  "WHERE slot_name = 'tm_slot' AND NOT active")
        self.psql("DROP PUBLICATION IF EXISTS tm_pub; DROP SCHEMA IF EXISTS tm CASCADE")

    def cleanup(self):
        self.reset(None)

    def create_and_load(self, work):
        ddl = ["CREATE SCHEMA tm",
               "CREATE TYPE tm.mood AS ENUM ('sad', 'happy', '😀 emoji')",
               "CREATE DOMAIN tm.posint AS integer CHECK (VALUE > 0)",
               "CREATE TYPE tm.pair AS (a integer, b text, c numeric)",
               "CREATE TABLE tm.types (id integer PRIMARY KEY, %s)"
               % ", ".join('"%s" %s' % (c.name, c.ddl) for c in self.columns),
               "ALTER TABLE tm.types ALTER COLUMN c_text SET STORAGE EXTERNAL",
               "ALTER TABLE tm.types ALTER COLUMN c_bytea SET STORAGE EXTERNAL"]
        rows = []
        for key in SNAPSHOT_KEYS:
            names = ["id"] + [c.name for c in self.columns if key in c.values]
            values = [str(key)] + [c.values[key] for c in self.columns if key in c.values]
            rows.append("INSERT INTO tm.types (%s) VALUES (%s)" % (", ".join('"%s"' % n for n in names),
                                                                  ", ".join(values)))
        self.run_script(ddl + rows, work, "load")

    def update_from_sql(self):
        fill = ", ".join('"%s" = src."%s"' % (c.name, c.name) for c in self.columns)
        return "UPDATE tm.types SET %s FROM tm.types src WHERE tm.types.id = %d AND src.id = %d" % (
            fill, FILLED, FILL_FROM)

    def apply_changes(self, work):
        self.run_script(self.changes_sql(), work, "changes")

    def select(self, work):
        """Every row as {id: {column: text or None}}: COPY … TO STDOUT, i.e. each type's own output function."""
        names = ", ".join('"%s"' % c.name for c in self.columns)
        path = os.path.join(work, "select.sql")
        with open(path, "w") as f:
            f.write(self.session + "\nCOPY (SELECT id, %s FROM tm.types ORDER BY id) TO STDOUT;\n" % names)
        out = subprocess.run(["psql", self.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", path],
                             capture_output=True)
        if out.returncode != 0:
            raise RuntimeError("psql COPY failed: %s" % out.stderr.decode(errors="replace")[-2000:])
        rows = {}
        for line in out.stdout.decode("utf-8").split("\n"):
            if not line:
                continue
            fields = [copy_unescape(f) for f in line.split("\t")]
            rows[int(fields[0])] = dict(zip([c.name for c in self.columns], fields[1:]))
        return rows

    def source_yaml(self):
        return "\n".join([
            "  pg:",
            "    type: postgres",
            "    url: %s" % json.dumps(self.url),
            "    slot: tm_slot",
            "    publication: tm_pub",
            "    tables: [tm.types]",
            "    snapshot_mode: initial",
            "    status_interval: 1s",
            "    max_batch_delay: 50ms"])

    # The source text → plain form (tm_values) -----------------------------------------------------------------

    def parse(self, column, text):
        return parse_pg(column.family, text)


def parse_pg(family, text):
    if text is None:
        return None
    if family.startswith("array:"):
        element = family.split(":", 1)[1]
        return [parse_pg(element, item) for item in parse_pg_array(text)]
    if family.startswith("composite:"):
        # Sluice renders a composite as a JSON object of its fields, each as `sluice log read` renders a value
        # (connectors/postgres/README.md: "composites (a JSON object)"; README.md: decimals as exact strings).
        kinds = family.split(":", 1)[1].split(",")
        names = ["a", "b", "c"]
        doc = {}
        for name, kind, item in zip(names, kinds, parse_pg_composite(text)):
            doc[name] = None if item is None else int(item) if kind == "int" else item
        return {"$doc": doc}
    if family == "bool":
        return {"t": True, "f": False}[text]
    if family == "int":
        return int(text)
    if family == "float4":
        return float4(text)
    if family == "float8":
        return float(text)
    if family == "numeric":
        return text
    if family == "money":
        # money → decimal (connectors/postgres/README.md: "money (decimal)"), lc_monetary C text without $ and ,
        return money_to_decimal(text)
    if family == "text":
        return text
    if family == "bytea":
        if not text.startswith("\\x"):
            raise Unparsed("bytea", text)
        return bytes.fromhex(text[2:])
    if family == "date":
        return parse_date(text)
    if family == "time":
        return parse_time(text)
    if family == "timetz":
        return parse_timetz(text)
    if family in ("timestamp", "timestamptz"):
        return parse_timestamp(text)
    if family == "interval":
        return parse_pg_interval(text)
    if family == "uuid":
        return text
    if family == "json":
        return text
    raise ValueError("family " + family)


# MariaDB ----------------------------------------------------------------------------------------------------------

def _big_longtext_sql():
    return "CONCAT(REPEAT('0123456789abcdef', 65536), 'é😀')"


def _big_longblob_sql():
    return "CONCAT(UNHEX(REPEAT('00ff10ef', 262144)), X'0000')"


MY_COLUMNS = [
    Column("c_tinyint", "TINYINT", "int", {1: "-128", 2: "127", 5: "0"}),
    Column("c_tinyint_u", "TINYINT UNSIGNED", "int", {2: "255", 5: "0"}),
    Column("c_smallint", "SMALLINT", "int", {1: "-32768", 2: "32767"}),
    Column("c_smallint_u", "SMALLINT UNSIGNED", "int", {2: "65535"}),
    Column("c_mediumint", "MEDIUMINT", "int", {1: "-8388608", 2: "8388607"}),
    Column("c_mediumint_u", "MEDIUMINT UNSIGNED", "int", {2: "16777215"}),
    Column("c_int", "INT", "int", {1: "-2147483648", 2: "2147483647", 8: "42"}),
    Column("c_int_u", "INT UNSIGNED", "int", {2: "4294967295"}),
    Column("c_bigint", "BIGINT", "int", {1: "-9223372036854775808", 2: "9223372036854775807"}),
    Column("c_bigint_u", "BIGINT UNSIGNED", "int", {2: "18446744073709551615", 5: "0", 8: "9223372036854775808"}),
    Column("c_decimal_10_2", "DECIMAL(10,2)", "decimal", {1: "-99999999.99", 2: "99999999.99", 5: "0", 8: "12.5"}),
    Column("c_decimal_38_10", "DECIMAL(38,10)", "decimal", {
        1: "-9999999999999999999999999999.9999999999", 2: "9999999999999999999999999999.9999999999", 5: "0"}),
    Column("c_decimal_65_30", "DECIMAL(65,30)", "decimal", {
        1: "-0.000000000000000000000000000001", 2: "99999999999999999999999999999999999.999999999999999999999999999999",
        5: "0"}),
    Column("c_float", "FLOAT", "float", {1: "-3.4028234663852886e38", 2: "3.4028234663852886e38", 5: "-0e0",
                                         6: "1.401298464324817e-45", 8: "0.1"}),
    Column("c_double", "DOUBLE", "float", {1: "-1.7976931348623157e308", 2: "1.7976931348623157e308", 5: "-0e0",
                                           6: "5e-324", 8: "0.1"}),
    Column("c_bit1", "BIT(1)", "bit1", {1: "b'0'", 2: "b'1'"}),
    Column("c_bit12", "BIT(12)", "bit:12", {2: "b'111111111111'", 5: "b'0'", 8: "b'101010101010'"}),
    Column("c_bit64", "BIT(64)", "bit:64", {2: "b'%s'" % ("1" * 64), 8: "b'1'"}),
    Column("c_date", "DATE", "date", {1: "'1000-01-01'", 2: "'9999-12-31'", 5: "'0000-00-00'", 8: "'2000-02-29'"},
           label="DATE (zero date in row 5)"),
    Column("c_datetime", "DATETIME(6)", "datetime", {
        1: "'1000-01-01 00:00:00.000000'", 2: "'9999-12-31 23:59:59.999999'", 5: "'0000-00-00 00:00:00'",
        8: "'2000-01-01 12:34:56.123456'"}),
    Column("c_datetime0", "DATETIME", "datetime", {8: "'2020-01-01 00:00:00'"}),
    Column("c_timestamp", "TIMESTAMP(6) NULL", "timestamp", {
        1: "'1970-01-01 00:00:01.000000'", 2: "'2038-01-19 03:14:07.999999'", 5: "'0000-00-00 00:00:00'",
        8: "'2000-01-01 12:34:56.123456'"}, label="TIMESTAMP(6)"),
    Column("c_time", "TIME(6)", "time", {1: "'-838:59:59.000000'", 2: "'838:59:59.000000'", 5: "'00:00:00'",
                                         8: "'12:34:56.789012'", 9: "'-00:00:00.000001'"}),
    Column("c_year", "YEAR", "int", {1: "1901", 2: "2155", 5: "0"}),
    Column("c_enum", "ENUM('a','b','é😀')", "text", {6: q("é😀"), 8: "'b'"}),
    Column("c_set", "SET('x','y','z')", "text", {2: "'x,y,z'", 5: "''", 8: "'x,z'"}),
    Column("c_char", "CHAR(5)", "text", {2: "'abcde'", 5: "''", 6: "'é'", 8: "'ab'"}),
    Column("c_varchar", "VARCHAR(20)", "text", {5: "''", 6: q("日本語"), 8: "'NULL'"}),
    Column("c_text", "TEXT", "text", {5: "''", 6: q(UNICODE.replace("\\", "\\\\")), 8: "'hello'"}),
    Column("c_longtext", "LONGTEXT", "text", {7: _big_longtext_sql(), 8: "'x'"}, label="LONGTEXT (1 MiB in row 7)"),
    Column("c_latin1", "VARCHAR(20) CHARACTER SET latin1", "text", {6: q("€àÿ"), 8: "'abc'"}),
    Column("c_binary", "BINARY(4)", "binary", {1: "X'00000000'", 2: "X'ffffffff'", 6: "X'01020300'",
                                               8: "X'61000000'"}),
    Column("c_varbinary", "VARBINARY(10)", "binary", {1: "X'00'", 5: "X''", 8: "X'deadbeef00'"}),
    Column("c_blob", "BLOB", "binary", {5: "X''", 8: "X'deadbeef'"}),
    Column("c_longblob", "LONGBLOB", "binary", {7: _big_longblob_sql(), 8: "X'00'"}, label="LONGBLOB (1 MiB in row 7)"),
    Column("c_json", "JSON", "json", {2: "'[]'", 5: "'null'", 6: q('{"k": "é😀"}'),
                                      8: q('{"a": 1,  "b": [true, null]}')}, label="JSON (JSON null in row 5)"),
    Column("c_geometry", "GEOMETRY", "binary", {2: "ST_GeomFromText('POINT(1 2)', 4326)",
                                                8: "ST_GeomFromText('POINT(1 2)')"}),
    Column("c_uuid", "UUID", "uuid", {1: "'00000000-0000-0000-0000-000000000000'",
                                      2: "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
                                      8: "'123e4567-e89b-12d3-a456-426614174000'"}),
    Column("c_inet6", "INET6", "text", {1: "'::'", 2: "'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'",
                                        6: "'::ffff:192.0.2.1'", 8: "'2001:db8::ff00:42:8329'"}),
    Column("c_inet4", "INET4", "text", {1: "'0.0.0.0'", 2: "'255.255.255.255'", 8: "'192.0.2.1'"}),
]


class MariaDB(Source):
    name = "mysql"
    database = "tm_types"
    schema, table = "tm_types", "types"
    table_ref = "tm_types.types"
    columns = MY_COLUMNS
    delete_image = "full"
    small_update = "c_varchar = 'small update'"
    session = "SET NAMES utf8mb4; SET time_zone = '+00:00'; SET sql_mode = '';"

    def __init__(self, url):
        parts = urllib.parse.urlparse(url)
        self.url = url
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 3306
        self.user = urllib.parse.unquote(parts.username or "root")
        self.password = urllib.parse.unquote(parts.password or "")

    @staticmethod
    def quote(name):
        return "`%s`" % name

    def mariadb(self, sql, raw_output=False):
        env = dict(os.environ, MYSQL_PWD=self.password)
        client = "mariadb" if subprocess.run(["sh", "-c", "command -v mariadb"], capture_output=True).returncode == 0 \
            else "mysql"
        result = subprocess.run([client, "--no-defaults", "-h", self.host, "-P", str(self.port), "-u", self.user,
                                 "--default-character-set=utf8mb4", "-N", "-B", "-r",
                                 "--max-allowed-packet=64M"],
                                input=(self.session + "\n" + sql).encode("utf-8"), capture_output=True, env=env)
        if result.returncode != 0:
            raise RuntimeError("mariadb failed: %s" % result.stderr.decode(errors="replace")[-2000:])
        return result.stdout.decode("utf-8")

    def run_script(self, statements, work, name):
        with open(os.path.join(work, name + ".sql"), "w", encoding="utf-8") as f:
            f.write(";\n".join(statements) + ";\n")
        self.mariadb(";\n".join(statements) + ";\n")

    def reset(self, pipeline):
        self.mariadb("DROP DATABASE IF EXISTS tm_types;")

    def cleanup(self):
        self.reset(None)

    def create_and_load(self, work):
        ddl = ["CREATE DATABASE tm_types CHARACTER SET utf8mb4",
               "CREATE TABLE tm_types.types (id INT PRIMARY KEY, %s) ENGINE=InnoDB"
               % ", ".join("`%s` %s" % (c.name, c.ddl) for c in self.columns)]
        rows = []
        for key in SNAPSHOT_KEYS:
            names = ["id"] + [c.name for c in self.columns if key in c.values]
            values = [str(key)] + [c.values[key] for c in self.columns if key in c.values]
            rows.append("INSERT INTO tm_types.types (%s) VALUES (%s)" % (", ".join("`%s`" % n for n in names),
                                                                        ", ".join(values)))
        self.run_script(ddl + rows, work, "load")

    def update_from_sql(self):
        fill = ", ".join("t.`%s` = src.`%s`" % (c.name, c.name) for c in self.columns)
        return "UPDATE tm_types.types t JOIN tm_types.types src ON src.id = %d SET %s WHERE t.id = %d" % (
            FILL_FROM, fill, FILLED)

    def apply_changes(self, work):
        self.run_script(self.changes_sql(), work, "changes")

    def select(self, work):
        """Every row as {id: {column: text or None}}: each column cast to text (FLOAT through DOUBLE, which prints
        the exact value; BIT as its number), binary as hex; all of it hex-encoded inside JSON_ARRAY, so no byte
        of a value is ever escaped or converted on the way."""
        exprs = []
        for c in self.columns:
            ref = "`%s`" % c.name
            if c.family == "binary":
                exprs.append("HEX(%s)" % ref)
                continue
            if c.family == "float" and c.ddl == "FLOAT":
                ref = "CAST(%s AS DOUBLE)" % ref
            elif c.family.startswith("bit"):
                ref = "%s + 0" % ref
            exprs.append("HEX(CAST(%s AS CHAR CHARACTER SET utf8mb4))" % ref)
        out = self.mariadb("SELECT id, JSON_ARRAY(%s) FROM tm_types.types ORDER BY id;" % ", ".join(exprs))
        rows = {}
        for line in out.splitlines():
            if not line.strip():
                continue
            key, payload = line.split("\t", 1)
            values = json.loads(payload)
            row = {}
            for c, v in zip(self.columns, values):
                if v is None:
                    row[c.name] = None
                elif c.family == "binary":
                    row[c.name] = "0x" + v.lower()
                else:
                    row[c.name] = bytes.fromhex(v).decode("utf-8")
            rows[int(key)] = row
        return rows

    def source_yaml(self):
        return "\n".join([
            "  my:",
            "    type: mysql",
            "    url: %s" % json.dumps(self.url),
            "    include: [\"tm_types.*\"]",
            "    snapshot_mode: initial",
            "    heartbeat_interval: 1s"])

    def parse(self, column, text):
        return parse_my(column.family, text)


_ZERO_DATE = re.compile(r"^0000-|^\d{4}-00-|^\d{4}-\d{2}-00")


def parse_my(family, text):
    if text is None:
        return None
    if family in ("int",):
        return int(text)
    if family == "decimal":
        return text
    if family == "float":
        return float(text)
    if family == "bit1":
        return text == "1"
    if family.startswith("bit:"):
        # BIT(n>1) → bytes, big-endian (connectors/mysql/README.md, Types)
        width = int(family.split(":")[1])
        return int(text).to_bytes((width + 7) // 8, "big")
    if family in ("date", "datetime", "timestamp"):
        # Zero dates decode to null (connectors/mysql/README.md, "Zero dates")
        if _ZERO_DATE.match(text):
            return None
        return parse_date(text) if family == "date" else parse_timestamp(text)
    if family == "time":
        return parse_time(text)
    if family in ("text", "uuid", "json"):
        return text
    if family == "binary":
        return bytes.fromhex(text[2:])
    raise ValueError("family " + family)


def make_source(kind, url):
    return Postgres(url) if kind == "postgres" else MariaDB(url)


def expected_records(source, s1, s2, layout):
    """The (op, key) of every change row a sink writes, in log order, with the source row its image must equal
    (None for a delete's key-only image). `layout`: changelog (every change; a key change is a delete of the old
    key then the new row), append (no deletes), events (jsonl: one event per change)."""
    out = [("r", k, s1[k]) for k in SNAPSHOT_KEYS]
    out += [("c", k + COPY_OFFSET, s1[k + COPY_OFFSET]) for k in SNAPSHOT_KEYS]
    out += [("u", TO_NULL, s2[TO_NULL]), ("u", FILLED, s2[FILLED]), ("u", SMALL_UPDATE, s2[SMALL_UPDATE])]
    if layout == "changelog":
        out.append(("d", MOVED_FROM, s1[MOVED_FROM]))
    out.append(("u", MOVED_TO, s2[MOVED_TO]))
    if layout != "append":
        out.append(("d", DELETED, s1[DELETED]))
    return out
