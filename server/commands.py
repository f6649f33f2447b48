"""The CLI's commands, imported only once the arguments parsed (grpc and rich cost ~0.1 s).

The JSON output of `search` and `similar` is a contract the benchmarks rely on (DESIGN.md):
one object per line, best first, with path, start_line, end_line and score.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from ltlsp.server.client import Connection, DaemonError, connect, stop_daemon
from ltlsp.server.proto import ltlsp_pb2 as pb

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
SPAN = re.compile(r"^(?P<path>.+):(?P<start>\d+)(?:-(?P<end>\d+))?$")
SNIPPET_LINES = 3

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


# ---- commands ------------------------------------------------------------------------------

def cmd_index(args) -> int:
    conn = connect()
    summary = run_index(conn, args.path, rebuild=args.rebuild, quiet=args.json)
    if args.json:
        print(json.dumps(_message_dict(summary)))
    else:
        print_summary(summary)
    return 0


def cmd_search(args) -> int:
    if not args.query.strip():
        raise DaemonError("the query is empty: give a few words describing the code you want",
                          user_error=True)
    conn = connect()
    ensure_indexed(conn, args.repo, quiet=args.json)
    reply = conn.call(conn.code.Search, pb.SearchRequest(repo=_abs(args.repo), query=args.query,
                                                          top_k=args.top_k), timeout=120)
    show_hits(reply.hits, args.json, words=args.query.split())
    return 0


def cmd_similar(args) -> int:
    spans = [parse_span(spec, args.repo) for spec in args.spans]
    conn = connect()
    ensure_indexed(conn, args.repo, quiet=args.json)
    for spec, (path, start, end) in zip(args.spans, spans):
        reply = conn.call(conn.code.Similar, pb.SimilarRequest(
            repo=_abs(args.repo), path=path, start_line=start, end_line=end, top_k=args.top_k), timeout=120)
        if not args.json and len(spans) > 1:
            out.print(Text(f"similar to {spec}:", style="bold"))
        show_hits(reply.hits, args.json, query=spec if len(spans) > 1 else None)
    return 0


def cmd_status(args) -> int:
    conn = connect()
    reply = conn.call(conn.code.Status, pb.StatusRequest(repo=_abs(args.repo) if args.repo else ""),
                      timeout=30)
    if args.json:
        print(json.dumps({"daemon": _message_dict(reply.daemon),
                          "repos": [_message_dict(r) for r in reply.repos]}))
        return 0
    d = reply.daemon
    out.print(f"daemon  {d.version}, pid {d.pid}, up {_ago(d.started_at)}, model {d.model_id}")
    out.print(f"        socket {d.socket}" + (f", tcp {d.tcp_address}" if d.tcp_address else ""))
    if not reply.repos:
        out.print("no repositories indexed yet: run `ltlsp index PATH`")
    for r in reply.repos:
        state = "indexing" if r.indexing else ("up to date" if r.indexed_commit == r.head and r.last_update
                                               else "behind HEAD" if r.last_update else "not indexed")
        out.print(Text(r.repo, style="bold"))
        out.print(f"  {state}; commit {r.indexed_commit[:12] or '-'} (HEAD {r.head[:12] or '-'}); "
                  f"{r.files} files, {r.chunks} chunks; model {r.model_id or '-'}; "
                  f"updated {_ago(r.last_update) + ' ago' if r.last_update else 'never'}")
    return 0


def cmd_stop(args) -> int:
    try:
        conn = connect(autostart=False)
    except DaemonError:
        out.print("the ltlsp daemon is not running")
        return 0
    info = conn.call(conn.daemon.GetInfo, pb.InfoRequest(), timeout=5)
    stop_daemon(conn, info.pid)
    out.print(f"stopped the ltlsp daemon (pid {info.pid})")
    return 0


def cmd_serve(args) -> int:
    from ltlsp.server import daemon  # only here: the daemon imports torch and faiss
    return daemon.main(args.rest)


def cmd_lsp(args) -> int:
    from ltlsp.lsp.server import main as lsp_main  # pygls is loaded only for `ltlsp lsp`
    return lsp_main(args.rest)


def cmd_logs(args) -> int:
    from ltlsp.server.logs.cli import main as logs_main
    return logs_main(args.rest)


# ---- indexing ------------------------------------------------------------------------------

def ensure_indexed(conn: Connection, repo: str, quiet: bool) -> None:
    """Index the repository first if it never was, or its HEAD moved since."""
    status = conn.call(conn.code.Status, pb.StatusRequest(repo=_abs(repo)), timeout=30).repos[0]
    if not status.last_update or status.indexed_commit != status.head:
        run_index(conn, repo, rebuild=False, quiet=quiet)


def run_index(conn: Connection, repo: str, rebuild: bool, quiet: bool) -> pb.IndexSummary:
    """Index with a progress bar on stderr (files, chunks embedded, ETA); returns the summary."""
    columns = (TextColumn("indexing {task.fields[repo]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("files, {task.fields[chunks]} chunks embedded"), TimeRemainingColumn())
    summary = None
    with Progress(*columns, console=err, transient=True, disable=quiet or not err.is_terminal) as bar:
        task = bar.add_task("index", total=None, repo=Path(_abs(repo)).name, chunks=0)
        for update in conn.stream(conn.code.Index, pb.IndexRequest(repo=_abs(repo), rebuild=rebuild)):
            if update.notice:
                err.print(f"ltlsp: {update.notice}")
            if update.phase == pb.IndexProgress.DONE:
                summary = update.summary
            elif update.files_total:
                bar.update(task, total=update.files_total, completed=update.files_done,
                           chunks=update.chunks_done)
    if summary is None:
        raise DaemonError("indexing ended without a summary; see the daemon log")
    for notice in summary.notices:
        err.print(f"ltlsp: {notice}")
    return summary


def print_summary(s: pb.IndexSummary) -> None:
    out.print(f"indexed {s.repo} at {s.commit[:12] or '(no commit)'} in {s.seconds:.1f} s: "
              f"{s.files_indexed} files updated, {s.files_unchanged} unchanged, {s.files_removed} removed; "
              f"{s.chunks_total} chunks ({s.chunks_embedded} embedded, {s.chunks_reused} reused)")
    skipped = [f"{n} {what}" for n, what in ((s.skipped_binary, "binary"),
               (s.skipped_too_large, "too large (LTLSP_MAX_FILE_BYTES)"), (s.skipped_missing, "missing"))
               if n]
    if skipped:
        out.print("skipped " + ", ".join(skipped) + " files")
    if s.lossy_utf8:
        out.print(f"{s.lossy_utf8} files were not valid UTF-8 and were indexed with the bad bytes replaced")


# ---- output --------------------------------------------------------------------------------

def show_hits(hits, as_json: bool, words: list[str] | None = None, query: str | None = None) -> None:
    if as_json:
        for h in hits:
            row = {"path": h.path, "start_line": h.start_line, "end_line": h.end_line,
                   "score": round(h.score, 6), "symbol": h.symbol, "kind": h.kind, "preview": h.preview}
            if query:
                row["query"] = query
            sys.stdout.write(json.dumps(row) + "\n")
        return
    if not hits:
        out.print("no results")
    for rank, h in enumerate(hits, 1):
        head = Text(f"{rank:>2}  ")
        head.append(f"{h.path}:{h.start_line}-{h.end_line}", style="bold cyan")
        head.append(f"  {h.score:.3f}  ", style="green")
        head.append(h.symbol)
        out.print(head)
        snippet = Text("\n".join("      " + line for line in _after_symbol(h.preview)[:SNIPPET_LINES]),
                       style="dim")
        for word in words or ():
            if len(word) > 2:
                snippet.highlight_words([word], style="bold yellow", case_sensitive=False)
        out.print(snippet)



def _after_symbol(preview: str) -> list[str]:
    """Preview lines after the first non-blank one, which is already shown as the symbol."""
    lines = preview.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    return lines[first + 1:]


def _message_dict(message) -> dict:
    return {field.name: (list(value) if field.is_repeated else value)
            for field in message.DESCRIPTOR.fields
            for value in (getattr(message, field.name),)}


def _ago(when: float) -> str:
    seconds = max(0, time.time() - when)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


# ---- arguments --------------------------------------------------------------------------------

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
        err.print(f"ltlsp: error: {failure}", markup=False)
        return EXIT_USAGE if failure.user_error else EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `ltlsp search ... | head`
        sys.stderr.close()
        return 0
