"""`ltlsp logs train|score|watch`: a thin client (grpc and the stubs only; never torch or numpy).

The JSON of `score` is a contract (DESIGN.md): one object per input line, then one per session.
Log text is shown with control characters escaped, so a line can never drive the terminal.
"""

import argparse
import functools
import json
import os
import queue
import sys
import threading
import time
from collections import Counter

import grpc
from rich.console import Console
from rich.text import Text

from ltlsp.server.client import DaemonError, connect
from ltlsp.server.logs.sessions import compile_key
from ltlsp.server.logs.tail import Follower, StdinReader
from ltlsp.server.proto import logs_pb2 as pb
from ltlsp.server.proto import logs_pb2_grpc as pb_grpc

EXIT_FAILURE, EXIT_USAGE = 1, 2
CHUNK_BYTES = 1 << 20          # lines per message: up to about 1 MB
MAX_LINE_BYTES = 64 * 1024     # longer lines are cut here (a 10 MB line is still one line)
POLL_S = 0.05
HEARTBEAT_S = 1.0              # an empty message this often while the inputs are quiet
OUTBOX_CHUNKS = 16             # chunks read ahead of the daemon at most

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def escape(text: str) -> str:
    """Control characters and escape sequences as visible \\xNN, never interpreted."""
    return "".join(c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}" if ord(c) < 256
                   else f"\\u{ord(c):04x}" for c in text)


# ---- reading input ---------------------------------------------------------------------------

def read_chunks(path: str):
    """(first line number, bytes of whole lines) of a file, about CHUNK_BYTES at a time."""
    try:
        stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    except FileNotFoundError:
        raise DaemonError(f"{path}: no such file", user_error=True) from None
    except IsADirectoryError:
        raise DaemonError(f"{path} is a directory: give a log file", user_error=True) from None
    except PermissionError:
        raise DaemonError(f"{path}: permission denied", user_error=True) from None
    with stream:
        parts, size, first, number = [], 0, 1, 0
        for line in stream:
            number += 1
            parts.append(_clip(line))
            size += len(parts[-1])
            if size >= CHUNK_BYTES:
                yield first, b"".join(parts)
                parts, size, first = [], 0, number + 1
        if parts:
            yield first, b"".join(parts)


def _clip(line: bytes) -> bytes:
    line = line if line.endswith(b"\n") else line + b"\n"
    return line if len(line) <= MAX_LINE_BYTES else line[:MAX_LINE_BYTES - 1] + b"\n"


def _inputs(first: pb.LogInput, paths: list[str]):
    sent_first = False
    for path in paths:
        for number, data in read_chunks(path):
            message = pb.LogInput(source=path, data=data, first_line=number)
            if not sent_first:
                message.MergeFrom(first)
                sent_first = True
            yield message
    if not sent_first:
        yield first


def _call(method, requests, conn):
    try:
        return method(requests, metadata=conn.metadata)
    except grpc.RpcError as failure:
        raise conn.explain(failure) from None


def _stream(responses, conn):
    try:
        yield from responses
    except grpc.RpcError as failure:
        raise conn.explain(failure) from None


# ---- commands --------------------------------------------------------------------------------

def cmd_train(args) -> int:
    for path in args.files:
        if path != "-" and not os.path.isfile(path):
            raise DaemonError(f"{path}: no such file", user_error=True)
    conn = connect()
    stub = pb_grpc.LogsStub(conn.channel)
    reply = _call(stub.Train, _inputs(pb.LogInput(model=args.model), args.files), conn)
    if args.json:
        print(json.dumps({"model": args.model, "lines": reply.lines, "templates": reply.templates,
                          "sessions": reply.sessions, "path": reply.path}))
    else:
        out.print(f"trained log model {args.model!r} on {reply.lines} lines: {reply.templates} templates "
                  f"(saved in {reply.path})", markup=False)
    return 0


def cmd_score(args) -> int:
    _check_key(args.session_key)
    if args.file != "-" and not os.path.isfile(args.file):
        raise DaemonError(f"{args.file}: no such file", user_error=True)
    conn = connect()
    stub = pb_grpc.LogsStub(conn.channel)
    first = pb.LogInput(model=args.model, session_key=args.session_key, sensitivity=args.sensitivity)
    write = sys.stdout.write
    quote = functools.lru_cache(maxsize=1 << 16)(json.dumps)  # sessions and templates repeat
    flagged = Counter()
    threshold = ""
    for batch in _stream(stub.Score(_inputs(first, [args.file]), metadata=conn.metadata), conn):
        if batch.sessions:
            threshold = f"; threshold {batch.threshold_basis}"
        for r in batch.lines:
            if args.json:
                write(f'{{"line": {r.line}, "score": {r.score:.4f}, "anomaly": {"true" if r.anomaly else "false"}, '
                      f'"in_session": {quote(r.session)}, "template": {quote(r.template)}}}\n')
            elif r.anomaly:
                flagged["lines"] += 1
                show_line_alert(r, None)
        for s in batch.sessions:
            if args.json:
                write(json.dumps({"session": s.session, "score": round(s.score, 4), "anomaly": s.anomaly,
                                  "lines": s.lines, "reason": s.reason, "threshold": round(batch.threshold, 4),
                                  "threshold_basis": batch.threshold_basis}) + "\n")
            else:
                flagged["sessions"] += 1
                if s.anomaly:
                    flagged["anomalous sessions"] += 1
                    show_session_alert(s)
    if not args.json:
        out.print(f"{flagged['lines']} anomalous lines; {flagged['anomalous sessions']} of "
                  f"{flagged['sessions']} sessions anomalous{threshold}", markup=False)
    return 0


def show_line_alert(r: pb.LineScore, text: str | None, location: str = "") -> None:
    head = Text()
    head.append(f"{escape(r.source)}:{r.line}", style="bold cyan")
    head.append(f"  {r.score:.1f}  ", style="red")
    head.append(escape(r.reason), style="yellow")
    out.print(head)
    if text is not None:
        out.print(Text("    " + escape(text)))
    out.print(Text("    template: " + escape(r.template), style="dim"))
    if location:
        out.print(Text("    likely logged at " + escape(location), style="green"))


def show_session_alert(s: pb.SessionScore) -> None:
    line = Text()
    line.append(f"session {escape(s.session)}", style="bold magenta")
    line.append(f"  {s.score:.1f}  ", style="red")
    line.append(escape(s.reason), style="yellow")
    out.print(line)


def _check_key(pattern: str) -> None:
    try:
        compile_key(pattern)
    except ValueError as bad:
        raise DaemonError(str(bad), user_error=True) from None


# ---- watch -----------------------------------------------------------------------------------

class Watch:
    """Follows the inputs, streams new lines to the daemon, prints alerts; survives restarts of
    the daemon by resending every chunk it has not acknowledged (so nothing is lost or doubled)."""

    def __init__(self, args):
        self.args = args
        self.readers = [StdinReader() if p == "-" else Follower(p, from_start=args.from_start)
                        for p in args.files]
        self.pending: list[tuple[int, pb.LogInput]] = []  # (sequence, chunk) not yet acknowledged
        self.sequence = 0
        self.lock = threading.Lock()
        self.outbox: queue.Queue = queue.Queue(maxsize=OUTBOX_CHUNKS)  # full: reading waits for the daemon
        self.stats = Counter()
        self.done = threading.Event()                # every input has finished (stdin closed)
        self.generation = 0                          # one per connection to the daemon

    def run(self) -> int:
        threading.Thread(target=self._read_loop, name="tail", daemon=True).start()
        try:
            while not self._finished():
                self._session()
        except KeyboardInterrupt:
            pass
        self.summary()
        return 0

    def _finished(self) -> bool:
        with self.lock:
            return self.done.is_set() and self.outbox.empty() and not self.pending

    def _read_loop(self) -> None:
        while not self.done.is_set():
            idle = True
            for reader in self.readers:
                for notice in reader.notices():
                    err.print(f"ltlsp: {escape(notice)}", markup=False)
                for first_line, data in reader.read():
                    idle = False
                    self.outbox.put(pb.LogInput(source=reader.name, data=data, first_line=first_line))
            if all(r.finished for r in self.readers):
                self.done.set()
            if idle:
                time.sleep(POLL_S)

    def _requests(self, generation: int):
        """Options, then every unacknowledged chunk, then new chunks as they come; ends once the
        inputs are finished and all is acknowledged (or when a newer connection took over)."""
        yield pb.LogInput(model=self.args.model, session_key=self.args.session_key,
                          sensitivity=self.args.sensitivity, repo=self.args.repo)
        sent_through = 0  # sequence number of the last chunk sent on this connection
        last_sent = time.monotonic()
        while generation == self.generation:
            with self.lock:
                unsent = [(seq, m) for seq, m in self.pending if seq > sent_through]
                if not unsent and self.done.is_set() and self.outbox.empty() and not self.pending:
                    return
            for seq, message in unsent:
                sent_through, last_sent = seq, time.monotonic()
                yield message
            try:
                message = self.outbox.get(timeout=POLL_S)
            except queue.Empty:
                if time.monotonic() - last_sent >= HEARTBEAT_S:
                    last_sent = time.monotonic()
                    yield pb.LogInput()  # no lines: lets the daemon look for overdue events
                continue
            with self.lock:
                self.sequence += 1
                self.pending.append((self.sequence, message))

    def _session(self) -> None:
        conn = connect()
        stub = pb_grpc.LogsStub(conn.channel)
        self.generation += 1
        try:
            for event in stub.Watch(self._requests(self.generation), metadata=conn.metadata):
                self._acknowledge(event)
                for alert in event.alerts:
                    self.show(alert)
        except grpc.RpcError as failure:
            if failure.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise conn.explain(failure) from None
            err.print("ltlsp: the daemon went away; reconnecting (unacknowledged lines are sent again)",
                      markup=False)
            time.sleep(0.2)
        finally:
            conn.close()

    def _acknowledge(self, event: pb.WatchEvent) -> None:
        with self.lock:
            kept = []
            for seq, message in self.pending:
                last = message.first_line + message.data.count(b"\n") - 1
                if message.source == event.source and last <= event.acked_through:
                    self.stats["lines"] += message.data.count(b"\n")
                else:
                    kept.append((seq, message))
            self.pending = kept

    def show(self, alert: pb.Alert) -> None:
        self.stats["alerts"] += 1
        if self.args.json:
            row = ({"source": alert.line.source, "line": alert.line.line, "score": round(alert.line.score, 4),
                    "anomaly": True, "session": alert.line.session, "template": alert.line.template,
                    "reason": alert.line.reason, "text": alert.text, "suppressed": alert.suppressed}
                   if alert.HasField("line") else
                   {"session": alert.session.session, "score": round(alert.session.score, 4), "anomaly": True,
                    "reason": alert.session.reason})
            if alert.location:
                row["location"] = alert.location
            print(json.dumps(row), flush=True)
        elif alert.HasField("line"):
            show_line_alert(alert.line, alert.text, alert.location)
            if alert.suppressed:
                out.print(Text(f"    (+{alert.suppressed} similar alerts suppressed)", style="dim"))
        else:
            show_session_alert(alert.session)

    def summary(self) -> None:
        text = f"watched {self.stats['lines']} lines, {self.stats['alerts']} alerts"
        if self.args.json:
            print(json.dumps({"summary": {"lines": self.stats["lines"], "alerts": self.stats["alerts"]}}))
        else:
            err.print(f"ltlsp: {text}", markup=False)


def cmd_watch(args) -> int:
    _check_key(args.session_key)
    if args.repo and not os.path.isdir(args.repo):
        raise DaemonError(f"--repo {args.repo}: no such directory; give the git work tree of the code "
                          "that writes these logs", user_error=True)
    args.repo = os.path.abspath(args.repo) if args.repo else ""
    return Watch(args).run()


# ---- arguments -------------------------------------------------------------------------------

def _sensitivity(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.05 <= number <= 20:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number between 0.05 and 20 (1 is the default; "
                                          "higher flags more)")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltlsp logs", description="Train, score and watch logs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="learn normal behaviour from log files (replaces the model)")
    p.add_argument("files", nargs="+", metavar="FILE", help="log files ('-' for stdin)")
    p.add_argument("--model", default="default", help="model name (default: default)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_train)

    def add_scoring(p):
        p.add_argument("--model", default="default", help="model name (default: default)")
        p.add_argument("--session-key", default="", metavar="REGEX",
                       help="lines whose match is equal form a session (default: windows of each source)")
        p.add_argument("--sensitivity", type=_sensitivity, default=1.0,
                       help="scale the adaptive threshold: 2 flags more, 0.5 fewer (default 1)")
        p.add_argument("--json", action="store_true", help="JSON lines")

    p = sub.add_parser("score", help="score every line and session of a log file")
    p.add_argument("file", metavar="FILE")
    add_scoring(p)
    p.set_defaults(run=cmd_score)

    p = sub.add_parser("watch", help="follow logs like tail -F and print anomalies")
    p.add_argument("files", nargs="*", metavar="FILE", help="files to follow; '-' or none: stdin")
    p.add_argument("--from-start", action="store_true", help="read existing content first (default: only new lines)")
    p.add_argument("--repo", default="", metavar="PATH",
                   help="a git work tree: show where in it each alert's message is likely logged")
    add_scoring(p)
    p.set_defaults(run=cmd_watch)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "watch" and not args.files:
        args.files = ["-"]
    try:
        return args.run(args)
    except DaemonError as failure:
        err.print(f"ltlsp: error: {failure}", markup=False)
        return EXIT_USAGE if failure.user_error else EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
