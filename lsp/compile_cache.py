"""Start-up: reuse the code that attrs generates for lsprotocol's classes.

Importing lsprotocol.types defines about 570 attrs classes, and attrs compiles the source of
their __init__, __repr__, __eq__ and the like on every import: ~0.35 s of the language server's
~0.8 s start. Like a .pyc file, the compiled code of the last start is kept, keyed by its source
text and file name, in marshal form in the user's private cache dir (0700, written by ltlsp
only). Anything unexpected (a damaged or foreign file) means compiling as usual.
"""

import builtins
import hashlib
import marshal
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from ltlsp.server.paths import cache_dir

MISSES_TO_SAVE = 0.1  # share of compiles not answered from the file that makes it worth rewriting


def cache_file(name: str) -> Path:
    # Code objects are only valid for the interpreter that made them.
    return cache_dir() / f"{name}.{sys.implementation.cache_tag}.marshal"


@contextmanager
def compiled_code_cache(name: str):
    """While the block runs (start-up, one thread), compile(source, file, "exec") calls are
    answered from the cache; the code they used is saved for the next start."""
    path = cache_file(name)
    known = _load(path)
    used: dict[str, object] = {}
    missed: list[str] = []
    compile_ = builtins.compile

    def cached_compile(source, filename, mode, *args, **kwargs):
        if mode != "exec" or not isinstance(source, str) or args or kwargs:
            return compile_(source, filename, mode, *args, **kwargs)
        key = hashlib.blake2b(f"{filename}\0{source}".encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        code = known.get(key)
        if code is None:
            code = compile_(source, filename, mode)
            missed.append(key)
        used[key] = code
        return code

    builtins.compile = cached_compile
    try:
        yield
    finally:
        builtins.compile = compile_
    # A few sources differ at every start (attrs salts __hash__ with a randomised str hash), so
    # the file is rewritten, with only what this start used, when many compiles missed.
    if len(missed) > MISSES_TO_SAVE * len(used):
        _save(path, used)


def _load(path: Path) -> dict:
    try:
        codes = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return codes if isinstance(codes, dict) else {}


def _save(path: Path, codes: dict) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        partial.write_bytes(marshal.dumps(codes))
        os.replace(partial, path)  # a concurrent start reads the old file or the new, never half
    except OSError:
        partial.unlink(missing_ok=True)
