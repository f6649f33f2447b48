"""gRPC servicers of ltlsp.v1: CodeSearch, Encoder and Daemon.

Handlers stay short: resolve and check the input, call the index or the encoder, build the reply.
A UserError becomes a status with its message; anything else is logged and becomes INTERNAL.
"""

import functools
import inspect
import logging
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Callable

import grpc

from ltlsp.server.engine import Engine
from ltlsp.server.errors import FailedPrecondition, NotFound, UserError
from ltlsp.server.index import gitrepo
from ltlsp.server.index.indexer import Indexer, Summary, read_text
from ltlsp.server.index.store import Filters, StoredHit, index_dir
from ltlsp.server.index.syntax import GRAMMARS, enclosing_span
from ltlsp.server.proto import ltlsp_pb2 as pb
from ltlsp.server.proto import ltlsp_pb2_grpc as pb_grpc
from ltlsp.server.repos import Repos, peek_counts

log = logging.getLogger("ltlsp.daemon")

DEFAULT_TOP_K = 10
MAX_TOP_K = 1000
MAX_QUERY_CHARS = 100_000
MAX_EMBED_TEXTS = 4096
PREVIEW_LINES = 6


def _report_errors(method):
    """Turn UserError into its status and unexpected errors into a logged INTERNAL."""

    def fail(context, err: Exception):
        if isinstance(err, UserError):
            context.abort(err.code, str(err))
        log.exception("internal error in %s", method.__name__)
        context.abort(grpc.StatusCode.INTERNAL,
                      f"internal error: {err.__class__.__name__}: {err} (details in the daemon log)")

    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def stream(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as err:  # noqa: BLE001 - every error must reach the client as a status
                fail(context, err)
        return stream

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except Exception as err:  # noqa: BLE001
            fail(context, err)
    return unary


def _hit(h: StoredHit) -> pb.Hit:
    preview = "\n".join(h.text.splitlines()[:PREVIEW_LINES])
    return pb.Hit(path=h.path, start_line=h.start_line, end_line=h.end_line, score=h.score,
                  symbol=h.symbol, kind=h.kind, preview=preview)


def _summary(s: Summary) -> pb.IndexSummary:
    return pb.IndexSummary(**vars(s))


def _ranked(index, encoder, request, text: str, kind: str, filters: Filters) -> list[StoredHit]:
    """Search by the request's mode: the encoder's vector, the lexical terms, or both."""
    top_k = _top_k(request.top_k)
    vector = encoder.encode([text], kind=kind)[0] if request.mode != pb.LEXICAL else None
    return index.search(top_k, vector, text if request.mode != pb.DENSE else "", filters, kind)


def _language(request) -> str:
    if request.language and request.language not in GRAMMARS:
        raise UserError(f"unknown language {request.language!r}: use one of {', '.join(sorted(GRAMMARS))}")
    return request.language


def _top_k(requested: int) -> int:
    if requested < 0 or requested > MAX_TOP_K:
        raise UserError(f"--top-k must be between 1 and {MAX_TOP_K}, not {requested}")
    return requested or DEFAULT_TOP_K


class CodeSearchService(pb_grpc.CodeSearchServicer):
    def __init__(self, engine: Engine, info: Callable[[], pb.DaemonInfo]):
        self.engine = engine
        self.info = info

    @_report_errors
    def Index(self, request, context):
        encoder, repos = self.engine.require()
        index = repos.get(gitrepo.work_tree_root(request.repo or "."))
        for notice in _drain(index.notices):
            yield pb.IndexProgress(phase=pb.IndexProgress.SCANNING, notice=notice)
        updates: queue.Queue = queue.Queue()
        # The job runs on its own thread and finishes even if the client goes away.
        threading.Thread(target=self._index_job, args=(index, encoder, request.rebuild, updates),
                         name="index-job", daemon=True).start()
        while (item := updates.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item

    @staticmethod
    def _index_job(index, encoder, rebuild: bool, updates: queue.Queue) -> None:
        def progress(total, done, embedded):
            updates.put(pb.IndexProgress(phase=pb.IndexProgress.EMBEDDING, files_total=total,
                                         files_done=done, chunks_done=embedded))
        try:
            if index.is_writing():
                updates.put(pb.IndexProgress(phase=pb.IndexProgress.SCANNING,
                                             notice="waiting for another indexing job on this repository"))
            with index.writer():
                summary = Indexer(index, encoder, progress).sync_work_tree(rebuild)
            updates.put(pb.IndexProgress(phase=pb.IndexProgress.DONE, summary=_summary(summary)))
        except Exception as err:  # noqa: BLE001 - handed to the RPC thread, which reports it
            updates.put(err)
        finally:
            updates.put(None)

    @_report_errors
    def Update(self, request, context):
        encoder, repos = self.engine.require()
        index = repos.get(gitrepo.work_tree_root(request.repo or "."))
        paths = [gitrepo.relative_path(index.repo_root, p) for p in request.paths]
        with index.writer():
            summary = Indexer(index, encoder).update_files(paths)
        summary.notices += _drain(index.notices)
        return _summary(summary)

    @_report_errors
    def Search(self, request, context):
        query = request.query.strip()
        if not query:
            raise UserError("the query is empty: give a few words describing the code you want")
        if len(query) > MAX_QUERY_CHARS:
            raise UserError(f"the query is {len(query)} characters long; keep it under {MAX_QUERY_CHARS}")
        encoder, index = self._indexed(request.repo)
        hits = _ranked(index, encoder, request, query, "query", Filters(request.path_glob, _language(request)))
        return pb.SearchResponse(hits=[_hit(h) for h in hits], commit=index.meta("indexed_commit"))

    @_report_errors
    def Similar(self, request, context):
        encoder, index = self._indexed(request.repo)
        path = gitrepo.relative_path(index.repo_root, request.path)
        text = request.text if request.HasField("text") else self._read(index.repo_root, path)
        start, end = _span(text, path, request.start_line, request.end_line)
        lines = text.splitlines()[start - 1:end]
        if not "".join(lines).strip():
            raise UserError(f"{path}:{start}-{end} holds only blank lines: select some code")
        filters = Filters(request.path_glob, _language(request), exclude=(path, start, end))
        hits = _ranked(index, encoder, request, "\n".join(lines), "code", filters)
        return pb.SearchResponse(hits=[_hit(h) for h in hits], commit=index.meta("indexed_commit"))

    @_report_errors
    def Status(self, request, context):
        _, repos = self.engine.require()
        if request.repo:
            roots = [gitrepo.work_tree_root(request.repo)]
            repos.get(roots[0])  # opening checks the index, so a damaged one shows as not indexed
        else:
            roots = repos.known_roots()
        return pb.StatusResponse(daemon=self.info(), repos=[_repo_status(repos, r) for r in roots])

    def _indexed(self, repo: str):
        encoder, repos = self.engine.require()
        root = gitrepo.work_tree_root(repo or ".")
        index = repos.get(root)
        if not index.meta("last_update"):
            raise FailedPrecondition(f"{root} is not indexed yet: run `ltlsp index {root}`")
        return encoder, index

    @staticmethod
    def _read(root: Path, path: str) -> str:
        try:
            return read_text(root, path)
        except FileNotFoundError:
            raise NotFound(f"{path}: no such file in {root}") from None
        except IsADirectoryError:
            raise UserError(f"{path} is a directory: give a file and a line, e.g. {path}/main.py:10") from None


def _repo_status(repos: Repos, root: Path) -> pb.RepoStatus:
    """State of one repository's index; an index that is not open is only peeked at."""
    folder = index_dir(repos.data_root, root)
    files = chunks = 0
    meta: dict[str, str] = {}
    writing = False
    if repos.is_open(root):
        index = repos.get(root)
        files, chunks, writing = index.file_count(), index.chunk_count(), index.is_writing()
        meta = {k: index.meta(k) for k in ("indexed_commit", "model_id", "last_update")}
    elif (folder / "index.sqlite").exists():
        try:
            files, chunks, meta = peek_counts(folder)
        except sqlite3.DatabaseError:
            pass  # damaged: shown as empty here, repaired when the repository is next used
    return pb.RepoStatus(repo=str(root), indexed_commit=meta.get("indexed_commit", ""),
                         head=gitrepo.head_commit_cached(root) if root.is_dir() else "",
                         files=files, chunks=chunks, model_id=meta.get("model_id", ""),
                         last_update=float(meta.get("last_update") or 0), indexing=writing,
                         index_path=str(folder))


def _span(text: str, path: str, start: int, end: int) -> tuple[int, int]:
    """The 1-based inclusive line span to use as the query; end 0 = the unit around start."""
    count = len(text.splitlines())
    if start < 1:
        raise UserError(f"line numbers start at 1, not {start}")
    if start > count:
        raise UserError(f"{path}:{start} is past the end of the file, which has {count} lines")
    if end == 0:
        return enclosing_span(path, text, start)
    if end < start:
        raise UserError(f"{path}:{start}-{end}: the end line comes before the start line")
    return start, min(end, count)


def _drain(notices: list[str]) -> list[str]:
    taken = list(notices)
    del notices[:len(taken)]
    return taken


class EncoderService(pb_grpc.EncoderServicer):
    def __init__(self, engine: Engine):
        self.engine = engine

    @_report_errors
    def Embed(self, request, context):
        encoder, _ = self.engine.require()
        if len(request.texts) > MAX_EMBED_TEXTS:
            raise UserError(f"{len(request.texts)} texts in one call; send at most {MAX_EMBED_TEXTS}")
        kind = "query" if request.kind == pb.EmbedRequest.QUERY else "code"
        vectors = encoder.encode(list(request.texts), kind=kind) if request.texts else []
        return pb.EmbedResponse(vectors=[pb.Vector(values=v.tolist()) for v in vectors],
                                dim=encoder.dim, model_id=encoder.model_id)


class DaemonService(pb_grpc.DaemonServicer):
    def __init__(self, info: Callable[[], pb.DaemonInfo], request_stop: Callable[[], None]):
        self.info = info
        self.request_stop = request_stop

    def GetInfo(self, request, context):
        return self.info()

    def Shutdown(self, request, context):
        self.request_stop()
        return pb.ShutdownResponse()
