"""Thin client of the ltlsp daemon, shared by the CLI, the git hooks and the language server.

Imports only grpc and the generated stubs (never torch, faiss or ltlsp.model) so that a client
starts in a fraction of a second. `connect()` follows the dmypy/watchman pattern: ask health;
if nobody answers, start the daemon and poll until it is SERVING; if a daemon of another
version answers, stop it and start ours.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltlsp.server import EXIT_ALREADY_RUNNING, __version__, paths
from ltlsp.server.proto import ltlsp_pb2 as pb
from ltlsp.server.proto import ltlsp_pb2_grpc as pb_grpc

HEALTH_TIMEOUT_S = 0.5
START_TIMEOUT_S = float(os.environ.get("LTLSP_START_TIMEOUT", 90))
STOP_TIMEOUT_S = 15.0
SERVING = health_pb2.HealthCheckResponse.SERVING

# Status codes that mean "your input", as opposed to "the daemon failed".
USER_ERROR_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAUTHENTICATED}


class DaemonError(Exception):
    """A failure to report to the user as it is; `user_error` when the input was at fault."""

    def __init__(self, message: str, user_error: bool = False):
        super().__init__(message)
        self.user_error = user_error


class Connection:
    """A channel to a running daemon with one stub per service."""

    def __init__(self, target: str, token: str | None):
        self.target = target
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024)])
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.code = pb_grpc.CodeSearchStub(self.channel)
        self.encoder = pb_grpc.EncoderStub(self.channel)
        self.daemon = pb_grpc.DaemonStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)

    def health(self) -> int | None:
        """The daemon's serving status, or None when nothing answers."""
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_TIMEOUT_S,
                                       metadata=self.metadata)
        except grpc.RpcError:
            return None
        return reply.status

    def call(self, method, request, timeout: float | None = None):
        """Call a unary method, turning a failed call into a DaemonError with a clear message."""
        try:
            return method(request, timeout=timeout, metadata=self.metadata)
        except grpc.RpcError as err:
            raise self.explain(err) from None

    def stream(self, method, request):
        """Iterate a server-streaming method, with the same error handling as call()."""
        try:
            yield from method(request, metadata=self.metadata)
        except grpc.RpcError as err:
            raise self.explain(err) from None

    def explain(self, err: grpc.RpcError) -> DaemonError:
        code, details = err.code(), err.details() or ""
        if code in USER_ERROR_CODES:
            return DaemonError(details, user_error=True)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return DaemonError("the daemon did not answer in time; it may be busy indexing, try again")
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED) and self.health() is None:
            return DaemonError(f"the ltlsp daemon stopped while handling the request (its log: "
                               f"{paths.log_path()}); run the command again to restart it")
        return DaemonError(f"the daemon failed: {details or code.name}")

    def close(self) -> None:
        self.channel.close()


def connect(autostart: bool = True) -> Connection:
    """A connection to a SERVING daemon of this version, starting one if needed.

    `LTLSP_ADDRESS=HOST:PORT` selects a TCP daemon (token from `LTLSP_TOKEN` or the token
    file); such a daemon is never started or restarted from here.
    """
    address = os.environ.get("LTLSP_ADDRESS")
    if address:
        conn = Connection(address, os.environ.get("LTLSP_TOKEN") or _read_token())
    else:
        conn = Connection(f"unix:{paths.socket_path()}", None)
    status = conn.health()
    if status is None and (address or not autostart):
        raise DaemonError(f"no ltlsp daemon answers at {address}: start one with `ltlsp serve --tcp "
                          f"{address}`, and check the token" if address else "the ltlsp daemon is not running")
    if status is None:
        _wait_until_serving(conn, spawn_daemon())
    elif status != SERVING:
        _wait_until_serving(conn, None)
    if not address:
        info = conn.call(conn.daemon.GetInfo, pb.InfoRequest(), timeout=10)
        if info.version != __version__:
            _replace_daemon(conn, info)
    return conn


def _read_token() -> str | None:
    try:
        return paths.token_path().read_text().strip()
    except OSError:
        return None


def spawn_daemon() -> subprocess.Popen:
    """Start `ltlsp serve` detached from this process, its output going to the daemon log."""
    with open(paths.log_path(), "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "ltlsp.server.daemon"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)


def _wait_until_serving(conn: Connection, spawned: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if conn.health() == SERVING:
            return
        if spawned is not None and spawned.poll() not in (None, EXIT_ALREADY_RUNNING):
            raise DaemonError(f"the ltlsp daemon failed to start: {_last_log_line()} "
                              f"(full log: {paths.log_path()})")
        time.sleep(0.05)
    raise DaemonError(f"the ltlsp daemon did not become ready within {START_TIMEOUT_S:.0f} s "
                      f"(log: {paths.log_path()}); raise LTLSP_START_TIMEOUT on a slow machine")


def _replace_daemon(conn: Connection, info: pb.DaemonInfo) -> None:
    """Stop a daemon of another version and start this one's."""
    print(f"ltlsp: restarting the daemon (version {info.version or '?'} -> {__version__})", file=sys.stderr)
    stop_daemon(conn, info.pid)
    _wait_until_serving(conn, spawn_daemon())


def stop_daemon(conn: Connection, pid: int) -> None:
    """Ask the daemon to shut down and wait for its process to end."""
    try:
        conn.daemon.Shutdown(pb.ShutdownRequest(), timeout=5, metadata=conn.metadata)
    except grpc.RpcError:
        pass  # already going away: wait for the pid below
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        raise DaemonError(f"the daemon (pid {pid}) did not stop within {STOP_TIMEOUT_S:.0f} s; "
                          f"kill it with `kill {pid}`")


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, not yet reaped by its parent) does not."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        pass  # gone, or no /proc on this system: ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_log_line() -> str:
    try:
        lines = [l for l in Path(paths.log_path()).read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return "no log was written"
    return lines[-1] if lines else "no log was written"
