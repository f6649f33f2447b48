"""The index at scale: full-index throughput, query latency (server side and through the CLI)
and daemon memory on a real corpus of at least --chunks chunks (default 100,000), and the
server side of similar-code requests for the functions at random `def` lines.

    python bench/scale_bench.py [--chunks 100000] [--queries 200] [--workdir DIR]

--workdir keeps the corpus and the index in DIR, so that a later run with the same DIR skips
the full index (minutes) and measures only search and memory; throughput is then not shown.

The corpus is a git repository of Python sources from this machine (the standard library and
site-packages, the benchmark packages left out), copied until the syntax chunker counts enough
chunks. Baseline for latency, measured in the same run: the FAISS search alone over the same
vectors, the floor under any server-side query. Targets: server p95 <= 30 ms, RSS <= 600 MB.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import python_sources
from ltlsp.server.index.syntax import chunk_file
from ltlsp.server.proto import ltlsp_pb2 as pb

WORDS = ["parse", "read", "file", "write", "config", "value", "list", "cache", "error", "path",
         "string", "convert", "date", "format", "check", "socket", "encode", "thread", "lock", "queue"]
IDLE_QUERIES = 40
SIMILAR_QUERIES = 40
IDLE_SECONDS = 0.5


def build_corpus(dest: Path, target_chunks: int) -> int:
    chunks = 0
    for root, rel, text in python_sources():
        out = dest / root.name / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, out)
        chunks += len(chunk_file(str(rel), text))
        if chunks >= target_chunks:
            break
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=b", "-c", "user.email=b@invalid", "commit", "-qm", "corpus"]):
        subprocess.run(["git", "-C", str(dest), *args], check=True, stdout=subprocess.DEVNULL)
    return chunks


def timed(conn, method, request) -> float:
    start = time.perf_counter()
    conn.call(method, request)
    return time.perf_counter() - start


def timed_search(conn, repo: Path, query: str) -> float:
    return timed(conn, conn.code.Search, pb.SearchRequest(repo=str(repo), query=query, top_k=10))


def definitions(repo: Path, count: int, rng: random.Random) -> list[tuple[str, int]]:
    """(repo-relative path, line) of `count` random `def` lines: what an editor asks similar code for."""
    found = []
    for path in sorted(repo.rglob("*.py")):
        lines = path.read_text(errors="replace").splitlines()
        found += [(str(path.relative_to(repo)), n) for n, line in enumerate(lines, 1)
                  if line.lstrip().startswith("def ")]
    return rng.sample(found, min(count, len(found)))


def timed_similar(conn, repo: Path, path: str, line: int) -> float:
    return timed(conn, conn.code.Similar, pb.SimilarRequest(repo=str(repo), path=path, start_line=line, top_k=10))


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):6.1f} ms  p95 {np.percentile(ms, 95):6.1f} ms"


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", type=Path, help="keep (or reuse) the corpus and index here")
    args = parser.parse_args()
    rng = random.Random(0)
    queries = [" ".join(rng.sample(WORDS, 3)) for _ in range(args.queries)]
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.workdir.resolve() if args.workdir else Path(scratch)
        os.environ.update(LTLSP_RUNTIME_DIR=f"{scratch}/run", LTLSP_DATA_DIR=str(tmp / "data"))
        os.environ.pop("LTLSP_ADDRESS", None)
        repo = tmp / "corpus"
        reused = (tmp / "data").is_dir()
        counted = 0 if (repo / ".git").is_dir() else build_corpus(repo, args.chunks)
        from ltlsp.server.client import connect

        cli = [sys.executable, "-m", "ltlsp.server.cli"]
        conn = connect()
        try:
            summary = json.loads(subprocess.run([*cli, "index", str(repo), "--json"], check=True,
                                                capture_output=True, text=True).stdout)
            server = [timed_search(conn, repo, query) for query in queries]
            after_idle = []
            for query in queries[:IDLE_QUERIES]:
                time.sleep(IDLE_SECONDS)
                after_idle.append(timed_search(conn, repo, query))
            similar = [timed_similar(conn, repo, path, line)
                       for path, line in definitions(repo, SIMILAR_QUERIES, rng)]
            through_cli = []
            for query in queries[:20]:
                start = time.perf_counter()
                subprocess.run([*cli, "search", query, "--repo", str(repo), "--json"], check=True,
                               stdout=subprocess.DEVNULL)
                through_cli.append(time.perf_counter() - start)
            info = conn.call(conn.daemon.GetInfo, pb.InfoRequest())
            rss, peak = rss_mb(info.pid)
            floor = faiss_floor(tmp / "data", summary["chunks_total"])
        finally:
            subprocess.run([*cli, "stop"], stdout=subprocess.DEVNULL)
    if reused:
        print(f"corpus: reused from {repo}, {summary['chunks_total']} chunks (already indexed)")
    else:
        counted_note = f" ({counted} counted before indexing)" if counted else ""
        print(f"corpus: {summary['files_indexed']} files, {summary['chunks_total']} chunks{counted_note}")
        print(f"full index      {summary['chunks_embedded'] / summary['seconds']:8.1f} chunks/s "
              f"({summary['seconds']:.0f} s)")
    print(f"search, server  {percentiles(server)}   target p95 <= 30 ms  (back to back)")
    print(f"  after idle    {percentiles(after_idle)}   (each after {IDLE_SECONDS} s without a request, "
          f"as when a person types the queries)")
    print(f"similar, server {percentiles(similar)}   (the function at a random `def` line, back to back)")
    print(f"faiss alone     {percentiles(floor)}   (baseline: the flat search under every query)")
    print(f"search, CLI     {percentiles(through_cli)}")
    print(f"daemon memory   RSS {rss:.0f} MB, peak {peak:.0f} MB   target <= 600 MB")
    return 0


def faiss_floor(data: Path, count: int) -> list[float]:
    """Time FAISS alone on the daemon's own cache file: inner product over every vector."""
    import faiss

    index = faiss.read_index(str(next(data.glob("repos/*/vectors.faiss"))))
    assert index.ntotal == count
    rng = np.random.default_rng(0)
    times = []
    for _ in range(100):
        q = rng.standard_normal((1, index.d)).astype(np.float32)
        start = time.perf_counter()
        index.search(q / np.linalg.norm(q), 10)
        times.append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    sys.exit(main())
