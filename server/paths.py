"""Where the daemon keeps its socket, lock, status file, token and indexes.

Imported by clients too, so it stays free of heavy imports.
"""

import os
from pathlib import Path

import platformdirs

APP = "ltlsp"


def runtime_dir() -> Path:
    """Directory of the socket, lock, status file and token, created with mode 0700.

    `LTLSP_RUNTIME_DIR` overrides it (tests, several daemons side by side); else
    `$XDG_RUNTIME_DIR/ltlsp`, else the user cache dir. The 0700 mode is the access control:
    gRPC creates the socket file itself 0755.
    """
    override = os.environ.get("LTLSP_RUNTIME_DIR")
    if override:
        path = Path(override)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / APP
    else:
        path = cache_dir() / "run"
    return _private_dir(path)  # an existing dir with looser bits would expose the socket


def data_dir() -> Path:
    """Root of the per-repository indexes (`LTLSP_DATA_DIR`, else `$XDG_DATA_HOME/ltlsp`)."""
    override = os.environ.get("LTLSP_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def cache_dir() -> Path:
    """Rebuildable files of this user only (`$XDG_CACHE_HOME/ltlsp`), mode 0700: the language
    server loads compiled code from it, which nobody else may write."""
    return _private_dir(Path(platformdirs.user_cache_dir(APP)))


def _private_dir(path: Path) -> Path:
    """`path`, created if missing, with mode 0700 even where it existed with looser bits."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def socket_path() -> Path:
    return runtime_dir() / "ltlsp.sock"


def lock_path() -> Path:
    return runtime_dir() / "daemon.lock"


def status_path() -> Path:
    return runtime_dir() / "daemon.json"


def token_path() -> Path:
    return runtime_dir() / "token"


def log_path() -> Path:
    return runtime_dir() / "daemon.log"
