"""Log parsing, masking and template mining: real loghub lines and hand-written edge cases."""

import calendar
import csv
from collections import defaultdict
from pathlib import Path

import pytest

from ltlsp.server.logs.codeloc import fragments
from ltlsp.server.logs.parse import parse_line
from ltlsp.server.logs.sessions import Sessionizer, compile_key
from ltlsp.server.logs.templates import TemplateMiner, mask, variables

LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub-2k"
NOW = calendar.timegm((2026, 11, 22, 12, 0, 0))


def utc(*fields) -> float:
    return float(calendar.timegm(fields))


# ---- RFC 5424 ---------------------------------------------------------------------------------

def test_rfc5424_structured_data_escapes_bom_and_nil_fields():
    r = parse_line('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
                   '[exampleSDID@32473 iut="3" eventSource="Appli\\"cation\\]"][x@1 a=""] \ufeffAn event')
    assert r.format == "rfc5424"
    assert r.message == "An event"                       # BOM dropped
    assert r.timestamp == utc(2003, 10, 11, 22, 14, 15) + 0.003
    assert (r.host, r.app, r.pid, r.level) == ("mymachine.example.com", "evntslog", "", "notice")
    assert r.fields["exampleSDID@32473.eventSource"] == 'Appli"cation]'
    assert r.fields["x@1.a"] == "" and r.fields["msgid"] == "ID47"


def test_rfc5424_all_nil_and_zone_offset():
    r = parse_line("<14>1 2003-08-24T05:14:15.000003-07:00 - - - - - ")
    assert r.format == "rfc5424" and r.host == "" and r.message == ""
    assert r.timestamp == pytest.approx(utc(2003, 8, 24, 12, 14, 15) + 0.000003)


@pytest.mark.parametrize("line", ["<999>1 2003-10-11T22:14:15Z h a p m - x",      # PRI out of range
                                  "<34>1 2003-10-11T22:14:15Z h a p m [broken sd",  # unterminated SD
                                  "<34>1 not-a-time h a p m - msg"])
def test_malformed_rfc5424_never_raises(line):
    r = parse_line(line)
    assert r.message and (r.format != "rfc5424" or r.timestamp is None)


# ---- RFC 3164 and firewall --------------------------------------------------------------------

def test_rfc3164_space_padded_day_no_year_and_tag():
    r = parse_line("<34>Oct  1 22:14:15 mymachine su[123]: 'su root' failed", now=NOW)
    assert (r.format, r.host, r.app, r.pid, r.level) == ("rfc3164", "mymachine", "su", "123", "crit")
    assert r.timestamp == utc(2026, 10, 1, 22, 14, 15)
    assert r.message == "'su root' failed"


def test_rfc3164_without_pri_or_hostname_and_future_date_means_last_year():
    r = parse_line("Dec 31 23:59:59 sshd[7]: Accepted publickey", now=NOW)
    assert r.host == "" and r.app == "sshd" and r.message == "Accepted publickey"
    assert r.timestamp == utc(2025, 12, 31, 23, 59, 59)


def test_rfc3164_impossible_date_has_no_timestamp():
    assert parse_line("Feb 30 10:00:00 host app: x", now=NOW).timestamp is None


def test_ufw_line_keeps_keys_and_flags_and_splits_values():
    r = parse_line("Jan  1 00:00:01 fw kernel: [12.5] [UFW BLOCK] IN=eth0 OUT= MAC=aa:bb SRC=10.0.0.1 "
                   "DST=10.0.0.2 LEN=60 PROTO=TCP SPT=5000 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0", now=NOW)
    assert r.format == "iptables"
    assert r.fields["OUT"] == "" and r.fields["SRC"] == "10.0.0.1" and r.fields["DPT"] == "22"
    assert "SYN" in r.message and "SRC=" in r.message and "10.0.0.1" not in r.message


# ---- access logs, JSON, generic ----------------------------------------------------------------

def test_combined_access_log():
    r = parse_line('203.0.113.9 - alice [10/Oct/2000:13:55:36 -0700] "GET /a/b.gif?x=1 HTTP/1.0" '
                   '503 2326 "http://example.com/" "Mozilla/5.0 (X11)"')
    assert r.format == "access" and r.message == "GET /a/b.gif 5xx" and r.level == "error"
    assert r.timestamp == utc(2000, 10, 10, 20, 55, 36)
    assert r.fields["user"] == "alice" and r.fields["agent"] == "Mozilla/5.0 (X11)"


def test_common_log_without_referer_and_garbage_request():
    r = parse_line('::1 - - [01/Jan/2024:00:00:00 +0000] "\\x16\\x03\\x01" 400 - ')
    assert r.format == "access" and r.fields["status"] == "400"


def test_json_lines_message_time_level_and_bad_json():
    r = parse_line('{"ts": 1700000000123, "level": "ERROR", "msg": "disk full", "n": [1, 2]}')
    assert (r.format, r.message, r.level, r.timestamp) == ("json", "disk full", "error", 1700000000.123)
    assert r.fields["n"] == "[1, 2]"
    assert parse_line('{"no message": true}').message == "no message="
    assert parse_line('{"truncated": ').format == "generic"
    assert parse_line("[1, 2]").format == "generic"


def test_generic_formats_from_loghub_headers():
    hdfs = parse_line("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block "
                      "blk_38865049064139660 terminating")
    assert hdfs.timestamp == utc(2008, 11, 9, 20, 36, 15) and hdfs.level == "info" and hdfs.pid == "148"
    assert hdfs.message.startswith("dfs.DataNode$PacketResponder: PacketResponder 1")
    zk = parse_line("2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:"
                    "FastLeaderElection@774] - Notification time out: 3200")
    assert zk.message == "Notification time out: 3200" and zk.level == "info"
    assert parse_line("no timestamp at all").message == "no timestamp at all"
    assert parse_line("").message == ""


def test_control_characters_and_invalid_text_survive_parsing():
    r = parse_line("Jan  1 00:00:01 h app: \x1b[31mred\x1b[0m \ufffd\x00")
    assert "\x1b[31m" in r.message  # kept verbatim; the CLI escapes it on output


# ---- masking, templates, sessions ---------------------------------------------------------------

def test_mask_numbers_ips_hex_uuids_and_keeps_keys():
    text = "user=42 from 10.0.0.1:5050 id 123e4567-e89b-12d3-a456-426614174000 at 0x7ffd took 3.5ms ok"
    assert mask(text) == "user=<*> from <*> id <*> at <*> took <*> ok"
    assert variables(text)[:2] == ["42", "10.0.0.1:5050"]


def test_mask_keeps_names_with_a_digit_and_merges_runs_units_and_dates():
    assert mask("proxy via SOCKS5 on eth0 using HTTP/1.1") == "proxy via SOCKS5 on eth0 using HTTP/1.1"
    assert mask("blocks 12, 13, 14 freed in 12 ms") == "blocks <*> freed in <*>"
    assert mask("session opened Mon Jan 5 12:00:01 2025 by root") == "session opened <*> by root"
    assert mask("open /var/log/x.log failed ()") == "open <*> failed (<*>)"
    assert mask("mail for alice@host.example.com") == "mail for <*>"


def test_miner_generalises_and_state_round_trips():
    miner = TemplateMiner()
    a = miner.add(mask("Accepted password for alice from 10.0.0.1"))
    b = miner.add(mask("Accepted password for bob from 10.0.0.2"))
    c = miner.add(mask("Connection closed by 10.0.0.3"))
    assert a.id == b.id != c.id
    assert a.template == "Accepted password for <*> from <*>"
    copy = TemplateMiner.from_json(miner.to_json())
    assert copy.match(mask("Accepted password for carol from 10.9.9.9")).id == a.id
    assert copy.match(mask("something new entirely")) is None


@pytest.mark.parametrize("state", [None, {"version": 99}, {"version": 1, "clusters": [{"id": 5}]},
                                   {"version": 1, "clusters": [{"id": 0, "tokens": [1], "size": 1}]}])
def test_miner_refuses_foreign_state(state):
    with pytest.raises(ValueError):
        TemplateMiner.from_json(state)


def test_sessions_by_key_group_and_window_fallback():
    sessions = Sessionizer(compile_key(r"blk_-?\d+"))
    assert sessions.session_of("f", "x blk_-12 y") == sessions.session_of("g", "blk_-12") == "blk_-12"
    assert sessions.session_of("f", "no key") == "f#1"
    with_group = Sessionizer(compile_key(r"req=(\w+)"))
    assert with_group.session_of("f", "a req=abc b") == "abc"
    for bad in ("(", ".*", "x" * 2000):
        with pytest.raises(ValueError):
            compile_key(bad)


# ---- grouping accuracy on loghub ---------------------------------------------------------------

def grouping_accuracy(system: str) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group."""
    folder = LOGHUB / system
    lines = next(folder.glob("*_2k.log")).read_text(errors="replace").splitlines()
    with open(next(folder.glob("*structured*.csv")), newline="", encoding="utf-8", errors="replace") as f:
        truth = [row["EventId"] for row in csv.DictReader(f)]
    miner = TemplateMiner()
    predicted = [miner.add(mask(parse_line(line).message)).id for line in lines]
    true_groups, predicted_groups = defaultdict(set), defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, predicted)):
        true_groups[t].add(i)
        predicted_groups[p].add(i)
    return sum(true_groups[t] == predicted_groups[p] for t, p in zip(truth, predicted)) / len(truth)


@pytest.mark.skipif(not LOGHUB.is_dir(), reason="loghub-2k samples not present")
@pytest.mark.parametrize("system, floor", [("HDFS", 0.99), ("Apache", 0.99), ("Zookeeper", 0.95),
                                           ("HealthApp", 0.95), ("Hadoop", 0.9)])
def test_grouping_accuracy_on_loghub(system, floor):
    assert grouping_accuracy(system) >= floor


@pytest.mark.skipif(not LOGHUB.is_dir(), reason="loghub-2k samples not present")
@pytest.mark.parametrize("system, fmt", [("OpenSSH", "rfc3164"), ("Linux", "rfc3164"), ("Mac", "rfc3164"),
                                         ("Thunderbird", "rfc3164"), ("Spark", "generic")])
def test_real_loghub_lines_parse_with_timestamps(system, fmt):
    lines = next((LOGHUB / system).glob("*_2k.log")).read_text(errors="replace").splitlines()[:200]
    records = [parse_line(line, now=NOW) for line in lines]
    assert sum(r.format == fmt for r in records) >= 190
    assert sum(r.timestamp is not None for r in records) >= 190
    assert all(r.message for r in records)


def test_code_fragments_of_a_template_also_read_names_with_a_digit_as_variables():
    assert fragments("Deleting block <*> file <*>") == ["Deleting block"]
    assert fragments("replica checksum mismatch on volume sdb7") == [
        "replica checksum mismatch on volume sdb7", "replica checksum mismatch on volume"]
