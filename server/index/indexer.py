"""Bring one repository's index in line with its work tree.

Files come from `git ls-files`; a file is re-chunked only when its content hash changed, and a
chunk goes through the encoder only when no stored chunk has the same content hash. Work is
streamed in batches of files so memory stays bounded, and each batch is one transaction.
"""

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ltlsp.server.index import gitrepo
from ltlsp.server.index.chunking import Chunk, line_windows
from ltlsp.server.index.store import RepoIndex

MAX_FILE_BYTES = int(os.environ.get("LTLSP_MAX_FILE_BYTES", 1_000_000))
EMBED_BATCH_CHUNKS = 256   # chunks per transaction and per encoder call
BINARY_SNIFF_BYTES = 8192


class TextEncoder(Protocol):
    def encode(self, texts: list[str], kind: str = "code") -> np.ndarray: ...


@dataclass
class Summary:
    repo: str = ""
    commit: str = ""
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_total: int = 0
    skipped_binary: int = 0
    skipped_too_large: int = 0
    skipped_missing: int = 0
    lossy_utf8: int = 0
    seconds: float = 0.0
    notices: list[str] = field(default_factory=list)


# progress(files_total, files_done, chunks_embedded)
Progress = Callable[[int, int, int], None]


@dataclass
class _Pending:
    path: str
    file_hash: str
    size: int
    chunks: list[Chunk]


class Indexer:
    """One indexing job over one RepoIndex; call under `index.writer()`."""

    def __init__(self, index: RepoIndex, encoder: TextEncoder, progress: Progress | None = None):
        self.index = index
        self.encoder = encoder
        self.progress = progress or (lambda *_: None)
        self.summary = Summary(repo=str(index.repo_root))
        self._pending: list[_Pending] = []
        self._pending_chunks = 0

    def sync_work_tree(self, rebuild: bool = False) -> Summary:
        """Index every tracked file that changed, drop the ones git no longer tracks."""
        started = time.monotonic()
        root = self.index.repo_root
        commit = gitrepo.head_commit(root)
        if rebuild:
            self.index.delete_files(list(self.index.file_hashes()))
        stored = self.index.file_hashes()
        tracked = gitrepo.tracked_files(root)
        for done, path in enumerate(tracked, 1):
            self._consider(path, stored.get(path))
            if done % 50 == 0 or done == len(tracked):
                self.progress(len(tracked), done, self.summary.chunks_embedded)
        self._flush()
        gone = sorted(set(stored) - set(tracked))
        if gone:
            self.index.delete_files(gone)
        self.summary.files_removed = len(gone)
        self.index.set_indexed(commit)
        return self._finish(commit, started)

    def update_files(self, paths: list[str]) -> Summary:
        """Re-index these repo-relative files as they are in the work tree now."""
        started = time.monotonic()
        stored = self.index.file_hashes()
        vanished = []
        for path in paths:
            if (self.index.repo_root / path).is_file():
                self._consider(path, stored.get(path))
            elif path in stored:
                vanished.append(path)
        self._flush()
        if vanished:
            self.index.delete_files(vanished)
        self.summary.files_removed = len(vanished)
        return self._finish(self.index.meta("indexed_commit"), started)

    def _finish(self, commit: str, started: float) -> Summary:
        self.index.save_cache()
        self.summary.commit = commit
        self.summary.chunks_total = self.index.chunk_count()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _consider(self, path: str, stored_hash: str | None) -> None:
        data = self._read(path)
        if data is None:
            return
        file_hash = hashlib.blake2b(data, digest_size=16).hexdigest()
        if file_hash == stored_hash:
            self.summary.files_unchanged += 1
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", "replace")  # keep line numbers; search still finds it
            self.summary.lossy_utf8 += 1
        chunks = line_windows(text)
        self._pending.append(_Pending(path, file_hash, len(data), chunks))
        self._pending_chunks += len(chunks)
        if self._pending_chunks >= EMBED_BATCH_CHUNKS:
            self._flush()

    def _read(self, path: str) -> bytes | None:
        """The file's bytes, or None (counted) when it is missing, too large or binary."""
        full = self.index.repo_root / path
        try:
            size = full.stat().st_size
            if size > MAX_FILE_BYTES:
                self.summary.skipped_too_large += 1
                return None
            data = full.read_bytes()
        except OSError:  # deleted since `git ls-files`, unreadable, a directory now...
            self.summary.skipped_missing += 1
            return None
        if b"\0" in data[:BINARY_SNIFF_BYTES]:
            self.summary.skipped_binary += 1
            return None
        return data

    def _flush(self) -> None:
        if not self._pending:
            return
        chunks = [c for p in self._pending for c in p.chunks]
        vectors = self._vectors_for(chunks)
        batch, offset = [], 0
        for p in self._pending:
            batch.append((p.path, p.file_hash, p.size, p.chunks, vectors[offset:offset + len(p.chunks)]))
            offset += len(p.chunks)
        self.index.replace_files(batch)
        self.summary.files_indexed += len(self._pending)
        self._pending, self._pending_chunks = [], 0

    def _vectors_for(self, chunks: list[Chunk]) -> np.ndarray:
        """One row per chunk: reused by content hash where possible, else freshly encoded."""
        vectors = np.zeros((len(chunks), self.index.dim), dtype=np.float32)
        known = self.index.vectors_by_hash(sorted({c.hash for c in chunks}))
        todo = [i for i, c in enumerate(chunks) if c.hash not in known]
        for i, c in enumerate(chunks):
            if c.hash in known:
                vectors[i] = known[c.hash]
        if todo:
            vectors[todo] = self.encoder.encode([chunks[i].text for i in todo], kind="code")
        self.summary.chunks_embedded += len(todo)
        self.summary.chunks_reused += len(chunks) - len(todo)
        return vectors


def read_text(root: Path, path: str) -> str:
    """A work-tree file as text for a query (invalid UTF-8 replaced, not an error)."""
    return (root / path).read_bytes().decode("utf-8", "replace")
