"""The daemon's open repository indexes, opened on first use and kept for its lifetime."""

import json
import sqlite3
import threading
from pathlib import Path

from ltlsp.server.index.store import RepoIndex, index_dir


class Repos:
    def __init__(self, data_root: Path, model_id: str, dim: int):
        self.data_root = data_root
        self.model_id = model_id
        self.dim = dim
        self._open: dict[Path, RepoIndex] = {}
        self._lock = threading.Lock()

    def get(self, repo_root: Path) -> RepoIndex:
        with self._lock:
            index = self._open.get(repo_root)
            if index is None:
                index = RepoIndex(index_dir(self.data_root, repo_root), repo_root, self.model_id, self.dim)
                self._open[repo_root] = index
            return index

    def known_roots(self) -> list[Path]:
        """Work trees with an index on disk, open or not."""
        roots = set(self._open)
        for marker in (self.data_root / "repos").glob("*/repo.json"):
            try:
                roots.add(Path(_read_repo_json(marker)))
            except (OSError, ValueError, KeyError):
                continue  # a half-written or foreign folder is not a repository of ours
        return sorted(roots)

    def is_open(self, repo_root: Path) -> bool:
        return repo_root in self._open

    def any_writing(self) -> bool:
        return any(index.is_writing() for index in list(self._open.values()))

    def close_all(self) -> None:
        with self._lock:
            for index in self._open.values():
                if not index.is_writing():
                    index.save_cache()
                index.close()
            self._open.clear()


def _read_repo_json(marker: Path) -> str:
    return json.loads(marker.read_text())["repo"]


def peek_counts(folder: Path) -> tuple[int, int, dict[str, str]]:
    """(files, chunks, meta) of an index that is not open, read-only, without loading FAISS."""
    db = sqlite3.connect(f"file:{folder / 'index.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        files = db.execute("SELECT count(*) FROM files").fetchone()[0]
        chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return files, chunks, dict(db.execute("SELECT key, value FROM meta"))
    finally:
        db.close()
