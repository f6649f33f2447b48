"""Fixtures for end-to-end tests: the real CLI, the real daemon, real git repositories.

Each test gets its own runtime dir (socket, lock, daemon.json) and data dir (indexes), so
daemons of different tests never meet; every daemon a test started is stopped afterwards.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SAMPLE_FILES = {
    "net/headers.py": '''
        """Helpers for HTTP messages."""


        def parse_header_line(line):
            """Split one HTTP header line into its name and value."""
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError("header line without a colon: %r" % line)
            return name.strip().lower(), value.strip()


        def format_header(name, value):
            """Render a header name and value as one line."""
            return "%s: %s\\r\\n" % (name.title(), value)
        ''',
    "store/cache.py": '''
        import time


        class ExpiringCache:
            """A dictionary whose entries expire after a fixed number of seconds."""

            def __init__(self, ttl_seconds):
                self.ttl = ttl_seconds
                self.entries = {}

            def put(self, key, value):
                self.entries[key] = (time.monotonic() + self.ttl, value)

            def get(self, key, default=None):
                expires, value = self.entries.get(key, (0, default))
                if time.monotonic() > expires:
                    self.entries.pop(key, None)
                    return default
                return value
        ''',
    "math/stats.py": '''
        def mean_and_variance(values):
            """Compute the arithmetic mean and the population variance of a list of numbers."""
            count = len(values)
            if count == 0:
                raise ValueError("no values")
            mean = sum(values) / count
            variance = sum((v - mean) ** 2 for v in values) / count
            return mean, variance
        ''',
    "math/summary.py": '''
        def average_and_spread(numbers):
            """Return the average of the numbers and how widely they vary."""
            n = len(numbers)
            if n == 0:
                raise ValueError("no numbers")
            avg = sum(numbers) / n
            spread = sum((x - avg) ** 2 for x in numbers) / n
            return avg, spread
        ''',
    "README.md": "# sample\n\nA small repository used by the ltlsp tests.\n",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def make_repo(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    git(root, "config", "user.email", "test@example.invalid")
    git(root, "config", "user.name", "test")
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "sample")
    return root


class Ltlsp:
    """Runs the real `ltlsp` CLI in an isolated environment and cleans up its daemons."""

    def __init__(self, tmp: Path):
        self.runtime = tmp / "run"
        self.data = tmp / "data"
        self.env = dict(os.environ, LTLSP_RUNTIME_DIR=str(self.runtime), LTLSP_DATA_DIR=str(self.data),
                        LTLSP_IDLE_TIMEOUT="600", PYTHONUNBUFFERED="1")
        self.env.pop("LTLSP_ADDRESS", None)
        self.pids: set[int] = set()

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 180,
            check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "ltlsp.server.cli", *args], cwd=cwd,
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        self.remember_daemon()
        if check and done.returncode != 0:
            raise AssertionError(f"ltlsp {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "ltlsp.server.cli", *args], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)

    def json_lines(self, *args: str, **kwargs) -> list[dict]:
        return [json.loads(line) for line in self.run(*args, "--json", **kwargs).stdout.splitlines()]

    def daemon_info(self) -> dict | None:
        try:
            return json.loads((self.runtime / "daemon.json").read_text())
        except (OSError, ValueError):
            return None

    def remember_daemon(self) -> None:
        info = self.daemon_info()
        if info:
            self.pids.add(info["pid"])

    def daemon_pids(self) -> list[int]:
        """Live daemon processes that use this test's runtime dir."""
        marker = f"LTLSP_RUNTIME_DIR={self.runtime}".encode()
        found = []
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                environ = (proc / "environ").read_bytes().split(b"\0")
                zombie = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
            except OSError:
                continue  # not a process, or gone
            is_daemon = b"ltlsp.server.daemon" in argv or (b"ltlsp.server.cli" in argv and b"serve" in argv)
            if is_daemon and marker in environ and not zombie:
                found.append(int(proc.name))
        return found

    def wait_for_daemon_exit(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.daemon_pids() and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop_all(self) -> None:
        for pid in set(self.daemon_pids()) | self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.wait_for_daemon_exit()
        for pid in self.daemon_pids():
            os.kill(pid, signal.SIGKILL)


# ---- the index compared with a fresh one ------------------------------------------------------

def index_db(ltlsp, repo: Path) -> Path | None:
    for marker in (ltlsp.data / "repos").glob("*/repo.json"):
        if Path(json.loads(marker.read_text())["repo"]) == repo.resolve():
            return marker.parent / "index.sqlite"
    return None


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def contents(ltlsp, repo: Path) -> tuple[set, set]:
    db = index_db(ltlsp, repo)
    files = set(query(db, "SELECT path, hash FROM files"))
    chunks = set(query(db, "SELECT f.path, c.start_line, c.end_line, c.hash "
                           "FROM chunks c JOIN files f ON f.id = c.file_id"))
    return files, chunks


def assert_same_as_fresh_index(ltlsp, repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    ltlsp.run("index", str(clone), "--json")
    files, chunks = contents(ltlsp, repo)
    assert files == contents(ltlsp, clone)[0]
    assert chunks == contents(ltlsp, clone)[1]
    assert {path for path, _ in files} == set(git(repo, "ls-files").split())


@pytest.fixture
def ltlsp(tmp_path):
    tool = Ltlsp(tmp_path)
    yield tool
    tool.stop_all()


@pytest.fixture(scope="module")
def shared_ltlsp(tmp_path_factory):
    """One daemon for a module's read-only tests (starting one costs seconds)."""
    tool = Ltlsp(tmp_path_factory.mktemp("ltlsp"))
    yield tool
    tool.stop_all()


@pytest.fixture(scope="module")
def sample_repo(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("repo") / "sample", SAMPLE_FILES)
