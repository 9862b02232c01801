"""The type matrix's value domain (stdlib only: both venvs import it).

Every value the harness compares — from the source database's text or from an engine's answer — is brought into
one plain form per Sluice value kind, then compared strictly:

  bool → bool          int → int             double → float (compared by bits: NaN = NaN, -0.0 ≠ 0.0)
  decimal → str (exact text, scale kept)     string → str          bytes → bytes
  date → int days since 1970-01-01 (±infinity: ±INT32 max)      time → int µs
  timetz → (µs, UTC offset seconds) or, where a sink stores it in UTC, int µs within the day
  timestamp(tz) → int µs since 1970 (UTC for tz; ±infinity: ±INT64 max)
  interval → (months, days, µs)              uuid → str            json → str (the exact text) or a parsed document
  array → list of the element's form, None for NULL elements

Also: the wire encoding a reader in the other venv uses to hand its values back (JSON with tagged non-JSON values).
"""
import datetime, decimal, re, struct, uuid

INT32_MAX, INT32_MIN = 2 ** 31 - 1, -2 ** 31
INT64_MAX, INT64_MIN = 2 ** 63 - 1, -2 ** 63
# How Sluice writes ±infinity: ±INT32 max days, ±INT64 max µs (DuckDB's own; INT32/INT64 min are finite to DuckDB).
DATE_INFINITY, DATE_NEGATIVE_INFINITY = INT32_MAX, -INT32_MAX
TIMESTAMP_INFINITY, TIMESTAMP_NEGATIVE_INFINITY = INT64_MAX, -INT64_MAX
MICROS_PER_DAY = 86_400_000_000


class Unparsed(Exception):
    """A text that is not in the form its kind expects."""


# Calendar ---------------------------------------------------------------------------------------------------------

def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date with an astronomical year (1 BC is year 0)."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_DATE = re.compile(r"^(-?)(\d{4,})-(\d{2})-(\d{2})$")
_TIME = re.compile(r"^(-?)(\d{2,}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")


def _bc(text):
    """The text without its BC marker (PostgreSQL's trailing ` BC`, duckdb's ` (BC)` after the date), and whether it
    had one."""
    if " (BC)" in text:
        return text.replace(" (BC)", "", 1), True
    if text.endswith(" BC"):
        return text[:-3], True
    return text, False


def parse_date(text):
    """`2020-01-31`, `4713-01-01 BC`, `4713-01-01 (BC)`, `-4712-01-01`, `infinity`, `-infinity` → days."""
    text = text.strip()
    if text in ("infinity", "+infinity"):
        return DATE_INFINITY
    if text == "-infinity":
        return DATE_NEGATIVE_INFINITY
    text, bc = _bc(text)
    m = _DATE.match(text)
    if not m:
        raise Unparsed("date", text)
    year = int(m.group(2)) * (-1 if m.group(1) else 1)
    if bc:
        year = 1 - year
    return days_from_civil(year, int(m.group(3)), int(m.group(4)))


def _fraction(digits):
    """Microseconds of a fraction's digits (beyond six digits: must be zeros, else not exact)."""
    if not digits:
        return 0
    if len(digits) > 6 and digits[6:].strip("0"):
        raise Unparsed("fraction beyond microseconds", digits)
    return int((digits + "000000")[:6])


def parse_offset(text):
    """`Z`, `+02`, `-03:30`, `+0530`, `+05:30:15` → seconds east of UTC."""
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes, seconds = int(digits[0:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    return sign * (hours * 3600 + minutes * 60 + seconds)


def parse_time(text):
    """`HH:MM:SS[.ffffff]` (hours may exceed 23 and the time may be negative, as MySQL TIME) → µs."""
    m = _TIME.match(text.strip())
    if not m:
        raise Unparsed("time", text)
    micros = ((int(m.group(2)) * 60 + int(m.group(3))) * 60 + int(m.group(4))) * 1_000_000 + _fraction(m.group(5))
    return -micros if m.group(1) else micros


def parse_timetz(text):
    """`HH:MM:SS[.ffffff]±hh[:mm[:ss]]` (or `Z`) → (µs, offset seconds)."""
    m = _CLOCK_OFFSET.match(text.strip())
    if not m or not m.group(2):
        raise Unparsed("timetz", text)
    return parse_time(m.group(1)), parse_offset(m.group(2))


_CLOCK_OFFSET = re.compile(r"^(\d{2,}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$")


def parse_timestamp(text):
    """`2020-01-31 12:00:00[.ffffff][±hh[:mm]][ BC]`, `…T…Z`, `infinity` → µs since 1970, UTC-adjusted by the offset
    when there is one (a value without offset is taken as it is)."""
    text = text.strip()
    if text in ("infinity", "+infinity"):
        return TIMESTAMP_INFINITY
    if text == "-infinity":
        return TIMESTAMP_NEGATIVE_INFINITY
    text, bc = _bc(text)
    separator = "T" if "T" in text else " "
    if separator not in text:
        raise Unparsed("timestamp", text)
    date_text, time_text = text.split(separator, 1)
    m = _CLOCK_OFFSET.match(time_text)
    if not m:
        raise Unparsed("timestamp", text)
    offset = parse_offset(m.group(2)) if m.group(2) else 0
    days = parse_date(date_text + (" BC" if bc else ""))
    return days * MICROS_PER_DAY + parse_time(m.group(1)) - offset * 1_000_000


# Intervals --------------------------------------------------------------------------------------------------------

_ISO_DURATION = re.compile(
    r"^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?"
    r"(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?)(\d+)(?:\.(\d{1,9}))?S)?)?$")


def parse_iso_interval(text):
    """An ISO 8601 duration with signed components (`P1Y2M3DT4H5M6.5S`, `P-1Y-2M3DT-4H`, `PT0S`)
    → (months, days, µs)."""
    m = _ISO_DURATION.match(text.strip())
    if not m or text.strip() in ("P", "PT"):
        raise Unparsed("ISO 8601 duration", text)
    years, months, weeks, days, hours, minutes, sign, seconds, fraction = m.groups()
    total_months = int(years or 0) * 12 + int(months or 0)
    total_days = int(weeks or 0) * 7 + int(days or 0)
    micros = (int(hours or 0) * 3600 + int(minutes or 0) * 60) * 1_000_000
    if seconds is not None:
        s = int(seconds) * 1_000_000 + _fraction(fraction)
        micros += -s if sign else s
    return total_months, total_days, micros


_PG_INTERVAL_PART = re.compile(r"([+-]?\d+) (years?|mons?|days?)")
_PG_INTERVAL_TIME = re.compile(r"([+-]?)(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")


def parse_pg_interval(text):
    """PostgreSQL's `postgres` IntervalStyle (`1 year 2 mons -3 days +04:05:06.7`, `00:00:00`) → (months, days, µs)."""
    rest = text.strip()
    months = days = micros = 0
    m = _PG_INTERVAL_TIME.search(rest)
    if m:
        micros = ((int(m.group(2)) * 60 + int(m.group(3))) * 60 + int(m.group(4))) * 1_000_000 + _fraction(m.group(5))
        if m.group(1) == "-":
            micros = -micros
        rest = rest[: m.start()].strip()
    for number, unit in _PG_INTERVAL_PART.findall(rest):
        if unit.startswith("year"):
            months += int(number) * 12
        elif unit.startswith("mon"):
            months += int(number)
        else:
            days += int(number)
    if _PG_INTERVAL_PART.sub("", rest).strip():
        raise Unparsed("interval", text)
    return months, days, micros


# PostgreSQL literals ----------------------------------------------------------------------------------------------

def copy_unescape(field):
    """A field of COPY … TO STDOUT's text format: None for `\\N`, else the text with its escapes undone."""
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    out, i = [], 0
    simple = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
    raw = bytearray()

    def flush():
        if raw:
            out.append(raw.decode("utf-8"))
            raw.clear()
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 1 < len(field):
            n = field[i + 1]
            if n in simple:
                flush(); out.append(simple[n]); i += 2; continue
            if n in "01234567":
                j = i + 1
                while j < len(field) and j < i + 4 and field[j] in "01234567":
                    j += 1
                raw.append(int(field[i + 1:j], 8)); i = j; continue
            if n == "x":
                j = i + 2
                while j < len(field) and j < i + 4 and field[j] in "0123456789abcdefABCDEF":
                    j += 1
                raw.append(int(field[i + 2:j], 16)); i = j; continue
            flush(); out.append(n); i += 2; continue
        flush(); out.append(c); i += 1
    flush()
    return "".join(out)


def parse_pg_array(text, delimiter=","):
    """A one-dimensional PostgreSQL array literal (`{1,NULL,"a,b",""}`) → list of element texts (None for NULL)."""
    text = text.strip()
    if text.startswith("[") and "=" in text:  # explicit bounds: [0:1]={…}
        text = text.split("=", 1)[1]
    if not (text.startswith("{") and text.endswith("}")):
        raise Unparsed("array", text)
    body, items, i = text[1:-1], [], 0
    if body == "":
        return []
    while i <= len(body):
        if i < len(body) and body[i] == '"':
            j, chars = i + 1, []
            while body[j] != '"':
                if body[j] == "\\":
                    j += 1
                chars.append(body[j])
                j += 1
            items.append("".join(chars))
            i = j + 1
        else:
            j = body.find(delimiter, i)
            j = len(body) if j < 0 else j
            token = body[i:j].strip()
            if token.startswith("{"):
                raise Unparsed("nested array (not in the matrix)", text)
            items.append(None if token.upper() == "NULL" else token)
            i = j
        if i < len(body) and body[i] != delimiter:
            raise Unparsed("array", text)
        i += 1
    return items


def parse_pg_composite(text):
    """A composite literal (`(1,"x,y",)`) → list of field texts (None for an empty unquoted field: NULL)."""
    if not (text.startswith("(") and text.endswith(")")):
        raise Unparsed("composite", text)
    body, items, i = text[1:-1], [], 0
    while True:
        chars, quoted = [], False
        while i < len(body) and body[i] != ",":
            if body[i] == '"':
                quoted, i = True, i + 1
                while i < len(body):
                    if body[i] == "\\":
                        chars.append(body[i + 1]); i += 2
                    elif body[i] == '"' and i + 1 < len(body) and body[i + 1] == '"':
                        chars.append('"'); i += 2
                    elif body[i] == '"':
                        i += 1; break
                    else:
                        chars.append(body[i]); i += 1
            else:
                chars.append(body[i]); i += 1
        items.append("".join(chars) if chars or quoted else None)
        if i >= len(body):
            return items
        i += 1


def money_to_decimal(text):
    """lc_monetary=C money text (`$1,234.56`, `-$0.01`) → exact decimal text (`1234.56`, `-0.01`)."""
    negative = text.startswith("-") or text.startswith("(")
    digits = re.sub(r"[^0-9.]", "", text)
    return ("-" if negative and digits.strip("0.") else "") + digits


def float4(text):
    """A float4 text → the double it widens to exactly."""
    return struct.unpack("<f", struct.pack("<f", float(text)))[0]


# Comparison -------------------------------------------------------------------------------------------------------

def same(expected, actual):
    """Strict equality of two plain-form values: floats by bits, bools never equal to ints, lists element-wise."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, float) or isinstance(actual, float):
        return (isinstance(expected, float) and isinstance(actual, float)
                and struct.pack("<d", expected) == struct.pack("<d", actual))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return (type(expected) is type(actual) and len(expected) == len(actual)
                and all(same(e, a) for e, a in zip(expected, actual)))
    return type(expected) is type(actual) and expected == actual


def show(value, limit=120):
    """A value for the report: repr, long ones cut with their length."""
    if isinstance(value, float):
        text = repr(value) + ("" if not value == 0.0 else " (bits %s)" % struct.pack(">d", value).hex())
    elif isinstance(value, (bytes, bytearray)):
        text = "0x" + bytes(value).hex()
    else:
        text = repr(value)
    if len(text) > limit:
        text = text[:limit] + "… (%d chars)" % len(text)
    return text


# The wire between venvs -------------------------------------------------------------------------------------------

def wire_encode(value):
    """A Python value duckdb returned → JSON-safe, with floats, decimals, bytes, uuids and temporals tagged."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"$f": struct.pack(">d", value).hex()}
    if isinstance(value, decimal.Decimal):
        return {"$d": format(value, "f")}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": bytes(value).hex()}
    if isinstance(value, uuid.UUID):
        return {"$u": str(value)}
    if isinstance(value, (list, tuple)):
        return [wire_encode(v) for v in value]
    if isinstance(value, dict):
        return {"$o": {k: wire_encode(v) for k, v in value.items()}}
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time, datetime.timedelta)):
        return {"$t": type(value).__name__, "v": str(value)}
    return {"$?": type(value).__name__, "v": str(value)}


def wire_decode(value):
    """The inverse of wire_encode (temporals and unknowns come back as their text, tagged)."""
    if isinstance(value, list):
        return [wire_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$f" in value:
        return struct.unpack(">d", bytes.fromhex(value["$f"]))[0]
    if "$d" in value:
        return decimal.Decimal(value["$d"])
    if "$b" in value:
        return bytes.fromhex(value["$b"])
    if "$u" in value:
        return uuid.UUID(value["$u"])
    if "$o" in value:
        return {k: wire_decode(v) for k, v in value["$o"].items()}
    return ("unconverted " + value.get("$t", value.get("$?", "?")), value.get("v"))
