"""`ltlsp hooks install|uninstall|status`: git hooks that keep a repository's index at HEAD.

Modelled on pre-commit's installer: our hook carries an id marker line; a foreign hook already in
place is moved to `<hook>.legacy` and run first by ours, with the same arguments and stdin;
uninstall removes ours and puts the legacy hook back. The hooks directory is the one git uses
(`git rev-parse --git-path hooks`: worktrees and core.hooksPath included).

A core.hooksPath set by the user is followed only when it is a directory of this repository (in
its work tree or its git dir) whose hook files git does not track: a directory outside it is
usually shared by other repositories, and a tracked one would have this machine's interpreter
path committed. Otherwise install refuses and says how to go on.

The hook is a POSIX sh script: it chains the legacy hook, then starts `ltlsp index` in the
background and returns at once, so it adds a few milliseconds to the git command and never
fails it (its exit status is the legacy hook's, 0 without one). This module is imported by
`ltlsp hooks` only, never by the hooks themselves; it needs no more than the CLI does.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ltlsp.server.commands import EXIT_USAGE
from ltlsp.server.errors import UserError
from ltlsp.server.index import gitrepo

HOOKS = ("post-commit", "post-merge", "post-checkout", "post-rewrite")
MARKER = "# ltlsp-hook-id: 6c1f0e93b2d8"  # never change: it is how installed hooks are recognised

# When an update would be wasted (tested in the background, so they cost git nothing).
SKIP_WHEN = {
    # once per picked commit during a rebase; post-rewrite runs at its end
    "post-commit": '[ -d "$(git rev-parse --git-path rebase-merge)" ]',
    "post-merge": "false",
    # a file checkout (third argument 0) leaves HEAD where it was
    "post-checkout": '[ "$3" = 0 ]',
    # git commit --amend has already run post-commit
    "post-rewrite": '[ "$1" = amend ]',
}

TEMPLATE = """\
#!/bin/sh
{marker}
# {hook} hook of ltlsp (`ltlsp hooks install`): brings ltlsp's index of this work tree
# up to HEAD. `ltlsp hooks uninstall` removes it and restores {hook}.legacy, the hook
# that was here before, if there was one.
status=0
if [ -x "$0.legacy" ]; then
    "$0.legacy" "$@"  # same arguments, same stdin
    status=$?
fi
# In the background, detached from the terminal and from git's environment (GIT_INDEX_FILE and
# the like would follow the auto-started daemon into every other repository).
(
    {unset_git_env}
    {skip} || exec {update}
) </dev/null >/dev/null 2>&1 &
exit $status
"""


UNSET_GIT_ENV = "unset $(git rev-parse --local-env-vars)"


def update_command(python: str) -> str:
    """The shell command that updates the index of the work tree git runs the hook in."""
    return f"{shlex.quote(python)} -m ltlsp.server.cli index --json ."


def hook_script(hook: str, python: str = sys.executable) -> str:
    """Our hook's text; `python` is the interpreter that has ltlsp (a venv's works as it is)."""
    return TEMPLATE.format(marker=MARKER, hook=hook, skip=SKIP_WHEN[hook],
                           unset_git_env=UNSET_GIT_ENV, update=update_command(python))


# ---- where the hooks live ----------------------------------------------------------------------

@dataclass(frozen=True)
class HooksDir:
    path: Path
    work_tree: Path
    git_dir: Path  # the common one: a linked worktree shares its hooks
    custom: bool  # set by core.hooksPath

    def hook(self, name: str) -> Path:
        return self.path / name


def locate(repo: str) -> HooksDir:
    """The hooks directory git uses for the repository containing `repo`."""
    top = gitrepo.work_tree_root(repo)
    out = subprocess.run(["git", "-C", str(top), "rev-parse", "--path-format=absolute",
                          "--git-path", "hooks", "--git-common-dir"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    hooks, common = Path(out[0]).resolve(), Path(out[1]).resolve()
    return HooksDir(hooks, top, common, custom=hooks != common / "hooks")


def refusal(where: HooksDir) -> str | None:
    """Why hooks must not be installed in a core.hooksPath directory, or None when they may."""
    if not where.custom:
        return None
    fix = (f"either unset it (`git config --unset core.hooksPath`) and run `ltlsp hooks install` "
           f"again, or add this line to your own {', '.join(HOOKS)} hooks there:\n"
           f"    ( {UNSET_GIT_ENV}; exec {update_command(sys.executable)} ) </dev/null >/dev/null 2>&1 &")
    if not any(where.path.is_relative_to(root) for root in (where.work_tree, where.git_dir)):
        return (f"core.hooksPath is set to {where.path}, outside this repository (other "
                f"repositories may share it), so ltlsp will not write hooks there: {fix}")
    tracked = set(gitrepo.tracked_files(where.work_tree))
    committed = [n for n in HOOKS if _relative(where.hook(n), where.work_tree) in tracked]
    if committed:
        return (f"core.hooksPath is set to {where.path}, where git tracks {', '.join(committed)}; "
                f"ltlsp will not rewrite committed hooks (they would carry this machine's "
                f"interpreter path): {fix}")
    return None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return ""


def is_ours(path: Path) -> bool:
    try:
        return MARKER.encode() in path.read_bytes()
    except OSError:
        return False


def state(where: HooksDir, name: str) -> str:
    """ours, ours+legacy (ours chaining a legacy hook), foreign or absent."""
    hook = where.hook(name)
    if not os.path.lexists(hook):
        return "absent"
    if not is_ours(hook):
        return "foreign"
    return "ours+legacy" if os.path.lexists(where.hook(f"{name}.legacy")) else "ours"


# ---- the commands ------------------------------------------------------------------------------

def install(where: HooksDir) -> list[str]:
    """Install every hook (none when core.hooksPath is refused or a legacy hook is in the way);
    returns what to tell the user."""
    why = refusal(where)
    if why:
        raise UserError(why)
    for name in HOOKS:
        hook, legacy = where.hook(name), where.hook(f"{name}.legacy")
        if os.path.lexists(hook) and not is_ours(hook) and os.path.lexists(legacy):
            raise UserError(f"{hook} is not ltlsp's and {legacy.name} exists too (another hook "
                            f"manager's?); ltlsp will not overwrite either: merge them into "
                            f"{name}, remove {legacy.name}, then run `ltlsp hooks install` again")
    try:
        where.path.mkdir(parents=True, exist_ok=True)
        return [_install_one(where, name) for name in HOOKS]
    except OSError as err:
        raise UserError(f"cannot write the hooks in {where.path}: {err.strerror}; "
                        "check that directory's owner and permissions") from None


def _install_one(where: HooksDir, name: str) -> str:
    hook, legacy = where.hook(name), where.hook(f"{name}.legacy")
    before = state(where, name)
    if before == "foreign":
        os.rename(hook, legacy)  # rename, not copy: a symlink or odd mode comes back as it was
    tmp = where.hook(f".{name}.ltlsp-tmp")
    tmp.write_text(hook_script(name))
    tmp.chmod(0o755)
    os.replace(tmp, hook)  # git never runs a half-written hook
    return f"{name}: " + {
        "absent": "installed",
        "foreign": f"installed; the hook that was there runs first, kept as {legacy.name}",
        "ours": "already installed (rewritten)",
        "ours+legacy": f"already installed (rewritten), chaining {legacy.name}"}[before]


def uninstall(where: HooksDir) -> list[str]:
    return [_uninstall_one(where, name) for name in HOOKS]


def _uninstall_one(where: HooksDir, name: str) -> str:
    hook, legacy = where.hook(name), where.hook(f"{name}.legacy")
    if not is_ours(hook):
        return f"{name}: " + ("another hook, left alone" if os.path.lexists(hook) else "not installed")
    if os.path.lexists(legacy):
        os.replace(legacy, hook)
        return f"{name}: removed; restored the previous hook from {legacy.name}"
    hook.unlink()
    return f"{name}: removed"


DESCRIBE = {"ours": "ltlsp", "ours+legacy": "ltlsp, chaining {name}.legacy",
            "foreign": "another hook (install keeps it as {name}.legacy)", "absent": "absent"}


def status(where: HooksDir, as_json: bool) -> None:
    states = {name: state(where, name) for name in HOOKS}
    if as_json:
        print(json.dumps({"hooks_dir": str(where.path), "core_hooks_path": where.custom,
                          "hooks": states}))
        return
    print(f"hooks in {where.path}" + (" (core.hooksPath)" if where.custom else ""))
    for name, what in states.items():
        print(f"  {name:<14} {DESCRIBE[what].format(name=name)}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ltlsp hooks", description=(
        "Git hooks (post-commit, post-merge, post-checkout, post-rewrite) that bring the index "
        "up to HEAD in the background."))
    parser.add_argument("action", choices=("install", "uninstall", "status"))
    parser.add_argument("--repo", default=".", help="a path inside the git work tree (default: .)")
    parser.add_argument("--json", action="store_true", help="status as JSON")
    args = parser.parse_args(argv)
    try:
        where = locate(args.repo)
        if args.action == "status":
            status(where, args.json)
            return 0
        for line in (install if args.action == "install" else uninstall)(where):
            print(line)
    except UserError as err:
        print(f"ltlsp: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return 0
