"""`ltlsp lsp`: the language server, a thin client of the ltlsp daemon over stdio.

Semantic search through `workspace/symbol` and the custom requests `ltlsp/search` and
`ltlsp/similar`; `didSave` updates the index; the workspace is indexed on start with work-done
progress. Every handler that talks to the daemon runs on a worker thread, so a daemon that is
starting or busy never blocks the editor. Imports only pygls and the daemon's gRPC client.

Failures reach the editor in one of two ways. Bad input is an InvalidParams error whose message
says what to change. The daemon's own state (down, starting, indexing) is told once through
`window/showMessage`, and a request it stops fails with RequestFailed, which the ltlsp editor
plugins therefore do not show a second time.
"""

import argparse
import itertools
import logging
import threading
from pathlib import Path

from ltlsp.lsp.compile_cache import compiled_code_cache

with compiled_code_cache("lsprotocol"):  # most of the start-up time: see compile_cache.py
    from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams  # noqa: E402
from pygls.lsp.server import LanguageServer  # noqa: E402
from pygls.uris import from_fs_path, to_fs_path, uri_scheme  # noqa: E402

from ltlsp.lsp.daemon import BadRequest, DaemonLink, DaemonTrouble, NotIndexed, git_root  # noqa: E402
from ltlsp.server import __version__  # noqa: E402

SEARCH_REQUEST = "ltlsp/search"
SIMILAR_REQUEST = "ltlsp/similar"
INDEX_STATE_NOTIFICATION = "$/ltlsp/indexState"  # "$/": clients that do not know it may ignore it
REINDEX_COMMAND = "ltlsp.server.reindex"  # "server." so that VS Code's own command ids stay free

DEFAULT_TOP_K = 10
MAX_TOP_K = 1000
# The daemon's limit for a query: a longer selection is no longer "a piece of code" to compare.
MAX_SELECTION_CHARS = 100_000
PROGRESS_CREATE_TIMEOUT_S = 10

SYMBOL_KINDS = {
    "function": types.SymbolKind.Function, "method": types.SymbolKind.Method,
    "class": types.SymbolKind.Class, "struct": types.SymbolKind.Struct,
    "interface": types.SymbolKind.Interface, "enum": types.SymbolKind.Enum,
    "module": types.SymbolKind.Module,
}
WINDOW_KIND = types.SymbolKind.Namespace  # a line window: a region of a file, not a named symbol


class RequestFailed(JsonRpcException):
    """LSP's RequestFailed: the daemon could not answer; the user was told why already."""

    CODE = -32803


class LtlspLanguageServer(LanguageServer):
    def __init__(self):
        super().__init__("ltlsp", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.top_k = DEFAULT_TOP_K
        self.daemon = DaemonLink(on_starting=lambda: self.tell_once(
            "daemon-start", types.MessageType.Info,
            "ltlsp: starting the daemon (loading the model takes a few seconds)"))
        self._told: set[str] = set()
        self._indexing: dict[Path, threading.Thread] = {}
        self._lock = threading.Lock()
        self.progress_tokens = itertools.count(1)

    # ---- talking to the user -------------------------------------------------------------

    def tell(self, kind: types.MessageType, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def tell_once(self, topic: str, kind: types.MessageType, message: str) -> None:
        """Show a message about a state of things once, until settle(topic) says it is over."""
        with self._lock:
            if topic in self._told:
                return
            self._told.add(topic)
        self.tell(kind, message)

    def settle(self, *topics: str) -> None:
        with self._lock:
            self._told.difference_update(topics)

    def log(self, message: str) -> None:
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=message))

    # ---- settings ------------------------------------------------------------------------

    def apply_settings(self, settings) -> None:
        """Take `{"topK": N}` (initializationOptions or the `ltlsp` configuration section)."""
        if not isinstance(settings, dict):
            return
        top_k = settings.get("topK", settings.get("top_k"))
        if top_k is None:
            return
        try:
            self.top_k = checked_top_k(top_k)
        except JsonRpcInvalidParams as err:
            self.tell(types.MessageType.Warning, f"ltlsp: setting topK: {err.message}")

    # ---- where to search -----------------------------------------------------------------

    def workspace_roots(self) -> list[Path]:
        """The git work trees of the workspace folders (or the root), each once."""
        uris = [folder.uri for folder in self.workspace.folders.values()]
        if not uris and self.workspace.root_uri:
            uris = [self.workspace.root_uri]
        roots = []
        for uri in uris:
            path = to_fs_path(uri) if uri_scheme(uri) == "file" else None
            root = git_root(Path(path)) if path else None
            if root and root not in roots:
                roots.append(root)
        return roots

    def document_file(self, uri: str) -> tuple[Path, Path]:
        """(work tree, file) of a document, or InvalidParams saying why there is none."""
        path = to_fs_path(uri) if uri_scheme(uri) == "file" else None
        if not path:
            raise JsonRpcInvalidParams("ltlsp: this buffer is not saved to a file; save it in a git "
                                       "repository to find similar code there")
        root = git_root(Path(path))
        if root is None:
            raise JsonRpcInvalidParams(f"ltlsp: {path} is not inside a git repository; ltlsp searches "
                                       "git work trees (open a file of one, or run `git init`)")
        return root, Path(path)

    def document_text(self, uri: str, path: Path) -> str:
        """The text as the editor has it; for a document it has not opened, the file's."""
        if uri in self.workspace.text_documents:
            return self.workspace.get_text_document(uri).source
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise JsonRpcInvalidParams(f"ltlsp: {path} does not exist; save it first") from None
        except OSError as err:
            raise JsonRpcInvalidParams(f"ltlsp: cannot read {path}: {err.strerror}") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.tell_once(f"lossy {path}", types.MessageType.Warning,
                           f"ltlsp: {path.name} is not valid UTF-8; its invalid bytes were replaced "
                           "for the comparison")
            return data.decode("utf-8", "replace")

    # ---- asking the daemon ---------------------------------------------------------------

    def ask(self, root: Path, call, *args, **kwargs):
        """`call(*args, **kwargs)`, a DaemonLink method about `root`; its failures become LSP errors
        and, once, a message."""
        try:
            reply = call(*args, **kwargs)
        except NotIndexed:
            self.index_in_background(root)
            message = (f"ltlsp: {root.name} is being indexed for the first time; "
                       "try again when the progress report says it is done")
            self.tell_once(f"indexing {root}", types.MessageType.Info, message)
            raise RequestFailed(message) from None
        except DaemonTrouble as err:
            self.tell_once("daemon", types.MessageType.Error, str(err))
            raise RequestFailed(str(err)) from None
        except BadRequest as err:
            raise JsonRpcInvalidParams(f"ltlsp: {err}") from None
        self.settle("daemon", "daemon-start")
        return reply

    def search(self, roots: list[Path], query: str, top_k: int, **filters: str) -> list[tuple]:
        """(work tree, hit) pairs over several work trees, best first."""
        found = []
        for root in roots:
            found += [(root, hit) for hit in self.ask(root, self.daemon.search, root, query, top_k, **filters)]
        return sorted(found, key=lambda pair: -pair[1].score)[:top_k]

    # ---- indexing ------------------------------------------------------------------------

    def index_in_background(self, root: Path) -> None:
        """Index `root` on a thread of its own, unless that is already happening.

        Not on the handler pool: an exiting server must not wait for an indexing job (the
        daemon finishes it anyway).
        """
        with self._lock:
            running = self._indexing.get(root)
            if running and running.is_alive():
                return
            thread = threading.Thread(target=self.index_quietly, args=(root,), daemon=True,
                                      name=f"index {root.name}")
            self._indexing[root] = thread
        thread.start()

    def index_quietly(self, root: Path) -> None:
        try:
            self.index(root, rebuild=False)
        except (RequestFailed, JsonRpcInvalidParams) as err:
            self.log(err.message)

    def index(self, root: Path, rebuild: bool):
        """Bring the index of `root` up to date, reporting work-done progress meanwhile; the
        daemon's IndexSummary."""
        progress = IndexProgress(self, root)
        self.notify_index_state(root, "indexing")
        summary = None
        try:
            for update in self.daemon.index(root, rebuild):
                if update.notice:
                    self.tell(types.MessageType.Warning, f"ltlsp: {update.notice}")
                if update.HasField("summary"):
                    summary = update.summary
                elif update.files_total:
                    progress.report(update.files_done, update.files_total, update.chunks_done)
        except DaemonTrouble as err:
            progress.end("failed")
            self.notify_index_state(root, "error", message=str(err))
            self.tell_once("daemon", types.MessageType.Error, str(err))
            raise RequestFailed(str(err)) from None
        except BadRequest as err:  # e.g. a bare repository: nothing the daemon can index
            progress.end("failed")
            self.notify_index_state(root, "error", message=str(err))
            self.tell(types.MessageType.Warning, f"ltlsp: {err}")
            raise RequestFailed(f"ltlsp: {err}") from None
        if summary is None:  # the stream ended early: the daemon went away mid-job
            progress.end("failed")
            raise RequestFailed("ltlsp: indexing stopped before it finished; see the daemon log")
        progress.end(f"{summary.chunks_total} chunks in {summary.files_indexed + summary.files_unchanged} "
                     f"files ({summary.chunks_embedded} embedded) in {summary.seconds:.1f} s")
        for notice in summary.notices:
            self.tell(types.MessageType.Warning, f"ltlsp: {notice}")
        self.settle("daemon", "daemon-start", f"indexing {root}")
        self.notify_index_state(root, "ready", chunks=summary.chunks_total)
        return summary

    def notify_index_state(self, root: Path, state: str, chunks: int = 0, message: str = "") -> None:
        """Tell the editor plugins what the index is doing (the VS Code status bar shows it)."""
        self.protocol.notify(INDEX_STATE_NOTIFICATION, {
            "uri": from_fs_path(str(root)), "state": state, "chunks": chunks, "message": message})


class IndexProgress:
    """Work-done progress of one indexing job; silent when the client has no progress UI."""

    def __init__(self, ls: LtlspLanguageServer, root: Path):
        self.ls = ls
        self.token = None
        window = ls.client_capabilities.window
        if not (window and window.work_done_progress):
            return
        token = f"ltlsp-index-{next(ls.progress_tokens)}"
        try:
            ls.work_done_progress.create(token).result(timeout=PROGRESS_CREATE_TIMEOUT_S)
        except Exception as err:  # noqa: BLE001 - no progress bar is no reason to stop indexing
            ls.log(f"ltlsp: no progress report for indexing ({err})")
            return
        self.token = token
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title=f"ltlsp: indexing {root.name}", percentage=0, cancellable=False))

    def report(self, files_done: int, files_total: int, chunks_done: int) -> None:
        if self.token:
            self.ls.work_done_progress.report(self.token, types.WorkDoneProgressReport(
                message=f"{files_done}/{files_total} files, {chunks_done} chunks embedded",
                percentage=int(100 * files_done / max(files_total, 1))))

    def end(self, message: str) -> None:
        if self.token:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))


server = LtlspLanguageServer()


# ---- lifecycle and settings ----------------------------------------------------------------

@server.feature(types.INITIALIZE)
def initialize(ls: LtlspLanguageServer, params: types.InitializeParams):
    ls.apply_settings(params.initialization_options)


@server.feature(types.INITIALIZED)
def initialized(ls: LtlspLanguageServer, params: types.InitializedParams):
    roots = ls.workspace_roots()
    if not roots:
        ls.log("ltlsp: the workspace is not inside a git repository; nothing to index")
    for root in roots:
        ls.index_in_background(root)
    workspace = ls.client_capabilities.workspace
    if workspace and workspace.configuration:
        threading.Thread(target=pull_settings, args=(ls,), daemon=True).start()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: LtlspLanguageServer, params: types.DidChangeConfigurationParams):
    if isinstance(params.settings, dict) and "ltlsp" in params.settings:
        ls.apply_settings(params.settings["ltlsp"])
    elif ls.client_capabilities.workspace and ls.client_capabilities.workspace.configuration:
        threading.Thread(target=pull_settings, args=(ls,), daemon=True).start()


def pull_settings(ls: LtlspLanguageServer) -> None:
    """Ask the client for the `ltlsp` section (`workspace/configuration`)."""
    try:
        answer = ls.workspace_configuration(types.ConfigurationParams(
            items=[types.ConfigurationItem(section="ltlsp")])).result(timeout=10)
    except Exception as err:  # noqa: BLE001 - a client without settings keeps the defaults
        ls.log(f"ltlsp: could not read the settings: {err}")
        return
    if answer:
        ls.apply_settings(answer[0])


# ---- search ------------------------------------------------------------------------------

@server.feature(types.WORKSPACE_SYMBOL)
@server.thread()
def workspace_symbol(ls: LtlspLanguageServer, params: types.WorkspaceSymbolParams):
    if not params.query.strip():
        return []  # editors ask with "" as the picker opens
    roots = ls.workspace_roots()
    if not roots:
        ls.tell_once("no repository", types.MessageType.Warning,
                     "ltlsp: the workspace is not inside a git repository, so there is nothing to search")
        return []
    try:
        hits = ls.search(roots, params.query, ls.top_k)
    except RequestFailed:
        return []  # the user was told; an error here would only add a second message
    return [types.SymbolInformation(name=hit.symbol, kind=SYMBOL_KINDS.get(hit.kind, WINDOW_KIND),
                                    location=location(root, hit), container_name=hit.path)
            for root, hit in hits]


@server.feature(SEARCH_REQUEST)
@server.thread()
def search(ls: LtlspLanguageServer, params):
    """{query, topK?, pathGlob?, language?, textDocument?} -> results; the document picks the repository."""
    query = field(params, "query")
    if not isinstance(query, str) or not query.strip():
        raise JsonRpcInvalidParams("ltlsp: the query is empty: type a few words describing the code you want")
    top_k = checked_top_k(field(params, "topK", ls.top_k))
    document = field(params, "textDocument")
    roots = [ls.document_file(document_uri(document))[0]] if document is not None else ls.workspace_roots()
    if not roots:
        raise JsonRpcInvalidParams("ltlsp: the workspace is not inside a git repository; open a "
                                   "folder of one to search it")
    return [result(root, hit) for root, hit in ls.search(roots, query, top_k, **filters(params))]


@server.feature(SIMILAR_REQUEST)
@server.thread()
def similar(ls: LtlspLanguageServer, params):
    """{textDocument, range | position, topK?, pathGlob?, language?} -> code like the selection,
    as the buffer has it."""
    uri = document_uri(field(params, "textDocument"))
    root, path = ls.document_file(uri)
    start, end = query_lines(params)
    text = ls.document_text(uri, path)
    selected = "\n".join(text.splitlines()[start - 1:end or start])
    if len(selected) > MAX_SELECTION_CHARS:
        raise JsonRpcInvalidParams(f"ltlsp: the selection has {len(selected):,} characters; select at "
                                   f"most {MAX_SELECTION_CHARS:,} (a function or a class) to compare")
    hits = ls.ask(root, ls.daemon.similar, root, path, start, end, text,
                  checked_top_k(field(params, "topK", ls.top_k)), **filters(params))
    return [result(root, hit) for hit in hits]


# ---- keeping the index current -------------------------------------------------------------

@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
@server.thread()
def did_save(ls: LtlspLanguageServer, params: types.DidSaveTextDocumentParams):
    try:
        root, path = ls.document_file(params.text_document.uri)
        summary = ls.ask(root, ls.daemon.update, root, path)
    except (RequestFailed, JsonRpcInvalidParams) as err:
        ls.log(f"ltlsp: {params.text_document.uri} was not re-indexed: {err.message}")
        return
    if summary.lossy_utf8:
        ls.tell_once(f"lossy {path}", types.MessageType.Warning,
                     f"ltlsp: {path.name} is not valid UTF-8; it is indexed with its invalid bytes replaced")
    for notice in summary.notices:
        ls.tell(types.MessageType.Warning, f"ltlsp: {notice}")


@server.command(REINDEX_COMMAND)
@server.thread()
def reindex(ls: LtlspLanguageServer, *arguments):
    """Bring every workspace repository's index up to date; `{"rebuild": true}` re-embeds all."""
    options = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
    roots = ls.workspace_roots()
    if not roots:
        raise JsonRpcInvalidParams("ltlsp: the workspace is not inside a git repository; nothing to index")
    summaries = [ls.index(root, rebuild=bool(options.get("rebuild"))) for root in roots]
    return [{"repo": s.repo, "files": s.files_indexed + s.files_unchanged, "filesIndexed": s.files_indexed,
             "chunks": s.chunks_total, "seconds": round(s.seconds, 3)} for s in summaries]


# ---- helpers -------------------------------------------------------------------------------

def field(params, name: str, default=None):
    """A key of a custom request's params (pygls gives them as namedtuples), or `default`."""
    return getattr(params, name, default)


def document_uri(document) -> str:
    uri = field(document, "uri")
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams("ltlsp: the request needs textDocument.uri, the document to look in")
    return uri


def filters(params) -> dict[str, str]:
    """The optional result filters: `pathGlob` (e.g. "server/*.py") and `language` ("python")."""
    chosen = {"path_glob": field(params, "pathGlob") or "", "language": field(params, "language") or ""}
    for name, value in chosen.items():
        if not isinstance(value, str):
            raise JsonRpcInvalidParams(f"ltlsp: {name} must be a string, not {value!r}")
    return chosen


def checked_top_k(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise JsonRpcInvalidParams(f"ltlsp: topK must be a whole number between 1 and {MAX_TOP_K}, not {value!r}")
    return value


def query_lines(params) -> tuple[int, int]:
    """The 1-based lines to compare: a range's lines, or (cursor line, 0) for the unit around it."""
    selection, cursor = field(params, "range"), field(params, "position")
    if selection is not None:
        (first, first_char), (last, last_char) = position(field(selection, "start")), position(field(selection, "end"))
        if (first, first_char) == (last, last_char):
            raise JsonRpcInvalidParams("ltlsp: the selection is empty: select the code to compare, or ask "
                                       "with no selection to compare the code around the cursor")
        if last_char == 0 and last > first:
            last -= 1  # a selection of whole lines ends at the start of the next one
        return first + 1, last + 1
    if cursor is not None:
        return position(cursor)[0] + 1, 0
    raise JsonRpcInvalidParams("ltlsp: ltlsp/similar needs a range (the selection) or a position (the cursor)")


def position(value) -> tuple[int, int]:
    line, character = field(value, "line"), field(value, "character")
    if not all(isinstance(n, int) and n >= 0 for n in (line, character)):
        raise JsonRpcInvalidParams(f"ltlsp: {value!r} is not a position: give line and character, from 0")
    return line, character


def location(root: Path, hit) -> types.Location:
    """The hit's whole lines (the end is the start of the line after)."""
    return types.Location(uri=from_fs_path(str(root / hit.path)), range=types.Range(
        start=types.Position(line=hit.start_line - 1, character=0),
        end=types.Position(line=hit.end_line, character=0)))


def result(root: Path, hit) -> dict:
    """A Location with what the pickers show beside it."""
    where = location(root, hit)
    return {"uri": where.uri,
            "range": {"start": {"line": where.range.start.line, "character": 0},
                      "end": {"line": where.range.end.line, "character": 0}},
            "path": hit.path, "startLine": hit.start_line, "endLine": hit.end_line,
            "score": round(hit.score, 4), "symbol": hit.symbol, "kind": hit.kind, "preview": hit.preview}


class _DeliberateErrors(logging.Filter):
    """pygls logs every error response with a traceback; ours are answers, not crashes."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, (RequestFailed, JsonRpcInvalidParams))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ltlsp lsp", description=(
        "The ltlsp language server on stdin/stdout: workspace/symbol, ltlsp/search, ltlsp/similar."))
    parser.add_argument("--stdio", action="store_true", help="accepted for editors that pass it; stdio is the default")
    parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="ltlsp lsp: %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_DeliberateErrors())
    try:
        server.start_io()
    finally:
        server.daemon.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
