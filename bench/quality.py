"""Quality on the dev benchmarks of ../shared/bench through the real CLI, beside BM25 and
all-MiniLM-L6-v2 measured in the same run.

    python bench/quality.py [--only code,cosqa,similar] [--langs python,go,javascript,java]
                            [--systems ours,bm25,minilm] [--modes hybrid,dense] [--limit N]
                            [--packages email,...] [--cosqa-pool N] [--workdir DIR] [--json-out FILE]

ours: the ltlsp CLI in each ranking mode (bench/with_mode.py), on a daemon of its own that is
stopped at the end. bm25, minilm: bench/baseline_cli.py, the same CLI contract over the same
chunks. The shared scripts score all of them: code search on the seven stdlib dev sets (built
into ./devsets by bench/code_search.py), pooled; CoSQA dev; Rosetta similar code per language.
The last column divides ours by the better baseline on the headline metric (MRR@10, MAP@R).

--limit N asks only the first N queries of each set and, unless --cosqa-pool says otherwise,
cuts CoSQA's 6,267 functions to 500 (the gold ones of those queries first); with --packages
naming a few small stdlib packages a smoke run takes minutes. Its figures are not comparable
with a full run's. A full run takes an hour or more on two cores, mostly the baselines: MiniLM
encodes about 11,000 chunks, and each baseline query call loads its index afresh (about a
second). --workdir keeps the materialized corpora and the baselines' indexes, so a later run
with the same DIR (a new model of ours) skips that encoding.
"""

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

from code_search import METRICS, PACKAGES, REFERENCE, build_devsets, evaluate, ltlsp_cmd, pooled
from common import SHARED, private_daemon, run_shared

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("code", "cosqa", "similar")
LANGS = ("python", "go", "javascript", "java")
SYSTEMS = ("ours", "bm25", "minilm")
BASELINES = {"bm25": "BM25", "minilm": "MiniLM-L6"}
QUICK_COSQA_POOL = 500
# The shared README's dev-set rows (full sets), printed under the measured ones as a check.
COSQA_REFERENCE = {"BM25": (0.220, 0.426, 0.534, 0.316), "MiniLM-L6": (0.396, 0.726, 0.822, 0.534)}
SIMILAR_REFERENCE = {"BM25": {"python": (0.497, 0.738), "go": (0.634, 0.852), "javascript": (0.515, 0.784),
                              "java": (0.619, 0.783)},
                     "MiniLM-L6": {"python": (0.647, 0.877), "go": (0.535, 0.793),
                                   "javascript": (0.439, 0.763), "java": (0.611, 0.833)}}


def system_cmds(systems: list[str], modes: list[str], data: Path) -> dict[str, str]:
    """Display name -> the --cmd the shared scripts run (absolute paths: they run in the repo)."""
    cmds = {f"ltlsp {mode}": ltlsp_cmd(mode) for mode in modes} if "ours" in systems else {}
    for key, name in BASELINES.items():
        if key in systems:
            cmds[name] = shlex.join([sys.executable, str(HERE / "baseline_cli.py"), "--embedder", key,
                                     "--data", str(data)])
    return cmds


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def checked(report: dict) -> dict:
    """A shared script's report, after saying on stderr how many calls failed and why the first did."""
    if report["n_failures"]:
        progress(f"  {report['benchmark']}: {report['n_failures']} failed calls, the first: {report['failures'][0]}")
    return report


def code_search(cmds: dict, args, env: dict) -> dict:
    build_devsets(args.devsets)
    report = {}
    for name, cmd in cmds.items():
        progress(f"code search: {name}")
        runs = [checked(evaluate(args.devsets / p, cmd, False, args.limit, env)) for p in args.packages]
        report[name] = {"all": pooled(runs, "all"), "no_overlap": pooled(runs, "no_name_overlap"),
                        "failures": sum(r["n_failures"] for r in runs)}
    return report


def cosqa(cmds: dict, args, env: dict, work: Path) -> dict:
    data = SHARED / "cosqa"
    split, code_map = data / "cosqa-retrieval-dev-500.json", data / "code_idx_map.txt"
    pool = args.cosqa_pool or (QUICK_COSQA_POOL if args.limit else None)
    repo = work / (f"cosqa-{args.limit}-{pool}" if pool else "cosqa")
    if pool:
        split, code_map = cosqa_subset(split, code_map, args.limit, pool, repo.with_suffix(".subset"))
    report = {}
    for name, cmd in cmds.items():
        progress(f"CoSQA: {name}")
        extra = ["--limit", str(args.limit)] if args.limit else []
        r = checked(run_shared("cosqa/eval_cosqa.py", ["--cmd", cmd, "--split-file", str(split), "--code-map",
                                                      str(code_map), "--workdir", str(repo), *extra], env))
        report[name] = {"all": r["all"], "functions": r["n_files"], "failures": r["n_failures"]}
    return report


def cosqa_subset(split: Path, code_map: Path, limit: int | None, pool: int, out: Path) -> tuple[Path, Path]:
    """A smaller corpus for a quick run: the gold functions of the asked queries, then the
    others in the shared file's order, `pool` in all (file names keep their shared indices)."""
    queries = json.loads(split.read_text())[:limit]
    codes = json.loads(code_map.read_text())            # {code: retrieval index}
    gold = {q["retrieval_idx"] for q in queries}
    kept = [c for c, i in codes.items() if i in gold]
    kept += [c for c, i in codes.items() if i not in gold][:max(0, pool - len(kept))]
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps(queries))
    (out / "codes.json").write_text(json.dumps({c: codes[c] for c in kept}))
    return out / "split.json", out / "codes.json"


def similar(cmds: dict, args, env: dict, work: Path) -> dict:
    report = {}
    for lang in args.langs:
        report[lang] = {}
        for name, cmd in cmds.items():
            progress(f"similar code, {lang}: {name}")
            extra = ["--limit", str(args.limit)] if args.limit else []
            r = checked(run_shared("similar/eval_similar.py", ["--cmd", cmd, "--lang", lang, "--workdir",
                                                              str(work / f"similar-{lang}"), *extra], env))
            report[lang][name] = {"map@r": r["map@r"], "hit@5": r["hit@5"], "n": r["n_queries"],
                                  "failures": r["n_failures"]}
    return report


def vs_best_baseline(value: float, name: str, baselines: list[float]) -> str:
    if name in BASELINES.values() or not baselines or max(baselines) <= 0:
        return ""
    return f"{value / max(baselines):.2f}x"


def print_code(report: dict, packages: list[str]) -> None:
    first = next(iter(report.values()))
    print(f"\ncode search, {len(packages)} stdlib packages pooled: {first['all']['n']} queries "
          f"({first['no_overlap']['n']} without name overlap)")
    print(f"{'system':<18} {'Hit@1':>6} {'Hit@5':>6} {'Hit@10':>6} {'MRR@10':>6} {'no-overlap':>10} "
          f"{'vs best baseline':>16} {'failures':>8}")
    best = [r["all"]["mrr@10"] for n, r in report.items() if n in BASELINES.values()]
    for name, r in report.items():
        values = " ".join(f"{r['all'][m]:6.3f}" for m in METRICS)
        ratio = vs_best_baseline(r["all"]["mrr@10"], name, best)
        print(f"{name:<18} {values} {r['no_overlap']['mrr@10']:10.3f} {ratio:>16} {r['failures']:8d}")
    for name, v in REFERENCE.items():
        if name in BASELINES.values():
            print(f"{name + ' README':<18} " + " ".join(f"{x:6.3f}" for x in v[:4]) + f" {v[4]:10.3f}")


def print_cosqa(report: dict) -> None:
    first = next(iter(report.values()))
    print(f"\nCoSQA dev: {first['all']['n']} queries over {first['functions']} functions")
    print(f"{'system':<18} {'Hit@1':>6} {'Hit@5':>6} {'Hit@10':>6} {'MRR@10':>6} {'vs best baseline':>16} "
          f"{'failures':>8}")
    best = [r["all"]["mrr@10"] for n, r in report.items() if n in BASELINES.values()]
    for name, r in report.items():
        values = " ".join(f"{r['all'][m]:6.3f}" for m in METRICS)
        print(f"{name:<18} {values} {vs_best_baseline(r['all']['mrr@10'], name, best):>16} {r['failures']:8d}")
    for name, v in COSQA_REFERENCE.items():
        if name in report:
            print(f"{name + ' README':<18} " + " ".join(f"{x:6.3f}" for x in v))


def print_similar(report: dict) -> None:
    print("\nsimilar code (Rosetta dev): MAP@R / Hit@5, vs best baseline on MAP@R; queries: "
          + ", ".join(f"{lang} {next(iter(r.values()))['n']}" for lang, r in report.items()))
    print(f"{'system':<18} " + " ".join(f"{lang:>20}" for lang in report) + f" {'failures':>8}")
    names = next(iter(report.values()))
    for name in names:
        cells = []
        for lang, r in report.items():
            best = [r[n]["map@r"] for n in r if n in BASELINES.values()]
            ratio = vs_best_baseline(r[name]["map@r"], name, best)
            cells.append(f"{r[name]['map@r']:.3f} / {r[name]['hit@5']:.3f} {ratio:>5}")
        failures = sum(r[name]["failures"] for r in report.values())
        print(f"{name:<18} " + " ".join(f"{c:>20}" for c in cells) + f" {failures:8d}")
    for name, by_lang in SIMILAR_REFERENCE.items():
        if name in names:
            cells = [f"{by_lang[lang][0]:.3f} / {by_lang[lang][1]:.3f}      " for lang in report]
            print(f"{name + ' README':<18} " + " ".join(f"{c:>20}" for c in cells))


def comma_list(choices: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        unknown = [t for t in items if t not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"{text!r}: use a comma-separated list of {', '.join(choices)}")
        return items
    return parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=comma_list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--langs", type=comma_list(LANGS), default=list(LANGS), help="similar-code languages")
    parser.add_argument("--systems", type=comma_list(SYSTEMS), default=list(SYSTEMS))
    parser.add_argument("--modes", type=comma_list(("hybrid", "dense", "lexical")), default=["hybrid", "dense"],
                        help="ltlsp's ranking modes")
    parser.add_argument("--limit", type=int, help="only the first N queries of each set (a quick run)")
    parser.add_argument("--packages", type=comma_list(tuple(PACKAGES)), default=list(PACKAGES),
                        help="stdlib packages of the code-search benchmark")
    parser.add_argument("--cosqa-pool", type=int, help="CoSQA functions to search among (default: all, "
                        f"{QUICK_COSQA_POOL} with --limit)")
    parser.add_argument("--devsets", type=Path, default=Path("devsets"))
    parser.add_argument("--workdir", type=Path, help="keep (or reuse) the corpora and the baselines' indexes here")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.limit is not None and args.limit < 1 or args.cosqa_pool is not None and args.cosqa_pool < 1:
        parser.error("--limit and --cosqa-pool must be at least 1")
    report = {}
    with tempfile.TemporaryDirectory() as scratch, private_daemon(Path(scratch)) as env:
        work = args.workdir.resolve() if args.workdir else Path(scratch)
        cmds = system_cmds(args.systems, args.modes, work / "baselines")
        if "code" in args.only:
            report["code"] = code_search(cmds, args, env)
        if "cosqa" in args.only:
            report["cosqa"] = cosqa(cmds, args, env, work)
        if "similar" in args.only:
            report["similar"] = similar(cmds, args, env, work)
    if "code" in report:
        print_code(report["code"], args.packages)
    if "cosqa" in report:
        print_cosqa(report["cosqa"])
    if "similar" in report:
        print_similar(report["similar"])
    if args.json_out:
        args.json_out.write_text(json.dumps({"settings": {k: v for k, v in vars(args).items()
                                                          if k not in ("devsets", "workdir", "json_out")},
                                             **report},
                                            indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
