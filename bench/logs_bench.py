"""Benchmarks of `ltlsp logs`: which session signals earn their place, template grouping accuracy,
scoring throughput, watch latency and memory.

    python bench/logs_bench.py signals  [--hdfs ../shared/bench/logs/hdfs] [--seeds N]
    python bench/logs_bench.py grouping [--loghub ../shared/data/loghub-2k]
    python bench/logs_bench.py speed    [--hdfs ...]            # daemon-side lines/s, one thread
    python bench/logs_bench.py latency  [--lines 60]           # real daemon + `ltlsp logs watch`
    python bench/logs_bench.py memory   [--lines 1000000]      # open-session state while watching
    python bench/logs_bench.py daemon-memory [--lines 1000000] # the real daemon under `watch -`

`signals` trains on train.log only (labels are read for evaluation only) and reports, per
session signal alone and combined: ROC-AUC, best F1 over thresholds, and F1 at the model's own
threshold. Beside the shipped signals it trains the two trajectory-model signals of model/dynamics
on the same sessions: the drift residual (a drift over the session's latent path predicting the
next step) and the flow-matching prior's density of the session latent, each alone and as a
tie-breaker added to the shipped score in robust standard deviations of the *training* sessions
(so nothing of the test set leaks into the combination), raw and clipped to [0, 5].
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
sys.path.insert(0, str(SHARED / "bench" / "logs"))
sys.path.insert(0, str(SHARED / "bench"))


def trained_model(train_log: Path):
    from ltlsp.model.logmodel import LogModelConfig
    from ltlsp.server.logs.model import LogModel
    from ltlsp.server.logs.templates import TemplateMiner

    model = LogModel("bench", LogModelConfig(), TemplateMiner())
    with open(train_log, encoding="utf-8", errors="replace") as f:
        for line in f:
            model.learn_line(train_log.name, line.rstrip("\n"))
    model.finish_training()
    return model


def scored_sessions(model, log: Path, key: str):
    """The scorer after reading the log, and each session's template sequence."""
    from ltlsp.server.logs.scoring import Scorer

    scorer = Scorer(model, key, 1.0)
    sequences = defaultdict(list)
    with open(log, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            result = scorer.line(log.name, n, line.rstrip("\n"))
            sequences[result.session].append(result.template)
    return scorer, sequences


# ---- signals ------------------------------------------------------------------------------------

SHIPPED = "shipped score"
TIE_WEIGHT = 0.05      # a trajectory signal added as a tie-breaker: nats per robust sd of training sessions


def shipped_signals(scorer) -> dict[str, dict[str, float]]:
    signals = defaultdict(dict)
    for sid, session in scorer.sessions.items():
        judged = scorer.judgement(session)
        signals["novelty"][sid] = judged.unexplained.score
        signals["missing"][sid] = judged.missing.score
        signals["count"][sid] = judged.count.score
        signals["parameter kinds"][sid] = judged.param
        signals["shipped without parameter kinds"][sid] = judged.score - scorer.param_weight * judged.param
        signals[SHIPPED][sid] = judged.score
    return signals


def count_latents(sequences: dict[str, list[int]], vocab: int):
    """Session latent path: z_t = log(1 + counts of each template after t steps), (T, V) each."""
    paths = {}
    for sid, seq in sequences.items():
        counts, steps = np.zeros(vocab + 1, np.float32), []
        for k in seq:
            steps.append(np.log1p(counts))
            counts[k if 0 <= k < vocab else vocab] += 1
        steps.append(np.log1p(counts))
        paths[sid] = np.stack(steps)
    return paths


def drift_and_flow(train_seqs, test_seqs, vocab: int, seed: int = 0) -> tuple[dict, dict]:
    """Train the drift (next step on the latent path) and the flow prior (on final latents) of
    model/dynamics on training sessions; score training and test sessions by mean drift residual
    and -log p. Returns ({signal: {session: value}} for train, the same for test)."""
    import torch
    import torch.nn.functional as F

    from ltlsp.model.dynamics import Drift, VelocityField, flow_matching_loss, log_density

    torch.manual_seed(seed)
    latent = 32
    embed = torch.nn.Linear(vocab + 1, latent)      # count state -> latent z_t
    events = torch.nn.Embedding(vocab + 1, latent)  # template -> latent step direction
    drift = Drift(latent, 128)

    def steps(seqs):
        rows, nexts, ts, owner = [], [], [], []
        for i, (sid, path) in enumerate(count_latents(seqs, vocab).items()):
            seq = [k if 0 <= k < vocab else vocab for k in seqs[sid]]
            rows.append(path[:-1])
            nexts += seq
            ts += [min(t / 64, 1.0) for t in range(len(seq))]
            owner += [i] * len(seq)
        return (torch.from_numpy(np.concatenate(rows)), torch.tensor(nexts), torch.tensor(ts),
                torch.tensor(owner))

    x, y, t, _ = steps(train_seqs)
    params = [*embed.parameters(), *events.parameters(), *drift.parameters()]
    opt = torch.optim.AdamW(params, lr=3e-3)
    for _ in range(300):
        idx = torch.randint(0, len(x), (1024,))
        # the drift's step, read out against every template's direction: next-event logits
        loss = F.cross_entropy(drift(embed(x[idx]), t[idx]) @ events.weight.T, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    def residuals(seqs) -> list[float]:
        xs, ys, ts, owner = steps(seqs)
        with torch.no_grad():
            residual = F.cross_entropy(drift(embed(xs), ts) @ events.weight.T, ys, reduction="none")
        per_session = torch.zeros(len(seqs)).index_add_(0, owner, residual)
        return (per_session / torch.bincount(owner, minlength=len(seqs)).clamp_min(1)).tolist()

    final = lambda seqs: torch.from_numpy(np.stack([p[-1] for p in count_latents(seqs, vocab).values()]))  # noqa: E731
    z_train, z_test = final(train_seqs), final(test_seqs)
    mean, std = z_train.mean(0), z_train.std(0) + 0.1
    velocity = VelocityField(vocab + 1, 128)
    opt = torch.optim.AdamW(velocity.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(400):
        idx = torch.randint(0, len(z_train), (256,), generator=generator)
        loss = flow_matching_loss(velocity, (z_train[idx] - mean) / std, generator)
        opt.zero_grad()
        loss.backward()
        opt.step()
    nll = lambda z: (-log_density(velocity, (z - mean) / std).detach()).tolist()  # noqa: E731
    return tuple({"drift residual (trajectory)": dict(zip(seqs, residuals(seqs))),
                  "flow prior -log p (trajectory)": dict(zip(seqs, nll(z)))}
                 for seqs, z in ((train_seqs, z_train), (test_seqs, z_test)))


def robust_z(values: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    """Values in robust standard deviations of the reference (training) sessions: median and MAD,
    so no statistic of the test set leaks into the combined score."""
    ref = np.array(list(reference.values()))
    median = float(np.median(ref))
    spread = 1.4826 * float(np.median(np.abs(ref - median))) or 1.0
    return {s: (v - median) / spread for s, v in values.items()}


def cmd_signals(args) -> None:
    from eval_logs import best_f1, prf, read_labels, roc_auc

    hdfs = Path(args.hdfs)
    key = r"blk_-?\d+"
    model = trained_model(hdfs / "train.log")
    _, train_seqs = scored_sessions(model, hdfs / "train.log", key)
    scorer, test_seqs = scored_sessions(model, hdfs / "test.log", key)
    labels = read_labels(hdfs / "labels.csv")
    ids = sorted(labels)
    y = np.array([labels[s] for s in ids])
    signals = shipped_signals(scorer)
    shipped = signals[SHIPPED]
    trajectory = ("drift residual (trajectory)", "flow prior -log p (trajectory)")
    for seed in range(args.seeds):
        on_train, on_test = drift_and_flow(train_seqs, test_seqs, len(model.miner.clusters), seed)
        for name in trajectory:
            z = robust_z(on_test[name], on_train[name])
            signals[f"{name}, seed {seed}"] = on_test[name]
            signals[f"shipped + {TIE_WEIGHT} x robust z of {name}, seed {seed}"] = {
                s: shipped[s] + TIE_WEIGHT * v for s, v in z.items()}
            signals[f"shipped + {TIE_WEIGHT} x robust z clipped to [0, 5] of {name}, seed {seed}"] = {
                s: shipped[s] + TIE_WEIGHT * min(max(v, 0.0), 5.0) for s, v in z.items()}
    print(f"HDFS dev: {len(ids)} test sessions, {int(y.sum())} anomalous; threshold {scorer.threshold_basis()}")
    print("| signal | ROC-AUC | best F1 | F1 at threshold |\n|---|---|---|---|")
    for name, values in signals.items():
        score = np.array([values.get(s, -1.0) for s in ids])
        comparable = not name.startswith(trajectory)  # a raw trajectory signal is not in nats
        f1 = f"{prf(y, score > scorer.threshold)['f1']:.3f}" if comparable else "-"
        print(f"| {name} | {roc_auc(y, score):.4f} | {best_f1(y, score)['best_f1']:.3f} | {f1} |")


# ---- grouping -----------------------------------------------------------------------------------

def grouping_accuracy(folder: Path) -> tuple[float, int, int, float]:
    from ltlsp.server.logs.parse import parse_line
    from ltlsp.server.logs.templates import TemplateMiner, mask

    lines = next(folder.glob("*_2k.log")).read_text(errors="replace").splitlines()
    with open(next(folder.glob("*structured*.csv")), newline="", encoding="utf-8", errors="replace") as f:
        truth = [row["EventId"] for row in csv.DictReader(f)]
    miner = TemplateMiner()
    started = time.perf_counter()
    predicted = [miner.add(mask(parse_line(line).message)).id for line in lines]
    rate = len(lines) / (time.perf_counter() - started)
    groups_true, groups_predicted = defaultdict(set), defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, predicted)):
        groups_true[t].add(i)
        groups_predicted[p].add(i)
    accuracy = sum(groups_true[t] == groups_predicted[p] for t, p in zip(truth, predicted)) / len(truth)
    return accuracy, len(miner.clusters), len(groups_true), rate


def cmd_grouping(args) -> None:
    print("| system | grouping accuracy | templates found | true templates | lines/s (cold) |\n|---|---|---|---|---|")
    scores = []
    for folder in sorted(p for p in Path(args.loghub).iterdir() if p.is_dir()):
        accuracy, found, true, rate = grouping_accuracy(folder)
        scores.append(accuracy)
        print(f"| {folder.name} | {accuracy:.3f} | {found} | {true} | {rate:,.0f} |")
    print(f"| mean | {sum(scores) / len(scores):.3f} | | | |")


# ---- speed --------------------------------------------------------------------------------------

def cmd_speed(args) -> None:
    """Lines/s of the Score servicer itself (one thread), as the daemon runs it."""
    from ltlsp.server.logs import model as logmodel
    from ltlsp.server.logs.service import LogsService
    from ltlsp.server.proto import logs_pb2 as pb

    hdfs = Path(args.hdfs)
    with tempfile.TemporaryDirectory() as data:
        logmodel.save(trained_model(hdfs / "train.log"), logmodel.model_dir(Path(data), "bench"))
        service = LogsService(data_root=Path(data))
        raw = (hdfs / "test.log").read_bytes()
        chunks, pos, first = [], 0, 1
        while pos < len(raw):
            end = raw.rfind(b"\n", pos, pos + (1 << 20)) + 1 or len(raw)
            chunks.append(pb.LogInput(source="test.log", data=raw[pos:end], first_line=first))
            first += raw[pos:end].count(b"\n")
            pos = end
        chunks[0].model, chunks[0].session_key = "bench", r"blk_-?\d+"
        for attempt in range(3):  # the first run also loads the model and fits the key
            started = time.perf_counter()
            lines = sum(len(b.lines) for b in service.Score(iter(chunks), None))
            took = time.perf_counter() - started
            print(f"run {attempt + 1}: {lines} lines in {took:.2f} s = {lines / took:,.0f} lines/s")


# ---- latency and memory -------------------------------------------------------------------------

def cmd_latency(args) -> None:
    """Time from appending a line to the file to its alert on watch's stdout (real daemon)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, LTLSP_RUNTIME_DIR=str(tmp / "run"), LTLSP_DATA_DIR=str(tmp / "data"))
        cli = [sys.executable, "-m", "ltlsp.server.cli", "logs"]
        normal = "".join(f"Jan  1 00:00:{i % 60:02d} web app[1]: request {i} done in {i % 90} ms\n"
                         for i in range(3000))
        (tmp / "train.log").write_text(normal)
        subprocess.run(cli + ["train", str(tmp / "train.log"), "--model", "lat"], env=env, check=True)
        live = tmp / "live.log"
        live.write_text("")
        watch = subprocess.Popen(cli + ["watch", str(live), "--model", "lat", "--json"], env=env,
                                 stdout=subprocess.PIPE, text=True, bufsize=1)
        time.sleep(3)
        delays = []
        try:
            for i in range(args.lines):
                sent = time.perf_counter()
                word = "".join(chr(97 + (i // 26 ** j) % 26) for j in range(3))
                with open(live, "a") as f:  # each a new message, so de-duplication lets it through
                    f.write(f"Jan  1 00:01:00 web app[1]: failure {word} happened\n")
                line = watch.stdout.readline()
                delays.append(time.perf_counter() - sent)
                assert json.loads(line).get("anomaly"), line
                time.sleep(1.1 if (i + 1) % 20 == 0 else 0.05)  # stay under 20 alerts/s
        finally:
            watch.terminate()
            subprocess.run([sys.executable, "-m", "ltlsp.server.cli", "stop"], env=env, capture_output=True)
    delays.sort()
    print(f"watch latency over {len(delays)} alerts: p50 {delays[len(delays) // 2] * 1000:.0f} ms, "
          f"p95 {delays[int(len(delays) * 0.95)] * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def cmd_memory(args) -> None:
    """Feed a watch scorer many lines with ever new sessions; resident memory must level off."""
    from ltlsp.server.logs.scoring import MAX_OPEN_SESSIONS, Scorer

    model = trained_model(Path(args.hdfs) / "train.log")
    scorer = Scorer(model, r"blk_-?\d+", 1.0)
    template = "081109 2035{s:02d} 150 INFO dfs.DataNode$DataXceiver: Receiving block blk_{b} src: /10.0.0.{h}:5 dest: /10.0.0.{h}:50010"
    marks = {}
    for n in range(1, args.lines + 1):
        scorer.line("live", n, template.format(s=n % 60, b=n // 3, h=n % 250))
        if n % (args.lines // 10) == 0:
            marks[n] = rss_mb()
    print("lines -> RSS MB: " + ", ".join(f"{n:,}: {mb:.0f}" for n, mb in marks.items()))
    print(f"open sessions {len(scorer.sessions)} (cap {MAX_OPEN_SESSIONS}); growth over the second half "
          f"{marks[args.lines] - marks[args.lines // 2]:.1f} MB")


def cmd_daemon_memory(args) -> None:
    """The real daemon's resident memory while `ltlsp logs watch -` reads many lines from stdin."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, LTLSP_RUNTIME_DIR=str(tmp / "run"), LTLSP_DATA_DIR=str(tmp / "data"))
        cli = [sys.executable, "-m", "ltlsp.server.cli", "logs"]
        subprocess.run(cli + ["train", str(Path(args.hdfs) / "train.log"), "--model", "mem"], env=env,
                       check=True, capture_output=True)
        pid = json.loads((tmp / "run" / "daemon.json").read_text())["pid"]
        watch = subprocess.Popen(cli + ["watch", "-", "--model", "mem", "--session-key", r"blk_-?\d+", "--json"],
                                 env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        line = ("081109 2035{s:02d} 150 INFO dfs.DataNode$DataXceiver: Receiving block blk_{b} "
                "src: /10.0.0.{h}:5 dest: /10.0.0.{h}:50010\n")
        marks = {}
        for start in range(0, args.lines, 10_000):
            watch.stdin.write("".join(line.format(s=n % 60, b=n // 3, h=n % 250)
                                      for n in range(start, start + 10_000)).encode())
            if (start + 10_000) % (args.lines // 10) == 0:
                marks[start + 10_000] = _rss_of(pid)
        watch.stdin.close()
        watch.wait()
        marks[args.lines] = _rss_of(pid)
        subprocess.run([sys.executable, "-m", "ltlsp.server.cli", "stop"], env=env, capture_output=True)
    print("daemon RSS MB after lines written: " + ", ".join(f"{n:,}: {mb:.0f}" for n, mb in marks.items()))


def _rss_of(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("signals", "grouping", "speed", "latency", "memory", "daemon-memory"))
    parser.add_argument("--hdfs", default=str(SHARED / "bench" / "logs" / "hdfs"))
    parser.add_argument("--loghub", default=str(SHARED / "data" / "loghub-2k"))
    parser.add_argument("--lines", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=1, help="signals: trajectory models trained per seed")
    args = parser.parse_args()
    args.lines = args.lines or {"latency": 60, "memory": 1_000_000, "daemon-memory": 1_000_000}.get(args.what, 0)
    {"signals": cmd_signals, "grouping": cmd_grouping, "speed": cmd_speed, "latency": cmd_latency,
     "memory": cmd_memory, "daemon-memory": cmd_daemon_memory}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
