"""Code search on the seven standard-library dev sets of ../shared/bench, through the real CLI,
for each ranking mode (hybrid, dense, lexical), pooled over all packages.

    python bench/code_search.py [--devsets DIR] [--modes hybrid dense lexical] [--limit N]

Builds the dev sets with the shared build_holdout.py when DIR lacks them (CPython 3.11.7's
Lib/ must be this interpreter's standard library: the fingerprints are checked). The pooled
figures are query-weighted means of the per-package ones, which is exact for Hit@k and MRR.
The reference rows are the shared README's dev-set baselines.
"""

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"
PACKAGES = {"email": "c36788ad79154113", "asyncio": "7edf456c0313e182", "http": "3a657a1376477620",
            "xml": "a82ccb82837603de", "logging": "e50343199f4f4338", "json": "c1980f68e3ab07db",
            "concurrent": "fe0d0ba2b77fab69"}
METRICS = ("hit@1", "hit@5", "hit@10", "mrr@10")
REFERENCE = {"BM25": (0.323, 0.611, 0.694, 0.439, 0.303), "MiniLM-L6": (0.370, 0.680, 0.767, 0.493, 0.417),
             "RRF(BM25, MiniLM)": (0.387, 0.673, 0.789, 0.512, 0.396)}


def build_devsets(devsets: Path) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for package, fingerprint in PACKAGES.items():
        out = devsets / package
        if not (out / "queries.jsonl").exists():
            subprocess.run([sys.executable, str(SHARED / "code" / "build_holdout.py"), "--src",
                            str(stdlib / package), "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
        got = json.loads((out / "meta.json").read_text())["source"]["fingerprint_sha256"]
        if not got.startswith(fingerprint):
            raise SystemExit(f"{package}: fingerprint {got[:16]} is not {fingerprint}: "
                             "run with CPython 3.11.7's standard library")


def evaluate(devset: Path, mode: str, skip_index: bool, limit: int | None, env: dict) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, str(SHARED / "code" / "eval_code_search.py"), "--holdout", str(devset),
               "--cmd", f"{sys.executable} {HERE / 'with_mode.py'} {mode}", "--json-out", out.name]
        cmd += ["--skip-index"] if skip_index else []
        cmd += ["--limit", str(limit)] if limit else []
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return json.loads(Path(out.name).read_text())


def pooled(results: list[dict], subset: str) -> dict:
    n = sum(r[subset]["n"] for r in results)
    return {m: sum(r[subset][m] * r[subset]["n"] for r in results) / n for m in METRICS} | {"n": n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devsets", type=Path, default=Path("devsets"))
    parser.add_argument("--modes", nargs="+", default=["hybrid", "dense", "lexical"])
    parser.add_argument("--limit", type=int, help="only the first N queries of each package")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    build_devsets(args.devsets)
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, LTLSP_RUNTIME_DIR=f"{tmp}/run", LTLSP_DATA_DIR=f"{tmp}/data")
        env.pop("LTLSP_ADDRESS", None)
        try:
            for mode in args.modes:
                runs = [evaluate(args.devsets / p, mode, mode != args.modes[0], args.limit, env)
                        for p in PACKAGES]
                report[mode] = {"packages": {p: r["all"]["mrr@10"] for p, r in zip(PACKAGES, runs)},
                                "all": pooled(runs, "all"), "no_overlap": pooled(runs, "no_name_overlap"),
                                "failures": sum(r["n_failures"] for r in runs),
                                "latency_p50_ms": [r["cli_latency"]["p50_ms"] for r in runs],
                                "index_s": sum(r.get("index_s", 0) for r in runs)}
        finally:
            subprocess.run([sys.executable, "-m", "ltlsp.server.cli", "stop"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"code search, 7 stdlib packages pooled ({report[args.modes[0]]['all']['n']} queries)")
    print(f"{'method':<22} {'Hit@1':>6} {'Hit@5':>6} {'Hit@10':>6} {'MRR@10':>7} {'no-overlap':>10} {'failures':>8}")
    for mode, r in report.items():
        row = " ".join(f"{r['all'][m]:6.3f}" for m in METRICS[:3])
        print(f"ltlsp {mode:<16} {row} {r['all']['mrr@10']:7.3f} {r['no_overlap']['mrr@10']:10.3f} {r['failures']:8d}")
    for name, values in REFERENCE.items():
        print(f"{name + ' (README)':<22} " + " ".join(f"{v:6.3f}" for v in values[:3])
              + f" {values[3]:7.3f} {values[4]:10.3f}")
    for mode, r in report.items():
        print(f"MRR@10 per package, {mode}: " + ", ".join(f"{p} {v:.3f}" for p, v in r["packages"].items()))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
