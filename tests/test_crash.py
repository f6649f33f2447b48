"""Crash safety: SIGKILL the daemon at random moments while it indexes, again and again.

After every restart each result must point at an existing file and at lines whose text is the
stored chunk's, and at the end an update must converge to exactly a fresh full index.
"""

import os
import random
import signal
import time

import pytest

from conftest import assert_same_as_fresh_index, git, make_repo

ROUNDS = 30


def module(i: int, version: int) -> str:
    return "".join(f"def step_{i}_{j}(value):\n    total = value * {j + version}\n    return total - {i}\n\n"
                   for j in range(12))


def assert_results_match_files(ltlsp, repo):
    for hit in ltlsp.json_lines("search", "multiply the value and subtract", "--repo", str(repo),
                                "--top-k", "20"):
        lines = (repo / hit["path"]).read_text().splitlines()
        assert hit["end_line"] <= len(lines), hit
        stored = hit["preview"].splitlines()
        assert stored == lines[hit["start_line"] - 1:hit["start_line"] - 1 + len(stored)], hit


@pytest.mark.timeout(1200)
def test_sigkill_during_indexing_never_corrupts(ltlsp, tmp_path):
    rng = random.Random(1234)
    repo = make_repo(tmp_path / "crashy", {f"pkg/m{i:02}.py": module(i, 0) for i in range(40)})
    for round_ in range(ROUNDS):
        if round_ % 3:  # two rounds in three kill an incremental update, the others a rebuild
            for i in rng.sample(range(40), 8):
                (repo / f"pkg/m{i:02}.py").write_text(module(i, round_))
            if round_ % 5 == 0:
                git(repo, "rm", "-q", f"pkg/m{round_ % 40:02}.py")
            git(repo, "add", "-A")
            git(repo, "commit", "-qm", f"round {round_}")
        if round_ == 0:
            ltlsp.run("status")  # a daemon with its model loaded, so the kill lands in the work
        pid = ltlsp.daemon_info()["pid"]
        args = ("index", str(repo)) if round_ % 3 else ("index", str(repo), "--rebuild")
        client = ltlsp.popen(*args)
        time.sleep(rng.uniform(0.0, 1.5))
        os.kill(pid, signal.SIGKILL)
        client.communicate(timeout=120)
        ltlsp.wait_for_daemon_exit()
        assert_results_match_files(ltlsp, repo)  # restarts the daemon, catches up with HEAD
    ltlsp.run("index", str(repo))
    assert_same_as_fresh_index(ltlsp, repo, tmp_path)
