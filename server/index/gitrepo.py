"""What the index needs from git, by running `git` (no long-lived library objects in the daemon)."""

import subprocess
from pathlib import Path

from ltlsp.server.errors import NotFound, UserError

GIT_TIMEOUT_S = 60


def _git(root: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise NotFound("git is not installed: install git, then try again") from None
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, ["git", *args], done.stdout, done.stderr)
    return done.stdout


def work_tree_root(path: str | Path) -> Path:
    """The top of the git work tree that contains `path`, or NotFound saying what to do."""
    candidate = Path(path).expanduser()
    if not candidate.exists():
        raise NotFound(f"{path}: no such file or directory")
    start = candidate if candidate.is_dir() else candidate.parent
    try:
        top = _git(start, "rev-parse", "--show-toplevel").decode().strip()
    except subprocess.CalledProcessError:
        raise NotFound(f"{path} is not inside a git repository: pass --repo with the path of a "
                       "git work tree, or run `git init` there first") from None
    if not top:
        raise UserError(f"{path} is inside a bare git repository; ltlsp indexes work trees")
    return Path(top).resolve()


def head_commit(root: Path) -> str:
    """HEAD's commit id, or "" in a repository with no commit yet."""
    try:
        return _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}").decode().strip()
    except subprocess.CalledProcessError:
        return ""


def tracked_files(root: Path) -> list[str]:
    """Repo-relative paths of the files git tracks (submodules and symlinks left out)."""
    out = _git(root, "ls-files", "-z", "--stage")
    paths = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode = meta.split(b" ", 1)[0]
        if mode in (b"100644", b"100755"):  # 120000 = symlink, 160000 = submodule
            paths.append(path.decode("utf-8", "surrogateescape"))
    return paths


def changed_paths(root: Path, base: str, head: str) -> list[str] | None:
    """Paths added, modified, renamed (both names) or deleted between two commits, or None
    when `base` no longer exists (garbage-collected after a rebase): then reindex fully."""
    if base == head:
        return []
    try:
        _git(root, "cat-file", "-e", f"{base}^{{commit}}")
        out = _git(root, "diff", "--name-status", "-M", "-z", base, head)
    except subprocess.CalledProcessError:
        return None
    fields = [f.decode("utf-8", "surrogateescape") for f in out.split(b"\0") if f]
    paths, i = [], 0
    while i < len(fields):
        status = fields[i]
        names = 2 if status[0] in "RC" else 1  # R<score>\0old\0new, C<score>\0src\0copy
        paths += fields[i + 1:i + 1 + names]
        i += 1 + names
    return paths


def ignored(root: Path, paths: list[str]) -> set[str]:
    """Those of the repo-relative `paths` that git ignores (.gitignore, info/exclude, ...)."""
    if not paths:
        return set()
    done = subprocess.run(["git", "-C", str(root), "check-ignore", "-z", "--stdin"], capture_output=True,
                          input="\0".join(paths).encode("utf-8", "surrogateescape"), timeout=GIT_TIMEOUT_S)
    # exit status 1 means "none ignored"; anything but 0 or 1 is an error worth hearing of
    if done.returncode not in (0, 1):
        raise subprocess.CalledProcessError(done.returncode, "git check-ignore", done.stdout, done.stderr)
    return {p.decode("utf-8", "surrogateescape") for p in done.stdout.split(b"\0") if p}


def relative_path(root: Path, path: str) -> str:
    """`path` (absolute, or relative to the root) as a repo-relative POSIX path inside `root`."""
    candidate = Path(path).expanduser()
    absolute = (candidate if candidate.is_absolute() else root / candidate).resolve()
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        raise UserError(f"{path} is outside the repository {root}: give a path inside it, "
                        "or pass --repo with the repository that contains it") from None
