"""The language server's link to the ltlsp daemon, and the errors it reports to the editor.

One gRPC connection, opened on first use and dropped after the daemon fails, so that the next
request starts a new daemon (the client's auto-start). Everything here blocks: call it from a
worker thread, never from the event loop. All knowledge of gRPC and the stubs stays in this file.
"""

import functools
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterator


class BadRequest(Exception):
    """The editor's request cannot be answered as asked; the message says what to change."""


class DaemonTrouble(Exception):
    """The daemon is down, starting, failing or busy; the message says what is going on."""


class NotIndexed(DaemonTrouble):
    """The repository has no index yet (the daemon's FAILED_PRECONDITION for search)."""


@functools.cache
def _rpc() -> SimpleNamespace:
    """grpc, the daemon client and the stubs, imported on first use (on a worker thread): they
    take a tenth of a second that an editor waiting for `initialize` should not wait."""
    import grpc

    from ltlsp.server import client, paths
    from ltlsp.server.proto import ltlsp_pb2
    return SimpleNamespace(grpc=grpc, client=client, paths=paths, pb=ltlsp_pb2)


class DaemonLink:
    """A connection to the daemon shared by the handler threads."""

    def __init__(self, on_starting: Callable[[], None]):
        self._on_starting = on_starting
        self._conn = None
        self._lock = threading.Lock()

    # ---- the calls the language server makes ---------------------------------------------

    def search(self, root: Path, query: str, top_k: int, path_glob: str = "", language: str = "") -> list:
        """Hits (path, start_line, end_line, score, symbol, kind, preview), best first."""
        request = _rpc().pb.SearchRequest(repo=str(root), query=query, top_k=top_k,
                                          path_glob=path_glob, language=language)
        return list(self._call("Search", request).hits)

    def similar(self, root: Path, path: Path, start: int, end: int, text: str, top_k: int,
                path_glob: str = "", language: str = "") -> list:
        """Hits like lines start..end (end 0: the unit around start) of `text`, the file's content."""
        request = _rpc().pb.SimilarRequest(repo=str(root), path=str(path), start_line=start, end_line=end,
                                           text=text, top_k=top_k, path_glob=path_glob, language=language)
        return list(self._call("Similar", request).hits)

    def update(self, root: Path, path: Path):
        """Re-index one file as it is on disk now; the IndexSummary."""
        return self._call("Update", _rpc().pb.UpdateRequest(repo=str(root), paths=[str(path)]))

    def index(self, root: Path, rebuild: bool) -> Iterator:
        """Index `root`, yielding IndexProgress messages; the last one holds the summary."""
        return self._stream("Index", _rpc().pb.IndexRequest(repo=str(root), rebuild=rebuild))

    # ---- the connection ------------------------------------------------------------------

    def _call(self, method: str, request, timeout: float = 120):
        conn = self._connection()
        try:
            return getattr(conn.code, method)(request, timeout=timeout, metadata=conn.metadata)
        except _rpc().grpc.RpcError as err:
            raise self._translate(conn, err) from None

    def _stream(self, method: str, request):
        conn = self._connection()
        try:
            yield from getattr(conn.code, method)(request, metadata=conn.metadata)
        except _rpc().grpc.RpcError as err:
            raise self._translate(conn, err) from None

    def _connection(self):
        rpc = _rpc()
        with self._lock:
            if self._conn is None:
                try:
                    self._conn = rpc.client.connect(autostart=False)
                except rpc.client.DaemonError:
                    self._on_starting()  # the start takes seconds: say so before waiting
                    try:
                        self._conn = rpc.client.connect()
                    except rpc.client.DaemonError as err:
                        raise DaemonTrouble(f"ltlsp: {err}") from None
            return self._conn

    def _translate(self, conn, err) -> Exception:
        rpc = _rpc()
        code = err.code()
        if code == rpc.grpc.StatusCode.FAILED_PRECONDITION and "not indexed" in (err.details() or ""):
            return NotIndexed(err.details())
        if code in rpc.client.USER_ERROR_CODES:
            return BadRequest(str(conn.explain(err)))
        if code in (rpc.grpc.StatusCode.UNAVAILABLE, rpc.grpc.StatusCode.CANCELLED) and conn.health() is None:
            message = (f"the daemon stopped (its log: {rpc.paths.log_path()}); "
                       "it will be started again on your next request")
        else:
            message = str(conn.explain(err))
        self._drop(conn)
        return DaemonTrouble(f"ltlsp: {message}")

    def _drop(self, conn) -> None:
        """Forget a connection after a failure; the next request reconnects (or restarts)."""
        with self._lock:
            if self._conn is conn:
                self._conn = None
        conn.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def git_root(path: Path) -> Path | None:
    """The work tree that contains `path` (a `.git` directory or file above it), if any.

    Looked up on the file system rather than with `git`, because it runs on every request.
    """
    path = path.resolve()
    for folder in (path, *path.parents):
        if (folder / ".git").exists():
            return folder
    return None
