"""bench/baseline_cli.py keeps the CLI contract the shared benchmarks drive (BM25 only: MiniLM's
index step checks its own query path against sentence-transformers on every run)."""

import json
import subprocess
import sys
from pathlib import Path

from conftest import SAMPLE_FILES, make_repo

BASELINE = Path(__file__).resolve().parent.parent / "bench" / "baseline_cli.py"


def baseline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BASELINE), "--embedder", "bm25", "--data", str(tmp_path / "data"),
                           *args], capture_output=True, text=True, timeout=120)


def json_lines(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_bm25_search_and_similar_follow_the_cli_contract(tmp_path):
    repo = make_repo(tmp_path / "repo", SAMPLE_FILES)
    assert baseline(tmp_path, "index", str(repo)).returncode == 0
    hits = json_lines(baseline(tmp_path, "search", "expiring cache entries", "--repo", str(repo),
                               "--top-k", "3", "--json"))
    assert hits[0]["path"] == "store/cache.py" and len(hits) <= 3
    assert {"path", "start_line", "end_line", "score"} <= hits[0].keys()
    # Line 2 is inside mean_and_variance, the file's one function: the query, never a result.
    similar = json_lines(baseline(tmp_path, "similar", "math/stats.py:2", "--repo", str(repo), "--json"))
    assert similar[0]["path"] == "math/summary.py"
    assert all(h["path"] != "math/stats.py" for h in similar)


def test_bad_input_gets_a_message_not_a_traceback(tmp_path):
    repo = make_repo(tmp_path / "repo", SAMPLE_FILES)
    for args, message in ((["similar", "math/stats.py", "--repo", str(repo)], "is not PATH:LINE"),
                          (["similar", "math/stats.py:999", "--repo", str(repo)], "outside math/stats.py"),
                          (["search", "  ", "--repo", str(repo)], "the query is empty"),
                          (["index", str(tmp_path)], "not inside a git repository")):
        done = baseline(tmp_path, *args)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
