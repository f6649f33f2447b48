"""What the git hooks cost and buy: the time they add to `git commit`, and the time from
`git commit` of a one-file change until that change is searchable.

    python bench/hooks_bench.py [--files 40] [--runs 9]

Baselines, measured in the same run: the same `git commit` with no hook (alternating with the
hooked ones, so that both see the same machine load), and a bare `python -c pass`, since the
hook's background update starts with a CLI process. The difference of two commit medians is
within the noise of a busy machine, so the hook script is also timed alone, run directly. "Searchable": a search for a new, unique
identifier returns the chunk that defines it, polled in-process through the client every 10 ms
(a CLI start per poll would cost more than what is measured). Targets (issue 4): the hooks add
<= 50 ms to `git commit`; the change is searchable <= 1 s after `git commit` starts.
"""

import argparse
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cli_bench import build_corpus

POLL_S = 0.01
TIMEOUT_S = 60


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@invalid",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def commit_one_file(repo: Path, path: Path, text: str) -> float:
    """Append to one file and commit it; the wall time of `git commit`, hooks included."""
    with path.open("a") as f:
        f.write(text)
    git(repo, "add", path.name)
    start = time.perf_counter()
    git(repo, "commit", "-qm", f"change {path.name}")
    return time.perf_counter() - start


class Daemon:
    """The bench's view of the daemon: indexed commit and search, through the client."""

    def __init__(self, repo: Path):
        from ltlsp.server.client import connect
        from ltlsp.server.proto import ltlsp_pb2
        self.pb, self.conn, self.repo = ltlsp_pb2, connect(), str(repo)

    def index(self) -> None:
        for _ in self.conn.stream(self.conn.code.Index, self.pb.IndexRequest(repo=self.repo)):
            pass

    def status(self):
        reply = self.conn.call(self.conn.code.Status, self.pb.StatusRequest(repo=self.repo), timeout=30)
        return reply.repos[0]

    def finds(self, query: str, path: str, line: int) -> bool:
        """Whether a search for `query` returns the chunk holding path:line (maybe merged into
        a bigger unit, so the line, not the preview, is what is checked)."""
        hits = self.conn.call(self.conn.code.Search, self.pb.SearchRequest(
            repo=self.repo, query=query, top_k=5), timeout=30).hits
        return any(h.path == path and h.start_line <= line <= h.end_line for h in hits)

    def stop(self) -> None:
        from ltlsp.server.client import stop_daemon
        stop_daemon(self.conn, self.conn.call(self.conn.daemon.GetInfo, self.pb.InfoRequest(), timeout=5).pid)
        self.conn.close()


def wait_until(condition, what: str, log: Path) -> None:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > TIMEOUT_S:
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-20:]) if log.exists() else ""
            raise SystemExit(f"gave up after {TIMEOUT_S} s waiting until {what}; "
                             f"the daemon log ends:\n{tail}")
        time.sleep(POLL_S)


def commit_overhead(repo: Path, daemon: Daemon, files: list[Path], runs: int, log: Path) -> tuple[list, list]:
    """`git commit` wall times without and with the hooks, alternating."""
    from ltlsp.server import hooks
    where = hooks.locate(str(repo))
    bare, hooked = [], []
    for i in range(runs):
        hooks.uninstall(where)
        bare.append(commit_one_file(repo, files[2 * i], f"\n# bare {i}\n"))
        hooks.install(where)
        hooked.append(commit_one_file(repo, files[2 * i + 1], f"\n# hooked {i}\n"))
        head = git(repo, "rev-parse", "HEAD")
        # its update must not slow the next commit down
        wait_until(lambda: daemon.status().indexed_commit == head, "the index is at HEAD", log)
    return bare, hooked


def hook_alone(repo: Path, runs: int) -> list[float]:
    """Wall times of the post-commit hook run directly, as git runs it (in the work tree)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(repo / ".git" / "hooks" / "post-commit")], cwd=repo, check=True)
        times.append(time.perf_counter() - start)
        time.sleep(1)  # let the update it started (a no-op here) finish before the next run
    return times


def time_to_searchable(repo: Path, daemon: Daemon, files: list[Path], runs: int,
                       log: Path) -> tuple[list, list]:
    """Seconds from the start of `git commit` until the index is at HEAD, and until a search
    finds the function the commit added."""
    at_head, searchable = [], []
    for i, path in enumerate(files[-runs:]):
        name = f"reconcile_{unique_word()}_ledger"  # no word of it in the corpus or earlier runs
        line = len(path.read_text().splitlines()) + 3
        with path.open("a") as f:
            f.write(f"\n\ndef {name}(entries):\n    return sum(e.amount for e in entries)\n")
        git(repo, "add", path.name)
        start = time.perf_counter()
        git(repo, "commit", "-qm", f"add {name}")
        head = git(repo, "rev-parse", "HEAD")
        wait_until(lambda: daemon.status().indexed_commit == head, "the index is at HEAD", log)
        at_head.append(time.perf_counter() - start)
        wait_until(lambda: daemon.finds(name, path.name, line), f"a search finds {name}", log)
        searchable.append(time.perf_counter() - start)
    return at_head, searchable


def unique_word(length: int = 10) -> str:
    return "".join(random.choice(string.ascii_lowercase) for _ in range(length))


def python_startup(runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40, help="standard-library modules in the repository")
    parser.add_argument("--runs", type=int, default=9, help="commits of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "corpus").mkdir()
        repo = build_corpus((tmp / "corpus").resolve(), args.files)
        files = sorted(repo.glob("*.py"))
        if len(files) < 3 * args.runs:
            raise SystemExit(f"--files must be at least 3 x --runs ({3 * args.runs})")
        # The hooks inherit this environment through git; the client reads it too.
        os.environ.update(LTLSP_RUNTIME_DIR=str(tmp / "run"), LTLSP_DATA_DIR=str(tmp / "data"))
        os.environ.pop("LTLSP_ADDRESS", None)
        log = tmp / "run" / "daemon.log"
        daemon = Daemon(repo)
        try:
            daemon.index()
            bare, hooked = commit_overhead(repo, daemon, files, args.runs, log)
            alone = hook_alone(repo, args.runs)
            at_head, searchable = time_to_searchable(repo, daemon, files, args.runs, log)
            chunks = daemon.status().chunks
        finally:
            daemon.stop()
    startup = python_startup(args.runs)
    base, with_hooks = statistics.median(bare) * 1000, statistics.median(hooked) * 1000
    print(f"repository: {len(files)} files, {chunks} chunks; medians of {args.runs} commits each")
    print(f"git commit, no hook            {base:7.1f} ms  (baseline)")
    print(f"git commit, ltlsp hooks        {with_hooks:7.1f} ms  "
          f"adds {with_hooks - base:5.1f} ms  target <= 50 ms")
    print(f"post-commit hook run alone     {statistics.median(alone) * 1000:7.1f} ms  "
          f"(max {max(alone) * 1000:.1f} ms)  target <= 50 ms")
    print(f"commit -> index at HEAD        {statistics.median(at_head) * 1000:7.1f} ms  "
          f"(python -c pass alone: {startup * 1000:.0f} ms)")
    print(f"commit -> change searchable    {statistics.median(searchable) * 1000:7.1f} ms  "
          f"(max {max(searchable) * 1000:.0f} ms)  target <= 1000 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
