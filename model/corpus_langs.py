"""Mine (doc comment, function) pairs from the Java, Go, Rust and JavaScript sources on the machine.

Sources, from Debian packages wherever they are installed: the newest JDK's lib/src.zip (read in
place), golang-*-src (/usr/share/go-*/src), rust-src (/usr/lib/rustlib/src/rust/library) and the
JavaScript libraries in /usr/share/javascript and /usr/lib/node_modules. Each documented function
gives

    query = the first sentence of its doc comment      code = the function without the doc comment

Doc comments are read as the benchmark's holdout builder reads them: Java and JavaScript one
`/** */` block (blank lines may follow it), Go the `//` lines right above the func (compiler
directives dropped), Rust `///` lines (attributes may sit between them and the fn, and are not part
of the code, as in the index's chunks). A Go-style doc that opens with the function's name loses it
("Compile parses ..." -> "Parses ...").

Every pair passes corpus.py's PairFilter (benchmark hashes, Rosetta windows, code and queries
deduplicated across all languages) and its split by file. Skipped: test files and folders,
vendored and generated files, minified JavaScript, and functions shorter than MIN_BODY_LINES or
longer than MAX_CODE_LINES. Files are visited in a fixed pseudo-random order, so a language that
reaches its cap still samples all of its packages.
"""

import argparse
import glob
import hashlib
import html
import os
import re
import subprocess
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import tree_sitter
import tree_sitter_go
import tree_sitter_java
import tree_sitter_javascript
import tree_sitter_rust

from .corpus import (MAX_CODE_LINES, MAX_FILE_BYTES, MIN_BODY_LINES, MIN_QUERY_WORDS, BenchFilter, CorpusStats,
                     Pair, PairFilter, default_bench_filter, default_roots, first_sentence, in_validation,
                     is_excluded_path, mine_pairs, normalized_hash, rosetta_solutions)

LANGS = ("python", "java", "go", "rust", "javascript")
MAX_PAIRS_PER_LANG = 15_000   # each of the other languages; Python keeps a large share of the corpus

# Where Debian installs the sources (globs; the newest JDK and Go are taken, every JavaScript library).
JDK_SOURCES = "/usr/lib/jvm/*/lib/src.zip"
GO_SOURCES = "/usr/share/go-*/src"
RUST_SOURCES = "/usr/lib/rustlib/src/rust/library"
JAVASCRIPT_SOURCES = ("/usr/share/javascript/*", "/usr/lib/node_modules/*")

TEST_PATH = re.compile(r"(^|/)(tests?|testing|testdata|__tests__|specs?|benches|benchmarks?|fixtures)/"
                       r"|_test\.go$|(^|/)tests?\.rs$|(Test|Tests)\.java$|\.(test|spec)\.[cm]?js$")
VENDORED_PATH = re.compile(r"(^|/)(vendor|third[_-]?party|3rdparty)/")
GENERATED_MARK = re.compile(rb"(?i)do not (edit|modify)|@generated|(automatically|mechanically|auto-?) ?generated")
GENERATED_MARK_BYTES = 2000   # such notes sit in a file's head (after the JDK's licence header)
MINIFIED_LINE_BYTES = 200     # a mean line length beyond this is a bundler's output
GO_DIRECTIVE = re.compile(r"//(go:|line |export |nolint|\+build|lint:)")
TEST_FUNCTION = re.compile(r"test_|Test[A-Z_]")
# Nodes whose children are statements or members: a JavaScript function's anchor (the statement
# its doc comment precedes) is its highest ancestor below one of these that starts on its line.
CONTAINERS = {"program", "source_file", "statement_block", "class_body", "block", "declaration_list",
              "interface_body", "enum_body", "object", "switch_body", "switch_case"}
HTML_TAG = re.compile(r"</?(b|i|em|strong|code|tt|pre|a|ul|ol|li|dl|dt|dd|h\d|span|div|sup|sub|blockquote|"
                      r"table|tr|td|th|var|cite|br)\b[^>]*>", re.I)


@dataclass(frozen=True)
class Syntax:
    grammar: Callable             # the tree_sitter_<lang>.language function
    extensions: tuple[str, ...]
    functions: str                # tree-sitter query capturing each function with a body as @function
    comment_type: str             # the node type of its comments
    doc_marker: re.Pattern        # how a doc comment starts
    one_block: bool               # Java/JS: one /** */ block; Go/Rust: a run of line comments
    adjacent: bool                # Go: no blank line between the doc and the func
    built_path: re.Pattern | None = None   # folders of generated code particular to the language


SYNTAX = {
    "java": Syntax(tree_sitter_java.language, (".java",),
                   "[(method_declaration body: (block)) (constructor_declaration body: (constructor_body))] @function",
                   "block_comment", re.compile(r"/\*\*(?!/)"), one_block=True, adjacent=False),
    "go": Syntax(tree_sitter_go.language, (".go",),
                 "[(function_declaration body: (block)) (method_declaration body: (block))] @function",
                 "comment", re.compile(r"//"), one_block=False, adjacent=True),
    "rust": Syntax(tree_sitter_rust.language, (".rs",), "(function_item body: (block)) @function",
                   "line_comment", re.compile(r"///(?!/)"), one_block=False, adjacent=False),
    "javascript": Syntax(tree_sitter_javascript.language, (".js", ".mjs", ".cjs"),
                         "[(function_declaration) (generator_function_declaration) (function_expression) "
                         "(generator_function) (arrow_function) (method_definition)] @function",
                         "comment", re.compile(r"/\*\*(?!/)"), one_block=True, adjacent=False,
                         built_path=re.compile(r"(^|/)(dist|build)/|\.min\.js$")),
}


@dataclass(frozen=True)
class Source:
    lang: str
    name: str      # the root name in each Pair.source, e.g. "go-1.19"
    path: Path     # a folder, or a zip archive (the JDK's src.zip)
    package: str   # the Debian package that installed it ("" when none did)
    version: str


@dataclass
class _Parsed:
    """One source file, parsed."""
    data: bytes
    lines: list[bytes]
    tree: tree_sitter.Tree


def parse_langs(text: str) -> tuple[str, ...]:
    """The --langs option: comma-separated names from LANGS."""
    langs = tuple(dict.fromkeys(name.strip().lower() for name in text.split(",") if name.strip()))
    unknown = [name for name in langs if name not in LANGS]
    if unknown or not langs:
        raise argparse.ArgumentTypeError(f"unknown language {', '.join(unknown) or '(none given)'}: "
                                         f"choose among {','.join(LANGS)}")
    return langs


# --- finding the sources -----------------------------------------------------------------------

def find_sources(langs=LANGS[1:]) -> list[Source]:
    """The sources of these languages installed on this machine (none for a language not found)."""
    paths = []
    if "java" in langs:
        paths += [("java", p) for p in _newest(Path(p).parent.parent for p in glob.glob(JDK_SOURCES)
                                               if Path(p).is_file())]
    if "go" in langs:
        paths += [("go", p / "src") for p in _newest(Path(p).parent for p in glob.glob(GO_SOURCES))]
    if "rust" in langs and Path(RUST_SOURCES).is_dir():
        paths.append(("rust", Path(RUST_SOURCES)))
    if "javascript" in langs:
        paths += [("javascript", Path(p)) for pattern in JAVASCRIPT_SOURCES for p in sorted(glob.glob(pattern))
                  if Path(p).is_dir()]
    paths = [(lang, path / "lib" / "src.zip" if lang == "java" else path) for lang, path in paths]
    owners = _debian_packages([path.resolve() for _, path in paths])
    sources = []
    for lang, path in paths:
        package, version = owners.get(path.resolve(), ("", ""))
        sources.append(Source(lang, _root_name(lang, path), path, package, version or _version_beside(path, lang)))
    return sources


def _root_name(lang: str, path: Path) -> str:
    """temurin-25-jdk-amd64, go-1.19, rustc-1.63.0, jquery: the folder that names the source."""
    if lang == "java":
        return path.parent.parent.name
    if lang == "go":
        return path.parent.name
    return path.resolve().parent.name if lang == "rust" else path.name


def _newest(folders) -> list[Path]:
    """The folder whose name carries the highest version number (a list of at most one)."""
    folders = sorted(set(folders), key=lambda f: [int(n) for n in re.findall(r"\d+", f.name)])
    return folders[-1:]


def _debian_packages(paths: list[Path]) -> dict[Path, tuple[str, str]]:
    """(package, version) of the Debian package that installed each path, where dpkg knows one."""
    try:
        owned = subprocess.run(["dpkg-query", "-S", *map(str, paths)], capture_output=True, text=True).stdout
        owners = {}
        for line in owned.splitlines():
            packages, _, path = line.partition(": ")
            if "diversion" not in packages and path:
                owners[Path(path)] = packages.split(",")[0].split(":")[0]
        listed = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\n", *set(owners.values())],
                                capture_output=True, text=True).stdout if owners else ""
    except OSError:                     # not a Debian system
        return {}
    versions = dict(line.split("\t", 1) for line in listed.splitlines() if "\t" in line)
    return {path: (package, versions.get(package, "")) for path, package in owners.items()}


def _version_beside(path: Path, lang: str) -> str:
    """A source's version where no package records it: a JDK's release file, else the folder name."""
    release = path.parent.parent / "release"
    if lang == "java" and release.is_file():
        found = re.search(r'^JAVA_RUNTIME_VERSION="([^"]+)"', release.read_text(errors="replace"), re.M)
        if found:
            return found.group(1)
    found = re.search(r"\d+(\.\d+)*", str(path.resolve()))
    return found.group(0) if found else ""


# --- reading and parsing -----------------------------------------------------------------------

def _source_files(source: Source) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(path relative to the source, a reader of its bytes) of each file in the language, in a fixed
    pseudo-random order."""
    extensions = SYNTAX[source.lang].extensions
    if source.path.is_file():                           # a zip archive, read in place
        with zipfile.ZipFile(source.path) as archive:
            sizes = {i.filename: i.file_size for i in archive.infolist() if i.filename.endswith(extensions)}
            yield from _in_mining_order(sizes, archive.read)
        return
    sizes = {}
    for dirpath, dirnames, filenames in os.walk(source.path):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            path = Path(dirpath) / name
            if name.endswith(extensions) and path.is_file() and not is_excluded_path(path):
                sizes[path.relative_to(source.path).as_posix()] = path.stat().st_size
    yield from _in_mining_order(sizes, lambda relative: (source.path / relative).read_bytes())


def _in_mining_order(sizes: dict[str, int], read: Callable[[str], bytes]):
    for relative in sorted(sizes, key=lambda r: hashlib.sha256(r.encode()).digest()):
        if sizes[relative] <= MAX_FILE_BYTES:
            yield relative, lambda relative=relative: read(relative)


def _skip_reason(relative: str, lang: str) -> str:
    """Why a file is not mined, judged by its path ("" when it is)."""
    if TEST_PATH.search(relative):
        return "test"
    if VENDORED_PATH.search(relative):
        return "vendored"
    built = SYNTAX[lang].built_path
    if built is not None and built.search(relative):
        return "generated"
    return ""


def _content_skip_reason(data: bytes) -> str:
    """Why a file is not mined, judged by its content ("" when it is)."""
    if GENERATED_MARK.search(data[:GENERATED_MARK_BYTES]):
        return "generated"
    if len(data) > MINIFIED_LINE_BYTES * (data.count(b"\n") + 1):
        return "minified"
    return ""


def _parsers() -> dict[str, tuple[tree_sitter.Parser, tree_sitter.Query]]:
    """A parser and the function query of each language."""
    parsers = {}
    for lang, syntax in SYNTAX.items():
        language = tree_sitter.Language(syntax.grammar())
        parsers[lang] = (tree_sitter.Parser(language), tree_sitter.Query(language, syntax.functions))
    return parsers


def _parse(data: bytes, parser: tree_sitter.Parser) -> _Parsed:
    return _Parsed(data, data.split(b"\n"), parser.parse(data))


def _functions(parsed: _Parsed, query: tree_sitter.Query) -> list:
    """The function nodes of a file, in source order."""
    found = tree_sitter.QueryCursor(query).captures(parsed.tree.root_node).get("function", [])
    return sorted(found, key=lambda node: node.start_byte)


# --- functions and their doc comments ----------------------------------------------------------

def _last_row(node) -> int:
    """0-based last line, not counting a trailing newline that ends the node at column 0."""
    row, column = node.end_point
    return row - 1 if column == 0 and row > node.start_point[0] else row


def _anchor(node):
    """The statement a function's doc comment precedes: `export function f`, `a.b = function`."""
    anchor = node
    while (anchor.parent is not None and anchor.parent.type not in CONTAINERS
           and anchor.parent.start_point[0] == node.start_point[0]):
        anchor = anchor.parent
    return anchor


def _owns_its_lines(node, lines: list[bytes]) -> bool:
    """True for a comment with nothing but whitespace before it and after it on its lines."""
    last = _last_row(node)
    after = lines[last][node.end_point[1]:] if last == node.end_point[0] else b""
    return not lines[node.start_point[0]][:node.start_point[1]].strip() and not after.strip()


def _doc_comment(anchor, lang: str, lines: list[bytes]) -> str:
    """The doc comment above a function, markers removed ("" when it has none)."""
    syntax, texts = SYNTAX[lang], []
    top, node = anchor.start_point[0], anchor.prev_named_sibling
    while node is not None:
        if lang == "rust" and node.type == "attribute_item":
            top, node = node.start_point[0], node.prev_named_sibling
            continue
        gap = lines[_last_row(node) + 1:top]
        if node.type != syntax.comment_type or (gap and syntax.adjacent) or any(line.strip() for line in gap):
            break
        text = node.text.decode("utf-8", "replace")
        directive = lang == "go" and GO_DIRECTIVE.match(text)
        if not _owns_its_lines(node, lines) or not (directive or syntax.doc_marker.match(text)):
            break
        if not directive:
            texts.insert(0, _comment_text(text))
        top, node = node.start_point[0], node.prev_named_sibling
        if syntax.one_block:
            break
    return "\n".join(texts)


def _comment_text(comment: str) -> str:
    """A comment without its markers: `/** ... */` and its leading stars, or `//` / `///`."""
    if comment.startswith("/*"):
        body = comment[3:-2] if comment.endswith("*/") else comment[3:]
        return "\n".join(re.sub(r"^\s*\*(?!/) ?", "", line) for line in body.splitlines())
    return "\n".join(re.sub(r"^\s*///? ?", "", line) for line in comment.splitlines())


def _inline_tag(match: re.Match) -> str:
    """{@code x} -> x, {@link List#add(Object) add} -> add, {@link #size} -> size, {@inheritDoc} -> ""."""
    tag, body = match.group(1), match.group(2).strip()
    if tag in ("link", "linkplain") and body:
        target, _, label = body.partition(" ")
        return label.strip() or target.lstrip("#").replace("#", ".")
    return body


def doc_query(doc: str, name: str) -> str:
    """The query a doc comment gives: its first sentence, Javadoc/JSDoc tags, HTML and markdown links
    made plain, without a leading repeat of the function's name."""
    doc = re.sub(r"\{@(\w+)\s*([^}]*)\}", _inline_tag, doc)
    doc = re.sub(r"(?i)<p\s*/?>", "\n\n", doc)                      # a Javadoc paragraph ends the first one
    doc = HTML_TAG.sub("", doc)
    doc = re.sub(r"(?<![\w\]])\[([^\]]+)\](\([^)]*\)|\[[^\]]*\])?", r"\1", doc)   # [text](url), [`Vec`]
    query = first_sentence(html.unescape(doc))
    first, _, rest = query.partition(" ")
    if name and first.strip("`,:") in (name, name + "()") and rest:  # Go style: "Compile parses ..."
        query = rest[:1].upper() + rest[1:]
    return query


def _name(node) -> str:
    named = node.child_by_field_name("name")
    return named.text.decode("utf-8", "replace") if named is not None else ""


def _in_test_module(node) -> bool:
    """Rust: inside `mod tests` / `mod test` (the unit tests that live beside the code)."""
    node = node.parent
    while node is not None:
        if node.type == "mod_item" and _name(node) in ("test", "tests"):
            return True
        node = node.parent
    return False


def _code(anchor, lines: list[bytes]) -> str:
    """The function's text, dedented (the indentation of its first line kept for the dedent)."""
    row, column = anchor.start_point
    indent = lines[row][:column]
    text = (indent if not indent.strip() else b"") + anchor.text
    return textwrap.dedent(text.decode("utf-8", "replace")).rstrip()


def _fits(code: str) -> bool:
    lines = code.count("\n") + 1
    return MIN_BODY_LINES <= lines - 1 and lines <= MAX_CODE_LINES


# --- mining --------------------------------------------------------------------------------

def mine_lang_pairs(sources: list[Source], keep: PairFilter, validation_percent: float = 5.0,
                    max_pairs_per_lang: int = MAX_PAIRS_PER_LANG) -> list[Pair]:
    """The deduplicated (doc, function) pairs of the sources, with their split; statistics go to
    keep.stats (pairs per root, files skipped by reason, each source's package and version)."""
    parsers, pairs, per_lang = _parsers(), [], {}
    for source in sources:
        if is_excluded_path(source.path):
            continue
        left = max_pairs_per_lang - per_lang.get(source.lang, 0)
        found = _mine_source(source, parsers[source.lang], keep, validation_percent, left) if left > 0 else []
        per_lang[source.lang] = per_lang.get(source.lang, 0) + len(found)
        keep.stats.pairs_per_root[source.name] = len(found)
        keep.stats.lang_sources.append({"lang": source.lang, "root": source.name, "package": source.package,
                                        "version": source.version, "pairs": len(found),
                                        "capped": len(found) >= left})
        pairs += found
    return pairs


def _mine_source(source: Source, parser_and_query, keep: PairFilter, validation_percent: float,
                 max_pairs: int) -> list[Pair]:
    parser, query = parser_and_query
    stats, pairs = keep.stats, []
    for relative, read in _source_files(source):
        if len(pairs) >= max_pairs:
            break
        stats.files_seen += 1
        reason = _skip_reason(relative, source.lang)
        data = b"" if reason else read()
        reason = reason or _content_skip_reason(data)
        if reason:
            stats.files_skipped[reason] = stats.files_skipped.get(reason, 0) + 1
            continue
        if not keep.new_file(data):
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            stats.files_unparsable += 1
            continue
        source_name = f"{source.name}:{relative}"
        split = "validation" if in_validation(source_name, validation_percent) else "train"
        for code, doc_query_text in _documented_functions(_parse(data, parser), query, source.lang, stats):
            if keep.new_pair(doc_query_text, code, normalized_hash(code)):
                pairs.append(Pair(doc_query_text, "query", code, source_name, split, source.lang))
                if len(pairs) >= max_pairs:
                    break
    return pairs


def _documented_functions(parsed: _Parsed, query, lang: str, stats: CorpusStats) -> Iterator[tuple[str, str]]:
    """(code, query) of each documented, non-test function of a usable length."""
    for node in _functions(parsed, query):
        name = _name(node)
        if TEST_FUNCTION.match(name) or (lang == "rust" and _in_test_module(node)):
            continue
        anchor = _anchor(node)
        doc = _doc_comment(anchor, lang, parsed.lines)
        if not doc:
            continue
        stats.functions_documented += 1
        code = _code(anchor, parsed.lines)
        text = doc_query(doc, name)
        if _fits(code) and len(text.split()) >= MIN_QUERY_WORDS:
            yield code, text


def add_rosetta_functions(bench: BenchFilter):
    """Add the functions of the Rosetta solutions in these languages to the bench hashes (the whole
    solutions, their windows and their Python functions are there already)."""
    parsers = _parsers()
    for row in rosetta_solutions(bench.bench_data):
        if row.get("lang") in parsers:
            parser, query = parsers[row["lang"]]
            parsed = _parse(row["code"].encode("utf-8"), parser)
            for node in _functions(parsed, query):
                bench.function_hashes.add(normalized_hash(_code(_anchor(node), parsed.lines)))


def mine_corpus(roots=None, langs=None, max_pairs_per_lang: int = MAX_PAIRS_PER_LANG,
                sources: list[Source] | None = None, bench: BenchFilter | None = None):
    """(pairs, stats) of the whole corpus: Python from `roots` (corpus.mine_pairs) when "python" is
    in langs, then the other languages' sources (those found on the machine when None).
    langs: names from LANGS; None takes all of them (a language without sources is left out)."""
    langs = LANGS if langs is None else langs
    bench = bench or default_bench_filter()
    add_rosetta_functions(bench)
    keep = PairFilter(bench, CorpusStats())
    pairs = mine_pairs(default_roots() if roots is None else roots, keep=keep)[0] if "python" in langs else []
    sources = find_sources(langs) if sources is None else [s for s in sources if s.lang in langs]
    pairs += mine_lang_pairs(sources, keep, max_pairs_per_lang=max_pairs_per_lang)
    return pairs, keep.stats
