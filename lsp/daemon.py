"""The language server's link to the ltlsp daemon, and the errors it reports to the editor.

One gRPC connection, opened on first use and dropped after the daemon fails, so that the next
request starts a new daemon (the client's auto-start). Everything here blocks: call it from a
worker thread, never from the event loop.
"""

import threading
from pathlib import Path
from typing import Callable

import grpc

from ltlsp.server import paths
from ltlsp.server.client import USER_ERROR_CODES, Connection, DaemonError, connect


class BadRequest(Exception):
    """The editor's request cannot be answered as asked; the message says what to change."""


class DaemonTrouble(Exception):
    """The daemon is down, starting, failing or busy; the message says what is going on."""


class NotIndexed(DaemonTrouble):
    """The repository has no index yet (the daemon's FAILED_PRECONDITION for search)."""


class DaemonLink:
    """A connection to the daemon shared by the handler threads."""

    def __init__(self, on_starting: Callable[[], None]):
        self._on_starting = on_starting
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def call(self, method: str, request, timeout: float = 120):
        """Call a unary CodeSearch method; failures become BadRequest or DaemonTrouble."""
        conn = self._connection()
        try:
            return getattr(conn.code, method)(request, timeout=timeout, metadata=conn.metadata)
        except grpc.RpcError as err:
            raise self._translate(conn, err) from None

    def stream(self, method: str, request):
        """Iterate a server-streaming CodeSearch method, with call()'s error handling."""
        conn = self._connection()
        try:
            yield from getattr(conn.code, method)(request, metadata=conn.metadata)
        except grpc.RpcError as err:
            raise self._translate(conn, err) from None

    def _connection(self) -> Connection:
        with self._lock:
            if self._conn is None:
                try:
                    self._conn = connect(autostart=False)
                except DaemonError:
                    self._on_starting()  # the start takes seconds: say so before waiting
                    try:
                        self._conn = connect()
                    except DaemonError as err:
                        raise DaemonTrouble(f"ltlsp: {err}") from None
            return self._conn

    def _translate(self, conn: Connection, err: grpc.RpcError) -> Exception:
        code = err.code()
        if code == grpc.StatusCode.FAILED_PRECONDITION and "not indexed" in (err.details() or ""):
            return NotIndexed(err.details())
        if code in USER_ERROR_CODES:
            return BadRequest(str(conn.explain(err)))
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED) and conn.health() is None:
            message = (f"the daemon stopped (its log: {paths.log_path()}); "
                       "it will be started again on your next request")
        else:
            message = str(conn.explain(err))
        self._drop(conn)
        return DaemonTrouble(f"ltlsp: {message}")

    def _drop(self, conn: Connection) -> None:
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
