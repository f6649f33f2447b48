"""`ltlsp logs` end to end: the real CLI, the real daemon, real files; and tail -F on real files."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import make_repo
from ltlsp.server.logs.tail import Follower

NORMAL = [
    "Jan  1 00:00:{s:02d} web app[1]: request {r} started for user u{r}",
    "Jan  1 00:00:{s:02d} web app[1]: request {r} query took {r}ms",
    "Jan  1 00:00:{s:02d} web app[1]: request {r} finished status 200",
]


def normal_log(requests: int, start: int = 0) -> str:
    lines = [t.format(s=(r % 60), r=r) for r in range(start, start + requests) for t in NORMAL]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def trained(shared_ltlsp, tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs")
    (folder / "train.log").write_text(normal_log(300))
    shared_ltlsp.run("logs", "train", str(folder / "train.log"), "--model", "web")
    return shared_ltlsp, folder


def test_cli_module_stays_light():
    code = ("import sys, ltlsp.server.logs.cli; "
            "print([m for m in ('torch', 'numpy', 'faiss', 'ltlsp.model') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_score_json_contract_and_flags_the_odd_session(trained, tmp_path):
    ltlsp, _ = trained
    test = normal_log(20, start=1000) + (
        "Jan  1 00:01:00 web app[1]: request 5555 started for user u5555\n"
        "Jan  1 00:01:00 web app[1]: request 5555 kernel panic: segfault in worker 3\n")
    (tmp_path / "test.log").write_text(test)
    rows = ltlsp.json_lines("logs", "score", str(tmp_path / "test.log"), "--model", "web",
                            "--session-key", r"request \d+")
    lines = [r for r in rows if "line" in r]
    sessions = {r["session"]: r for r in rows if "session" in r}
    assert [r["line"] for r in lines] == list(range(1, 63))
    assert all(set(r) >= {"line", "score", "anomaly"} and "session" not in r for r in lines)
    assert lines[-1]["anomaly"] and not any(r["anomaly"] for r in lines[:-2])
    assert sessions["request 5555"]["anomaly"]
    assert not any(s["anomaly"] for k, s in sessions.items() if k != "request 5555")


def test_score_says_which_threshold_it_used(trained, tmp_path):
    ltlsp, _ = trained
    (tmp_path / "test.log").write_text(normal_log(5, start=2000))
    args = ("logs", "score", str(tmp_path / "test.log"), "--model", "web", "--session-key", r"request \d+")
    plain = [r for r in ltlsp.json_lines(*args) if "session" in r]
    eager = [r for r in ltlsp.json_lines(*args, "--sensitivity", "4") if "session" in r]
    assert len(plain) == len(eager) == 5
    assert plain[0]["threshold"] == pytest.approx(4 * eager[0]["threshold"], rel=1e-3)
    assert "of 300 sessions" in plain[0]["threshold_basis"] and "sensitivity" not in plain[0]["threshold_basis"]
    assert eager[0]["threshold_basis"].endswith("/ --sensitivity 4")
    assert "sessions anomalous; threshold " in ltlsp.run(*args).stdout


def test_score_survives_invalid_utf8_binary_and_a_10mb_line(trained, tmp_path):
    ltlsp, _ = trained
    path = tmp_path / "bad.log"
    path.write_bytes(normal_log(2).encode() + b"\xff\xfe bad utf8 \xc3\x28\n" + os.urandom(4096).replace(b"\n", b"")
                     + b"\n" + b"A" * (10 * 1024 * 1024) + b"\n" + b"tail line 7\n")
    rows = ltlsp.json_lines("logs", "score", str(path), "--model", "web")
    assert [r["line"] for r in rows if "line" in r] == list(range(1, 11))


def test_human_output_escapes_control_sequences(trained, tmp_path):
    ltlsp, _ = trained
    (tmp_path / "esc.log").write_text("Jan  1 00:00:01 web app[1]: \x1b[2J\x1b]0;owned\x07 never seen\n")
    done = ltlsp.run("logs", "score", str(tmp_path / "esc.log"), "--model", "web")
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "\\x1b" in done.stdout


@pytest.mark.parametrize("args, needle", [
    (["score", "/nonexistent.log", "--model", "web"], "no such file"),
    (["score", "{log}", "--model", "nobody"], "no log model named 'nobody'"),
    (["score", "{log}", "--model", "web", "--session-key", "("], "not a valid regular expression"),
    (["score", "{log}", "--model", "web", "--session-key", ".*"], "matches the empty string"),
    (["score", "{log}", "--model", "../etc"], "model name"),
    (["score", "{log}", "--model", "web", "--sensitivity", "0"], "between 0.05 and 20"),
    (["train", "/nonexistent.log", "--model", "x"], "no such file"),
])
def test_bad_input_is_a_clear_message(trained, args, needle):
    ltlsp, folder = trained
    done = ltlsp.run("logs", *[a.replace("{log}", str(folder / "train.log")) for a in args], check=False)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_corrupt_or_foreign_model_asks_for_retraining(ltlsp, tmp_path):
    (tmp_path / "a.log").write_text(normal_log(10))
    ltlsp.run("logs", "train", str(tmp_path / "a.log"), "--model", "m1")
    ltlsp.run("logs", "train", str(tmp_path / "a.log"), "--model", "m2")
    (ltlsp.data / "logs" / "m1" / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    meta = json.loads((ltlsp.data / "logs" / "m2" / "model.json").read_text())
    (ltlsp.data / "logs" / "m2" / "model.json").write_text(json.dumps({**meta, "format_version": 999}))
    ltlsp.run("stop")  # a fresh daemon reads both from disk
    for name in ("m1", "m2"):
        done = ltlsp.run("logs", "score", str(tmp_path / "a.log"), "--model", name, check=False)
        assert done.returncode == 2 and "cannot be used" in done.stderr and "logs train" in done.stderr
        assert "Traceback" not in done.stderr


# ---- watch -------------------------------------------------------------------------------------

def read_json_until(proc, predicate, timeout=30.0) -> dict:
    """The first JSON line of proc's stdout that satisfies predicate, waiting at most `timeout`
    (a bare readline() would block for ever on a silent watcher)."""
    lines = _stdout_lines(proc)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break  # the watcher exited
        if predicate(json.loads(line)):
            return json.loads(line)
    raise AssertionError("no matching output in time")


def _stdout_lines(proc) -> queue.Queue:
    """proc's stdout lines, read by a thread (one per process), None at the end."""
    if not hasattr(proc, "lines"):
        proc.lines = queue.Queue()

        def pump():
            for line in proc.stdout:
                proc.lines.put(line)
            proc.lines.put(None)
        threading.Thread(target=pump, daemon=True).start()
    return proc.lines


def test_watch_alerts_on_appended_line_and_summarises_on_ctrl_c(trained, tmp_path):
    ltlsp, _ = trained
    log = tmp_path / "live.log"
    log.write_text(normal_log(5))
    proc = ltlsp.popen("logs", "watch", str(log), "--model", "web", "--json", start_new_session=True)
    try:
        time.sleep(4)  # connected and following from the end
        with open(log, "a") as f:
            f.write(normal_log(3, start=50) + "Jan  1 00:02:00 web app[1]: disk /dev/sda1 failed with EIO\n")
        alert = read_json_until(proc, lambda row: row.get("anomaly"))
        assert "disk" in alert["text"] and alert["line"] == 10
        proc.send_signal(signal.SIGINT)
        summary = read_json_until(proc, lambda row: "summary" in row)
        assert summary["summary"]["lines"] == 10
    finally:
        proc.kill()
        proc.wait()


def test_watch_points_at_the_code_that_logged_the_alert(trained, tmp_path):
    ltlsp, _ = trained
    repo = make_repo(tmp_path / "svc", {"svc/storage.py": '''
        import logging

        log = logging.getLogger(__name__)


        def check(device):
            log.error("replica checksum mismatch on volume %s", device)
        '''})
    proc = ltlsp.popen("logs", "watch", "-", "--model", "web", "--json", "--repo", str(repo), stdin=subprocess.PIPE)
    out, _ = proc.communicate("Jan  1 00:02:00 web app[1]: replica checksum mismatch on volume sdb7\n", timeout=60)
    alert = json.loads(out.splitlines()[0])
    assert alert["anomaly"] and alert["location"] == "svc/storage.py:7"


def test_watch_falls_back_to_similar_indexed_code(trained, tmp_path):
    ltlsp, _ = trained
    repo = make_repo(tmp_path / "svc", {"svc/storage.py": '''
        import logging

        log = logging.getLogger(__name__)


        def verify_replica(device, expected, actual):
            """Compare the checksum of a replica on a volume with the expected one."""
            if expected != actual:
                log.error("replica %s: %s on %s", "checksum", "mismatch", device)
        ''', "README.md": "storage service\n"})
    ltlsp.run("index", str(repo))
    proc = ltlsp.popen("logs", "watch", "-", "--model", "web", "--json", "--repo", str(repo), stdin=subprocess.PIPE)
    out, _ = proc.communicate("Jan  1 00:02:00 web app[1]: replica checksum mismatch on volume sdb7\n", timeout=60)
    alert = json.loads(out.splitlines()[0])
    assert alert["location"].startswith("svc/storage.py:") and alert["location"].endswith("(similar code)")


def test_watch_stdin_ends_when_stdin_closes(trained):
    ltlsp, _ = trained
    proc = ltlsp.popen("logs", "watch", "-", "--model", "web", "--json", stdin=subprocess.PIPE)
    out, _ = proc.communicate(normal_log(4) + "Jan  1 00:02:00 web app[1]: totally new failure\n", timeout=60)
    rows = [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 0
    assert any(r.get("anomaly") and "totally new" in r["text"] for r in rows)
    assert rows[-1]["summary"]["lines"] == 13


def test_alerts_are_deduplicated_per_template_and_rate_limited():
    from ltlsp.server.logs.service import MAX_ALERTS_PER_S, AlertGate

    gate = AlertGate()
    assert gate.admit("disk <*> failed", 0.0) == 0
    assert gate.admit("disk <*> failed", 1.0) is None and gate.admit("disk <*> failed", 2.0) is None
    assert gate.admit("disk <*> failed", 61.0) == 2          # shown again, with the two folded
    admitted = [gate.admit(f"new {i}", 100.0) for i in range(MAX_ALERTS_PER_S + 5)]
    assert sum(a is not None for a in admitted) == MAX_ALERTS_PER_S
    assert gate.admit("later", 101.5) == 0


# ---- tail -F on real files ---------------------------------------------------------------------

def lines_of(chunks) -> list[tuple[int, bytes]]:
    return [(first + i, line) for first, data in chunks for i, line in enumerate(data.splitlines())]


def test_follower_waits_for_a_missing_file_then_follows_it(tmp_path):
    path = tmp_path / "later.log"
    follower = Follower(str(path))
    assert follower.read() == [] and "waiting" in follower.notices()[0]
    path.write_text("one\ntwo\npartial")
    assert lines_of(follower.read()) == [(1, b"one"), (2, b"two")]
    with open(path, "a") as f:
        f.write(" done\n")
    assert lines_of(follower.read()) == [(3, b"partial done")]


def test_follower_rotation_truncation_and_deletion(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("old history\n")
    follower = Follower(str(path))          # starts at the end, like tail -F -n 0
    with open(path, "a") as f:
        f.write("a\n")
    assert lines_of(follower.read()) == [(1, b"a")]
    with open(path, "a") as f:
        f.write("b\n")                       # written just before the rotation
    os.rename(path, tmp_path / "app.log.1")
    path.write_text("c\n")
    assert lines_of(follower.read()) == [(2, b"b"), (3, b"c")]
    assert any("rotated" in n for n in follower.notices())
    path.write_text("")                      # copytruncate, seen by a poll before the next write
    assert follower.read() == [] and any("truncated" in n for n in follower.notices())
    with open(path, "a") as f:
        f.write("d\n")
    assert lines_of(follower.read()) == [(4, b"d")]
    path.unlink()
    assert follower.read() == [] and any("deleted" in n for n in follower.notices())
    path.write_text("e\n")
    assert lines_of(follower.read()) == [(5, b"e")]


def test_follower_cuts_an_overlong_line(tmp_path):
    path = tmp_path / "big.log"
    follower = Follower(str(path), from_start=True)
    path.write_bytes(b"x" * (3 * 1024 * 1024) + b"\nnext\n")
    got = lines_of(follower.read())
    assert [n for n, _ in got] == [1, 2] and len(got[0][1]) < 70_000 and got[1][1] == b"next"


def test_watch_reconnects_after_daemon_restart_without_losing_or_doubling_lines(ltlsp, tmp_path):
    (tmp_path / "train.log").write_text(normal_log(100))
    ltlsp.run("logs", "train", str(tmp_path / "train.log"), "--model", "web")
    log = tmp_path / "live.log"
    log.write_text("")
    proc = ltlsp.popen("logs", "watch", str(log), "--model", "web", "--json", start_new_session=True)
    try:
        time.sleep(3)
        with open(log, "a") as f:
            f.write(normal_log(2, start=10) + "Jan  1 00:02:00 web app[1]: first strange event\n")
        assert "first strange" in read_json_until(proc, lambda row: row.get("anomaly"))["text"]
        os.kill(ltlsp.daemon_info()["pid"], signal.SIGKILL)
        with open(log, "a") as f:  # written while no daemon runs
            f.write(normal_log(2, start=20) + "Jan  1 00:03:00 web app[1]: second odd thing here\n")
        alert = read_json_until(proc, lambda row: row.get("anomaly"), timeout=90)
        assert "second odd" in alert["text"] and alert["line"] == 14
        proc.send_signal(signal.SIGINT)
        summary = read_json_until(proc, lambda row: "summary" in row)
        assert summary["summary"] == {"lines": 14, "alerts": 2}
    finally:
        proc.kill()
        proc.wait()
        ltlsp.remember_daemon()
