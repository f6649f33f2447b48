"""The Neovim plugin end to end: Debian's Neovim (0.7.2) headless, the real plugin, the real
`ltlsp lsp` and the real daemon on a temporary repository. The assertions are in
tests/nvim/cases.lua; each case runs in its own nvim."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE_FILES, Ltlsp, make_repo

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "nvim" / "cases.lua"
NVIM = shutil.which("nvim")

pytestmark = pytest.mark.skipif(NVIM is None and not os.environ.get("LTLSP_REQUIRE_EDITORS"),
                                reason="nvim is not installed (set LTLSP_REQUIRE_EDITORS=1 to fail instead)")

NVIM_FILES = dict(SAMPLE_FILES, **{
    "legacy/latin1.py": b"# caf\xe9 cr\xe8me br\xfbl\xe9e\ndef brew_coffee(cups):\n    return ['coffee'] * cups\n",
})


@pytest.fixture(scope="module")
def tool(shared_ltlsp):
    """One daemon (and runtime and data dirs) for the module."""
    return shared_ltlsp


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tool) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("nvimrepo").resolve() / "sample", NVIM_FILES)
    tool.run("index", str(repo))  # the plugin's server then finds it indexed (and checks so)
    return repo


def run_case(tool: Ltlsp, repo: Path, tmp_path: Path, case: str) -> subprocess.CompletedProcess:
    assert NVIM, "nvim is not installed, and LTLSP_REQUIRE_EDITORS is set"
    outside = tmp_path / "outside.py"
    outside.write_text("def f():\n    return 1\n")
    result = tmp_path / "result"
    setup = (f"lua vim.opt.rtp:append('{ROOT / 'extension' / 'nvim'}'); "
             f"require('ltlsp').setup({{ cmd = {{ '{sys.executable}', '-m', 'ltlsp.server.cli', 'lsp' }}, top_k = 5 }})")
    env = dict(tool.env, LTLSP_NVIM_CASE=case, LTLSP_NVIM_REPO=str(repo), LTLSP_NVIM_RESULT=str(result),
               LTLSP_NVIM_OUTSIDE=str(outside), XDG_STATE_HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path))
    done = subprocess.run([NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-c", setup, "-c", f"luafile {CASES}"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=280,
                          stdin=subprocess.DEVNULL)
    tool.remember_daemon()
    done.passed = done.returncode == 0 and result.exists() and result.read_text() == "ok"
    return done


@pytest.mark.parametrize("case", ["similar", "search", "bad_input"])
def test_plugin(tool, repo, tmp_path, case):
    done = run_case(tool, repo, tmp_path, case)
    assert done.passed, f"nvim exited {done.returncode}:\n{done.stderr}\n{done.stdout}"


def test_a_failing_lua_assertion_fails_the_run(tool, repo, tmp_path):
    done = run_case(tool, repo, tmp_path, "failing_assertion")
    assert done.returncode == 1 and not done.passed
    assert "this case fails on purpose" in done.stderr
