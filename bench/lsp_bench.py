"""The language server: start-up to initialized, memory, and warm round trips of `workspace/symbol`
and `ltlsp/similar` on a repository of at least 10,000 chunks, each beside its target.

    python bench/lsp_bench.py [--chunks 10000] [--runs 60]

Baselines in the same run: `python -c pass` for start-up, and the same Search and Similar calls
made straight to the daemon over gRPC (what the language server adds on top). The corpus is a
temporary git repository of standard-library modules (not the benchmark packages); the daemon
runs in a private runtime dir and is stopped at the end. The client here is a minimal JSON-RPC
client over the server's stdin/stdout, so that its own overhead is negligible.
"""

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

SKIPPED_PACKAGES = {"email", "asyncio", "http", "xml", "logging", "json", "concurrent",  # benchmarks
                    "test", "idlelib", "lib2to3", "tkinter", "turtledemo", "ensurepip", "site-packages"}
QUERIES = ["parse a date string into a timestamp", "compress data with zlib", "read lines from a file lazily",
           "find the longest common prefix", "quote a string for the shell", "walk a directory tree",
           "format a number with thousands separators", "copy a file with its permissions",
           "wait for a child process to exit", "split a path into directory and name"]
TARGET_STARTUP_S = 0.5
TARGET_RSS_MB = 80
TARGET_P95_MS = 100


def build_corpus(dest: Path, want_chunks: int) -> int:
    """Copy standard-library modules until they define enough functions and classes."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    units = 0
    for src in sorted(stdlib.rglob("*.py")):
        rel = src.relative_to(stdlib)
        if rel.parts[0] in SKIPPED_PACKAGES or units >= want_chunks * 1.15:
            continue
        text = src.read_text(errors="replace")
        units += sum(1 for line in text.splitlines() if line.lstrip().startswith(("def ", "class ", "async def ")))
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest / rel)
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=bench", "-c", "user.email=bench@invalid", "commit", "-qm", "corpus"]):
        subprocess.run(["git", "-C", str(dest), *args], check=True, capture_output=True)
    return units


class StdioClient:
    """Just enough of an LSP client: framed JSON-RPC over a child's pipes, one request at a time."""

    def __init__(self, cmd: list[str], env: dict):
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.ids = itertools.count(1)
        self.notifications: list[dict] = []

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def receive(self) -> dict:
        length = None
        while (line := self.proc.stdout.readline().strip()):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("the language server closed its output")
        return json.loads(self.proc.stdout.read(length))

    def request(self, method: str, params) -> object:
        msg_id = next(self.ids)
        self.send({"id": msg_id, "method": method, "params": params})
        while True:
            message = self.receive()
            if message.get("id") == msg_id and "method" not in message:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']['message']}")
                return message["result"]
            if "method" in message and "id" in message:  # a request from the server
                self.send({"id": message["id"], "result": None})
            elif "method" in message:
                self.notifications.append(message)

    def wait_for(self, method: str, matches, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((n for n in self.notifications if n["method"] == method and matches(n["params"])), None)
            if found:
                return found
            self.notifications.append(self.receive())
        raise TimeoutError(f"no {method} within {timeout:.0f} s")

    def initialize(self, root: Path) -> None:
        uri = root.as_uri()
        self.request("initialize", {"processId": os.getpid(), "rootUri": uri, "capabilities": {},
                                    "workspaceFolders": [{"uri": uri, "name": root.name}]})
        self.send({"method": "initialized", "params": {}})

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident memory of the server process."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines())
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def cpu_s(self) -> float:
        """CPU time (user + system) the server has used so far: on a busy machine, the part of
        the wall time that is the server's own work."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.send({"method": "exit"})
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a benchmark cleans up whatever state the server is in
            self.proc.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed(call, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="at least this many chunks in the corpus")
    parser.add_argument("--runs", type=int, default=60, help="requests per measured method")
    parser.add_argument("--starts", type=int, default=10, help="server start-ups to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        repo = (tmp / "corpus").resolve()
        repo.mkdir()
        build_corpus(repo, args.chunks)
        env = dict(os.environ, LTLSP_RUNTIME_DIR=str(tmp / "run"), LTLSP_DATA_DIR=str(tmp / "data"))
        env.pop("LTLSP_ADDRESS", None)
        cli = [sys.executable, "-m", "ltlsp.server.cli"]
        lsp = [*cli, "lsp"]
        try:
            started = time.perf_counter()
            summary = json.loads(subprocess.run([*cli, "index", str(repo), "--json"], env=env, check=True,
                                                capture_output=True, text=True).stdout)
            print(f"corpus: {summary['files_indexed']} files, {summary['chunks_total']} chunks, "
                  f"indexed in {time.perf_counter() - started:.0f} s")
            if summary["chunks_total"] < args.chunks:
                print(f"error: only {summary['chunks_total']} chunks, fewer than {args.chunks}", file=sys.stderr)
                return 1
            figures = measure(lsp, env, repo, args)
        finally:
            subprocess.run([*cli, "stop"], env=env, capture_output=True)
    report(figures, args)
    return 0


def time_startups(cmd: list[str], env: dict, repo: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds from spawning the server to its answer to `initialize`."""
    walls, cpus = [], []
    for _ in range(runs):
        start = time.perf_counter()
        client = StdioClient(cmd, env)
        client.initialize(repo)
        walls.append(time.perf_counter() - start)
        cpus.append(client.cpu_s())
        client.close()
    return walls, cpus


def measure(lsp: list[str], env: dict, repo: Path, args) -> dict:
    bare = statistics.median(timed(lambda _: subprocess.run([sys.executable, "-c", "pass"], env=env), args.starts))
    startups, startup_cpu = time_startups(lsp, env, repo, args.starts)
    # The module alone, without the CLI's dispatch (which imports the gRPC client first).
    module_startups, _ = time_startups([sys.executable, "-m", "ltlsp.lsp.server"], env, repo, args.starts)

    client = StdioClient(lsp, env)
    try:
        client.initialize(repo)
        client.wait_for("$/ltlsp/indexState", lambda p: p["state"] == "ready", timeout=600)
        files = sorted(p for p in repo.rglob("*.py") if p.stat().st_size > 2000)
        spots = [(f, random.Random(i).randrange(len(f.read_text(errors="replace").splitlines())))
                 for i, f in enumerate(random.Random(0).sample(files, min(20, len(files))))]

        def symbol(i):
            client.request("workspace/symbol", {"query": QUERIES[i % len(QUERIES)]})

        def similar(i):
            path, line = spots[i % len(spots)]
            client.request("ltlsp/similar", {"textDocument": {"uri": path.as_uri()},
                                             "position": {"line": line, "character": 0}})

        for i in range(5):  # warm: the daemon's caches, the server's first imports of each path
            symbol(i), similar(i)
        symbols, similars = timed(symbol, args.runs), timed(similar, args.runs)
        rss, peak = client.rss_mb()
    finally:
        client.close()

    os.environ.update(LTLSP_RUNTIME_DIR=env["LTLSP_RUNTIME_DIR"], LTLSP_DATA_DIR=env["LTLSP_DATA_DIR"])
    from ltlsp.server.client import connect
    from ltlsp.server.proto import ltlsp_pb2 as pb
    conn = connect()
    direct_search = timed(lambda i: conn.code.Search(pb.SearchRequest(
        repo=str(repo), query=QUERIES[i % len(QUERIES)], top_k=10)), args.runs)
    direct_similar = timed(lambda i: conn.code.Similar(pb.SimilarRequest(
        repo=str(repo), path=str(spots[i % len(spots)][0]), start_line=spots[i % len(spots)][1] + 1,
        text=spots[i % len(spots)][0].read_text(errors="replace"), top_k=10)), args.runs)
    conn.close()
    return {"bare": bare, "startups": startups, "startup_cpu": startup_cpu,
            "module_startups": module_startups, "rss": rss, "peak": peak, "symbol": symbols,
            "similar": similars, "direct_search": direct_search, "direct_similar": direct_similar}


def report(f: dict, args) -> None:
    startup = statistics.median(f["startups"])
    print(f"start-up  python -c pass                 {f['bare'] * 1000:7.1f} ms  (baseline)")
    print(f"start-up  ltlsp lsp to initialized       {startup * 1000:7.1f} ms  median of {len(f['startups'])}, "
          f"max {max(f['startups']) * 1000:.0f} ms  target <= {TARGET_STARTUP_S * 1000:.0f} ms  "
          f"{'ok' if startup <= TARGET_STARTUP_S else 'MISSED'}")
    print(f"start-up  python -m ltlsp.lsp.server        {statistics.median(f['module_startups']) * 1000:7.1f} ms  "
          "(the same server without the CLI's dispatch)")
    print(f"start-up  ltlsp lsp CPU time to initialized {statistics.median(f['startup_cpu']) * 1000:4.0f} ms  "
          f"(its own work; the wall time above includes waiting for a busy CPU)")
    print(f"memory    ltlsp lsp RSS after requests   {f['rss']:7.1f} MB  peak {f['peak']:.1f} MB  "
          f"target <= {TARGET_RSS_MB} MB  {'ok' if f['peak'] <= TARGET_RSS_MB else 'MISSED'}")
    for name, lsp_key, direct_key in (("workspace/symbol", "symbol", "direct_search"),
                                      ("ltlsp/similar   ", "similar", "direct_similar")):
        p50, p95 = (percentile(f[lsp_key], q) * 1000 for q in (50, 95))
        d50, d95 = (percentile(f[direct_key], q) * 1000 for q in (50, 95))
        print(f"latency   {name} (warm, {args.runs} runs)  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
              f"target p95 <= {TARGET_P95_MS} ms  {'ok' if p95 <= TARGET_P95_MS else 'MISSED'}  |  "
              f"daemon direct p50 {d50:.1f} ms p95 {d95:.1f} ms (baseline)")


if __name__ == "__main__":
    sys.exit(main())
