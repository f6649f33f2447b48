"""The language server's start-up cache of attrs-generated code (lsp/compile_cache.py)."""

import builtins
import subprocess
import sys

import pytest

from ltlsp.lsp.compile_cache import cache_file, compiled_code_cache

SOURCES = [f"def method_{i}(self):\n    return {i}\n" for i in range(20)]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def run_start(counter: list) -> list:
    """Compile SOURCES the way attrs does, counting the compiles that really ran."""
    real = builtins.compile

    def counting(*args, **kwargs):
        counter.append(args[1])
        return real(*args, **kwargs)

    builtins.compile = counting
    try:
        with compiled_code_cache("test"):
            results = []
            for i, source in enumerate(SOURCES):
                namespace = {}
                exec(compile(source, f"<generated {i}>", "exec"), namespace)
                results.append(namespace[f"method_{i}"](None))
    finally:
        builtins.compile = real
    return results


def test_the_second_start_compiles_nothing_and_behaves_the_same():
    first, second = [], []
    assert run_start(first) == list(range(20)) and len(first) == 20
    assert cache_file("test").is_file()
    assert run_start(second) == list(range(20)) and second == []


def test_other_compile_modes_pass_through():
    with compiled_code_cache("test"):
        assert eval(compile("1 + 2", "<expr>", "eval")) == 3
    assert builtins.compile.__name__ == "compile"  # restored


def test_a_damaged_cache_is_ignored_and_rewritten():
    run_start([])
    cache_file("test").write_bytes(b"\x00not marshal at all")
    compiled = []
    assert run_start(compiled) == list(range(20)) and len(compiled) == 20
    again = []
    run_start(again)
    assert again == []


def test_the_language_server_imports_with_the_cache(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    for _ in range(2):  # the first start writes the cache, the second reads it
        done = subprocess.run([sys.executable, "-c", "from ltlsp.lsp.server import types as t; p = t.Position(line=1, character=2); "
                               "print(p == t.Position(line=1, character=2), p != t.Position(line=1, character=3), p.line)"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["True", "True", "1"]  # attrs' generated __init__ and __eq__
    assert cache_file("lsprotocol").is_file()


def test_a_cache_dir_others_could_write_is_made_private_first(tmp_path):
    loose = tmp_path / "cache" / "ltlsp"
    loose.mkdir(parents=True, mode=0o777)
    loose.chmod(0o777)
    assert cache_file("test").parent == loose
    assert loose.stat().st_mode & 0o777 == 0o700
