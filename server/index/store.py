"""One repository's index: SQLite (WAL) is the source of truth, FAISS a rebuildable cache.

Every change to a file's chunks is one SQLite transaction that also bumps a generation number.
The FAISS file on disk records the generation it reflects; on open, a mismatch (a crash between
commit and cache write, or any other doubt) means the cache is rebuilt from SQLite, so a search
never sees vectors that SQLite does not have.
"""

import fnmatch
import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ltlsp.server.index import lexical
from ltlsp.server.index.chunking import Chunk, own_name

SCHEMA_VERSION = 3
# Bump when what is stored for a chunk changes (its chunking, embedded text or FTS tokenizer):
# an index of an older content version is rebuilt from the files.
CONTENT_VERSION = "2"

# Hybrid ranking, tuned with bench/tune_fusion.py on the dev sets (MRR@10, stdlib pooled / CoSQA;
# retune when the model changes).
# Words: the dense and lexical scores, each divided by its list's best, are blended; a chunk
# missing from one list counts as that list's last. Then siblings are told apart by name (see
# RepoIndex._tell_siblings_apart). Lexical alone 0.476 / 0.332, dense alone 0.421 / 0.227;
# reciprocal-rank fusion 0.545 / 0.377, the blend 0.554 / 0.400, with names 0.605 / 0.400.
QUERY_DENSE_SHARE = 0.65
QUERY_FETCH = 200  # candidates from each side: the blend's floors and the names need a wide pool
SIBLING_HEAD = 60  # the best blended candidates whose names are compared with the query
NAME_VECTOR_WEIGHT = 0.3  # x cosine(query, embedded name)
NAME_WORDS_WEIGHT = 0.25  # x share of the name's words found among the query's
# Code (similar): weighted reciprocal-rank fusion, tuned on Rosetta dev (bench/quality.py, MAP@R,
# Python / Go / JS / Java: 0.550 / 0.659 / 0.541 / 0.654 at a dense weight of 0.15, against
# 0.548 / 0.655 / 0.537 / 0.648 at 0.2), where the encoder is weaker than on words.
RRF_K = 5
CODE_DENSE_WEIGHT = 0.15
LEXICAL_WEIGHT = 1.0
BM25_WEIGHTS = (3.0, 1.0)  # FTS5 column weights (name: symbol and path words, body): names count
# Word queries ask what code does: a function or method answers one better than the class head,
# module code or run of merged tiny definitions around it, whose docstrings and names speak for
# all they hold. Such chunks lose this share of their score (stdlib pooled: hybrid 0.464 -> 0.545,
# dense 0.357 -> 0.421, lexical 0.401 -> 0.476 under reciprocal-rank fusion; CoSQA unchanged).
# Similar code keeps them: on Rosetta the same share would cost 0.02-0.14 MAP@R. Line windows of
# unparsed files are left alone.
SURROUNDING_KINDS = frozenset({"class", "struct", "interface", "enum", "impl", "trait", "namespace", "module",
                               "type", "group"})
SURROUNDING_PENALTY = {"query": 0.5, "code": 0.0}
MAX_CACHED_TERMS = 50_000

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,          -- repo-relative, POSIX separators
    hash TEXT NOT NULL,                 -- content hash of the indexed bytes
    size INTEGER NOT NULL,
    language TEXT NOT NULL              -- grammar used for chunking, "" for line windows
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,             -- also the FAISS id
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX chunks_by_file ON chunks(file_id);
CREATE INDEX chunks_by_hash ON chunks(hash);
CREATE TABLE vectors (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    vector BLOB NOT NULL                -- float32 little-endian, L2-normalised
);
CREATE TABLE names (
    name TEXT PRIMARY KEY,              -- chunking.own_name() of a chunk's symbol
    vector BLOB NOT NULL                -- the name embedded as code, like chunk vectors
);
"""
# rowid = chunks.id; terms from lexical.document() (identifiers split on case and underscores),
# Porter-stemmed so that "parses" in a query meets "parse" in the code. The default detail=full
# (positions kept) is deliberate: a snake_case name is queried as a phrase, which detail=column
# refuses, and there bm25() re-tokenizes every matched row (same scores, 10x slower at 100k
# chunks: 94 ms against 9 for a term in 10k rows).
FTS_TABLE = "CREATE VIRTUAL TABLE chunks_fts USING fts5(name, body, tokenize = 'porter unicode61')"


@dataclass(frozen=True)
class StoredHit:
    path: str
    start_line: int
    end_line: int
    score: float
    symbol: str
    kind: str
    text: str


@dataclass(frozen=True)
class FileEntry:
    """A file's new state: its chunks and one vector per chunk."""
    path: str
    hash: str
    size: int
    language: str
    chunks: list[Chunk]
    vectors: np.ndarray  # (len(chunks), dim)


@dataclass(frozen=True)
class Filters:
    """Which chunks may be results: a shell glob on the path, a language, a span to leave out."""
    path_glob: str = ""
    language: str = ""
    exclude: tuple[str, int, int] | None = None  # (path, start, end): the query's own lines

    def admit(self, path: str, language: str, start: int, end: int) -> bool:
        if self.path_glob and not fnmatch.fnmatchcase(path, self.path_glob):
            return False
        if self.language and language != self.language:
            return False
        ex = self.exclude
        return not (ex and path == ex[0] and start <= ex[2] and ex[1] <= end)


class CorruptIndex(Exception):
    """The SQLite file cannot be used as it is; the caller moves it aside and starts afresh."""


def index_dir(data_root: Path, repo_root: Path) -> Path:
    """Per-repository folder, named by a hash of the work-tree path, never inside the work tree."""
    digest = hashlib.sha256(str(repo_root).encode()).hexdigest()[:16]
    return data_root / "repos" / f"{repo_root.name[:40]}-{digest}"


class RepoIndex:
    """The index of one work tree. Thread-safe: one writer at a time, readers any time."""

    def __init__(self, folder: Path, repo_root: Path, model_id: str, dim: int):
        self.folder = folder
        self.repo_root = repo_root
        self.model_id = model_id
        self.dim = dim
        self.notices: list[str] = []       # said once to the next client that indexes
        self._write_lock = threading.Lock()  # one indexing job per repository
        self._faiss_lock = threading.Lock()  # faiss is not safe for concurrent add and search
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        (folder / "repo.json").write_text(json.dumps({"repo": str(repo_root)}))
        self._db = self._open_db()           # the writer's connection
        self._readers = threading.local()    # one connection per reading thread: WAL snapshots
        self._doc_freqs: dict[str, int] = {}  # rows per lexical term, emptied by every write
        self._faiss = self._load_or_rebuild_faiss()

    # ---- opening ---------------------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        return self.folder / "index.sqlite"

    @property
    def faiss_path(self) -> Path:
        return self.folder / "vectors.faiss"

    def _open_db(self) -> sqlite3.Connection:
        try:
            return self._connect_checked()
        except CorruptIndex as why:
            self._move_aside(str(why))
            return self._connect_checked()

    def _connect_checked(self) -> sqlite3.Connection:
        fresh = not self.db_path.exists()
        db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            if fresh or not db.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone():
                self._create(db)
            self._check(db)
        except sqlite3.DatabaseError as err:
            db.close()
            raise CorruptIndex(f"the index file is damaged ({err})") from None
        except CorruptIndex:
            db.close()
            raise
        return db

    def _create(self, db: sqlite3.Connection) -> None:
        db.executescript(f"BEGIN;{SCHEMA}{FTS_TABLE};COMMIT;")
        with _transaction(db):
            _set_meta(db, "schema_version", str(SCHEMA_VERSION))
            _set_meta(db, "model_id", self.model_id)
            _set_meta(db, "content_version", CONTENT_VERSION)
            _set_meta(db, "generation", "0")

    def _check(self, db: sqlite3.Connection) -> None:
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise CorruptIndex("the index file failed SQLite's integrity check")
        schema = _get_meta(db, "schema_version")
        if schema != str(SCHEMA_VERSION):
            raise CorruptIndex(f"the index was written by another ltlsp version (schema {schema}, "
                               f"this version uses {SCHEMA_VERSION})")
        old_model, old_content = _get_meta(db, "model_id"), _get_meta(db, "content_version")
        if old_model != self.model_id:
            self._reembed(db, f"the encoder changed ({old_model} -> {self.model_id})")
        elif old_content != CONTENT_VERSION:
            self._reembed(db, "this ltlsp version embeds chunks differently")

    def _reembed(self, db: sqlite3.Connection, why: str) -> None:
        """Forget every file, chunk and term (the FTS table made anew, with this version's
        tokenizer), so that the next update embeds everything."""
        with _transaction(db):
            db.execute("DELETE FROM files")
            db.execute("DELETE FROM names")
            db.execute("DROP TABLE chunks_fts")
            db.execute(FTS_TABLE)
            _set_meta(db, "model_id", self.model_id)
            _set_meta(db, "content_version", CONTENT_VERSION)
            _set_meta(db, "indexed_commit", "")
            _bump_generation(db)
        self.notices.append(f"{why}; re-embedding the repository")

    def _move_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(self.db_path) + suffix)
            if part.exists():
                os.replace(part, part.with_name(f"{part.name}.broken-{stamp}"))
        self.faiss_path.unlink(missing_ok=True)
        self.notices.append(f"{why}; it was moved aside ({self.db_path.name}.broken-{stamp}) "
                            "and the repository is being indexed again")

    def _load_or_rebuild_faiss(self) -> faiss.IndexIDMap2:
        generation = self.generation()
        stamp = self.faiss_path.with_suffix(".json")
        try:
            if json.loads(stamp.read_text())["generation"] == generation:
                index = faiss.read_index(str(self.faiss_path))
                if index.d == self.dim and index.ntotal == self.chunk_count() and _holds_float16(index):
                    return index
        except (OSError, ValueError, KeyError, RuntimeError):
            pass  # missing or unreadable cache: rebuild below
        return self._rebuild_faiss()

    def _rebuild_faiss(self) -> faiss.IndexIDMap2:
        index = _new_faiss(self.dim)
        cursor = self._db.execute("SELECT chunk_id, vector FROM vectors ORDER BY chunk_id")
        while rows := cursor.fetchmany(8192):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), self.dim)
            index.add_with_ids(vecs, ids)
        return index

    def save_cache(self) -> None:
        """Write the FAISS cache with the generation it reflects (atomically)."""
        with self._faiss_lock:
            generation = self.generation()
            tmp = self.faiss_path.with_suffix(".tmp")
            faiss.write_index(self._faiss, str(tmp))
            os.replace(tmp, self.faiss_path)
            self.faiss_path.with_suffix(".json").write_text(json.dumps({"generation": generation}))

    def close(self) -> None:
        self._db.close()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection: a statement sees committed data only."""
        db = getattr(self._readers, "db", None)
        if db is None:
            db = sqlite3.connect(self.db_path, check_same_thread=False, timeout=30)
            self._readers.db = db
        return db

    # ---- reading ---------------------------------------------------------------------------

    def meta(self, key: str) -> str:
        return _get_meta(self._reader(), key) or ""

    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def chunk_count(self) -> int:
        return self._reader().execute("SELECT count(*) FROM chunks").fetchone()[0]

    def file_count(self) -> int:
        return self._reader().execute("SELECT count(*) FROM files").fetchone()[0]

    def file_hashes(self) -> dict[str, str]:
        return dict(self._reader().execute("SELECT path, hash FROM files"))

    def is_writing(self) -> bool:
        return self._write_lock.locked()

    def writer(self) -> threading.Lock:
        """Held by the one job that changes this index."""
        return self._write_lock

    def vectors_by_hash(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks with these content hashes, to skip re-embedding them."""
        return self._vectors_where("SELECT c.hash, v.vector FROM chunks c JOIN vectors v ON v.chunk_id = c.id "
                                   "WHERE c.hash IN ({})", hashes)

    def name_vectors(self, names: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of these names (chunking.own_name()), by name."""
        return self._vectors_where("SELECT name, vector FROM names WHERE name IN ({})", names)

    def _vectors_where(self, sql: str, keys: list[str]) -> dict[str, np.ndarray]:
        """{key: vector} from `sql`, whose IN ({}) takes the keys 500 at a time."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            for key, blob in self._reader().execute(sql.format(",".join("?" * len(part))), part):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def search(self, top_k: int, vector: np.ndarray | None = None, text: str = "",
               filters: Filters = Filters(), kind: str = "query") -> list[StoredHit]:
        """Best chunks for a (dim,) unit `vector`, a lexical query `text`, or both, ranked as
        `kind` asks (see rank(); "query": words, "code": a selection to find similar code).
        Windows of one file that mostly overlap collapse to the best of them."""
        fetch = max(4 * top_k, QUERY_FETCH if kind == "query" else 50)
        while True:
            dense, found = self.candidates(vector, text, fetch)
            hits = self.collect(self.rank(dense, found, vector, text, kind), top_k, filters, kind)
            exhausted = len(dense) < fetch and len(found) < fetch
            if len(hits) >= top_k or exhausted:
                return hits
            fetch *= 4

    def candidates(self, vector: np.ndarray | None, text: str, fetch: int) -> tuple[list, list]:
        """The dense and lexical ranked lists, [(chunk id, score)] each, best first."""
        dense = self._dense(vector, fetch) if vector is not None else []
        return dense, self._lexical(text, fetch) if text else []

    def rank(self, dense: list, found: list, vector: np.ndarray | None, text: str, kind: str) -> list:
        """One ranked list [(chunk id, score)] from the dense and lexical ones, as `kind` asks.
        Alone, a list keeps its own scores (cosine, or -BM25)."""
        if not dense or not found:
            return dense or found
        if kind == "code":
            return fuse(dense, found, CODE_DENSE_WEIGHT)
        return self._tell_siblings_apart(blend(dense, found, QUERY_DENSE_SHARE), vector, text)

    def _tell_siblings_apart(self, ranked: list, vector: np.ndarray, text: str) -> list:
        """Chunks of one file share the words and code shape that brought them up together; their
        names say which of them a query means (stdlib pooled: 0.554 -> 0.605, where the first
        result had been the right file's wrong function in half the misses). Each of the best
        SIBLING_HEAD gains by how well its name matches the query, in meaning and in words, less
        the mean gain of the candidates from its file: a file's only candidate does not move."""
        head = ranked[:SIBLING_HEAD]
        names = self._names_of([chunk_id for chunk_id, _ in head])
        vectors = self.name_vectors(sorted({name for _, name in names.values()}))
        words = set(lexical.query_terms(text))
        gain, by_file = {}, {}
        for chunk_id, (path, name) in names.items():
            name_vector = vectors.get(name)
            meaning = float(name_vector @ vector) if name_vector is not None else 0.0
            gain[chunk_id] = NAME_VECTOR_WEIGHT * meaning + NAME_WORDS_WEIGHT * lexical.share_of_name(name, words)
            by_file.setdefault(path, []).append(gain[chunk_id])
        mean = {path: sum(gains) / len(gains) for path, gains in by_file.items()}
        adjusted = [(i, score + gain[i] - mean[names[i][0]]) if i in names else (i, score) for i, score in ranked]
        return sorted(adjusted, key=lambda item: -item[1])

    def _names_of(self, ids: list[int]) -> dict[int, tuple[str, str]]:
        """chunk id -> (path, own name)."""
        marks = ",".join("?" * len(ids))
        return {r[0]: (r[1], own_name(r[2])) for r in self._reader().execute(
            f"SELECT c.id, f.path, c.symbol FROM chunks c JOIN files f ON f.id = c.file_id "
            f"WHERE c.id IN ({marks})", ids)}

    def _dense(self, vector: np.ndarray, count: int) -> list[tuple[int, float]]:
        # One query scans on one thread whatever OpenMP offers; a second thread only adds its
        # wake-up, ~10 ms after the daemon sat idle (100k chunks: 15 ms on 2 threads, 5.7 on one).
        # The setting holds for the calling thread only.
        faiss.omp_set_num_threads(1)
        with self._faiss_lock:
            count = min(count, self._faiss.ntotal)
            if count == 0:
                return []
            scores, ids = self._faiss.search(vector.reshape(1, -1).astype(np.float32), count)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _lexical(self, text: str, count: int) -> list[tuple[int, float]]:
        """BM25 over the query's terms; in a large index only over the rows its gate admits,
        unless those are fewer than `count` (then every match is scored, as a small index is)."""
        doc_freq = self._doc_freq(lexical.query_terms(text))
        words = [w for w in doc_freq if doc_freq[w]]
        if not words:
            return []
        match = lexical.any_of(words)
        gate = lexical.candidate_gate(words, doc_freq, lexical.ROW_BUDGET)
        found = self._bm25(match, count, gate) if gate else []
        return found if len(found) == count else self._bm25(match, count)

    def _bm25(self, match: str, count: int, gate: str = "") -> list[tuple[int, float]]:
        # The gate is a subquery, not a second MATCH: FTS5 would AND the two into one expression
        # and count the gate's terms twice. "+rowid" keeps the planner from seeking by rowid.
        rank = f"bm25(chunks_fts, {BM25_WEIGHTS[0]}, {BM25_WEIGHTS[1]})"
        admitted = " AND +rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?)" if gate else ""
        return [(r[0], -r[1]) for r in self._reader().execute(
            f"SELECT rowid, {rank} FROM chunks_fts WHERE chunks_fts MATCH ?{admitted} ORDER BY {rank} LIMIT ?",
            (match, gate, count) if gate else (match, count))]

    def _doc_freq(self, words: list[str]) -> dict[str, int]:
        """Rows holding each term (in query order), cached: a count costs ~1 ms per 5k rows."""
        cache = self._doc_freqs
        if len(cache) > MAX_CACHED_TERMS:  # a daemon up for weeks without a write
            cache = self._doc_freqs = {}
        for word in words:
            if word not in cache:
                cache[word] = self._reader().execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{word}"',)).fetchone()[0]
        return {word: cache[word] for word in words}

    def collect(self, ranked: list[tuple[int, float]], top_k: int, filters: Filters,
                kind: str = "query") -> list[StoredHit]:
        """Hits for the best `top_k` admitted chunks of a ranked list, surrounding chunks
        lowered for `kind` (see SURROUNDING_KINDS), overlaps collapsed."""
        rows = self._rows([chunk_id for chunk_id, _ in ranked])
        penalty = SURROUNDING_PENALTY[kind]
        candidates = []
        for chunk_id, score in ranked:
            row = rows.get(chunk_id)
            if row is None:  # deleted after the FAISS search: not a result any more
                continue
            path, language, start, end, symbol, chunk_kind, text = row
            if filters.admit(path, language, start, end):
                if chunk_kind in SURROUNDING_KINDS:
                    score -= penalty * abs(score)  # lower, whatever the sign of a cosine
                candidates.append(StoredHit(path, start, end, score, symbol, chunk_kind, text))
        kept: list[StoredHit] = []
        for hit in sorted(candidates, key=lambda h: -h.score):  # stable: ties keep the list's order
            if any(_mostly_overlaps(hit, k) for k in kept):
                continue
            kept.append(hit)
            if len(kept) == top_k:
                break
        return kept

    def _rows(self, ids: list[int]) -> dict[int, tuple]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {r[0]: r[1:] for r in self._reader().execute(
            f"SELECT c.id, f.path, f.language, c.start_line, c.end_line, c.symbol, c.kind, c.text "
            f"FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})", ids)}

    # ---- writing (under writer()) ----------------------------------------------------------

    def replace_files(self, batch: list[FileEntry], names: dict[str, np.ndarray] | None = None) -> None:
        """Atomically replace the chunks of several files, storing the vectors of their new
        `names` (see name_vectors()) in the same transaction."""
        added_ids: list[int] = []
        added_vecs: list[np.ndarray] = []
        with _transaction(self._db):
            self._db.executemany("INSERT OR IGNORE INTO names(name, vector) VALUES (?, ?)",
                                 [(name, _blob(vector)) for name, vector in (names or {}).items()])
            removed = self._delete_paths([entry.path for entry in batch])
            for entry in batch:
                file_id = self._db.execute(
                    "INSERT INTO files(path, hash, size, language) VALUES (?, ?, ?, ?)",
                    (entry.path, entry.hash, entry.size, entry.language)).lastrowid
                for chunk, vector in zip(entry.chunks, entry.vectors):
                    chunk_id = self._insert_chunk(file_id, entry.path, chunk, vector)
                    added_ids.append(chunk_id)
                    added_vecs.append(vector)
            _bump_generation(self._db)
        self._sync_faiss(removed, added_ids, added_vecs)

    def _insert_chunk(self, file_id: int, path: str, chunk: Chunk, vector: np.ndarray) -> int:
        chunk_id = self._db.execute(
            "INSERT INTO chunks(file_id, start_line, end_line, symbol, kind, hash, text) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (file_id, chunk.start_line, chunk.end_line, chunk.symbol, chunk.kind, chunk.hash,
             chunk.text)).lastrowid
        self._db.execute("INSERT INTO vectors(chunk_id, vector) VALUES (?, ?)", (chunk_id, _blob(vector)))
        self._db.execute("INSERT INTO chunks_fts(rowid, name, body) VALUES (?, ?, ?)",
                         (chunk_id, *lexical.document(chunk.symbol, path, chunk.text)))
        return chunk_id

    def delete_files(self, paths: list[str]) -> None:
        with _transaction(self._db):
            removed = self._delete_paths(paths)
            _bump_generation(self._db)
        self._sync_faiss(removed, [], [])

    def reset(self) -> None:
        """Drop every file and forget the indexed commit in one transaction, so an interrupted
        rebuild is seen as never indexed and starts over."""
        with _transaction(self._db):
            removed = self._delete_paths([p for (p,) in self._db.execute("SELECT path FROM files")])
            self._db.execute("DELETE FROM names")  # names of symbols gone since are dropped too
            _set_meta(self._db, "indexed_commit", "")
            _bump_generation(self._db)
        self._sync_faiss(removed, [], [])

    def set_indexed(self, commit: str) -> None:
        with _transaction(self._db):
            _set_meta(self._db, "indexed_commit", commit)
            _set_meta(self._db, "last_update", str(time.time()))

    def _delete_paths(self, paths: list[str]) -> list[int]:
        removed: list[int] = []
        for path in paths:
            ids = [r[0] for r in self._db.execute(
                "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ?", (path,))]
            self._db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
            self._db.execute("DELETE FROM files WHERE path = ?", (path,))
            removed += ids
        return removed

    def _sync_faiss(self, removed: list[int], added_ids: list[int], added_vecs: list[np.ndarray]) -> None:
        self._doc_freqs = {}  # counts of the old rows: a later query counts afresh
        with self._faiss_lock:
            if removed:
                self._faiss.remove_ids(np.asarray(removed, dtype=np.int64))
            if added_ids:
                self._faiss.add_with_ids(np.vstack(added_vecs).astype(np.float32),
                                         np.asarray(added_ids, dtype=np.int64))


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb):
        self.db.execute("ROLLBACK" if kind else "COMMIT")
        return False


def _get_meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def _bump_generation(db: sqlite3.Connection) -> None:
    _set_meta(db, "generation", str(int(_get_meta(db, "generation") or 0) + 1))


def fuse(dense: list[tuple[int, float]], found: list[tuple[int, float]], dense_weight: float,
         lexical_weight: float = LEXICAL_WEIGHT, k: int = RRF_K) -> list[tuple[int, float]]:
    """One ranked list by weighted reciprocal rank, scaled so that first in both lists scores 1."""
    fused: dict[int, float] = {}
    for weight, ranked in ((dense_weight, dense), (lexical_weight, found)):
        for rank, (chunk_id, _) in enumerate(ranked, 1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    best = (dense_weight + lexical_weight) / (k + 1)
    return sorted(((i, s / best) for i, s in fused.items()), key=lambda item: -item[1])


def blend(dense: list[tuple[int, float]], found: list[tuple[int, float]],
          dense_share: float) -> list[tuple[int, float]]:
    """One ranked list: each side's scores divided by its best, mixed `dense_share` to the rest;
    a chunk one side did not return counts as that side's last (its floor)."""
    sides = []
    for ranked in (dense, found):
        scale = max(abs(score) for _, score in ranked) or 1.0
        sides.append(({i: score / scale for i, score in ranked}, ranked[-1][1] / scale))
    (dense_scores, dense_floor), (lexical_scores, lexical_floor) = sides
    mixed = {i: dense_share * dense_scores.get(i, dense_floor)
             + (1 - dense_share) * lexical_scores.get(i, lexical_floor)
             for i in dense_scores.keys() | lexical_scores.keys()}
    return sorted(mixed.items(), key=lambda item: -item[1])


def _new_faiss(dim: int) -> faiss.IndexIDMap2:
    """Exhaustive inner product over float16 copies of the vectors: half the memory of float32
    (51 MB less at 100k chunks of 256 dimensions) and a faster scan, cosines within ~5e-4."""
    return faiss.IndexIDMap2(faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16,
                                                        faiss.METRIC_INNER_PRODUCT))


def _holds_float16(index: faiss.IndexIDMap2) -> bool:
    """Whether a cache file is of _new_faiss()'s kind (an older ltlsp wrote float32 ones)."""
    inner = faiss.downcast_index(index.index)
    return (isinstance(inner, faiss.IndexScalarQuantizer) and inner.metric_type == faiss.METRIC_INNER_PRODUCT
            and inner.sq.qtype == faiss.ScalarQuantizer.QT_fp16)


def _mostly_overlaps(a: StoredHit, b: StoredHit) -> bool:
    """Two windows of one file sharing at least half of the shorter one: show only the better."""
    if a.path != b.path:
        return False
    shared = min(a.end_line, b.end_line) - max(a.start_line, b.start_line) + 1
    return shared * 2 >= min(a.end_line - a.start_line + 1, b.end_line - b.start_line + 1)
