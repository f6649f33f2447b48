"""The CLI's commands, imported only once the arguments parsed (grpc costs ~0.1 s).

The JSON output of `search` and `similar` is a contract the benchmarks rely on (DESIGN.md):
one object per line, best first, with path, start_line, end_line and score. Output for a
person goes through ltlsp.server.render, imported only then.
"""

import contextlib
import json
import os
import re
import sys
from pathlib import Path

from ltlsp.server.client import Connection, DaemonError, connect, stop_daemon
from ltlsp.server.proto import ltlsp_pb2 as pb

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
SPAN = re.compile(r"^(?P<path>.+):(?P<start>\d+)(?:-(?P<end>\d+))?$")
SEARCH_TIMEOUT_S = 120


def cmd_index(args) -> int:
    summary = run_index(connect(), args.path, rebuild=args.rebuild, for_person=not args.json)
    if args.json:
        print(json.dumps(message_dict(summary)))
    else:
        from ltlsp.server import render
        render.summary(summary)
    return 0


def cmd_search(args) -> int:
    if not args.query.strip():  # said here too, so that no daemon is started for nothing
        raise DaemonError("the query is empty: give a few words describing the code you want",
                          user_error=True)
    conn = connect()
    ensure_indexed(conn, args.repo, for_person=not args.json)
    reply = conn.call(conn.code.Search, pb.SearchRequest(
        repo=_abs(args.repo), query=args.query, top_k=args.top_k, **_ranking(args)), timeout=SEARCH_TIMEOUT_S)
    if args.json:
        print_json_hits(reply.hits)
    else:
        from ltlsp.server import render
        render.hits(reply.hits, words=args.query.split())
    return 0


def cmd_similar(args) -> int:
    spans = [parse_span(spec, args.repo) for spec in args.spans]
    conn = connect()
    ensure_indexed(conn, args.repo, for_person=not args.json)
    several = len(spans) > 1
    for spec, (path, start, end) in zip(args.spans, spans):
        reply = conn.call(conn.code.Similar, pb.SimilarRequest(
            repo=_abs(args.repo), path=path, start_line=start, end_line=end, top_k=args.top_k,
            **_ranking(args)), timeout=SEARCH_TIMEOUT_S)
        if args.json:
            print_json_hits(reply.hits, query=spec if several else None)
        else:
            from ltlsp.server import render
            render.hits(reply.hits, title=f"similar to {spec}:" if several else "")
    return 0


def cmd_status(args) -> int:
    conn = connect()
    reply = conn.call(conn.code.Status, pb.StatusRequest(repo=_abs(args.repo) if args.repo else ""),
                      timeout=30)
    if args.json:
        print(json.dumps({"daemon": message_dict(reply.daemon),
                          "repos": [message_dict(r) for r in reply.repos]}))
    else:
        from ltlsp.server import render
        render.status(reply)
    return 0


def cmd_stop(args) -> int:
    try:
        conn = connect(autostart=False)
    except DaemonError:
        print("the ltlsp daemon is not running")
        return 0
    info = conn.call(conn.daemon.GetInfo, pb.InfoRequest(), timeout=5)
    stop_daemon(conn, info.pid)
    print(f"stopped the ltlsp daemon (pid {info.pid})")
    return 0


def _ranking(args) -> dict:
    """The request fields shared by search and similar: mode and filters."""
    return {"mode": pb.Mode.Value(args.mode.upper()), "path_glob": args.path, "language": args.lang}


# ---- indexing ------------------------------------------------------------------------------

def ensure_indexed(conn: Connection, repo: str, for_person: bool) -> None:
    """Index the repository first if it never was, or its HEAD moved since."""
    status = conn.call(conn.code.Status, pb.StatusRequest(repo=_abs(repo)), timeout=30).repos[0]
    if not status.last_update or status.indexed_commit != status.head:
        run_index(conn, repo, rebuild=False, for_person=for_person)


def run_index(conn: Connection, repo: str, rebuild: bool, for_person: bool) -> pb.IndexSummary:
    """Index, with a progress bar on stderr for a person; returns the summary."""
    summary = None
    if for_person:
        from ltlsp.server import render
        progress = render.index_progress(Path(_abs(repo)).name)
    else:
        progress = contextlib.nullcontext(lambda update: None)
    with progress as show:
        for update in conn.stream(conn.code.Index, pb.IndexRequest(repo=_abs(repo), rebuild=rebuild)):
            if update.notice:
                notice(update.notice)
            if update.phase == pb.IndexProgress.DONE:
                summary = update.summary
            show(update)
    if summary is None:
        raise DaemonError("indexing ended without a summary; see the daemon log")
    for text in summary.notices:
        notice(text)
    return summary


# ---- output --------------------------------------------------------------------------------

def notice(text: str) -> None:
    print(f"ltlsp: {text}", file=sys.stderr)


def print_json_hits(hits, query: str | None = None) -> None:
    for h in hits:
        row = {"path": h.path, "start_line": h.start_line, "end_line": h.end_line,
               "score": round(h.score, 6), "symbol": h.symbol, "kind": h.kind, "preview": h.preview}
        if query:
            row["query"] = query
        sys.stdout.write(json.dumps(row) + "\n")


def message_dict(message) -> dict:
    return {field.name: (list(value) if field.is_repeated else value)
            for field in message.DESCRIPTOR.fields
            for value in (getattr(message, field.name),)}


# ---- arguments -----------------------------------------------------------------------------

def _abs(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def parse_span(spec: str, repo: str) -> tuple[str, int, int]:
    """PATH:LINE or PATH:START-END -> (absolute path, start, end or 0)."""
    match = SPAN.match(spec)
    if not match:
        raise DaemonError(f"{spec}: expected PATH:LINE or PATH:START-END, e.g. server/cli.py:42",
                          user_error=True)
    path = Path(match["path"]).expanduser()
    if not path.is_absolute() and not path.exists() and (Path(repo) / path).exists():
        path = Path(repo) / path  # relative to --repo rather than to the current directory
    if not path.exists():
        raise DaemonError(f"{match['path']}: no such file", user_error=True)
    return _abs(str(path)), int(match["start"]), int(match["end"] or 0)


def run(args) -> int:
    """Run the parsed command; a DaemonError becomes its message and an exit status."""
    try:
        return globals()[f"cmd_{args.command}"](args)
    except DaemonError as failure:
        print(f"ltlsp: error: {failure}", file=sys.stderr)
        return EXIT_USAGE if failure.user_error else EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `ltlsp search ... | head`
        sys.stderr.close()
        return 0
