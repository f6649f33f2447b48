"""The language server end to end: the real `ltlsp lsp` over stdio, driven by pytest-lsp with the
capabilities of real editors, against the real daemon on a temporary git repository."""

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import from_fs_path
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from conftest import SAMPLE_FILES, Ltlsp, make_repo

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROFILES = ["visual_studio_code", "neovim@v0.7.0"]
READY_TIMEOUT_S = 240
REQUEST_FAILED = -32803
SAVED_FILES = itertools.count(1)

# A near-duplicate of net/headers.py's parse_header_line, with other names: only an unsaved
# editor buffer holds it, so a hit for it proves that similar-code reads the buffer.
HEADER_TWIN = '''\
def split_header(raw_line):
    """Split one HTTP header line into its name and its value."""
    key, colon, rest = raw_line.partition(":")
    if not colon:
        raise ValueError("header line has no colon: %r" % raw_line)
    return key.strip().lower(), rest.strip()
'''

LSP_FILES = dict(SAMPLE_FILES, **{
    "legacy/latin1.py": b"# caf\xe9 cr\xe8me br\xfbl\xe9e\ndef brew_coffee(cups):\n    return ['coffee'] * cups\n",
})


# ---- fixtures ------------------------------------------------------------------------------

def recording_client() -> LanguageClient:
    """pytest-lsp's client, also keeping the server's `$/ltlsp/indexState` notifications."""
    client = make_test_lsp_client()
    client.index_states = []

    @client.feature("$/ltlsp/indexState")
    def index_state(client: LanguageClient, params):
        client.index_states.append(params)

    return client


async def start_client(tool: Ltlsp, root: Path, profile: str, options: dict | None = None,
                       settings: dict | None = None) -> LanguageClient:
    """A language server started as the editor of `profile` starts it; `settings` is what the
    client answers to `workspace/configuration` for the `ltlsp` section."""
    client = recording_client()
    if settings is not None:
        client.set_configuration(settings, section="ltlsp")
    await client.start_io(sys.executable, "-m", "ltlsp.server.cli", "lsp", env=tool.env)
    client.initialize_result = await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(profile), root_uri=from_fs_path(str(root)),
        workspace_folders=[types.WorkspaceFolder(uri=from_fs_path(str(root)), name=root.name)],
        initialization_options=options))
    return client


async def wait_for(condition, what: str, timeout: float = READY_TIMEOUT_S):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


async def wait_until_indexed(client: LanguageClient, root: Path) -> dict:
    uri = from_fs_path(str(root))
    state = await wait_for(lambda: next((s for s in client.index_states
                                         if s.uri == uri and s.state in ("ready", "error")), None),
                           f"the index of {root}")
    assert state.state == "ready", state.message
    return state


@pytest.fixture(scope="module")
def tool(shared_ltlsp):
    """One daemon (and runtime and data dirs) for the module."""
    return shared_ltlsp


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("lsprepo").resolve() / "sample", LSP_FILES)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=PROFILES)
async def client(request, tool, repo):
    """A language server started as the editor of `request.param` starts it, with the index ready."""
    client = await start_client(tool, repo, request.param, options={"topK": 5})
    await wait_until_indexed(client, repo)
    yield client
    await client.shutdown_session()
    await client.stop()


def uri_of(repo: Path, rel: str) -> str:
    return from_fs_path(str(repo / rel))


def covers(result, repo: Path, rel: str, line: int) -> bool:
    """Whether a result or a SymbolInformation covers 1-based `line` of `rel` (ranges end at the
    start of the line after the hit)."""
    where = getattr(result, "location", result)
    return where.uri == uri_of(repo, rel) and where.range.start.line < line <= where.range.end.line


async def request(client: LanguageClient, method: str, params: dict):
    """Send a custom request; the result's objects come back with attribute access."""
    result = await client.protocol.send_request_async(method, params)
    return json.loads(json.dumps(result), object_hook=lambda fields: SimpleNamespace(**fields))


def open_document(client: LanguageClient, uri: str, text: str) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=text)))


def line_range(start: int, end: int) -> dict:
    """Whole lines start..end-1 (0-based), as an editor sends a selection of full lines."""
    return {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}


# ---- the server itself ---------------------------------------------------------------------

async def test_language_server_never_imports_heavy_modules():
    probe = ("import sys, ltlsp.lsp.server; "
             "print([m for m in ('torch', 'faiss', 'numpy', 'ltlsp.model') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


async def test_initialize_advertises_search_save_and_reindex(client):
    capabilities = client.initialize_result.capabilities
    assert capabilities.workspace_symbol_provider
    assert "ltlsp.server.reindex" in capabilities.execute_command_provider.commands
    assert capabilities.text_document_sync.save is not None


@pytest.mark.parametrize("profile", PROFILES)
async def test_first_indexing_reports_progress(tool, tmp_path, profile):
    fresh = make_repo(tmp_path / "fresh", {f"pkg/module_{i}.py": f"def handler_{i}(request):\n"
                                           f"    return request.reply({i})\n" for i in range(60)})
    client = await start_client(tool, fresh, profile)
    try:
        state = await wait_until_indexed(client, fresh)
        (token, reports), = client.progress_reports.items()
        assert client.messages == []
    finally:
        await client.shutdown_session()
        await client.stop()
    begin, *middle, end = reports
    assert token.startswith("ltlsp-index-")
    assert isinstance(begin, types.WorkDoneProgressBegin) and begin.title == "ltlsp: indexing fresh"
    assert len(middle) >= 2 and all(isinstance(r, types.WorkDoneProgressReport) for r in middle)
    assert [r.percentage for r in middle] == sorted(r.percentage for r in middle)
    assert middle[-1].percentage == 100 and middle[-1].message.startswith("60/60 files")
    assert isinstance(end, types.WorkDoneProgressEnd) and "60 files" in end.message
    assert state.chunks == 60


# ---- search --------------------------------------------------------------------------------

async def test_workspace_symbol_is_semantic_search(client, repo):
    symbols = await client.workspace_symbol_async(types.WorkspaceSymbolParams(
        query="split an HTTP header line into name and value"))
    assert 1 <= len(symbols) <= 5  # topK from initializationOptions
    assert any(covers(s, repo, "net/headers.py", 4) for s in symbols), symbols
    assert all(s.name and s.container_name and s.kind for s in symbols)


async def test_workspace_symbol_with_empty_query_is_empty(client):
    assert await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="")) == []


async def test_search_request_returns_ranked_results_with_previews(client, repo):
    results = await request(client, "ltlsp/search", {"query": "cache entries expire after seconds", "topK": 3})
    assert 1 <= len(results) <= 3
    assert any(covers(r, repo, "store/cache.py", 4) for r in results), results
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    only_math = await request(client, "ltlsp/search", {"query": "cache entries expire", "pathGlob": "math/*"})
    assert only_math and all(r.path.startswith("math/") for r in only_math)
    for r in results:
        lines = (repo / r.path).read_text(errors="replace").splitlines()   # as the index reads legacy/latin1.py
        assert r.preview.splitlines()[0] == lines[r.startLine - 1]
        assert r.range.start.line == r.startLine - 1 and r.uri == uri_of(repo, r.path)


async def test_search_in_a_repository_not_indexed_yet(client, tmp_path):
    other = make_repo(tmp_path / "other", {"units.py": "def convert_celsius_to_fahrenheit(celsius):\n"
                                                       "    return celsius * 9 / 5 + 32\n"})
    ask = {"query": "convert celsius to fahrenheit", "textDocument": {"uri": uri_of(other, "units.py")}}
    before = len(client.messages)
    with pytest.raises(JsonRpcException) as failure:
        await request(client, "ltlsp/search", ask)
    assert failure.value.code == REQUEST_FAILED and "indexed for the first time" in failure.value.message
    await wait_until_indexed(client, other)
    assert (await request(client, "ltlsp/search", ask))[0].path == "units.py"
    told = [m for m in client.messages[before:] if "indexed for the first time" in m.message]
    assert [m.type for m in told] == [types.MessageType.Info]


async def test_settings_from_workspace_configuration_and_changes(tool, repo):
    client = await start_client(tool, repo, "visual_studio_code", options={"topK": 5}, settings={"topK": 2})
    try:
        await wait_until_indexed(client, repo)
        query = types.WorkspaceSymbolParams(query="mean and variance of numbers")
        assert len(await client.workspace_symbol_async(query)) == 2  # pulled over initializationOptions
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"ltlsp": {"topK": 1}}))
        assert len(await client.workspace_symbol_async(query)) == 1
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"ltlsp": {"topK": "many"}}))
        warning = await wait_for(lambda: [m for m in client.messages if "topK" in m.message], "a warning")
        assert "between 1 and 1000" in warning[0].message
        assert len(await client.workspace_symbol_async(query)) == 1  # the bad value was not taken
    finally:
        await client.shutdown_session()
        await client.stop()


# ---- similar -------------------------------------------------------------------------------

async def test_similar_at_cursor_finds_the_twin_and_not_itself(client, repo):
    uri = uri_of(repo, "math/stats.py")
    results = await request(client, "ltlsp/similar", {
        "textDocument": {"uri": uri}, "position": {"line": 2, "character": 4}})
    assert results[0].path == "math/summary.py", results
    assert all(r.path != "math/stats.py" for r in results)


async def test_similar_reads_the_unsaved_editor_buffer(client, repo):
    uri = uri_of(repo, "scratch/not_on_disk.py")  # no such file: only the editor has this text
    open_document(client, uri, HEADER_TWIN)
    results = await request(client, "ltlsp/similar", {
        "textDocument": {"uri": uri}, "range": line_range(0, 6)})
    assert results[0].path == "net/headers.py", results
    assert not (repo / "scratch").exists()


async def test_did_save_then_search_sees_the_new_code(client, repo):
    rel = f"jobs/rotate_{next(SAVED_FILES)}.py"
    code = ('def rotate_nightly_backup_archives(backup_folder, archives_to_keep):\n'
            '    """Rotate the nightly backup archives, keeping the newest archives_to_keep."""\n'
            '    archives = sorted(backup_folder.glob("nightly-backup-*.tar.gz"))\n'
            '    for archive in archives[:-archives_to_keep]:\n'
            '        archive.unlink()\n')
    (repo / rel).parent.mkdir(exist_ok=True)
    (repo / rel).write_text(code)
    uri = uri_of(repo, rel)
    open_document(client, uri, code)
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))

    async def found():
        results = await request(client, "ltlsp/search", {
            "query": "rotate nightly backup archives keeping the newest archives", "topK": 3})
        return any(r.path == rel for r in results)

    deadline = asyncio.get_running_loop().time() + 60
    while not await found():
        assert asyncio.get_running_loop().time() < deadline, f"{rel} never showed up in search"
        await asyncio.sleep(0.2)


async def test_reindex_command_brings_the_index_up_to_date(client, repo):
    summaries = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="ltlsp.server.reindex", arguments=[]))
    assert summaries[0]["repo"] == str(repo)
    assert summaries[0]["files"] >= len(LSP_FILES) and summaries[0]["chunks"] >= len(LSP_FILES)


# ---- bad input: each gets a clear error, and the server keeps working --------------------------

async def expect_invalid(client: LanguageClient, method: str, params: dict, *phrases: str) -> str:
    with pytest.raises(JsonRpcInvalidParams) as failure:
        await request(client, method, params)
    message = failure.value.message
    assert all(p in message for p in phrases), message
    assert "Traceback" not in message
    return message


async def test_file_outside_any_git_repository(client, tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("def f():\n    return 1\n")
    await expect_invalid(client, "ltlsp/similar", {"textDocument": {"uri": from_fs_path(str(outside))},
                                                   "position": {"line": 0, "character": 0}},
                         "not inside a git repository")


async def test_buffer_never_saved_to_a_file(client):
    open_document(client, "untitled:Untitled-1", "def f():\n    return 1\n")
    await expect_invalid(client, "ltlsp/similar", {"textDocument": {"uri": "untitled:Untitled-1"},
                                                   "position": {"line": 0, "character": 0}},
                         "not saved to a file", "save it")


async def test_empty_and_blank_selections(client, repo):
    uri = uri_of(repo, "math/stats.py")
    await expect_invalid(client, "ltlsp/similar", {"textDocument": {"uri": uri}, "range": {
        "start": {"line": 3, "character": 2}, "end": {"line": 3, "character": 2}}}, "selection is empty")
    blank = uri_of(repo, "scratch/blank.py")
    open_document(client, blank, "def f():\n    pass\n\n\n\n")
    await expect_invalid(client, "ltlsp/similar", {"textDocument": {"uri": blank}, "range": line_range(2, 4)},
                         "only blank lines", "select some code")


async def test_huge_selection(client, repo):
    uri = uri_of(repo, "scratch/huge.py")
    text = "".join(f"def function_{i}(x):\n    return x + {i}\n" for i in range(40_000))
    assert len(text) >= 1_000_000
    open_document(client, uri, text)
    await expect_invalid(client, "ltlsp/similar", {"textDocument": {"uri": uri}, "range": line_range(0, 80_000)},
                         "characters", "select at most")


async def test_file_that_is_not_utf8(client, repo):
    results = await request(client, "ltlsp/similar", {
        "textDocument": {"uri": uri_of(repo, "legacy/latin1.py")}, "position": {"line": 1, "character": 0}})
    assert results and not any(r.path == "legacy/latin1.py" and r.startLine <= 3 and r.endLine >= 2
                               for r in results)  # the query's own lines are never a result
    warning = await wait_for(lambda: [m for m in client.messages if "latin1.py" in m.message], "a warning")
    assert len(warning) == 1 and "not valid UTF-8" in warning[0].message
    assert warning[0].type == types.MessageType.Warning


async def test_malformed_requests(client, repo):
    uri = uri_of(repo, "math/stats.py")
    await expect_invalid(client, "ltlsp/search", {"query": "   "}, "query is empty")
    await expect_invalid(client, "ltlsp/search", {"query": "mean", "topK": 0}, "topK", "between 1 and 1000")
    await expect_invalid(client, "ltlsp/similar", {"position": {"line": 0, "character": 0}}, "textDocument.uri")
    await expect_invalid(client, "ltlsp/similar", {"textDocument": {"uri": uri}}, "range", "position")
    await expect_invalid(client, "ltlsp/similar", {"textDocument": {"uri": uri},
                                                   "position": {"line": 500, "character": 0}},
                         "past the end of the file")
    assert await request(client, "ltlsp/search", {"query": "mean and variance"})  # still serving


# ---- the daemon going away -----------------------------------------------------------------

async def test_daemon_killed_then_one_message_and_recovery(client, tool, repo):
    os.kill(tool.daemon_info()["pid"], signal.SIGKILL)
    tool.wait_for_daemon_exit()
    before = len(client.messages)
    with pytest.raises(JsonRpcException) as failure:
        await request(client, "ltlsp/search", {"query": "mean and variance"})
    assert failure.value.code == REQUEST_FAILED and "daemon stopped" in failure.value.message
    results = await request(client, "ltlsp/search", {"query": "mean and variance of numbers"})
    assert any(r.path.startswith("math/") for r in results)
    tool.remember_daemon()
    told = [m for m in client.messages[before:] if "daemon" in m.message]
    assert [m.type for m in told if "stopped" in m.message] == [types.MessageType.Error], told
    assert [m.type for m in told if "starting the daemon" in m.message] == [types.MessageType.Info], told
