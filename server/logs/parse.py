"""Parse one log line into a Record: when, who, how severe, and the message to template.

Formats, tried in order: JSON lines, RFC 5424, RFC 3164 (with or without <PRI>, the way syslog
daemons write files), nginx/apache combined access logs, and a generic fallback that knows the
common leading timestamps. Kernel iptables/ufw lines are RFC 3164 lines whose message is a run of
KEY=value fields; those fields are split out so that only the keys shape the template.

Every parser is lenient: a line that half-matches a format falls through to the next one, and the
generic parser accepts anything, so parsing never fails. Timestamps become Unix seconds (UTC when
the line has no zone); a missing or impossible timestamp is None.
"""

import calendar
import functools
import json
import re
import time
from dataclasses import dataclass, field

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


@dataclass
class Record:
    format: str                      # json | rfc5424 | rfc3164 | iptables | access | generic
    message: str                     # the text that is templated
    timestamp: float | None = None   # Unix seconds
    host: str = ""
    app: str = ""
    pid: str = ""
    level: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    time_format: int = -1            # generic lines: which LEADING_TIMES pattern found the time


# ---- RFC 5424 -------------------------------------------------------------------------------

RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) "
    r"(?P<pid>\S+) (?P<msgid>\S+) (?P<rest>.*)", re.S)
SD_ELEMENT = re.compile(r'\[(?P<id>[^\s\]=]+)(?P<params>(?:\s+[^\s=\]]+="(?:[^"\\]|\\.)*")*)\s*\]')
SD_PARAM = re.compile(r'([^\s=\]]+)="((?:[^"\\]|\\.)*)"')
SD_UNESCAPE = re.compile(r'\\(["\\\]])')


def parse_rfc5424(line: str) -> Record | None:
    m = RFC5424.match(line)
    if not m or int(m["pri"]) > 191:
        return None
    fields, rest = _structured_data(m["rest"])
    if fields is None:
        return None
    message = rest[1:] if rest.startswith(" ") else rest
    message = message.removeprefix("\ufeff")  # the BOM marks a UTF-8 MSG (RFC 5424 6.4)
    nil = lambda v: "" if v == "-" else v  # noqa: E731
    if m["msgid"] != "-":
        fields["msgid"] = m["msgid"]
    return Record("rfc5424", message, timestamp=iso_timestamp(m["ts"]) if m["ts"] != "-" else None,
                  host=nil(m["host"]), app=nil(m["app"]), pid=nil(m["pid"]),
                  level=SEVERITIES[int(m["pri"]) % 8], fields=fields)


def _structured_data(rest: str) -> tuple[dict[str, str] | None, str]:
    """Split `-` or `[id k="v"...]...` off the front; fields are named `id.key`."""
    if rest.startswith("-"):
        return {}, rest[1:]
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(rest) and rest[pos] == "[":
        element = SD_ELEMENT.match(rest, pos)
        if not element:
            return None, rest
        for key, value in SD_PARAM.findall(element["params"]):
            fields[f"{element['id']}.{key}"] = SD_UNESCAPE.sub(r"\1", value)
        pos = element.end()
    return (fields, rest[pos:]) if pos else (None, rest)


# ---- RFC 3164 and kernel firewall lines ------------------------------------------------------

RFC3164 = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]?\d) (?P<time>\d\d:\d\d:\d\d)"
    r"(?:\.\d+)? (?P<rest>.*)", re.S)
TAG_ONLY = re.compile(r"[^\s\[\]:]+\[[^\]]*\]:?")
TAG = re.compile(r"(?P<app>[^\s\[\]:]+)(?:\[(?P<pid>[^\]]*)\])?: ?(?P<msg>.*)", re.S)
FIREWALL_KEYS = ("IN=", "SRC=", "DST=", "PROTO=")
KEY_VALUE = re.compile(r"([A-Z][A-Z0-9_]*)=(\S*)")


def parse_rfc3164(line: str, now: float | None = None) -> Record | None:
    m = RFC3164.match(line)
    if not m or m["mon"] not in MONTHS:
        return None
    rest = m["rest"]
    host = ""
    first = rest.split(" ", 1)[0]
    if not (first.endswith(":") or TAG_ONLY.fullmatch(first)):  # else the sender omitted the host
        host, _, rest = rest.partition(" ")
    tagged = TAG.match(rest)
    app, pid, message = (tagged["app"], tagged["pid"] or "", tagged["msg"]) if tagged else ("", "", rest)
    level = SEVERITIES[int(m["pri"]) % 8] if m["pri"] and int(m["pri"]) <= 191 else ""
    record = Record("rfc3164", message, timestamp=_yearless(m["mon"], m["day"], m["time"], now),
                    host=host, app=app, pid=pid, level=level)
    if all(key in message for key in FIREWALL_KEYS):
        _split_firewall(record)
    return record


def _split_firewall(record: Record) -> None:
    """iptables/ufw: `[UFW BLOCK] IN=eth0 OUT= MAC=.. SRC=.. DST=.. ... SYN URGP=0`.

    Values vary per packet, keys and bare flags (SYN, DF) describe its kind: the message keeps the
    prefix, the keys and the flags; the values go to fields (empty values stay empty).
    """
    prefix, _, body = record.message.partition("IN=")
    body = "IN=" + body
    kept = [prefix.strip()] if prefix.strip() else []
    for token in body.split():
        key, sep, value = token.partition("=")
        if sep and key.isupper():
            record.fields[key] = value
            kept.append(f"{key}=")
        else:
            kept.append(token)  # a bare flag
    record.format = "iptables"
    record.message = " ".join(kept)


def _yearless(mon: str, day: str, hms: str, now: float | None) -> float | None:
    """RFC 3164 has no year: take the current one, or last year's if that lands in the future."""
    now = time.time() if now is None else now
    year = time.gmtime(now).tm_year
    h, mi, s = (int(x) for x in hms.split(":"))
    stamp = _civil(year, MONTHS[mon], int(day), h, mi, s)
    if stamp is not None and stamp > now + 86400:
        stamp = _civil(year - 1, MONTHS[mon], int(day), h, mi, s)
    return stamp


# ---- access logs -----------------------------------------------------------------------------

ACCESS = re.compile(
    r'(?P<client>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<ts>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}|-) (?P<size>\d+|-)(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?')
CLF_TIME = re.compile(r"(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d)(?: ([+-])(\d\d)(\d\d))?")


def parse_access(line: str) -> Record | None:
    m = ACCESS.match(line)
    if not m:
        return None
    method, _, rest = m["request"].partition(" ")
    target = rest.rsplit(" ", 1)[0] if " HTTP/" in rest else rest
    path = target.split("?", 1)[0]
    fields = {k: m[k] or "" for k in ("client", "user", "status", "size", "referer", "agent")}
    fields["target"] = target
    # The template sees the method, the path and the status class: the query, size and client vary.
    message = f'{method or "-"} {path or "-"} {m["status"][0]}xx'
    return Record("access", message, timestamp=_clf_time(m["ts"]), host=m["client"],
                  level="error" if m["status"].startswith("5") else "", fields=fields)


def _clf_time(text: str) -> float | None:
    m = CLF_TIME.match(text)
    if not m or m[2] not in MONTHS:
        return None
    try:
        stamp = calendar.timegm((int(m[3]), MONTHS[m[2]], int(m[1]), int(m[4]), int(m[5]), int(m[6])))
    except ValueError:
        return None
    if m[7]:
        stamp -= (1 if m[7] == "+" else -1) * (int(m[8]) * 3600 + int(m[9]) * 60)
    return float(stamp)


# ---- JSON lines ------------------------------------------------------------------------------

JSON_MESSAGE_KEYS = ("message", "msg", "log", "event", "text")
JSON_TIME_KEYS = ("timestamp", "@timestamp", "time", "ts", "date")
JSON_LEVEL_KEYS = ("level", "severity", "lvl", "levelname")


def parse_json(line: str) -> Record | None:
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    message_key = next((k for k in JSON_MESSAGE_KEYS if isinstance(obj.get(k), str)), None)
    fields = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
    # Without a message field the sorted keys are the event's shape.
    message = obj[message_key] if message_key else " ".join(f"{k}=" for k in sorted(fields))
    stamp = next((obj[k] for k in JSON_TIME_KEYS if k in obj), None)
    level = next((str(obj[k]).lower() for k in JSON_LEVEL_KEYS if k in obj), "")
    return Record("json", message, timestamp=_any_time(stamp), level=level,
                  app=str(obj.get("logger", obj.get("app", ""))), fields=fields)


def _any_time(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value / 1000 if value > 1e11 else value)  # milliseconds are common
    if isinstance(value, str):
        return iso_timestamp(value)
    return None


# ---- generic ---------------------------------------------------------------------------------

ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s?(Z|[+-]\d\d:?\d\d)?")
LEADING_TIMES = (
    # 2016-09-28 04:30:30,123  /  2016-09-28T04:30:30.5Z (optionally after one word: a file name)
    (re.compile(r"(?:\S+\s+)?(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?),?\s+"),
     lambda ts: iso_timestamp(ts)),
    # HDFS: 081109 203533
    (re.compile(r"(?P<ts>\d{6} \d{6})\s+"), lambda ts: _civil(
        2000 + int(ts[:2]), int(ts[2:4]), int(ts[4:6]), int(ts[7:9]), int(ts[9:11]), int(ts[11:13]))),
    # Spark: 17/06/09 20:10:40
    (re.compile(r"(?P<ts>\d\d/\d\d/\d\d \d\d:\d\d:\d\d)\s+"), lambda ts: _fixed(ts, "%y/%m/%d %H:%M:%S")),
    # Apache error log: [Sun Dec 04 04:47:44 2005]
    (re.compile(r"\[[A-Z][a-z]{2} (?P<ts>[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \d{4})\]\s+"),
     lambda ts: _fixed(ts, "%b %d %H:%M:%S %Y")),
    # Android logcat: 03-17 16:13:38.811 (no year)
    (re.compile(r"(?P<ts>\d\d-\d\d \d\d:\d\d:\d\d)\.\d+\s+"), lambda ts: _fixed("1970-" + ts, "%Y-%m-%d %H:%M:%S")),
    # HealthApp: 20171223-22:15:29:606|
    (re.compile(r"(?P<ts>\d{8}-\d\d?:\d\d?:\d\d?):\d+\|"), lambda ts: _fixed(ts, "%Y%m%d-%H:%M:%S")),
    # Proxifier: [10.30 16:49:06] chrome.exe - (the program is a header field)
    (re.compile(r"\[(?P<ts>\d\d\.\d\d \d\d:\d\d:\d\d)\]\s+(?:\S+(?: \*\d+)? - )?"), lambda ts: _fixed("1970." + ts, "%Y.%m.%d %H:%M:%S")),
)
# After the time: an optional pid (and thread id), a level, a [thread] or a `name|pid|` prefix.
GENERIC_HEAD = re.compile(
    r"(?:(?P<pid>\d+)\s+(?:\d+\s+)?)?(?:-\s+)?"
    r"(?:\[?(?P<level>TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|[VDIWEF](?= ))\]?\s+)?"
    r"(?:[\w.$]+\s+(?=\[))?(?:\[(?:[^\[\]]|\[[^\]]*\])*\]\s+(?:-\s+)?)?(?:[^|\s]+\|\d+\|)?", re.I)
# Thunderbird-style prefix before a syslog line: `- 1131566461 2005.11.09 dn228 `
EPOCH_PREFIX = re.compile(r"\S+ \d{9,10} \d{4}\.\d\d\.\d\d \S+ ")


# A log keeps its format: the leading-time pattern that matched last is tried first.
_TIME_ORDERS = [(i, *(j for j in range(len(LEADING_TIMES)) if j != i)) for i in range(len(LEADING_TIMES))]
_last_time = [0, "", None]  # pattern index, last time text, its seconds (lines share seconds)


def parse_generic(line: str) -> Record:
    stamp, rest = None, line
    for i in _TIME_ORDERS[_last_time[0]]:
        m = LEADING_TIMES[i][0].match(line)
        if m:
            text, rest = m["ts"], line[m.end():]
            if text != _last_time[1]:
                _last_time[:] = [i, text, LEADING_TIMES[i][1](text)]
            stamp = _last_time[2]
            break
    else:
        i = -1
    head = GENERIC_HEAD.match(rest)
    pid, level = (head["pid"] or "", (head["level"] or "").lower()) if head else ("", "")
    if head and head.end():
        rest = rest[head.end():]
    return Record("generic", rest, timestamp=stamp, pid=pid, level=level, time_format=i)


def leading_time(line: str, time_format: int) -> float | None:
    """The timestamp of a generic line whose format is known: one regex instead of a parse."""
    m = LEADING_TIMES[time_format][0].match(line)
    if not m:
        return None
    if m["ts"] != _last_time[1]:
        _last_time[:] = [time_format, m["ts"], LEADING_TIMES[time_format][1](m["ts"])]
    return _last_time[2]


def iso_timestamp(text: str) -> float | None:
    m = ISO.match(text.strip())
    if not m:
        return None
    try:
        stamp = calendar.timegm(tuple(int(m[i]) for i in range(1, 7)))
    except ValueError:
        return None
    fraction = float("0." + m[7]) if m[7] else 0.0
    zone = m[8]
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        stamp -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return stamp + fraction


def _civil(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float | None:
    """Seconds of a UTC date, None if it is impossible (strptime is too slow for every line)."""
    midnight = _midnight(year, month, day)
    if midnight is None or hour > 23 or minute > 59 or second > 60:
        return None
    return midnight + hour * 3600 + minute * 60 + second


@functools.lru_cache(maxsize=1024)
def _midnight(year: int, month: int, day: int) -> float | None:
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None
    return float(calendar.timegm((year, month, day, 0, 0, 0)))


@functools.lru_cache(maxsize=4096)  # consecutive lines share their second
def _fixed(text: str, fmt: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text, fmt)))
    except ValueError:
        return None


def parse_line(line: str, now: float | None = None) -> Record:
    """The Record of one line (without its line end); never raises."""
    line = line.rstrip("\r\n")
    prefixed = EPOCH_PREFIX.match(line)
    if prefixed:
        inner = parse_rfc3164(line[prefixed.end():], now)
        if inner:
            return inner
    first = line[:1]
    # Cheap tests of the first character or a marker skip parsers that cannot match.
    return ((first == "{" and parse_json(line))
            or (first == "<" and parse_rfc5424(line))
            or ((first == "<" or first.isupper()) and parse_rfc3164(line, now))
            or ('] "' in line and parse_access(line))
            or parse_generic(line))
