"""What the index needs from git, by running `git` (no long-lived library objects in the daemon)."""

import subprocess
import threading
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Checkout:
    """Where git keeps a work tree's state: HEAD in git_dir, branches in common_dir (the two
    differ for a linked work tree)."""
    top: Path
    git_dir: Path
    common_dir: Path


# Per-search answers of git, kept for the daemon's lifetime (each spawn of git costs ~5 ms).
# Each entry is checked with a few stat() calls before use, see _still_top and _head_signature.
MAX_CACHED = 1024
_checkouts: dict[Path, _Checkout] = {}           # resolved start directory -> its checkout
_heads: dict[Path, tuple[tuple, str]] = {}       # git_dir -> (signature of the ref files, commit)
_cache_lock = threading.Lock()


def work_tree_root(path: str | Path) -> Path:
    """The top of the git work tree that contains `path`, or NotFound saying what to do."""
    return _checkout(path).top


def _checkout(path: str | Path) -> _Checkout:
    candidate = Path(path).expanduser()
    if not candidate.exists():
        raise NotFound(f"{path}: no such file or directory")
    start = (candidate if candidate.is_dir() else candidate.parent).resolve()
    with _cache_lock:
        known = _checkouts.get(start)
    if known and _still_top(start, known.top):
        return known
    found = _discover(start, path)
    with _cache_lock:
        if len(_checkouts) >= MAX_CACHED:
            _checkouts.clear()
        _checkouts[start] = found
    return found


def _discover(start: Path, path: str | Path) -> _Checkout:
    try:
        out = _git(start, "rev-parse", "--path-format=absolute", "--show-toplevel",
                   "--absolute-git-dir", "--git-common-dir").decode()
    except subprocess.CalledProcessError:
        raise NotFound(f"{path} is not inside a git repository: pass --repo with the path of a "
                       "git work tree, or run `git init` there first") from None
    lines = out.splitlines()
    if len(lines) < 3:  # no top level line: there is no work tree
        raise UserError(f"{path} is inside a bare git repository; ltlsp indexes work trees")
    top, git_dir, common_dir = (Path(line).resolve() for line in lines[:3])
    return _Checkout(top, git_dir, common_dir)


def _still_top(start: Path, top: Path) -> bool:
    """Whether git would still find `top` from `start`: the way git searches, upwards for the
    first `.git`, so a repository created (or removed) in between is noticed."""
    if start != top and top not in start.parents:
        return False
    for folder in (start, *start.parents):
        if folder == top:
            return (folder / ".git").exists()
        if (folder / ".git").exists():
            return False
    return False


def head_commit(root: Path) -> str:
    """HEAD's commit id, or "" in a repository with no commit yet."""
    try:
        return _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}").decode().strip()
    except subprocess.CalledProcessError:
        return ""


def head_commit_cached(root: Path) -> str:
    """head_commit(), asking git again only when a file that can move HEAD changed."""
    try:
        checkout = _checkout(root)
    except UserError:  # no longer a work tree (a known index whose repository went away)
        return ""
    signature = _head_signature(checkout)
    with _cache_lock:
        known = _heads.get(checkout.git_dir)
    if known and signature is not None and known[0] == signature:
        return known[1]
    commit = head_commit(checkout.top)  # the signature was taken first: a change meanwhile shows next time
    if signature is not None:
        with _cache_lock:
            if len(_heads) >= MAX_CACHED:
                _heads.clear()
            _heads[checkout.git_dir] = (signature, commit)
    return commit


def _head_signature(checkout: _Checkout) -> tuple | None:
    """The identity (inode, size, times) of every file git reads to resolve HEAD: HEAD itself,
    the branch it names (loose in either git dir, or packed), and the reftable list. Git
    rewrites them by rename, so any update changes the inode. None: do not cache (HEAD names
    a symbolic ref, whose target could move unseen)."""
    try:
        head = (checkout.git_dir / "HEAD").read_text()
    except OSError:
        return None
    files = [checkout.git_dir / "HEAD", checkout.common_dir / "packed-refs",
             checkout.common_dir / "reftable" / "tables.list"]
    if head.startswith("ref:"):
        ref = head[4:].strip()
        files += [checkout.git_dir / ref, checkout.common_dir / ref]
        if any(_is_symbolic(f) for f in files[-2:]):
            return None
    return (head, *map(_identity, files))


def _identity(file: Path) -> tuple | None:
    try:
        st = file.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _is_symbolic(ref_file: Path) -> bool:
    try:
        return ref_file.read_bytes().startswith(b"ref:")
    except OSError:
        return False


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
