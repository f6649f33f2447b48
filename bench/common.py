"""Helpers shared by the bench scripts: a private daemon for CLI runs, the shared evaluation
scripts of ../shared/bench, and the Python sources of this machine that the indexer would keep."""

import contextlib
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Iterator

from ltlsp.server.index.indexer import MAX_FILE_BYTES, looks_generated

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"
# The benchmark packages never enter a corpus of ours, nor do test suites.
SKIP_PARTS = {"email", "asyncio", "http", "xml", "logging", "json", "concurrent", "test", "tests"}


@contextlib.contextmanager
def private_daemon(tmp: Path) -> Iterator[dict]:
    """An environment whose ltlsp CLI calls reach a daemon of their own (runtime and data dirs
    under tmp, never the user's); that daemon is stopped on exit."""
    env = dict(os.environ, LTLSP_RUNTIME_DIR=f"{tmp}/run", LTLSP_DATA_DIR=f"{tmp}/data")
    env.pop("LTLSP_ADDRESS", None)
    try:
        yield env
    finally:
        subprocess.run([sys.executable, "-m", "ltlsp.server.cli", "stop"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_shared(script: str, args: list[str], env: dict) -> dict:
    """Run one of the shared evaluation scripts (e.g. "cosqa/eval_cosqa.py"); its JSON report,
    which lists the failed calls (a run where every call failed still has one)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        done = subprocess.run([sys.executable, str(SHARED / script), *args, "--json-out", str(out)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if not out.is_file():
            raise SystemExit(f"{script} {' '.join(args)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        return json.loads(out.read_text())


def python_sources(include_site_packages: bool = True) -> Iterator[tuple[Path, Path, str]]:
    """(root, path relative to it, text) of the standard library's Python files, then
    site-packages', in a fixed order: only files the indexer keeps, SKIP_PARTS left out."""
    paths = sysconfig.get_paths()
    roots = [Path(paths["stdlib"])] + ([Path(paths["purelib"])] if include_site_packages else [])
    for root in roots:
        for src in sorted(root.rglob("*.py")):
            rel = src.relative_to(root)
            if SKIP_PARTS & set(rel.parts) or "site-packages" in rel.parts[:1]:
                continue
            try:
                text = src.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            if len(text.encode()) > MAX_FILE_BYTES or looks_generated(str(rel), text):
                continue
            yield root, rel, text
