"""`ltlsp serve`: the one daemon per user, in the manner of dmypy and grpc's examples.

Order matters: take the exclusive lock (a second gRPC server could silently bind the same unix
path), bind, publish daemon.json, then load the model while health says NOT_SERVING, so a
client knows the daemon exists and waits for SERVING rather than starting another one.
"""

import argparse
import fcntl
import ipaddress
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ltlsp.server import EXIT_ALREADY_RUNNING, __version__, paths
from ltlsp.server.engine import Engine
from ltlsp.server.logs import service as logs_service
from ltlsp.server.proto import logs_pb2
from ltlsp.server.proto import ltlsp_pb2 as pb
from ltlsp.server.proto import ltlsp_pb2_grpc as pb_grpc
from ltlsp.server.services import CodeSearchService, DaemonService, EncoderService

log = logging.getLogger("ltlsp.daemon")

DEFAULT_IDLE_TIMEOUT_S = 3 * 3600
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVICE_NAMES = tuple(pb.DESCRIPTOR.services_by_name[name].full_name
                      for name in ("CodeSearch", "Encoder", "Daemon")) + (
                          logs_pb2.DESCRIPTOR.services_by_name["Logs"].full_name,)
GRPC_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]


class Activity(grpc.ServerInterceptor):
    """Counts RPCs in flight and remembers when the last one ended, for the idle timeout."""

    def __init__(self):
        self.in_flight = 0
        self.last_seen = time.monotonic()
        self._lock = threading.Lock()

    def idle_for(self) -> float:
        with self._lock:
            return 0.0 if self.in_flight else time.monotonic() - self.last_seen

    def _enter(self):
        with self._lock:
            self.in_flight += 1

    def _leave(self):
        with self._lock:
            self.in_flight -= 1
            self.last_seen = time.monotonic()

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        # Wrap whichever behaviour the method has; streaming calls (index progress, log watch)
        # are in flight until their last message, so the idle timeout never cuts them off.
        for kind, wrap in (("unary_unary", self._unary), ("stream_unary", self._unary),
                           ("unary_stream", self._stream), ("stream_stream", self._stream)):
            behaviour = getattr(handler, kind)
            if behaviour:
                return handler._replace(**{kind: wrap(behaviour)})
        return handler

    def _unary(self, behaviour):
        def run(request, context):
            self._enter()
            try:
                return behaviour(request, context)
            finally:
                self._leave()
        return run

    def _stream(self, behaviour):
        def run(request, context):
            self._enter()
            try:
                yield from behaviour(request, context)
            finally:
                self._leave()
        return run


class RequireToken(grpc.ServerInterceptor):
    """On TCP every call must carry `authorization: Bearer <token>` (the 0600 token file)."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}"

    def intercept_service(self, continuation, handler_call_details):
        given = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if secrets.compare_digest(given, self._expected):
            return continuation(handler_call_details)
        return grpc.unary_unary_rpc_method_handler(_deny)


def _deny(request, context):
    context.abort(grpc.StatusCode.UNAUTHENTICATED,
                  f"missing or wrong token: send metadata 'authorization: Bearer <token>' with the "
                  f"token from {paths.token_path()}")


def ensure_token() -> str:
    """The TCP token, created once with mode 0600."""
    path = paths.token_path()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        token = secrets.token_urlsafe(32)
        out.write(token)
    return token


def loopback_address(address: str) -> str:
    """Check `HOST:PORT` is on loopback; anything else would expose the index to the network."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not sep or not port.isdigit() or not loopback:
        raise argparse.ArgumentTypeError(
            f"{address}: give a loopback HOST:PORT such as 127.0.0.1:7878 (port 0 picks a free one); "
            "TCP is never offered off this machine")
    return address


class Daemon:
    def __init__(self, tcp: str | None, idle_timeout: float):
        self.tcp = tcp
        self.idle_timeout = idle_timeout
        self.engine = Engine()
        self.logs = logs_service.LogsService(self.engine)  # one set of log models for every listener
        self.activity = Activity()
        self.health = health.HealthServicer()
        self.stopping = threading.Event()
        self.tcp_address = ""
        self.servers: list[grpc.Server] = []

    def info(self) -> pb.DaemonInfo:
        return pb.DaemonInfo(version=__version__, pid=os.getpid(), started_at=STARTED_AT,
                             socket=str(paths.socket_path()), tcp_address=self.tcp_address,
                             model_id=self.engine.model_id, ready=self.engine.ready)

    def _server(self, interceptors) -> grpc.Server:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="rpc"),
                             interceptors=interceptors, options=GRPC_OPTIONS)
        pb_grpc.add_CodeSearchServicer_to_server(CodeSearchService(self.engine, self.info), server)
        pb_grpc.add_EncoderServicer_to_server(EncoderService(self.engine), server)
        pb_grpc.add_DaemonServicer_to_server(DaemonService(self.info, self.stopping.set), server)
        logs_service.add_to_server(server, self.logs)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(SERVICE_NAMES + (health.SERVICE_NAME, reflection.SERVICE_NAME),
                                            server)
        return server

    def start(self) -> None:
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        unix = self._server([self.activity])
        socket = paths.socket_path()
        socket.unlink(missing_ok=True)  # stale: we hold the lock, so no live daemon owns it
        unix.add_insecure_port(f"unix:{socket}")
        self.servers.append(unix)
        if self.tcp:
            tcp = self._server([RequireToken(ensure_token()), self.activity])
            host = self.tcp.rpartition(":")[0]
            port = tcp.add_insecure_port(self.tcp)
            self.tcp_address = f"{host}:{port}"
            self.servers.append(tcp)
        for server in self.servers:
            server.start()
        _write_atomically(paths.status_path(), json.dumps(
            {"pid": os.getpid(), "socket": str(socket), "version": __version__,
             "started_at": STARTED_AT, "tcp_address": self.tcp_address}))
        log.info("listening on %s%s", socket, f" and {self.tcp_address}" if self.tcp_address else "")

    def load(self) -> None:
        try:
            self.engine.load()
        except Exception:  # noqa: BLE001 - logged by the engine; without a model there is no daemon
            self.stopping.set()
            return
        self._set_health(health_pb2.HealthCheckResponse.SERVING)

    def _set_health(self, status) -> None:
        for name in ("",) + SERVICE_NAMES:
            self.health.set(name, status)

    def wait(self) -> None:
        """Block until SIGTERM, a Shutdown call, or the idle timeout."""
        tick = min(5.0, self.idle_timeout / 4) if self.idle_timeout else 5.0
        while not self.stopping.wait(tick):
            busy = self.engine.ready and self.engine.repos.any_writing()
            if self.idle_timeout and not busy and self.activity.idle_for() > self.idle_timeout:
                log.info("idle for %.0f s; stopping", self.idle_timeout)
                return

    def stop(self) -> None:
        self.health.enter_graceful_shutdown()
        for server in self.servers:
            server.stop(grace=3).wait()
        if self.engine.ready:
            self.engine.repos.close_all()
        try:
            if json.loads(paths.status_path().read_text()).get("pid") == os.getpid():
                paths.status_path().unlink()
        except (OSError, ValueError):
            pass
        log.info("stopped")


STARTED_AT = time.time()


def _write_atomically(path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def take_lock() -> int | None:
    """The exclusive daemon lock's fd, or None when another daemon holds it. Released at exit."""
    fd = os.open(paths.lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ltlsp serve", description="Run the ltlsp daemon in the foreground.")
    parser.add_argument("--tcp", metavar="HOST:PORT", type=loopback_address,
                        help="also listen on this loopback address; clients must send the token")
    parser.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                        default=float(os.environ.get("LTLSP_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT_S)),
                        help="stop after this long without requests (0: never; default %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(message)s")
    if take_lock() is None:
        print(f"ltlsp serve: a daemon is already running (see {paths.status_path()}); "
              "stop it with `ltlsp stop`", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    daemon = Daemon(args.tcp, args.idle_timeout)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.stopping.set())
    daemon.start()
    threading.Thread(target=daemon.load, name="load-model", daemon=True).start()
    daemon.wait()
    daemon.stop()
    return 1 if daemon.engine.load_error else 0


if __name__ == "__main__":
    sys.exit(main())
