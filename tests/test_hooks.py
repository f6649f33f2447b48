"""`ltlsp hooks`: installing next to foreign hooks, core.hooksPath, and an index that follows
HEAD through commit, amend, rebase, branch switch, merge, rename and deletion.

Real git repositories, the real CLI and one real daemon for the module (conftest's Ltlsp). The
hooks inherit the test's environment from git, so their background updates reach that daemon.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SAMPLE_FILES, assert_same_as_fresh_index, git, index_db, make_repo, query
from ltlsp.server import hooks

HOOKS = ("post-commit", "post-merge", "post-checkout", "post-rewrite")
UPDATE_TIMEOUT_S = 90
RECORDER = """#!/bin/sh
# A user's own hook: records how it was called.
{{ echo "$(basename "$0") $*"; cat; echo "<end>"; }} >> "{log}"
exit {status}
"""


@pytest.fixture
def env(shared_ltlsp, monkeypatch):
    """Git and the hooks it runs talk to the module's daemon, never the user's."""
    for key in ("LTLSP_RUNTIME_DIR", "LTLSP_DATA_DIR", "LTLSP_IDLE_TIMEOUT"):
        monkeypatch.setenv(key, shared_ltlsp.env[key])
    return shared_ltlsp


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_repo(tmp_path / "repo", SAMPLE_FILES)


def write_hook(path: Path, text: str | bytes, mode: int = 0o755) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    path.chmod(mode)


def no_daemon(tmp_path: Path) -> dict:
    """An environment in which the CLI fails at once: its runtime dir cannot be created."""
    (tmp_path / "a-file").write_text("")
    return dict(os.environ, LTLSP_RUNTIME_DIR=str(tmp_path / "a-file" / "run"))


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


# ---- the index compared with a fresh one ------------------------------------------------------

def indexed_commit(ltlsp, repo: Path) -> str:
    db = index_db(ltlsp, repo)
    rows = query(db, "SELECT value FROM meta WHERE key = 'indexed_commit'") if db else []
    return rows[0][0] if rows else ""


def wait_until_indexed(ltlsp, repo: Path, confirm: bool = True) -> None:
    """Poll (the update runs in the background) until the index is at HEAD; `confirm` with
    `ltlsp status` (a CLI start costs about a second here, so in-between steps skip it)."""
    target = head(repo)
    deadline = time.monotonic() + UPDATE_TIMEOUT_S
    while indexed_commit(ltlsp, repo) != target:
        assert time.monotonic() < deadline, f"the index never reached HEAD {target[:8]}"
        time.sleep(0.1)
    if not confirm:
        return
    status = json.loads(ltlsp.run("status", "--repo", str(repo), "--json").stdout)["repos"][0]
    assert status["indexed_commit"] == status["head"] == target


# ---- installing, uninstalling, status ---------------------------------------------------------

def test_fresh_install_writes_four_marked_executable_hooks(repo, ltlsp):
    done = ltlsp.run("hooks", "install", "--repo", str(repo))
    assert done.stdout.splitlines() == [f"{name}: installed" for name in HOOKS]
    for name in HOOKS:
        hook = repo / ".git" / "hooks" / name
        assert os.access(hook, os.X_OK)
        lines = hook.read_text().splitlines()
        assert lines[:2] == ["#!/bin/sh", hooks.MARKER]
        assert sys.executable in hook.read_text()  # the installing interpreter: venvs work
    status = json.loads(ltlsp.run("hooks", "status", "--repo", str(repo), "--json").stdout)
    assert status == {"hooks_dir": str(repo / ".git" / "hooks"), "core_hooks_path": False,
                      "hooks": dict.fromkeys(HOOKS, "ours")}
    assert "post-commit    ltlsp" in ltlsp.run("hooks", "status", "--repo", str(repo)).stdout


def test_status_before_install_and_outside_git(repo, ltlsp, tmp_path):
    write_hook(repo / ".git" / "hooks" / "post-merge", "#!/bin/sh\n")
    status = json.loads(ltlsp.run("hooks", "status", "--repo", str(repo), "--json").stdout)
    assert status["hooks"] == {**dict.fromkeys(HOOKS, "absent"), "post-merge": "foreign"}
    (tmp_path / "plain").mkdir()
    done = ltlsp.run("hooks", "install", "--repo", str(tmp_path / "plain"), check=False)
    assert done.returncode == 2 and "not inside a git repository" in done.stderr


def test_reinstall_is_idempotent_and_never_chains_itself(repo, ltlsp, tmp_path):
    log = tmp_path / "calls.log"
    foreign = RECORDER.format(log=log, status=0)
    write_hook(repo / ".git" / "hooks" / "post-merge", foreign)
    ltlsp.run("hooks", "install", "--repo", str(repo))
    first = {p.name: p.read_bytes() for p in (repo / ".git" / "hooks").iterdir()}
    again = ltlsp.run("hooks", "install", "--repo", str(repo)).stdout
    assert "post-merge: already installed (rewritten), chaining post-merge.legacy" in again
    assert {p.name: p.read_bytes() for p in (repo / ".git" / "hooks").iterdir()} == first
    assert first["post-merge.legacy"] == foreign.encode()
    subprocess.run([str(repo / ".git" / "hooks" / "post-merge"), "0"], cwd=repo, check=True,
                   env=no_daemon(tmp_path))
    assert log.read_text() == "post-merge.legacy 0\n<end>\n"  # the user's hook ran once


def test_uninstall_restores_foreign_hooks_byte_for_byte(repo, ltlsp, tmp_path):
    hooks_dir = repo / ".git" / "hooks"
    odd = b"#!/bin/sh\n# \xff\xfe not UTF-8, no final newline\ntrue"
    write_hook(hooks_dir / "post-commit", odd, mode=0o750)
    (tmp_path / "shared.sh").write_text("#!/bin/sh\n")
    (hooks_dir / "post-checkout").symlink_to(tmp_path / "shared.sh")
    ltlsp.run("hooks", "install", "--repo", str(repo))
    assert (hooks_dir / "post-commit.legacy").read_bytes() == odd
    done = ltlsp.run("hooks", "uninstall", "--repo", str(repo))
    assert "post-commit: removed; restored the previous hook from post-commit.legacy" in done.stdout
    assert (hooks_dir / "post-commit").read_bytes() == odd
    assert (hooks_dir / "post-commit").stat().st_mode & 0o777 == 0o750
    assert os.readlink(hooks_dir / "post-checkout") == str(tmp_path / "shared.sh")
    assert not (hooks_dir / "post-merge").exists() and not (hooks_dir / "post-rewrite").exists()
    assert not list(hooks_dir.glob("*.legacy"))
    again = ltlsp.run("hooks", "uninstall", "--repo", str(repo)).stdout
    assert "post-commit: another hook, left alone" in again and "post-merge: not installed" in again


def test_install_refuses_to_overwrite_an_existing_legacy_hook(repo, ltlsp):
    hooks_dir = repo / ".git" / "hooks"
    write_hook(hooks_dir / "post-rewrite", "#!/bin/sh\necho mine\n")
    write_hook(hooks_dir / "post-rewrite.legacy", "#!/bin/sh\necho older\n")
    before = {p.name: p.read_bytes() for p in hooks_dir.iterdir()}
    done = ltlsp.run("hooks", "install", "--repo", str(repo), check=False)
    assert done.returncode == 2
    assert "post-rewrite.legacy exists too" in done.stderr and "Traceback" not in done.stderr
    assert {p.name: p.read_bytes() for p in hooks_dir.iterdir()} == before  # all or nothing


def test_linked_worktree_uses_the_shared_hooks(repo, ltlsp, tmp_path):
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "wt")
    ltlsp.run("hooks", "install", "--repo", str(tmp_path / "wt"))
    assert hooks.is_ours(repo / ".git" / "hooks" / "post-commit")


# ---- core.hooksPath -------------------------------------------------------------------------

def test_core_hooks_path_inside_the_repository_is_followed(repo, env, tmp_path):
    git(repo, "config", "core.hooksPath", ".githooks")
    env.run("index", str(repo), "--json")
    env.run("hooks", "install", "--repo", str(repo))
    status = json.loads(env.run("hooks", "status", "--repo", str(repo), "--json").stdout)
    assert status["core_hooks_path"] and status["hooks_dir"] == str(repo / ".githooks")
    assert set(status["hooks"].values()) == {"ours"}
    assert hooks.is_ours(repo / ".githooks" / "post-commit")
    assert not (repo / ".git" / "hooks" / "post-commit").exists()
    (repo / "math" / "stats.py").write_text("def median(xs):\n    return sorted(xs)[len(xs) // 2]\n")
    git(repo, "commit", "-qam", "median")
    wait_until_indexed(env, repo)
    assert_same_as_fresh_index(env, repo, tmp_path)


@pytest.mark.parametrize("where", ["outside", "tracked"])
def test_core_hooks_path_elsewhere_or_tracked_is_refused(repo, ltlsp, tmp_path, where):
    if where == "outside":
        hooks_dir = tmp_path / "team-hooks"
        hooks_dir.mkdir()
        reason = "outside this repository"
    else:
        hooks_dir = repo / ".githooks"
        write_hook(hooks_dir / "post-commit", "#!/bin/sh\necho team hook\n")
        git(repo, "add", ".githooks")
        git(repo, "commit", "-qm", "team hooks")
        reason = "where git tracks post-commit"
    git(repo, "config", "core.hooksPath", str(hooks_dir))
    before = {p.name: p.read_bytes() for p in hooks_dir.iterdir()}
    done = ltlsp.run("hooks", "install", "--repo", str(repo), check=False)
    assert done.returncode == 2, done.stdout
    assert f"core.hooksPath is set to {hooks_dir}" in done.stderr and reason in done.stderr
    assert "git config --unset core.hooksPath" in done.stderr  # the fix
    assert {p.name: p.read_bytes() for p in hooks_dir.iterdir()} == before
    assert not (repo / ".git" / "hooks" / "post-commit").exists()


# ---- the hook script: chaining, speed, when it updates ---------------------------------------

def test_foreign_hooks_are_chained_with_the_same_arguments_and_stdin(repo, env, tmp_path):
    log = tmp_path / "calls.log"
    for name in HOOKS:
        write_hook(repo / ".git" / "hooks" / name, RECORDER.format(log=log, status=0))
    env.run("index", str(repo), "--json")
    env.run("hooks", "install", "--repo", str(repo))
    old = head(repo)
    git(repo, "commit", "-q", "--amend", "-m", "amended")
    new = head(repo)
    git(repo, "checkout", "-q", "-b", "side")
    assert log.read_text() == (f"post-commit.legacy \n<end>\n"
                               f"post-rewrite.legacy amend\n{old} {new}\n<end>\n"
                               f"post-checkout.legacy {new} {new} 1\n<end>\n")
    wait_until_indexed(env, repo)  # the user's hooks ran, and so did the update


def test_the_legacy_hooks_exit_status_is_kept(repo, ltlsp, tmp_path):
    write_hook(repo / ".git" / "hooks" / "post-checkout", "#!/bin/sh\nexit 3\n")
    without = subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", "one"]).returncode
    ltlsp.run("hooks", "install", "--repo", str(repo))
    with_ours = subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", "two"],
                               env=no_daemon(tmp_path)).returncode
    assert without == with_ours == 1  # git turns the hook's 3 into its own 1


def test_hook_returns_at_once_silently_and_exits_0_when_the_cli_fails(repo, ltlsp, tmp_path):
    ltlsp.run("hooks", "install", "--repo", str(repo))
    broken = no_daemon(tmp_path)
    cli = subprocess.run([sys.executable, "-m", "ltlsp.server.cli", "index", "."], cwd=repo, env=broken,
                         capture_output=True)
    assert cli.returncode != 0  # what the hook starts would fail...
    times = []
    for _ in range(5):
        start = time.perf_counter()
        done = subprocess.run([str(repo / ".git" / "hooks" / "post-commit")], cwd=repo, env=broken,
                              capture_output=True)
        times.append(time.perf_counter() - start)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")  # ...yet the hook is fine
    assert statistics.median(times) <= 0.05, times
    checkout = subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", "x"], env=broken,
                              capture_output=True)
    assert (checkout.returncode, checkout.stdout, checkout.stderr) == (0, b"", b"")


@pytest.mark.parametrize("hook, args, updates", [
    ("post-commit", [], True),
    ("post-commit", ["<rebasing>"], False),   # post-rewrite follows at the end of the rebase
    ("post-merge", ["0"], True),
    ("post-checkout", ["a" * 40, "b" * 40, "1"], True),
    ("post-checkout", ["a" * 40, "a" * 40, "0"], False),  # a file checkout: HEAD did not move
    ("post-rewrite", ["rebase"], True),
    ("post-rewrite", ["amend"], False),  # post-commit already ran for the amend
])
def test_which_invocations_start_an_update(repo, tmp_path, hook, args, updates):
    """The script as installed, with a stand-in interpreter that records its arguments."""
    calls = tmp_path / "python-calls"
    fake = tmp_path / "python"
    write_hook(fake, f'#!/bin/sh\necho "$PWD ${{GIT_INDEX_FILE-(unset)}} $*" >> "{calls}"\n')
    if args == ["<rebasing>"]:
        (repo / ".git" / "rebase-merge").mkdir()
        args = []
    script = tmp_path / hook
    write_hook(script, hooks.hook_script(hook, str(fake)))
    as_git_runs_it = dict(os.environ, GIT_INDEX_FILE=".git/index")  # must not reach ltlsp
    subprocess.run([str(script), *args], cwd=repo, env=as_git_runs_it, check=True)
    # A run that surely updates, started after the one above and slower: once it has recorded,
    # the one above has long recorded too, if it was going to.
    sentinel, slow_fake = tmp_path / "sentinel", tmp_path / "slow-python"
    write_hook(slow_fake, f'#!/bin/sh\nsleep 0.3; echo sentinel >> "{calls}"\n')
    write_hook(sentinel, hooks.hook_script("post-merge", str(slow_fake)))
    subprocess.run([str(sentinel), "0"], cwd=repo, check=True)
    update = f"{repo} (unset) -m ltlsp.server.cli index --json ."
    deadline = time.monotonic() + 10
    while not ((recorded := calls.read_text().splitlines() if calls.exists() else [])
               and "sentinel" in recorded and (update in recorded or not updates)):
        assert time.monotonic() < deadline, recorded
        time.sleep(0.02)
    assert [line for line in recorded if line != "sentinel"] == ([update] if updates else [])


# ---- the index follows HEAD ------------------------------------------------------------------

def _commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def scenario_commit(repo, settle):
    (repo / "net" / "headers.py").write_text("def parse_cookie(text):\n"
                                             "    return dict(p.split('=') for p in text.split(';'))\n")
    (repo / "util").mkdir()
    (repo / "util" / "retry.py").write_text("def retry(fn, times=3):\n"
                                            "    for _ in range(times):\n        fn()\n")
    _commit_all(repo, "cookies and retries")


def scenario_amend(repo, settle):
    (repo / "math" / "stats.py").write_text("def total(values):\n    return sum(values)\n")
    _commit_all(repo, "total")
    settle()
    (repo / "math" / "stats.py").write_text("def total(values, start=0):\n    return sum(values, start)\n")
    git(repo, "commit", "-qa", "--amend", "--no-edit")


def setup_rebase(repo):
    git(repo, "branch", "-M", "main")
    git(repo, "checkout", "-qb", "feature")
    (repo / "feature.py").write_text("def feature_flag(name):\n    return name.startswith('beta')\n")
    _commit_all(repo, "feature flag")
    (repo / "store" / "cache.py").write_text("class Cache(dict):\n    pass\n")
    _commit_all(repo, "simpler cache")
    git(repo, "checkout", "-q", "main")
    (repo / "math" / "summary.py").write_text("def spread(xs):\n    return max(xs) - min(xs)\n")
    _commit_all(repo, "range as spread")
    git(repo, "checkout", "-q", "feature")


def scenario_rebase(repo, settle):
    git(repo, "rebase", "-q", "main")


def setup_branches(repo):
    git(repo, "branch", "-M", "main")
    git(repo, "checkout", "-qb", "other")
    (repo / "net" / "headers.py").write_text("def header_names(lines):\n"
                                             "    return [l.split(':')[0] for l in lines]\n")
    git(repo, "rm", "-q", "README.md")
    (repo / "cli.py").write_text("import sys\n\nprint(sys.argv)\n")
    _commit_all(repo, "other")
    git(repo, "checkout", "-q", "main")


def scenario_branch_switch(repo, settle):
    git(repo, "switch", "-q", "other")
    settle()
    git(repo, "switch", "-q", "main")


def scenario_merge(repo, settle):
    (repo / "math" / "stats.py").write_text("def mode(values):\n"
                                            "    return max(set(values), key=values.count)\n")
    _commit_all(repo, "mode")
    settle()
    git(repo, "merge", "-q", "--no-ff", "-m", "merge other", "other")


def scenario_rename(repo, settle):
    git(repo, "mv", "math/summary.py", "math/spread.py")
    _commit_all(repo, "rename")


def scenario_deletion(repo, settle):
    git(repo, "rm", "-q", "store/cache.py")
    _commit_all(repo, "no cache")


SCENARIOS = {
    "commit": (None, scenario_commit),
    "amend": (None, scenario_amend),
    "rebase": (setup_rebase, scenario_rebase),
    "branch switch": (setup_branches, scenario_branch_switch),
    "merge": (setup_branches, scenario_merge),
    "rename": (None, scenario_rename),
    "deletion": (None, scenario_deletion),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_index_follows_head_and_equals_a_fresh_index(repo, env, tmp_path, name):
    setup, act = SCENARIOS[name]
    if setup:
        setup(repo)  # before the hooks: only the act below drives the index
    env.run("index", str(repo), "--json")
    env.run("hooks", "install", "--repo", str(repo))
    act(repo, lambda: wait_until_indexed(env, repo, confirm=False))
    wait_until_indexed(env, repo)
    assert_same_as_fresh_index(env, repo, tmp_path)
