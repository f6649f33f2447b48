"""Tune the hybrid ranking of word queries on the dev sets: the seven stdlib code-search
packages, pooled, and CoSQA dev.

    python bench/tune_fusion.py [--devsets DIR] [--no-cosqa]

Indexes each dev set with the real CLI (CoSQA's 6,267 functions one per file, as its eval script
lays them out, kept in DIR/cosqa), then, in-process, takes the dense and lexical ranked lists of
every query once and scores rankings with the shared benchmarks' own hit rules: dense and
lexical alone, reciprocal-rank fusion, the score blend over a grid of dense shares, and the
shipped ranking (the blend, then siblings told apart by name) over a grid of name weights. Prints
MRR@10 per setting on each benchmark and the worst of each setting's ratios to the better part
(hybrid must not lose on any benchmark). The chosen constants live in server/index/store.py.
"""

import argparse
import importlib.util
import itertools
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from code_search import PACKAGES, build_devsets  # noqa: E402
from common import SHARED, private_daemon  # noqa: E402



def shared_module(relative: str):
    """A shared benchmark script as a module (its hit rule and loaders, unchanged)."""
    sys.path.insert(0, str(SHARED))
    spec = importlib.util.spec_from_file_location(Path(relative).stem, SHARED / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stdlib_sets(devsets: Path) -> list[tuple[Path, list, Callable]]:
    """(tree, queries, rank of the first hit in [hit dicts] for a query) of each stdlib package."""
    build_devsets(devsets)
    code = shared_module("code/eval_code_search.py")
    return [(devsets / package / "tree", code.read_jsonl(devsets / package / "queries.jsonl"), code.first_hit)
            for package in PACKAGES]


def cosqa_set(devsets: Path) -> tuple[Path, list, Callable]:
    cosqa = shared_module("cosqa/eval_cosqa.py")
    files, queries = cosqa.load(SHARED / "cosqa" / "code_idx_map.txt", SHARED / "cosqa" / "cosqa-retrieval-dev-500.json")
    tree = devsets / "cosqa"
    if not (tree / ".git").is_dir():
        cosqa.materialize(files, str(tree), "CoSQA code corpus, one function per file")

    def first_hit(hits: list[dict], query: dict) -> int:
        return next((rank for rank, hit in enumerate(hits, 1) if hit["path"] == query["path"]), 0)
    return tree, queries, first_hit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devsets", type=Path, default=Path("devsets"))
    parser.add_argument("--no-cosqa", action="store_true", help="tune on the stdlib sets only")
    args = parser.parse_args()
    benchmarks = {"stdlib": stdlib_sets(args.devsets)}
    if not args.no_cosqa:
        benchmarks["cosqa"] = [cosqa_set(args.devsets)]
    with tempfile.TemporaryDirectory() as tmp:
        with private_daemon(Path(tmp)) as env:  # stopped before the indexes are opened here
            for sets in benchmarks.values():
                for tree, _, _ in sets:
                    subprocess.run([sys.executable, "-m", "ltlsp.server.cli", "index", str(tree)], env=env,
                                   check=True, stdout=subprocess.DEVNULL)
        os.environ["LTLSP_DATA_DIR"] = env["LTLSP_DATA_DIR"]
        from ltlsp.model import Encoder
        from ltlsp.server.index import store
        from ltlsp.server.index.store import Filters, RepoIndex, blend, fuse, index_dir
        from ltlsp.server.paths import data_dir

        encoder = Encoder.load(os.environ.get("LTLSP_MODEL") or None)
        cases = {}  # benchmark -> [(index, query, rank rule, dense list, lexical list, query vector)]
        for name, sets in benchmarks.items():
            cases[name] = []
            for tree, queries, first_hit in sets:
                root = tree.resolve()
                index = RepoIndex(index_dir(data_dir(), root), root, encoder.model_id, encoder.dim)
                vectors = encoder.encode([q["query"] for q in queries], kind="query")
                cases[name] += [(index, q, first_hit, *index.candidates(v, q["query"], store.QUERY_FETCH), v)
                                for q, v in zip(queries, vectors)]

        def mrr(name: str, rank_of) -> float:
            """rank_of(index, dense, lexical, query vector, query text) -> ranked list."""
            ranks = [first_hit([{"path": h.path, "start_line": h.start_line, "end_line": h.end_line}
                                for h in index.collect(rank_of(index, d, l, v, q["query"]), 10, Filters(), "query")], q)
                     for index, q, first_hit, d, l, v in cases[name]]
            return sum(1 / r for r in ranks if r) / len(ranks)

        names = list(cases)
        print("MRR@10; " + ", ".join(f"{n}: {len(cases[n])} queries" for n in names))
        print(f"{'setting':<42}" + "".join(f"{n:>9}" for n in names) + "  worst vs better part")
        dense = {n: mrr(n, lambda i, d, l, v, t: d) for n in names}
        lexical = {n: mrr(n, lambda i, d, l, v, t: l) for n in names}

        def report(setting: str, rank_of) -> None:
            scores = {n: mrr(n, rank_of) for n in names}
            worst = min(scores[n] / max(dense[n], lexical[n]) for n in names)
            print(f"{setting:<42}" + "".join(f"{scores[n]:9.3f}" for n in names) + f"  {worst:.3f}")

        print(f"{'dense alone':<42}" + "".join(f"{dense[n]:9.3f}" for n in names))
        print(f"{'lexical alone':<42}" + "".join(f"{lexical[n]:9.3f}" for n in names))
        for dense_weight, k in itertools.product((0.5, 0.75, 1.0), (5, 60)):
            report(f"reciprocal rank, dense {dense_weight} k {k}",
                   lambda i, d, l, v, t: fuse(d, l, dense_weight, 1.0, k))
        for share in (0.55, 0.6, 0.65, 0.7, 0.75):
            report(f"blend, dense share {share}", lambda i, d, l, v, t: blend(d, l, share))
        for vector_weight, words_weight in itertools.product((0.0, 0.2, 0.3, 0.4), (0.0, 0.15, 0.25, 0.35)):
            store.NAME_VECTOR_WEIGHT, store.NAME_WORDS_WEIGHT = vector_weight, words_weight
            report(f"shipped, names: vector {vector_weight} words {words_weight}",
                   lambda i, d, l, v, t: i.rank(d, l, v, t, "query"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
