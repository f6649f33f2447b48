"""Syntax-aware chunking with the real tree-sitter grammars, one case per language."""

import textwrap

import pytest

from ltlsp.server.index.indexer import looks_generated
from ltlsp.server.index.syntax import MAX_UNIT_LINES, chunk_file, enclosing_span, language_of


def units(path: str, source: str) -> list[tuple]:
    return [(c.start_line, c.end_line, c.kind, c.symbol)
            for c in chunk_file(path, textwrap.dedent(source).lstrip("\n")) if c.kind != "module"]


def body(n: int, indent: str = "    ", stmt: str = "x = x + 1") -> str:
    return "".join(f"{indent}{stmt}\n" for _ in range(n))


PY = '''
import os


@cache
def parse(text):
    tokens = text.split()
    return tokens


class Reader(Base):
    """Reads things."""
    size = 10

    def read(self, n):
        data = self.raw.read(n)
        return data
'''


def test_python_functions_classes_methods_and_decorators():
    assert units("a.py", PY) == [(4, 7, "function", "parse"), (10, 12, "class", "Reader"),
                                 (14, 16, "method", "Reader.read")]
    method = next(c for c in chunk_file("a.py", textwrap.dedent(PY).lstrip("\n")) if c.kind == "method")
    assert method.embedding_text == method.text  # the class line is not embedded (see _unit_chunks)
    assert method.text.startswith("    def read")  # what is shown is the file's own lines


@pytest.mark.parametrize("path, source, expected", [
    ("a.js", """
        function total(items) {
          let sum = 0;
          for (const i of items) sum += i;
          return sum;
        }
        const double = (x) => {
          const y = x * 2;
          return y;
        };
        """, [(1, 5, "function", "total"), (6, 9, "function", "double")]),
    ("a.ts", """
        export class Queue<T> {
          private items: T[] = [];
          push(item: T): void {
            this.items.push(item);
            this.size += 1;
          }
        }
        """, [(1, 2, "class", "Queue"), (3, 6, "method", "Queue.push")]),
    ("a.go", """
        package store

        func Open(path string) (*DB, error) {
        \tdb := &DB{path: path}
        \treturn db, nil
        }

        func (db *DB) Close() error {
        \tdb.open = false
        \treturn nil
        }
        """, [(3, 6, "function", "Open"), (8, 11, "method", "Close")]),
    ("a.rs", """
        impl Stack {
            fn push(&mut self, v: i32) {
                self.items.push(v);
                self.len += 1;
            }
        }
        """, [(1, 1, "impl", "Stack"), (2, 5, "method", "Stack.push")]),
    ("A.java", """
        public class Account {
            private int balance;
            public void deposit(int amount) {
                if (amount <= 0) throw new IllegalArgumentException();
                balance += amount;
            }
        }
        """, [(1, 2, "class", "Account"), (3, 6, "method", "Account.deposit")]),
    ("a.c", """
        static int clamp(int v, int lo, int hi) {
            if (v < lo) return lo;
            if (v > hi) return hi;
            return v;
        }
        """, [(1, 5, "function", "clamp")]),
    ("a.cpp", """
        namespace geo {
        double area(const Circle& c) {
            double r = c.radius;
            return 3.14159 * r * r;
        }
        }
        """, [(1, 1, "namespace", "geo"), (2, 5, "function", "geo.area")]),
])
def test_each_language(path, source, expected):
    assert units(path, source) == expected


def test_oversized_units_are_split_and_keep_their_signature():
    source = "def long_one(x):\n" + body(MAX_UNIT_LINES + 30)
    parts = [c for c in chunk_file("a.py", source) if c.symbol == "long_one"]
    assert len(parts) > 1 and parts[0].start_line == 1 and parts[-1].end_line == MAX_UNIT_LINES + 31
    assert all(p.end_line - p.start_line < MAX_UNIT_LINES for p in parts)
    assert parts[1].context == "def long_one(x):"


def test_tiny_neighbours_are_merged():
    source = "".join(f"def get_{n}(self):\n    return self.{n}\n\n" for n in "abcdef")
    chunks = chunk_file("a.py", source)
    assert len(chunks) < 6 and chunks[0].kind == "group" and chunks[0].symbol.startswith("get_a, get_b")


def test_code_outside_units_is_covered_and_lone_braces_are_not():
    chunks = chunk_file("a.py", "import sys\nCONFIG = {'a': 1}\n\ndef f():\n    return CONFIG\n\nmain(sys.argv)\n")
    modules = [(c.start_line, c.end_line) for c in chunks if c.kind == "module"]
    assert modules == [(1, 2), (6, 7)]
    assert all(c.kind != "module" for c in chunk_file("a.c", "int f(void) {\n  return 1;\n}\n};\n"))


def test_other_files_get_line_windows():
    text = "\n".join(f"line {i}" for i in range(30))
    assert language_of("notes.md") == ""
    assert [c.kind for c in chunk_file("notes.md", text)] == ["window", "window"]


def test_broken_syntax_still_chunks():
    chunks = chunk_file("a.py", "def ok(x):\n" + body(5) + "\ndef broken(:\n    pass\n")
    assert chunks[0].symbol == "ok" and (chunks[0].start_line, chunks[0].end_line) == (1, 6)


def test_enclosing_span():
    source = "import os\n\nclass A:\n    def m(self):\n        return 1\n\nprint(1)\n"
    assert enclosing_span("a.py", source, 5) == (4, 5)
    assert enclosing_span("a.py", source, 3) == (3, 5)
    assert enclosing_span("a.py", source, 1) == (1, 7)  # module level: the whole file
    assert enclosing_span("a.txt", "x\ny\n", 2) == (1, 2)


@pytest.mark.parametrize("path, text, generated", [
    ("app.min.js", "var a=1;", True),
    ("x_pb2.py", "import x\n", True),
    ("package-lock.json", "{}", True),
    ("gen.go", "// Code generated by stringer. DO NOT EDIT.\npackage p\n", True),
    ("bundle.js", "var a=" + "1+" * 3000 + "1;", True),
    ("main.py", "def main():\n    pass\n" * 200, False),
])
def test_generated_and_minified_files(path, text, generated):
    assert looks_generated(path, text) is generated
