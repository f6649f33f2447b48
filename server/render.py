"""What the CLI shows a person: results, status, index summaries and the progress bar (rich).

Scripts (`--json`) never import this module, so they do not pay for rich.
"""

import contextlib
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from ltlsp.server.proto import ltlsp_pb2 as pb

SNIPPET_LINES = 3

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def hits(results, words: list[str] = (), title: str = "") -> None:
    """Ranked results: `path:start-end  score  symbol`, then a snippet with the query's words lit."""
    if title:
        out.print(Text(title, style="bold"))
    if not results:
        out.print("no results")
    for rank, h in enumerate(results, 1):
        head = Text(f"{rank:>2}  ")
        head.append(f"{h.path}:{h.start_line}-{h.end_line}", style="bold cyan")
        head.append(f"  {h.score:.3f}  ", style="green")
        head.append(h.symbol)
        out.print(head)
        snippet = Text("\n".join("      " + line for line in _after_symbol(h.preview)[:SNIPPET_LINES]),
                       style="dim")
        for word in words:
            if len(word) > 2:
                snippet.highlight_words([word], style="bold yellow", case_sensitive=False)
        out.print(snippet)


def _after_symbol(preview: str) -> list[str]:
    """Preview lines after the first non-blank one, which is already shown as the symbol."""
    lines = preview.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    return lines[first + 1:]


def status(reply: pb.StatusResponse) -> None:
    d = reply.daemon
    out.print(f"daemon  {d.version}, pid {d.pid}, up {_ago(d.started_at)}, model {d.model_id}")
    out.print(f"        socket {d.socket}" + (f", tcp {d.tcp_address}" if d.tcp_address else ""))
    if not reply.repos:
        out.print("no repositories indexed yet: run `ltlsp index PATH`")
    for r in reply.repos:
        if r.indexing:
            state = "indexing"
        elif not r.last_update:
            state = "not indexed"
        else:
            state = "up to date" if r.indexed_commit == r.head else "behind HEAD"
        out.print(Text(r.repo, style="bold"))
        out.print(f"  {state}; commit {r.indexed_commit[:12] or '-'} (HEAD {r.head[:12] or '-'}); "
                  f"{r.files} files, {r.chunks} chunks; model {r.model_id or '-'}; "
                  f"updated {_ago(r.last_update) + ' ago' if r.last_update else 'never'}")


def summary(s: pb.IndexSummary) -> None:
    out.print(f"indexed {s.repo} at {s.commit[:12] or '(no commit)'} in {s.seconds:.1f} s: "
              f"{s.files_indexed} files updated, {s.files_unchanged} unchanged, {s.files_removed} removed; "
              f"{s.chunks_total} chunks ({s.chunks_embedded} embedded, {s.chunks_reused} reused)")
    skipped = [f"{n} {what}" for n, what in ((s.skipped_binary, "binary"),
               (s.skipped_too_large, "too large (LTLSP_MAX_FILE_BYTES)"), (s.skipped_missing, "missing"),
               (s.skipped_generated, "generated or minified"))
               if n]
    if skipped:
        out.print("skipped " + ", ".join(skipped) + " files")
    if s.lossy_utf8:
        out.print(f"{s.lossy_utf8} files were not valid UTF-8 and were indexed with the bad bytes replaced")


@contextlib.contextmanager
def index_progress(repo_name: str):
    """A progress bar on stderr (files, chunks embedded, ETA); yields update(progress_message)."""
    columns = (TextColumn("indexing {task.fields[repo]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("files, {task.fields[chunks]} chunks embedded"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("index", total=None, repo=repo_name, chunks=0)

        def update(p: pb.IndexProgress) -> None:
            if p.files_total:
                bar.update(task, total=p.files_total, completed=p.files_done, chunks=p.chunks_done)
        yield update


def _ago(when: float) -> str:
    seconds = max(0, time.time() - when)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
