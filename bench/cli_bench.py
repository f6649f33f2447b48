"""CLI start-up, warm search latency and indexing throughput, each beside a baseline measured
in the same run.

    python bench/cli_bench.py [--files 150] [--runs 15]

Baselines: a bare `python -c pass` for start-up (what no CLI can beat), and the encoder alone,
in-process, on the same chunks for indexing (what the index pays on top of embedding).
The corpus is a temporary git repository of standard-library modules (not the benchmark
packages); the daemon runs in a private runtime dir and is stopped at the end.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

BENCH_PACKAGES = {"email", "asyncio", "http", "xml", "logging", "json", "concurrent"}
QUERIES = ["parse a date string into a timestamp", "compress data with zlib",
           "read lines from a file lazily", "find the longest common prefix"]


def build_corpus(dest: Path, count: int) -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = sorted(p for p in stdlib.glob("*.py") if p.stem not in BENCH_PACKAGES)[:count]
    for src in sources:
        shutil.copy(src, dest / src.name)
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=bench", "-c", "user.email=bench@invalid", "commit", "-qm", "corpus"]):
        subprocess.run(["git", "-C", str(dest), *args], check=True)
    return dest


def timed(cmd: list[str], env: dict, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def encoder_alone(repo: Path) -> float:
    """Chunks/s of the encoder in-process on the same windows the index embeds."""
    import torch

    from ltlsp.model import Encoder
    from ltlsp.server.index.chunking import line_windows

    torch.set_num_threads(int(os.environ.get("LTLSP_THREADS", min(4, os.cpu_count() or 1))))
    encoder = Encoder.load(os.environ.get("LTLSP_MODEL") or None)
    texts = [c.text for p in sorted(repo.glob("*.py")) for c in line_windows(p.read_text(errors="replace"))]
    start = time.perf_counter()
    encoder.encode(texts, kind="code")
    return len(texts) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=150, help="standard-library modules to index")
    parser.add_argument("--runs", type=int, default=15, help="repetitions per timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "corpus").mkdir()
        repo = build_corpus((tmp / "corpus").resolve(), args.files)
        env = dict(os.environ, LTLSP_RUNTIME_DIR=str(tmp / "run"), LTLSP_DATA_DIR=str(tmp / "data"))
        env.pop("LTLSP_ADDRESS", None)
        ltlsp = [sys.executable, "-m", "ltlsp.server.cli"]
        try:
            bare = statistics.median(timed([sys.executable, "-c", "pass"], env, args.runs))
            helps = statistics.median(timed([*ltlsp, "--help"], env, args.runs))
            subprocess.run([*ltlsp, "status"], env=env, check=True, stdout=subprocess.DEVNULL)  # daemon up
            done = subprocess.run([*ltlsp, "index", str(repo), "--json"], env=env, check=True,
                                  capture_output=True, text=True)
            summary = json.loads(done.stdout)
            indexing = summary["chunks_embedded"] / summary["seconds"]
            searches = []
            for query in QUERIES:
                cmd = [*ltlsp, "search", query, "--repo", str(repo), "--json"]
                searches += timed(cmd, env, max(1, args.runs // len(QUERIES)))
            search = statistics.median(searches)
        finally:
            subprocess.run([*ltlsp, "stop"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        alone = encoder_alone(repo)
    print(f"corpus: {args.files} modules, {summary['files_indexed']} files, {summary['chunks_total']} chunks")
    print(f"startup  python -c pass        {bare * 1000:7.1f} ms  (baseline)")
    print(f"startup  ltlsp --help          {helps * 1000:7.1f} ms  ratio {helps / bare:.2f}x  target <= 300 ms")
    print(f"search   ltlsp search (warm)   {search * 1000:7.1f} ms  ratio {search / bare:.2f}x  (median of {len(searches)})")
    print(f"index    ltlsp index           {indexing:7.1f} chunks/s  ({summary['chunks_embedded']} chunks in "
          f"{summary['seconds']:.1f} s)")
    print(f"index    encoder alone         {alone:7.1f} chunks/s  (baseline)  ratio {indexing / alone:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
