"""Train the trajectory encoder and write a model directory.

    python -m ltlsp.model.train --out DIR [--minutes 50] [--threads 2] [--steps 1500] [--bf16]

The loop: mine the corpus -> train the tokenizer -> (with the teacher) embed the corpus once,
warm-start our token embeddings from it, cluster the codes into topics -> for each batch of
(query, code) pairs

    loss = InfoNCE(query emb, code emb)                 in-batch negatives, unit-norm embeddings
         + lambda_kd   * KL(teacher || ours) over the batch's query->code similarities
         + lambda_kd_code * KL(teacher || ours) over its code->code similarities
         + lambda_ode  * ODE matching of the latent paths against the drift f(z, t)
         + lambda_flow * flow matching of the (detached) pooled latents
         + lambda_ep   * Epps-Pulley normality of the pooled latents

Batches are topic-aware (half random rows, half whole clusters of related code), so many in-batch
negatives are near misses. Every --eval-every steps: validation Hit@1/5/10 (each held-out
docstring query must find its function among the whole validation pool; the teacher's figures
on the same pool are recorded beside ours). The best checkpoint by Hit@5 is kept in --out, with
config, tokenizer, corpus manifest and the metrics of every evaluation; training stops early when
Hit@5 has not improved for --patience evaluations, at --steps, or at --minutes.
"""

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from .batching import topic_batches, topic_clusters
from .checkpoint import MANIFEST, load_checkpoint, save_checkpoint, write_metrics
from .config import EncoderConfig
from .corpus import build_manifest, default_roots
from .corpus_langs import LANGS, mine_corpus, parse_langs
from .dynamics import flow_matching_loss, ode_matching_loss
from .losses import code_similarity_distillation, info_nce, similarity_distillation
from .regularizers import epps_pulley
from .tokenizer import CodeTokenizer, train_tokenizer
from .trajectory import TrajectoryModel

VALIDATION_SEED = 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--minutes", type=float, default=50.0, help="wall-clock budget, corpus mining included")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch and tokenizers")
    p.add_argument("--steps", type=int, default=1500, help="optimizer steps (the lr schedule spans them)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--temperature", type=float, default=0.05, help="InfoNCE temperature")
    p.add_argument("--lambda-ode", type=float, default=0.1)
    p.add_argument("--lambda-flow", type=float, default=0.1)
    p.add_argument("--lambda-ep", type=float, default=0.01)
    p.add_argument("--no-teacher", action="store_true",
                   help="train without all-MiniLM-L6-v2 (no distillation, warm start or topic batches)")
    p.add_argument("--lambda-kd", type=float, default=1.0, help="weight of the teacher distillation")
    p.add_argument("--lambda-kd-code", type=float, default=1.0,
                   help="weight of the distillation of the teacher's code->code similarities (similar code)")
    p.add_argument("--teacher-temperature", type=float, default=0.05)
    p.add_argument("--topic-share", type=float, default=0.5, help="share of each batch from topic clusters")
    p.add_argument("--cluster-size", type=int, default=16, help="mean rows per topic cluster")
    p.add_argument("--cache", type=Path, default=None,
                   help="teacher embedding cache (default: the user cache dir)")
    p.add_argument("--train-tokens", type=int, default=128, help="truncate training texts (speed)")
    p.add_argument("--vocab-size", type=int, default=16384)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=1024)
    p.add_argument("--latent-dim", type=int, default=256)
    p.add_argument("--embed-dim", type=int, default=256)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--val-pool", type=int, default=800, help="validation pairs used for Hit@k")
    p.add_argument("--patience", type=int, default=4, help="evaluations without a better Hit@5")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (fast on CPUs with AMX)")
    p.add_argument("--stdlib-only", action="store_true", help="mine only the standard library (quick runs)")
    p.add_argument("--source", type=Path, action="append", default=[],
                   help="mine this folder of Python code instead of the stdlib and site-packages (repeatable)")
    p.add_argument("--langs", type=parse_langs, default=LANGS,
                   help="languages to mine, comma-separated (default: all; the others' sources are the "
                        "Debian-installed JDK, Go, Rust and JavaScript ones found on this machine)")
    p.add_argument("--init", type=Path, default=None,
                   help="continue training this model directory (its tokenizer and architecture are kept)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pad_batch(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> ids (B, T) and mask (B, T), padded to the longest."""
    lengths = torch.tensor([len(s) for s in sequences])
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.tensor(seq)
    return ids, torch.arange(ids.shape[1]) < lengths.unsqueeze(1)


def tokenize_pairs(tokenizer: CodeTokenizer, pairs) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids of every pair's query side (with its own kind) and code side."""
    query_ids = [None] * len(pairs)
    for kind in ("query", "code"):
        rows = [i for i, p in enumerate(pairs) if p.query_kind == kind]
        for i, ids in zip(rows, tokenizer.encode_batch([pairs[i].query for i in rows], kind)):
            query_ids[i] = ids
    code_ids = tokenizer.encode_batch([p.code for p in pairs], "code")
    return query_ids, code_ids


@torch.inference_mode()
def embed(model: TrajectoryModel, sequences: list[list[int]], pad_id: int, batch_size: int = 64) -> torch.Tensor:
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    out = torch.zeros(len(sequences), model.cfg.embed_dim)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        ids, mask = pad_batch([sequences[i] for i in rows], pad_id)
        out[rows] = model.encoder(ids, mask).embedding.float()
    return out


def retrieval_metrics(queries: torch.Tensor, codes: torch.Tensor) -> dict:
    """Hit@1/5/10 and MRR@10 of retrieving row i of codes (N, D) for row i of queries (N, D)."""
    scores = queries @ codes.T                                                      # (N, N)
    ranks = (scores > scores.diagonal().unsqueeze(1)).sum(1) + 1                    # 1 = best
    return {f"hit@{k}": float((ranks <= k).float().mean()) for k in (1, 5, 10)} | {
        "mrr@10": float(torch.where(ranks <= 10, 1.0 / ranks, 0.0).mean()), "pool": len(queries)}


def evaluate(model: TrajectoryModel, query_ids, code_ids, pad_id: int, bf16: bool) -> dict:
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        metrics = retrieval_metrics(embed(model, query_ids, pad_id), embed(model, code_ids, pad_id))
    model.train()
    return metrics


def learning_rate(step: int, args) -> float:
    """Linear warmup, then cosine decay to 10% of the peak over --steps."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = min(1.0, (step - args.warmup_steps) / max(1, args.steps - args.warmup_steps))
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def load_corpus(args):
    """(train pairs, validation pairs, manifest): validation keeps only natural-language queries."""
    if args.source:
        roots = [(f"source[{i}]", folder) for i, folder in enumerate(args.source)]
    else:
        roots = default_roots()[:1] if args.stdlib_only else default_roots()
    pairs, stats = mine_corpus(roots, args.langs)
    manifest = build_manifest(roots, pairs, stats)
    train_pairs = [p for p in pairs if p.split == "train"]
    val_pairs = [p for p in pairs if p.split == "validation" and p.query_kind == "query"]
    if len(train_pairs) < args.batch_size or not val_pairs:
        raise SystemExit(f"the corpus is too small: {len(train_pairs)} training pairs (need at least "
                         f"--batch-size={args.batch_size}) and {len(val_pairs)} validation queries; "
                         "mine more sources or lower --batch-size")
    # One fixed sample whatever --seed is, so the metrics of runs with different seeds compare.
    val_pairs = random.Random(VALIDATION_SEED).sample(val_pairs, min(args.val_pool, len(val_pairs)))
    return train_pairs, val_pairs, manifest


def build_model(cfg: EncoderConfig, hf_tokenizer, teacher) -> TrajectoryModel:
    """A fresh model; with a teacher, its token embeddings start as the teacher's (PCA-reduced)."""
    model = TrajectoryModel(cfg)
    if teacher is not None:
        from .teacher import token_embeddings
        vocabulary = [hf_tokenizer.id_to_token(i) for i in range(cfg.vocab_size)]
        # Unit-length rows: well above the 0.02-std positions and block outputs at init, so the
        # untrained model already behaves like a bag of the teacher's word embeddings.
        warm = token_embeddings(teacher, vocabulary, cfg.d_model, norm=1.0)
        with torch.no_grad():
            rows = warm.norm(dim=1) > 0
            model.encoder.token_embedding.weight[rows] = warm[rows]
    return model


def make_optimizer(model: TrajectoryModel, args) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)


def epoch_batches(n: int, args, clusters, rng: np.random.Generator) -> list[np.ndarray]:
    if clusters is None:
        order = rng.permutation(n)
        return [order[i:i + args.batch_size] for i in range(0, n - args.batch_size + 1, args.batch_size)]
    return topic_batches(clusters, args.batch_size, rng, random_share=1.0 - args.topic_share)


def batch_losses(model, args, q_seqs, c_seqs, teacher_q, teacher_c, generator) -> dict:
    """The loss terms of one batch (scalars); teacher_q/c are (B, D_t) tensors or None."""
    q_ids, q_mask = pad_batch(q_seqs, model.cfg.pad_id)
    c_ids, c_mask = pad_batch(c_seqs, model.cfg.pad_id)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        q = model.encoder(q_ids, q_mask)
        c = model.encoder(c_ids, c_mask)
    q_emb, c_emb = q.embedding.float(), c.embedding.float()
    latents = torch.cat([q.latent, c.latent]).float()                           # (2B, L)
    losses = {
        "info_nce": info_nce(q_emb, c_emb, args.temperature),
        "ode": 0.5 * (ode_matching_loss(model.drift, q.path.float(), q_mask)
                      + ode_matching_loss(model.drift, c.path.float(), c_mask)),
        # The prior models the latents; it must not pull them toward what is easy to model.
        "flow": flow_matching_loss(model.velocity, latents.detach(), generator),
        "epps_pulley": epps_pulley(latents, generator=generator),
    }
    if teacher_q is not None:
        losses["distill"] = similarity_distillation(q_emb, c_emb, teacher_q, teacher_c, args.temperature,
                                                    args.teacher_temperature)
        losses["distill_code"] = code_similarity_distillation(c_emb, teacher_c, args.temperature,
                                                              args.teacher_temperature)
    return losses


def total_loss(losses: dict, args) -> torch.Tensor:
    weights = {"info_nce": 1.0, "ode": args.lambda_ode, "flow": args.lambda_flow,
               "epps_pulley": args.lambda_ep, "distill": args.lambda_kd,
               "distill_code": args.lambda_kd_code}
    return sum(weights[name] * value for name, value in losses.items())


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + 60 * args.minutes
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))   # tokenizers' thread pool
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)

    def log(message: str):
        print(f"{message} ({time.monotonic() - started:.0f}s)", flush=True)

    train_pairs, val_pairs, manifest = load_corpus(args)
    log(f"corpus: {len(train_pairs)} train pairs, {len(val_pairs)} validation queries")

    model = None
    if args.init:
        model, tokenizer, init_id = load_checkpoint(args.init)
        hf_tokenizer, cfg = tokenizer.tokenizer, model.cfg
        model.train()
        init_manifest = args.init / MANIFEST
        manifest["initialised_from"] = {"model_id": init_id, "manifest": json.loads(init_manifest.read_text())
                                        if init_manifest.is_file() else None}
    else:
        hf_tokenizer = train_tokenizer([p.query for p in train_pairs] + [p.code for p in train_pairs],
                                       vocab_size=args.vocab_size)
        cfg = EncoderConfig(vocab_size=hf_tokenizer.get_vocab_size(), max_tokens=args.max_tokens,
                            d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads,
                            d_ff=args.d_ff, latent_dim=args.latent_dim, embed_dim=args.embed_dim,
                            dropout=args.dropout)
    train_query_ids, train_code_ids = tokenize_pairs(CodeTokenizer(hf_tokenizer, args.train_tokens), train_pairs)
    # Evaluate as inference will run: full max_tokens.
    val_query_ids, val_code_ids = tokenize_pairs(CodeTokenizer(hf_tokenizer, cfg.max_tokens), val_pairs)
    log(f"tokenizer: {cfg.vocab_size} tokens")

    teacher, teacher_q, teacher_c, clusters, teacher_val = None, None, None, None, None
    if not args.no_teacher:
        from platformdirs import user_cache_dir

        from .teacher import TEACHER_NAME, Teacher
        teacher = Teacher(args.cache or Path(user_cache_dir("ltlsp")) / "teacher")
        teacher_q = torch.from_numpy(teacher.encode([p.query for p in train_pairs]))
        teacher_c = torch.from_numpy(teacher.encode([p.code for p in train_pairs]))
        teacher_val = retrieval_metrics(torch.from_numpy(teacher.encode([p.query for p in val_pairs])),
                                        torch.from_numpy(teacher.encode([p.code for p in val_pairs])))
        clusters = topic_clusters(teacher_c.numpy(), args.cluster_size, args.seed)
        log(f"teacher {TEACHER_NAME}: corpus embedded, {clusters.max() + 1} topic clusters, "
            f"its validation hit@5 {teacher_val['hit@5']:.4f}")

    model = model or build_model(cfg, hf_tokenizer, teacher)
    optimizer = make_optimizer(model, args)
    generator = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    log(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")

    # The command's arguments without machine paths: the manifest ships with the weights.
    manifest["training"] = vars(args) | {"cache": None, "out": None, "source": [s.name for s in args.source],
                                         "init": args.init and args.init.name,
                                         "train_pairs": len(train_pairs),
                                         "validation_queries": len(val_pairs),
                                         "teacher": None if teacher is None else TEACHER_NAME}
    history, best, evals_since_best, step, epoch = [], None, 0, 0, 0
    batches, running, stop_reason = [], {}, "steps"
    while step < args.steps:
        if not batches:                                       # a fresh shuffle each epoch
            batches, epoch = epoch_batches(len(train_pairs), args, clusters, rng), epoch + 1
        rows = batches.pop().tolist()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args)
        losses = batch_losses(model, args, [train_query_ids[i] for i in rows],
                              [train_code_ids[i] for i in rows],
                              None if teacher_q is None else teacher_q[rows],
                              None if teacher_c is None else teacher_c[rows], generator)
        optimizer.zero_grad(set_to_none=True)
        total_loss(losses, args).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        for name, value in losses.items():
            running[name] = running.get(name, 0.0) + value.item()
        out_of_time = time.monotonic() > deadline - 60             # leave time for a last eval
        if step % 50 == 0:
            log(f"step {step} epoch {epoch} lr {learning_rate(step, args):.2e} "
                + " ".join(f"{k} {v.item():.4f}" for k, v in losses.items()))

        if step % args.eval_every == 0 or step == args.steps or out_of_time:
            metrics = evaluate(model, val_query_ids, val_code_ids, cfg.pad_id, args.bf16)
            n = (step - 1) % args.eval_every + 1
            metrics |= {"step": step, "epoch": epoch, "elapsed_s": round(time.monotonic() - started, 1),
                        "train_losses": {k: v / n for k, v in running.items()}}
            running = {}
            history.append(metrics)
            log("eval " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith(("hit", "mrr")))
                + f" at step {step}")
            if best is None or metrics["hit@5"] > best["hit@5"]:
                best, evals_since_best = metrics, 0
                model_id = save_checkpoint(args.out, model, hf_tokenizer, manifest,
                                           {"best": best, "evaluations": history, "teacher": teacher_val})
                log(f"saved best checkpoint {model_id} to {args.out}")
            else:
                evals_since_best += 1
            if evals_since_best >= args.patience:
                stop_reason = "early stopping on validation hit@5"
                break
            if out_of_time:
                stop_reason = "time budget"
                break

    # The weights on disk are the best ones; only the metrics gain the later evaluations.
    random_hit5 = min(1.0, 5 / max(1, len(val_pairs)))
    write_metrics(args.out, {"best": best, "evaluations": history, "teacher": teacher_val,
                             "stopped": stop_reason, "steps": step, "random_hit@5": random_hit5,
                             "wall_s": round(time.monotonic() - started, 1)})
    log(f"done: {stop_reason}; best hit@5 {best['hit@5']:.4f} at step {best['step']} (random {random_hit5:.4f})")


if __name__ == "__main__":
    main()
