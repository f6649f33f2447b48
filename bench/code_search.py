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
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from common import SHARED, private_daemon, run_shared

HERE = Path(__file__).resolve().parent
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


def ltlsp_cmd(mode: str) -> str:
    """The --cmd that drives ltlsp's CLI in one ranking mode."""
    return f"{sys.executable} {HERE / 'with_mode.py'} {mode}"


def evaluate(devset: Path, cmd: str, skip_index: bool, limit: int | None, env: dict) -> dict:
    args = ["--holdout", str(devset), "--cmd", cmd]
    args += ["--skip-index"] if skip_index else []
    args += ["--limit", str(limit)] if limit else []
    return run_shared("code/eval_code_search.py", args, env)


def pooled(results: list[dict], subset: str) -> dict:
    parts = [r[subset] for r in results if r[subset]["n"]]  # an empty subset has no metrics
    n = sum(part["n"] for part in parts)
    return {m: sum(part[m] * part["n"] for part in parts) / n if n else float("nan") for m in METRICS} | {"n": n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devsets", type=Path, default=Path("devsets"))
    parser.add_argument("--modes", nargs="+", default=["hybrid", "dense", "lexical"])
    parser.add_argument("--limit", type=int, help="only the first N queries of each package")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    build_devsets(args.devsets)
    report = {}
    with tempfile.TemporaryDirectory() as tmp, private_daemon(Path(tmp)) as env:
        for mode in args.modes:
            runs = [evaluate(args.devsets / p, ltlsp_cmd(mode), mode != args.modes[0], args.limit, env)
                    for p in PACKAGES]
            report[mode] = {"packages": {p: r["all"]["mrr@10"] for p, r in zip(PACKAGES, runs)},
                            "all": pooled(runs, "all"), "no_overlap": pooled(runs, "no_name_overlap"),
                            "failures": sum(r["n_failures"] for r in runs),
                            "latency_p50_ms": [r["cli_latency"]["p50_ms"] for r in runs],
                            "index_s": sum(r.get("index_s", 0) for r in runs)}
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
