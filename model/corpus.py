"""Mine (natural language, code) and (code, code) training pairs from Python source on the machine.

Sources: the standard library and the installed site-packages. Each documented function gives

    query = the first sentence of its docstring     code = its source with the docstring removed

and a sample of functions also gives
  - a (code, code) pair: the function against a copy whose parameters and locals are renamed (so
    similarity cannot rest on names alone);
  - a documented view: the function with its docstring kept, against the first sentence rewritten
    as a web search (lowercase, no articles, "python" or "how to" added). Code in real repositories
    carries its docstrings, and web queries (CoSQA) are terse; the stripped pairs teach neither
    reading prose inside code nor short queries. Training split only, so validation stays the
    stripped task.

Never trained on (see the benchmark README in ../shared/bench): CPython's email, asyncio, http, xml, logging,
json and concurrent packages wherever they occur, vendored copies included (filtered by path
component, by file content hash and by function hash), the CoSQA and Rosetta benchmark code, and
anything under the benchmark folders. Pairs are split into train/validation by file, so near
copies inside one module never straddle the split. Java, Go, Rust and JavaScript: corpus_langs.py,
through the same filter, split and deduplication.
"""

import ast
import hashlib
import importlib.metadata
import json
import os
import re
import sys
import sysconfig
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_PACKAGES = ("email", "asyncio", "http", "xml", "logging", "json", "concurrent")
# The benchmark folder beside the repository (or LTLSP_SHARED): its data is read only to be excluded.
SHARED = Path(os.environ.get("LTLSP_SHARED") or Path(__file__).resolve().parents[2] / "shared")
EXCLUDED_ROOTS = (SHARED.resolve(),)   # resolved once: every mined file is checked against them
BENCH_DATA = SHARED / "bench"
SKIPPED_DIRS = {"test", "tests", "testing", "__pycache__", "site-packages", "dist-packages",
                "lib-dynload", "_bundled", "idle_test"}
MAX_FILE_BYTES = 400_000      # larger .py files are generated tables, not code worth learning from
MAX_CODE_LINES = 80           # the encoder sees at most a few hundred tokens anyway
MIN_QUERY_WORDS = 3
MIN_BODY_LINES = 3            # as the benchmark: trivial one-liners make no real queries
ROSETTA_WINDOW_LINES = 8      # a function sharing this many consecutive lines with a Rosetta solution is out


@dataclass
class Pair:
    query: str        # natural-language text, or code for a (code, code) pair
    query_kind: str   # "query" or "code": which kind prefix the query side gets
    code: str         # the positive code
    source: str       # "<root name>:<relative path>", the file it came from
    split: str = ""   # "train" or "validation"
    lang: str = "python"


@dataclass
class CorpusStats:
    files_seen: int = 0
    files_excluded_bench_path: int = 0
    files_excluded_bench_content: int = 0
    files_duplicate: int = 0
    files_unparsable: int = 0
    functions_documented: int = 0
    functions_excluded_bench_hash: int = 0
    functions_duplicate: int = 0
    queries_duplicate: int = 0
    functions_excluded_bench_window: int = 0
    documented_views: int = 0
    files_skipped: dict = field(default_factory=dict)      # reason -> files (the other languages)
    pairs_per_root: dict = field(default_factory=dict)
    lang_sources: list = field(default_factory=list)      # package and version of each other-language root


def normalized_hash(code: str) -> str:
    """Hash of code with all whitespace removed: equal for re-indented or re-wrapped copies."""
    return hashlib.sha256("".join(code.split()).encode()).hexdigest()


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, markup-light and whitespace-collapsed."""
    paragraph = []
    for line in doc.strip().splitlines():
        if not line.strip():
            break
        if re.match(r"\s*(:param|:returns?|:raises?|Args:|Arguments:|Parameters|Returns?:|>>>|@\w)", line):
            break
        paragraph.append(line.strip())
    text = re.sub(r"\s+", " ", " ".join(paragraph))
    text = re.sub(r"[`*]+|:\w+:", "", text)                         # rst roles and emphasis
    match = re.search(r"(?<=[a-z0-9)\]'\"])[.!?](\s|$)", text)
    return (text[:match.start()] if match else text).strip().rstrip(".:;, ")


ARTICLES = {"a", "an", "the"}
WEB_QUERY_WORDS = 9           # web queries are short: CoSQA dev averages 6.6 words, at most 14


def web_query(sentence: str, seed: int) -> str:
    """A docstring sentence as someone would type it into a search box: lowercase, no punctuation
    or articles, the leading verb in its base form, and by `seed` "python" before or after it or
    "how to" before it (or nothing), as in "python remove directory recursively"."""
    words = [w for w in re.findall(r"[a-z0-9_]+", sentence.lower()) if w not in ARTICLES]
    if words and len(words[0]) > 3 and words[0].endswith("s") and not words[0].endswith("ss"):
        words[0] = words[0][:-1]                                      # "Returns" -> "return"
    text = " ".join(words[:WEB_QUERY_WORDS])
    return ("python " + text, text + " python", "how to " + text, text)[seed % 4]


class _RenameLocals(ast.NodeTransformer):
    """Rename a function's parameters and assigned locals to v0, v1, ... (self/cls kept)."""

    def __init__(self, names: list[str]):
        self.mapping = {name: f"v{i}" for i, name in enumerate(names)}

    def visit_Name(self, node):
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.mapping.get(node.arg, node.arg)
        return node


def renamed_copy(func: ast.FunctionDef) -> str | None:
    """Source of `func` (docstring already removed) with parameters and locals renamed."""
    params = [a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)]
    stored = [n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    names = [n for n in dict.fromkeys(params + stored) if n not in ("self", "cls")]
    if not names:
        return None
    return ast.unparse(_RenameLocals(names).visit(func))


def _function_code(lines: list[str], node, keep_docstring: bool = False) -> str | None:
    """The function's source lines (decorators included), dedented, without its docstring unless
    keep_docstring."""
    doc_node = node.body[0]
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    kept = [line for i, line in enumerate(lines[start:node.end_lineno], start=start)
            if keep_docstring or not doc_node.lineno - 1 <= i <= doc_node.end_lineno - 1]
    if len(kept) - 1 < MIN_BODY_LINES:        # lines besides the def line, blank ones included
        return None
    indent = min((len(l) - len(l.lstrip()) for l in kept if l.strip()), default=0)
    return "\n".join(l[indent:] for l in kept[:MAX_CODE_LINES]).rstrip()


def _is_bench_path(relative: Path) -> bool:
    stems = [p for p in relative.parts[:-1]] + [relative.stem]
    return any(part in BENCH_PACKAGES for part in stems)


def default_roots() -> list[tuple[str, Path]]:
    """(name, folder) for the standard library and each site-packages folder of this interpreter."""
    roots = [("stdlib", Path(sysconfig.get_paths()["stdlib"]))]
    for key in ("purelib", "platlib"):
        path = Path(sysconfig.get_paths()[key])
        if path.is_dir() and all(path != r for _, r in roots):
            roots.append((f"site-packages[{len(roots)}]", path))
    return roots


def is_excluded_path(path: Path) -> bool:
    """True for a file under the benchmark folder (symlinks followed)."""
    resolved = path.resolve()
    return any(resolved.is_relative_to(root) for root in EXCLUDED_ROOTS)


def rosetta_solutions(bench_data: Path | None = BENCH_DATA) -> list[dict]:
    """The Rosetta dev solutions, {lang, task, code, ...} in every language; [] without the bench data."""
    path = bench_data / "similar" / "rosetta-dev.jsonl" if bench_data is not None else None
    if path is None or not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def window_hashes(code: str, size: int = ROSETTA_WINDOW_LINES) -> set[int]:
    """Hashes of every run of `size` consecutive non-blank lines, whitespace ignored (in-process only)."""
    lines = [squeezed for line in code.splitlines() if (squeezed := "".join(line.split()))]
    return {hash("\n".join(lines[i:i + size])) for i in range(len(lines) - size + 1)}


class BenchFilter:
    """Recognises benchmark code by content: stdlib bench files, their functions, CoSQA, Rosetta
    (whole solutions, their Python functions, and runs of ROSETTA_WINDOW_LINES lines)."""

    def __init__(self, stdlib: Path, bench_data: Path | None = BENCH_DATA):
        self.file_hashes, self.function_hashes, self.window_hashes = set(), set(), set()
        self.bench_data = bench_data   # corpus_langs adds the functions of the other languages' solutions
        for package in BENCH_PACKAGES:
            for path in sorted((stdlib / package).rglob("*.py")) if (stdlib / package).is_dir() else []:
                self._add_file(path.read_bytes())
        for path in (stdlib / f"{p}.py" for p in BENCH_PACKAGES):
            if path.is_file():
                self._add_file(path.read_bytes())
        if bench_data is None:
            return
        cosqa = bench_data / "cosqa" / "code_idx_map.txt"
        if cosqa.is_file():
            for code in json.loads(cosqa.read_text()):
                self.function_hashes.add(normalized_hash(code))
                self._add_functions(code)
        for row in rosetta_solutions(bench_data):
            self.function_hashes.add(normalized_hash(row["code"]))
            self.window_hashes |= window_hashes(row["code"])
            if row.get("lang") == "python":
                self._add_functions(row["code"])

    def _add_file(self, data: bytes):
        if data.strip():     # an empty __init__.py is no evidence of a copy; it would match thousands
            self.file_hashes.add(hashlib.sha256(data).hexdigest())
            self._add_functions(data.decode("utf-8", "replace"))

    def _add_functions(self, source: str):
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return
        lines = source.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.function_hashes.add(normalized_hash("\n".join(lines[node.lineno - 1:node.end_lineno])))
                if ast.get_docstring(node) is not None:
                    code = _function_code(lines, node)
                    if code:
                        self.function_hashes.add(normalized_hash(code))


class PairFilter:
    """Decides which mined files and (query, function) pairs are kept: no benchmark code, no copy of
    a file, function or query already taken. One instance serves every root and language, so a
    function or a query is taken once in the whole corpus."""

    def __init__(self, bench: BenchFilter, stats: CorpusStats):
        self.bench, self.stats = bench, stats
        self.files, self.functions, self.queries = set(), set(), set()

    def new_file(self, data: bytes) -> bool:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.bench.file_hashes:
            self.stats.files_excluded_bench_content += 1
            return False
        if digest in self.files:
            self.stats.files_duplicate += 1
            return False
        self.files.add(digest)
        return True

    def new_pair(self, query: str, code: str, code_hash: str) -> bool:
        if code_hash in self.bench.function_hashes:
            self.stats.functions_excluded_bench_hash += 1
            return False
        if not self.bench.window_hashes.isdisjoint(window_hashes(code)):
            self.stats.functions_excluded_bench_window += 1
            return False
        if code_hash in self.functions:
            self.stats.functions_duplicate += 1
            return False
        self.functions.add(code_hash)
        query_key = query.lower()
        if query_key in self.queries:         # generic docs ("Return the name") would be
            self.stats.queries_duplicate += 1  # false in-batch negatives of each other
            return False
        self.queries.add(query_key)
        return True


def _iter_python_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.endswith(".dist-info"))
        for name in sorted(filenames):
            if name.endswith(".py") and not name.startswith("test_"):
                yield Path(dirpath) / name


def in_validation(source: str, validation_percent: float) -> bool:
    """The split by file: a stable share of source files (never single functions) is held out."""
    return int(hashlib.sha256(source.encode()).hexdigest()[:8], 16) % 10_000 < validation_percent * 100


def default_bench_filter() -> BenchFilter:
    return BenchFilter(Path(sysconfig.get_paths()["stdlib"]))


def mine_pairs(roots=None, bench: BenchFilter | None = None, validation_percent: float = 5.0,
               code_pair_every: int = 6, documented_view_every: int = 3, max_pairs_per_package: int = 4000,
               keep: PairFilter | None = None) -> tuple[list[Pair], CorpusStats]:
    """Walk the roots and return deduplicated pairs (with their split) and the mining statistics.

    roots: (name, folder) pairs, default_roots() when None.
    bench: the content filter, built from this interpreter's stdlib and the bench data when None.
    code_pair_every: one documented function in this many also yields a renamed-locals pair.
    documented_view_every: one training function in this many also yields a documented view.
    max_pairs_per_package: cap per top-level package, so torch or sympy cannot dominate.
    keep: the filter shared with other miners (its bench and stats are used); a fresh one when None.
    """
    roots = default_roots() if roots is None else roots
    keep = keep if keep is not None else PairFilter(bench or default_bench_filter(), CorpusStats())
    stats = keep.stats
    pairs, per_package = [], {}
    for root_name, root in roots:
        root_pairs = 0
        for path in _iter_python_files(root):
            if is_excluded_path(path):
                continue
            stats.files_seen += 1
            relative = path.relative_to(root)
            if _is_bench_path(relative):
                stats.files_excluded_bench_path += 1
                continue
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if not keep.new_file(data):
                continue
            try:
                source = data.decode("utf-8")
                tree = ast.parse(source)
            except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
                stats.files_unparsable += 1
                continue
            package = f"{root_name}:{relative.parts[0].removesuffix('.py')}"
            source_name = f"{root_name}:{relative.as_posix()}"
            split = "validation" if in_validation(source_name, validation_percent) else "train"
            lines = source.splitlines()
            for node in ast.walk(tree):
                if per_package.get(package, 0) >= max_pairs_per_package:
                    break
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("test"):
                    continue
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                stats.functions_documented += 1
                query = first_sentence(doc)
                code = _function_code(lines, node)
                if code is None or len(query.split()) < MIN_QUERY_WORDS:
                    continue
                code_hash = normalized_hash(code)
                if not keep.new_pair(query, code, code_hash):
                    continue
                pairs.append(Pair(query, "query", code, source_name, split))
                per_package[package] = per_package.get(package, 0) + 1
                root_pairs += 1
                if split == "train" and int(code_hash[6:12], 16) % documented_view_every == 0:
                    pairs.append(Pair(web_query(query, int(code_hash[12:18], 16)), "query",
                                      _function_code(lines, node, keep_docstring=True), source_name, split))
                    stats.documented_views += 1
                    root_pairs += 1
                if int(code_hash[:6], 16) % code_pair_every == 0:
                    node.body = node.body[1:] or [ast.Pass()]   # drop the docstring before unparsing
                    renamed = renamed_copy(node)
                    if renamed and renamed != code:
                        pairs.append(Pair(code, "code", "\n".join(renamed.splitlines()[:MAX_CODE_LINES]),
                                          source_name, split))
                        root_pairs += 1
        stats.pairs_per_root[root_name] = root_pairs
    return pairs, stats


def installed_distributions() -> list[dict]:
    """Name and version of every installed distribution (the site-packages part of the corpus)."""
    dists = {(d.metadata["Name"] or "?", d.version) for d in importlib.metadata.distributions()}
    return [{"name": n, "version": v} for n, v in sorted(dists, key=lambda x: x[0].lower())]


def build_manifest(roots, pairs: list[Pair], stats: CorpusStats) -> dict:
    """What the corpus was made of, to be saved as manifest.json beside the weights."""
    counts = asdict(stats)
    return {
        "python": sys.version.split()[0],
        "roots": [name for name, _ in roots],  # this interpreter's sysconfig folders, named
        "site_packages_distributions": installed_distributions(),
        "other_language_sources": counts.pop("lang_sources"),
        "counts": {
            "pairs_per_lang": dict(Counter(p.lang for p in pairs)),
            "pairs_train": sum(p.split == "train" for p in pairs),
            "pairs_validation": sum(p.split == "validation" for p in pairs),
            "pairs_code_code": sum(p.query_kind == "code" for p in pairs),
            "files_train": len({p.source for p in pairs if p.split == "train"}),
            "files_validation": len({p.source for p in pairs if p.split == "validation"}),
            **counts,
        },
        "excluded_sources": {
            "bench_packages_anywhere": list(BENCH_PACKAGES),
            "excluded_roots": ["the benchmark folder beside the repository (../shared)"],
            "content_filters": ["sha256 of CPython bench package files",
                                "whitespace-free hash of every function in them",
                                "CoSQA dev code (bench/cosqa/code_idx_map.txt)",
                                "Rosetta dev solutions (bench/similar/rosetta-dev.jsonl): whole, their "
                                "functions, and any %d-line run of them" % ROSETTA_WINDOW_LINES],
            "skipped_dirs": sorted(SKIPPED_DIRS),
            "skipped_files": "test_*.py, files over %d bytes" % MAX_FILE_BYTES,
        },
    }
