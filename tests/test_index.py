"""The index store and chunking, directly: SQLite as the truth, FAISS as a cache that follows it.

Vectors here are fixed random unit vectors: the store is under test, not the encoder.
"""

import json
import shutil
import sqlite3
import threading

import faiss
import numpy as np
import pytest

from conftest import git, make_repo
from ltlsp.server.errors import NotFound
from ltlsp.server.index import gitrepo, lexical
from ltlsp.server.index.chunking import Chunk, line_windows
from ltlsp.server.index.store import (CODE_DENSE_WEIGHT, CONTENT_VERSION, NAME_VECTOR_WEIGHT, QUERY_DENSE_SHARE,
                                      FileEntry, Filters, RepoIndex, blend, fuse)

DIM = 8


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def file_entry(path: str, text: str, seed: int) -> FileEntry:
    chunks = line_windows(text)
    vectors = np.stack([unit(seed + i) for i in range(len(chunks))])
    return FileEntry(path, f"hash-{path}-{seed}", len(text), "python", chunks, vectors)


@pytest.fixture
def index(tmp_path):
    idx = RepoIndex(tmp_path / "idx", tmp_path / "repo", "model-a", DIM)
    yield idx
    idx.close()


def test_windows_cover_every_line_and_overlap():
    text = "\n".join(f"line {i}" for i in range(1, 46))
    spans = [(c.start_line, c.end_line) for c in line_windows(text)]
    assert spans == [(1, 20), (11, 30), (21, 40), (31, 45)]
    assert line_windows("\n\n   \n") == []


def test_search_returns_the_nearest_chunk_and_collapses_overlaps(index):
    text = "\n".join(f"x{i}" for i in range(60))
    index.replace_files([file_entry("a.py", text, 0), file_entry("b.py", "def b():\n  pass\n", 100)])
    hits = index.search(3, unit(100))
    assert (hits[0].path, hits[0].start_line) == ("b.py", 1)
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)  # FAISS keeps float16 copies
    a_hits = [h for h in hits if h.path == "a.py"]
    for i, h in enumerate(a_hits):  # windows of one file in the results share under half
        for other in a_hits[i + 1:]:
            shared = min(h.end_line, other.end_line) - max(h.start_line, other.start_line) + 1
            assert shared * 2 < 20


def test_exclude_removes_the_query_span(index):
    index.replace_files([file_entry("a.py", "def a():\n  pass\n", 0), file_entry("b.py", "def b():\n  pass\n", 1)])
    assert [h.path for h in index.search(2, unit(0), filters=Filters(exclude=("a.py", 1, 2)))] == ["b.py"]


def test_replace_and_delete_keep_sqlite_and_faiss_in_step(index):
    index.replace_files([file_entry("a.py", "one\ntwo\n", 0)])
    index.replace_files([file_entry("a.py", "three\nfour\n", 5)])
    assert index.chunk_count() == 1 and index._faiss.ntotal == 1
    assert index.search(1, unit(5))[0].text == "three\nfour"
    index.delete_files(["a.py"])
    assert index.chunk_count() == 0 and index._faiss.ntotal == 0
    assert index.search(1, unit(5)) == []


def test_vectors_are_found_by_chunk_hash(index):
    entry = file_entry("a.py", "alpha\nbeta\n", 3)
    index.replace_files([entry])
    found = index.vectors_by_hash([entry.chunks[0].hash, "no-such-hash"])
    assert list(found) == [entry.chunks[0].hash]
    assert np.allclose(found[entry.chunks[0].hash], entry.vectors[0])


def test_faiss_cache_is_reused_when_current_and_rebuilt_when_stale(tmp_path):
    folder, repo = tmp_path / "idx", tmp_path / "repo"
    first = RepoIndex(folder, repo, "model-a", DIM)
    first.replace_files([file_entry("a.py", "a\n", 0)])
    first.save_cache()
    first.replace_files([file_entry("b.py", "b\n", 1)])  # committed, cache not saved: a crash here
    first.close()
    stamp = json.loads((folder / "vectors.json").read_text())["generation"]
    reopened = RepoIndex(folder, repo, "model-a", DIM)
    assert reopened.generation() > stamp
    assert reopened._faiss.ntotal == 2  # rebuilt from SQLite, b.py included
    assert reopened.search(1, unit(1))[0].path == "b.py"
    reopened.save_cache()
    reopened.close()
    again = RepoIndex(folder, repo, "model-a", DIM)
    assert again._faiss.ntotal == 2
    again.close()


def test_a_float32_cache_of_an_older_version_is_rebuilt_as_float16(tmp_path):
    folder, repo = tmp_path / "idx", tmp_path / "repo"
    first = RepoIndex(folder, repo, "model-a", DIM)
    first.replace_files([file_entry("a.py", "a\n", 0), file_entry("b.py", "b\n", 1)])
    first.save_cache()
    first.close()
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))  # what the cache held before float16
    old.add_with_ids(np.stack([unit(0), unit(1)]), np.array([1, 2], dtype=np.int64))
    faiss.write_index(old, str(folder / "vectors.faiss"))
    reopened = RepoIndex(folder, repo, "model-a", DIM)
    assert isinstance(faiss.downcast_index(reopened._faiss.index), faiss.IndexScalarQuantizer)
    assert reopened.search(1, unit(1))[0].path == "b.py"
    reopened.close()


def test_a_new_model_drops_the_old_vectors(tmp_path):
    folder, repo = tmp_path / "idx", tmp_path / "repo"
    old = RepoIndex(folder, repo, "model-a", DIM)
    old.replace_files([file_entry("a.py", "a\n", 0)])
    old.close()
    new = RepoIndex(folder, repo, "model-b", DIM)
    assert new.chunk_count() == 0 and new.meta("model_id") == "model-b"
    assert any("encoder changed" in n for n in new.notices)
    new.replace_files([file_entry("a.py", "alpha\n", 1)])  # ids of the dropped chunks come again
    assert [h.path for h in new.search(5, text="alpha")] == ["a.py"]
    new.close()


def test_an_index_of_an_older_content_version_is_rebuilt(tmp_path):
    folder, repo = tmp_path / "idx", tmp_path / "repo"
    old = RepoIndex(folder, repo, "model-a", DIM)
    old.replace_files([file_entry("a.py", "a\n", 0)])
    old.close()
    db = sqlite3.connect(folder / "index.sqlite")
    with db:
        db.execute("DELETE FROM meta WHERE key = 'content_version'")  # as written before the key existed
    db.close()
    new = RepoIndex(folder, repo, "model-a", DIM)
    assert new.chunk_count() == 0 and new.meta("content_version") == CONTENT_VERSION
    assert any("embeds chunks differently" in n for n in new.notices)
    new.close()
    again = RepoIndex(folder, repo, "model-a", DIM)
    assert not again.notices
    again.close()


def test_garbage_file_is_moved_aside(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    (folder / "index.sqlite").write_bytes(b"\x00garbage" * 512)
    idx = RepoIndex(folder, tmp_path / "repo", "model-a", DIM)
    assert idx.chunk_count() == 0
    assert any("damaged" in n for n in idx.notices)
    assert list(folder.glob("index.sqlite.broken-*"))
    idx.close()


def test_a_failed_transaction_changes_nothing(index):
    index.replace_files([file_entry("a.py", "keep\n", 0)])
    entry = file_entry("b.py", "new\n", 1)
    with pytest.raises(sqlite3.Error):
        index.replace_files([entry, entry])  # the same path twice: UNIQUE fails
    assert index.file_hashes() == {"a.py": "hash-a.py-0"}
    assert index._faiss.ntotal == 1


def test_readers_never_see_a_half_written_batch(index):
    """While one thread rewrites files in transactions, searches see each file whole or not at all."""
    text = "\n".join(f"line {i}" for i in range(40))  # three windows per file
    index.replace_files([file_entry(f"f{i}.py", text, i * 10) for i in range(20)])
    stop = threading.Event()
    seen_bad = []

    def read():
        while not stop.is_set():
            for hit in index.search(10, unit(3)):
                if hit.text.splitlines()[0] != text.splitlines()[hit.start_line - 1]:
                    seen_bad.append(hit)

    reader = threading.Thread(target=read)
    reader.start()
    for round_ in range(30):
        index.replace_files([file_entry(f"f{i}.py", text, 1000 + round_ + i) for i in range(20)])
    stop.set()
    reader.join()
    assert seen_bad == []
    assert index.chunk_count() == 60 and index._faiss.ntotal == 60


def test_lexical_search_matches_identifier_parts(index):
    index.replace_files([file_entry("net.py", "def parseHttpHeader(line):\n    return line\n", 0),
                         file_entry("io.py", "def read_config(path):\n    return path\n", 1)])
    assert [h.path for h in index.search(2, text="parse the http header")] == ["net.py"]
    assert [h.path for h in index.search(2, text="READ config")] == ["io.py"]
    assert index.search(2, text="the of and") == []  # nothing but stopwords: no lexical query
    assert [h.path for h in index.search(2, text="parses headers")] == ["net.py"]  # stemmed
    assert [h.path for h in index.search(2, text="reading configs")] == ["io.py"]


# ---- lexical search in a large index: common terms score only the rows worth scoring ----------

def test_candidate_gate_pairs_up_common_terms_beyond_the_budget():
    freq = {"rare": 2, "other": 3, "c1": 50, "c2": 60, "c3": 70}
    assert lexical.candidate_gate(list(freq), freq, budget=500) == ""  # every match fits
    assert lexical.candidate_gate(list(freq), freq, budget=10) == (
        '"rare" OR "other" OR ("c1" AND "c2") OR ("c1" AND "c3") OR ("c2" AND "c3")')
    assert lexical.candidate_gate(["c2", "c1"], freq, budget=10) == '("c1" AND "c2")'
    assert lexical.candidate_gate(["c1"], freq, budget=10) == ""  # nothing to pair: score all
    many = {f"c{i}": 100 + i for i in range(9)}
    assert lexical.candidate_gate(list(many), many, budget=10).count(" AND ") == 10  # 5 paired


@pytest.fixture
def crowded(index, monkeypatch):
    """An index where "value" and "error" are common (in 30% of the chunks each, half of those
    together), "alpha" and "omega" never meet, and one chunk holds a rare identifier. The row
    budget is shrunk so that this small index is searched the way a large one is."""
    files = [file_entry("net.py", "def parseHttpHeader(value):\n    return value\n", 0)]
    files += [file_entry(f"b{i}.py", f"def f{i}(value):\n    raise error(value)\n", 1000 + i) for i in range(60)]
    files += [file_entry(f"v{i}.py", f"def g{i}(value):\n    return value\n", 2000 + i) for i in range(60)]
    files += [file_entry(f"e{i}.py", f"def h{i}():\n    raise error\n", 3000 + i) for i in range(60)]
    files += [file_entry(f"{w}{i}.py", f"def {w}_{i}():\n    pass\n", 4000 + i) for w in ("alpha", "omega")
              for i in range(10)]
    files += [file_entry(f"x{i}.py", f"def x{i}(item):\n    return item\n", 5000 + i) for i in range(200)]
    index.replace_files(files)
    monkeypatch.setattr(lexical, "ROW_BUDGET", 5)
    return index


def ranked(index, query: str, top_k: int) -> list[tuple[str, float]]:
    return [(h.path, round(h.score, 6)) for h in index.search(top_k, text=query)]


def gated(index, query: str, top_k: int = 5) -> bool:
    """Whether the search scored only the rows its gate admits (seen in the SQL it ran)."""
    statements: list[str] = []
    index._reader().set_trace_callback(statements.append)
    try:
        index.search(top_k, text=query)
    finally:
        index._reader().set_trace_callback(None)
    return any("+rowid IN" in sql for sql in statements)


def test_common_term_pruning_keeps_exact_identifiers_first_and_the_bm25_order(crowded, monkeypatch):
    query = "parseHttpHeader value error"
    assert gated(crowded, query)
    hits = ranked(crowded, query, 5)
    assert hits[0][0] == "net.py"
    assert all(path.startswith("b") for path, _ in hits[1:])  # both common terms beat one
    monkeypatch.setattr(lexical, "ROW_BUDGET", 10**9)
    assert not gated(crowded, query)
    assert ranked(crowded, query, 5) == hits  # the same rows with the same BM25 scores


def test_a_query_of_only_common_terms_still_returns_results(crowded):
    assert gated(crowded, "value error")
    assert {p for p, _ in ranked(crowded, "value error", 5)} <= {f"b{i}.py" for i in range(20)}
    assert len(ranked(crowded, "error", 5)) == 5  # one common term: every match is scored
    # "alpha" and "omega" never meet: the gate admits nothing, so every match is scored after all
    assert {p[:5] for p, _ in ranked(crowded, "alpha omega", 5)} <= {"alpha", "omega"}
    assert len(ranked(crowded, "alpha omega", 5)) == 5


def test_term_counts_follow_writes(index, monkeypatch):
    monkeypatch.setattr(lexical, "ROW_BUDGET", 5)
    index.replace_files([file_entry("a.py", "def value_holder(value):\n    return value\n", 0)])
    assert not gated(index, "value holder")
    index.replace_files([file_entry(f"v{i}.py", f"def v{i}(value):\n    return value\n", i) for i in range(10)])
    assert gated(index, "value holder")  # "value" is common now; a stale count would not gate


def test_hybrid_puts_agreement_first_and_scales_to_one(index):
    index.replace_files([file_entry("a.py", "def alpha_beta():\n    pass\n", 0),
                         file_entry("b.py", "def gamma():\n    pass\n", 1)])
    hits = index.search(2, unit(0), "alpha beta")
    assert hits[0].path == "a.py" and hits[0].score == pytest.approx(1.0)
    assert hits[1].score < hits[0].score


def test_word_queries_prefer_the_function_to_the_class_around_it(index):
    header = "class ConfigReader:\n    \"\"\"Read the config file and parse its values.\"\"\"\n"
    method = "    def load(self, path):\n        return open(path).read()\n"
    chunks = [Chunk(1, 2, "ConfigReader", "class", header), Chunk(3, 4, "ConfigReader.load", "method", method)]
    # The class head is nearer the query vector and matches more of its words ...
    vectors = np.stack([unit(0), (unit(0) + unit(1)) / np.linalg.norm(unit(0) + unit(1))])
    index.replace_files([FileEntry("config.py", "h", 1, "python", chunks, vectors)])
    query = unit(0)
    for found in (index.search(2, query), index.search(2, text="read the config file"),
                  index.search(2, query, "read the config file")):
        assert [h.kind for h in found] == ["method", "class"]  # ... but a word query wants what acts
    similar = index.search(2, query, "read the config file", kind="code")
    assert [h.kind for h in similar] == ["class", "method"]  # code finds code like it, kind aside


def siblings(index, names: dict | None = None) -> None:
    """One file with two methods alike in body and vector, and a file of one function."""
    chunks = [Chunk(1, 2, "Box.store", "method", "    def store(self, thing):\n        return thing\n"),
              Chunk(3, 4, "Box.fetch", "method", "    def fetch(self, thing):\n        return thing\n")]
    index.replace_files([FileEntry("box.py", "h", 1, "python", chunks, np.stack([unit(0), unit(0)])),
                         file_entry("other.py", "def thing():\n    pass\n", 5)], names)


def test_word_queries_tell_siblings_apart_by_the_words_of_their_names(index):
    siblings(index)
    assert [h.symbol for h in index.search(2, unit(0), "store the thing")] == ["Box.store", "Box.fetch"]
    assert [h.symbol for h in index.search(2, unit(0), "fetch the thing")] == ["Box.fetch", "Box.store"]


def test_word_queries_tell_siblings_apart_by_the_meaning_of_their_names(index):
    # No word of the query is in either name: the embedded names decide, and only within the file.
    siblings(index, {"store": unit(7), "fetch": -unit(7)})
    query = unit(0)
    dense, found = index.candidates(query, "keep the thing", 50)
    blended = dict(blend(dense, found, QUERY_DENSE_SHARE))
    ranked = dict(index.rank(dense, found, query, "keep the thing", "query"))
    gap = {name: ranked[i] - blended[i] for i, (_, name) in index._names_of(list(blended)).items()}
    cosine = float(unit(7) @ query)
    assert gap == pytest.approx({"store": NAME_VECTOR_WEIGHT * cosine, "fetch": -NAME_VECTOR_WEIGHT * cosine,
                                 "def thing():": 0.0}, abs=1e-5)  # alone in its file: not moved
    # Similar code ranks by likeness alone: names play no part.
    assert index.rank(dense, found, query, "keep the thing", "code") == fuse(dense, found, CODE_DENSE_WEIGHT)


def test_name_vectors_are_stored_once_and_dropped_with_the_model_or_a_reset(tmp_path):
    folder, repo = tmp_path / "idx", tmp_path / "repo"
    index = RepoIndex(folder, repo, "model-a", DIM)
    siblings(index, {"store": unit(7), "fetch": unit(8)})
    index.replace_files([file_entry("more.py", "x\n", 9)], {"store": unit(9)})  # known: kept as it was
    assert np.allclose(index.name_vectors(["store", "fetch", "nope"])["store"], unit(7))
    assert set(index.name_vectors(["store", "fetch", "nope"])) == {"store", "fetch"}
    index.reset()
    assert index.name_vectors(["store", "fetch"]) == {}
    siblings(index, {"store": unit(7)})
    index.close()
    index = RepoIndex(folder, repo, "model-b", DIM)  # vectors of another encoder would mislead
    assert index.name_vectors(["store"]) == {}
    index.close()


def test_filters_by_path_glob_and_language(index):
    index.replace_files([file_entry("src/a.py", "def a():\n    pass\n", 0),
                         file_entry("tests/b.py", "def b():\n    pass\n", 1)])
    assert [h.path for h in index.search(5, unit(1), filters=Filters(path_glob="src/*"))] == ["src/a.py"]
    assert index.search(5, unit(1), filters=Filters(language="go")) == []


def test_lexical_rows_follow_their_chunks(index):
    index.replace_files([file_entry("a.py", "def unique_name():\n    pass\n", 0)])
    index.replace_files([file_entry("a.py", "def other_name():\n    pass\n", 1)])
    assert index.search(5, text="unique") == []
    index.delete_files(["a.py"])
    db = sqlite3.connect(index.db_path)
    assert db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0] == 0


def test_reset_forgets_files_and_commit_together(index):
    index.replace_files([file_entry("a.py", "a\n", 0)])
    index.set_indexed("abc123")
    index.reset()
    assert index.file_count() == 0 and index._faiss.ntotal == 0
    assert index.meta("indexed_commit") == ""


# ---- git answers cached in the daemon ------------------------------------------------------

def test_work_tree_root_follows_repositories_created_and_removed(tmp_path):
    outer = make_repo(tmp_path / "outer", {"pkg/a.py": "x = 1\n"})
    assert gitrepo.work_tree_root(outer / "pkg") == outer.resolve()
    git(outer / "pkg", "init", "-q")  # a nested repository now owns pkg/
    assert gitrepo.work_tree_root(outer / "pkg") == (outer / "pkg").resolve()
    shutil.rmtree(outer / "pkg" / ".git")
    assert gitrepo.work_tree_root(outer / "pkg" / "a.py") == outer.resolve()
    shutil.rmtree(outer / ".git")
    with pytest.raises(NotFound, match="not inside a git repository"):
        gitrepo.work_tree_root(outer / "pkg")
    shutil.rmtree(outer)
    with pytest.raises(NotFound, match="no such file"):
        gitrepo.work_tree_root(outer)


def test_cached_head_follows_commits_checkouts_and_linked_work_trees(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    branch = git(repo, "branch", "--show-current").strip()

    def agrees() -> bool:
        return gitrepo.head_commit_cached(repo) == git(repo, "rev-parse", "HEAD").strip()

    assert agrees()
    spawns = []
    monkeypatch.setattr(gitrepo, "_git", lambda *args: spawns.append(args))
    gitrepo.work_tree_root(repo)
    gitrepo.head_commit_cached(repo)
    assert spawns == []  # nothing changed: answered from the cache
    monkeypatch.undo()
    (repo / "a.py").write_text("x = 2\n")
    git(repo, "commit", "-qam", "two")
    assert agrees()
    git(repo, "checkout", "-q", "HEAD~1")  # detached
    assert agrees()
    git(repo, "checkout", "-q", "-b", "side")
    git(repo, "commit", "-q", "--allow-empty", "-m", "side")
    assert agrees()
    git(repo, "pack-refs", "--all")
    git(repo, "commit", "-q", "--amend", "--allow-empty", "-m", "amended")
    assert agrees()
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", str(linked), branch)
    git(linked, "commit", "-q", "--allow-empty", "-m", "in the linked tree")
    assert gitrepo.head_commit_cached(linked) == git(linked, "rev-parse", "HEAD").strip() != \
        gitrepo.head_commit_cached(repo)
    assert agrees()
