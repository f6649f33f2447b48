"""Search and similar end to end: real CLI, real daemon, real git repositories, shipped model."""

import json
import os
import signal
import sqlite3
import time

import pytest

from conftest import assert_same_as_fresh_index, git, make_repo


def overlaps(hit: dict, path: str, line: int) -> bool:
    return hit["path"] == path and hit["start_line"] <= line <= hit["end_line"]


@pytest.fixture(scope="module")
def indexed(shared_ltlsp, sample_repo):
    shared_ltlsp.run("index", str(sample_repo))
    return shared_ltlsp, sample_repo


def test_search_finds_the_documented_function(indexed):
    ltlsp, repo = indexed
    hits = ltlsp.json_lines("search", "split an HTTP header line into name and value",
                            "--repo", str(repo), "--top-k", "3")
    assert any(overlaps(h, "net/headers.py", 4) for h in hits), hits


def test_similar_finds_the_rewritten_twin(indexed):
    ltlsp, repo = indexed
    hits = ltlsp.json_lines("similar", "math/stats.py:1", "--repo", str(repo), "--top-k", "3", cwd=repo)
    assert hits[0]["path"] == "math/summary.py", hits
    assert all(h["path"] != "math/stats.py" for h in hits)  # the query span itself is excluded


def test_json_lines_follow_the_contract(indexed):
    ltlsp, repo = indexed
    hits = ltlsp.json_lines("search", "cache entries expire", "--repo", str(repo), "--top-k", "4")
    assert 1 <= len(hits) <= 4
    for hit in hits:
        assert {"path", "start_line", "end_line", "score"} <= hit.keys()
        assert not os.path.isabs(hit["path"]) and (repo / hit["path"]).is_file()
        lines = (repo / hit["path"]).read_text().splitlines()
        assert 1 <= hit["start_line"] <= hit["end_line"] <= len(lines)
        assert hit["preview"].splitlines()[0] == lines[hit["start_line"] - 1]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_human_output_shows_location_symbol_and_score(indexed):
    ltlsp, repo = indexed
    out = ltlsp.run("search", "mean and variance of numbers", "--repo", str(repo), "--top-k", "2").stdout
    first = out.splitlines()[0].split()
    assert first[0] == "1" and ":" in first[1] and "-" in first[1].split(":")[1]
    float(first[2])


def test_status_reports_the_repository(indexed):
    ltlsp, repo = indexed
    status = json.loads(ltlsp.run("status", "--json").stdout)
    entry = next(r for r in status["repos"] if r["repo"] == str(repo))
    assert entry["indexed_commit"] == entry["head"] == git(repo, "rev-parse", "HEAD").strip()
    assert entry["files"] == 5 and entry["chunks"] >= 5
    assert entry["model_id"] == status["daemon"]["model_id"].strip() != ""


def test_search_indexes_on_first_use_and_follows_new_commits(ltlsp, tmp_path):
    repo = make_repo(tmp_path / "fresh", {"a.py": "def add(a, b):\n    return a + b\n"})
    assert ltlsp.json_lines("search", "add two numbers", "--repo", str(repo))[0]["path"] == "a.py"
    (repo / "b.py").write_text("def read_config(path):\n    with open(path) as f:\n        return f.read()\n")
    git(repo, "add", "b.py")
    git(repo, "commit", "-qm", "b")
    hits = ltlsp.json_lines("search", "read the configuration file", "--repo", str(repo))
    assert {h["path"] for h in hits} == {"a.py", "b.py"}
    summary = json.loads(ltlsp.run("index", str(repo), "--json").stdout)
    assert summary["files_unchanged"] == 2 and summary["chunks_embedded"] == 0


# ---- bad input -------------------------------------------------------------------------------

def test_repo_that_is_not_a_git_repository(indexed, tmp_path):
    ltlsp, _ = indexed
    done = ltlsp.run("search", "anything", "--repo", str(tmp_path), check=False)
    assert done.returncode == 2
    assert "not inside a git repository" in done.stderr and "Traceback" not in done.stderr


def test_path_outside_the_repository(indexed, tmp_path):
    ltlsp, repo = indexed
    outside = tmp_path / "outside.py"
    outside.write_text("def f():\n    return 1\n")
    done = ltlsp.run("similar", f"{outside}:1", "--repo", str(repo), check=False)
    assert done.returncode == 2
    assert "outside the repository" in done.stderr


def test_line_past_the_end_of_the_file(indexed):
    ltlsp, repo = indexed
    done = ltlsp.run("similar", "net/headers.py:999", "--repo", str(repo), cwd=repo, check=False)
    assert done.returncode == 2
    assert "past the end of the file" in done.stderr and "lines" in done.stderr


@pytest.mark.parametrize("spec", ["net/headers.py", "net/headers.py:x", "net/headers.py:0"])
def test_malformed_spans(indexed, spec):
    ltlsp, repo = indexed
    done = ltlsp.run("similar", spec, "--repo", str(repo), cwd=repo, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "PATH:LINE" in done.stderr or "start at 1" in done.stderr


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query(indexed, query):
    ltlsp, repo = indexed
    done = ltlsp.run("search", query, "--repo", str(repo), check=False)
    assert done.returncode == 2
    assert "query is empty" in done.stderr


def test_bad_top_k(indexed):
    ltlsp, repo = indexed
    done = ltlsp.run("search", "x y", "--repo", str(repo), "--top-k", "0", check=False)
    assert done.returncode == 2 and "between 1 and 1000" in done.stderr


def test_binary_and_invalid_utf8_files(ltlsp, tmp_path):
    repo = make_repo(tmp_path / "mixed", {
        "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "legacy.py": b"# caf\xe9 cr\xe8me\ndef brew_coffee(cups):\n    return ['coffee'] * cups\n",
        "ok.py": "def ok():\n    return True\n",
    })
    summary = json.loads(ltlsp.run("index", str(repo), "--json").stdout)
    assert summary["skipped_binary"] == 1 and summary["lossy_utf8"] == 1
    assert summary["files_indexed"] == 2
    hits = ltlsp.json_lines("similar", "legacy.py:2", "--repo", str(repo), cwd=repo)
    assert "ok.py" in {h["path"] for h in hits}
    assert not [h for h in hits if h["path"] == "legacy.py" and h["start_line"] <= 3 and h["end_line"] >= 2]
    human = ltlsp.run("index", str(repo)).stdout
    assert "indexed" in human


def test_corrupt_index_is_rebuilt_with_a_message(ltlsp, tmp_path):
    repo = make_repo(tmp_path / "c", {"a.py": "def a():\n    return 1\n"})
    ltlsp.run("index", str(repo))
    ltlsp.run("stop")
    db = next(ltlsp.data.glob("repos/*/index.sqlite"))
    db.write_bytes(b"this is not a database" * 100)
    done = ltlsp.run("index", str(repo))
    assert "damaged" in done.stderr and "moved aside" in done.stderr
    assert ltlsp.json_lines("search", "return one", "--repo", str(repo))[0]["path"] == "a.py"
    assert list(db.parent.glob("index.sqlite.broken-*"))


def test_index_of_another_version_is_rebuilt_with_a_message(ltlsp, tmp_path):
    repo = make_repo(tmp_path / "v", {"a.py": "def a():\n    return 1\n"})
    ltlsp.run("index", str(repo))
    ltlsp.run("stop")
    db = next(ltlsp.data.glob("repos/*/index.sqlite"))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    done = ltlsp.run("search", "return one", "--repo", str(repo), "--json")
    assert "another ltlsp version" in done.stderr
    assert json.loads(done.stdout.splitlines()[0])["path"] == "a.py"


def test_daemon_killed_mid_request(ltlsp, tmp_path):
    files = {f"pkg/m{i:03}.py": "".join(f"def f{i}_{j}(x):\n    return x * {j} + {i}\n\n" for j in range(30))
             for i in range(150)}
    repo = make_repo(tmp_path / "big", files)
    ltlsp.run("status")  # daemon up and model loaded, so the kill lands inside indexing
    pid = ltlsp.daemon_info()["pid"]
    client = ltlsp.popen("index", str(repo))
    deadline = time.monotonic() + 60
    while not list(ltlsp.data.glob("repos/big-*/index.sqlite")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    _, err = client.communicate(timeout=60)
    assert client.returncode == 1
    assert "daemon stopped while handling the request" in err and "Traceback" not in err
    hits = ltlsp.json_lines("search", "return x times", "--repo", str(repo))  # restarts the daemon
    assert hits and ltlsp.daemon_info()["pid"] != pid
    for hit in hits:
        lines = (repo / hit["path"]).read_text().splitlines()
        assert hit["preview"].splitlines()[0] == lines[hit["start_line"] - 1]


def test_repository_with_nothing_to_index(ltlsp, tmp_path):
    repo = make_repo(tmp_path / "bin", {"blob.bin": bytes(range(256)) * 4})
    done = ltlsp.run("search", "anything at all", "--repo", str(repo))
    assert done.stdout.strip() == "no results"


def test_modes_and_filters_through_the_cli(indexed):
    ltlsp, repo = indexed
    lexical = ltlsp.json_lines("search", "ExpiringCache ttl", "--repo", str(repo), "--mode", "lexical")
    assert lexical[0]["path"] == "store/cache.py"
    only_math = ltlsp.json_lines("search", "numbers", "--repo", str(repo), "--path", "math/*")
    assert only_math and {h["path"] for h in only_math} <= {"math/stats.py", "math/summary.py"}
    assert ltlsp.json_lines("search", "numbers", "--repo", str(repo), "--lang", "go") == []
    done = ltlsp.run("search", "numbers", "--repo", str(repo), "--lang", "cobol", check=False)
    assert done.returncode == 2 and "unknown language 'cobol'" in done.stderr


def test_incremental_update_converges_to_a_fresh_index(ltlsp, tmp_path):
    repo = make_repo(tmp_path / "inc", {"keep.py": "def keep():\n    return 1\n",
                                        "old_name.py": "def moved():\n    return 2\n",
                                        "doomed.py": "def doomed():\n    return 3\n",
                                        "edit.py": "def edit():\n    return 4\n"})
    ltlsp.run("index", str(repo))
    git(repo, "mv", "old_name.py", "new_name.py")
    git(repo, "rm", "-q", "doomed.py")
    (repo / "edit.py").write_text("def edit():\n    return 40\n\n\ndef added():\n    return 5\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "rename, delete, edit")
    summary = json.loads(ltlsp.run("index", str(repo), "--json").stdout)
    assert summary["files_indexed"] == 2 and summary["files_removed"] == 2  # new_name, edit / old, doomed
    assert summary["chunks_reused"] >= 1  # the renamed file's chunk kept its vector
    assert_same_as_fresh_index(ltlsp, repo, tmp_path)


def test_update_of_saved_files_skips_what_git_ignores(ltlsp, tmp_path):
    repo = make_repo(tmp_path / "upd", {".gitignore": "build/\n", "a.py": "def a():\n    return 1\n"})
    ltlsp.run("index", str(repo))
    (repo / "build").mkdir()
    (repo / "build" / "gen.py").write_text("def generated_helper():\n    return 2\n")
    (repo / "new.py").write_text("def brand_new_helper():\n    return 3\n")
    from ltlsp.server.client import Connection
    from ltlsp.server.proto import ltlsp_pb2 as pb

    conn = Connection(f"unix:{ltlsp.runtime / 'ltlsp.sock'}", None)
    summary = conn.call(conn.code.Update, pb.UpdateRequest(repo=str(repo), paths=["build/gen.py", "new.py"]))
    conn.close()
    assert summary.files_indexed == 1
    paths = {h["path"] for h in ltlsp.json_lines("search", "helper", "--repo", str(repo), "--mode", "lexical")}
    assert paths == {"new.py"}
