"""Tune the hybrid ranking (weighted reciprocal-rank fusion) on the stdlib code-search dev sets.

    python bench/tune_fusion.py [--devsets DIR]

Indexes each dev set with the real CLI, then, in-process, takes the dense and lexical ranked
lists of every query once and scores fusions over a grid of weights with the shared
benchmark's own hit rule. Prints pooled MRR@10 per setting, dense and lexical alone first.
The chosen constants live in server/index/store.py.
"""

import argparse
import importlib.util
import itertools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"
sys.path.insert(0, str(HERE))
from code_search import PACKAGES, build_devsets  # noqa: E402

FETCH = 200


def shared_hit_rule():
    """first_hit(results, query) from the shared eval script (its hit rule, unchanged)."""
    sys.path.insert(0, str(SHARED))
    spec = importlib.util.spec_from_file_location("eval_code_search", SHARED / "code" / "eval_code_search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.first_hit, module.read_jsonl


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devsets", type=Path, default=Path("devsets"))
    args = parser.parse_args()
    build_devsets(args.devsets)
    first_hit, read_jsonl = shared_hit_rule()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, LTLSP_RUNTIME_DIR=f"{tmp}/run", LTLSP_DATA_DIR=f"{tmp}/data")
        for package in PACKAGES:
            subprocess.run([sys.executable, "-m", "ltlsp.server.cli", "index", str(args.devsets / package / "tree")],
                           env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-m", "ltlsp.server.cli", "stop"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        os.environ["LTLSP_DATA_DIR"] = f"{tmp}/data"
        from ltlsp.model import Encoder
        from ltlsp.server.index.store import Filters, RepoIndex, fuse, index_dir
        from ltlsp.server.paths import data_dir

        encoder = Encoder.load(os.environ.get("LTLSP_MODEL") or None)
        cases = []  # (index, query, dense list, lexical list)
        for package in PACKAGES:
            root = (args.devsets / package / "tree").resolve()
            index = RepoIndex(index_dir(data_dir(), root), root, encoder.model_id, encoder.dim)
            queries = read_jsonl(args.devsets / package / "queries.jsonl")
            vectors = encoder.encode([q["query"] for q in queries], kind="query")
            cases += [(index, q, *index.candidates(v, q["query"], FETCH)) for q, v in zip(queries, vectors)]

        def mrr(rank_of) -> float:
            ranks = [first_hit([{"path": h.path, "start_line": h.start_line, "end_line": h.end_line}
                                for h in index.collect(rank_of(d, l), 10, Filters())], q)
                     for index, q, d, l in cases]
            return sum(1 / r for r in ranks if r) / len(ranks)

        print(f"{len(cases)} queries; pooled MRR@10")
        print(f"dense alone    {mrr(lambda d, l: d):.3f}")
        print(f"lexical alone  {mrr(lambda d, l: l):.3f}")
        for dense_weight, k in itertools.product((0.1, 0.2, 0.3, 0.5, 0.75, 1.0), (5, 20, 60)):
            score = mrr(lambda d, l: fuse(d, l, dense_weight, 1.0, k))
            print(f"fused  dense weight {dense_weight:<4} lexical 1.0  k {k:<3} {score:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
