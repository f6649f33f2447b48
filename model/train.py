"""Train the trajectory encoder and write a model directory.

    python -m ltlsp.model.train --out DIR [--minutes 20] [--threads 1] [--steps 3000] [--bf16]

The loop: mine the corpus -> train the tokenizer -> for each batch of (query, code) pairs

    loss = InfoNCE(query emb, code emb)                 in-batch negatives, unit-norm embeddings
         + lambda_ode  * ODE matching of the latent paths against the drift f(z, t)
         + lambda_flow * flow matching of the (detached) pooled latents
         + lambda_ep   * Epps-Pulley normality of the pooled latents

and every --eval-every steps: validation Hit@1/5/10 (each held-out docstring query must find its
function among the whole validation pool). The best checkpoint by Hit@5 is kept in --out, with
config, tokenizer, corpus manifest and the metrics of every evaluation; training stops early when
Hit@5 has not improved for --patience evaluations, at --steps, or at --minutes.
"""

import argparse
import math
import os
import random
import time

import numpy as np
import torch

from .checkpoint import save_checkpoint, write_metrics
from .config import EncoderConfig
from .corpus import build_manifest, default_roots, mine_pairs
from .dynamics import flow_matching_loss, ode_matching_loss
from .losses import info_nce
from .regularizers import epps_pulley
from .tokenizer import CodeTokenizer, train_tokenizer
from .trajectory import TrajectoryModel


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget, corpus mining included")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch and tokenizers")
    p.add_argument("--steps", type=int, default=3000, help="optimizer steps (the lr schedule spans them)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--temperature", type=float, default=0.05, help="InfoNCE temperature")
    p.add_argument("--lambda-ode", type=float, default=0.1)
    p.add_argument("--lambda-flow", type=float, default=0.1)
    p.add_argument("--lambda-ep", type=float, default=0.01)
    p.add_argument("--train-tokens", type=int, default=128, help="truncate training texts (speed)")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=768)
    p.add_argument("--latent-dim", type=int, default=128)
    p.add_argument("--embed-dim", type=int, default=256)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--val-pool", type=int, default=800, help="validation pairs used for Hit@k")
    p.add_argument("--patience", type=int, default=4, help="evaluations without a better Hit@5")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (fast on CPUs with AMX)")
    p.add_argument("--stdlib-only", action="store_true", help="mine only the standard library (quick runs)")
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


def evaluate(model: TrajectoryModel, query_ids, code_ids, pad_id: int, bf16: bool) -> dict:
    """Hit@1/5/10 and MRR@10 of retrieving pair i's code for pair i's query among all codes."""
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        scores = embed(model, query_ids, pad_id) @ embed(model, code_ids, pad_id).T  # (N, N)
    gold = scores.diagonal().unsqueeze(1)
    ranks = (scores > gold).sum(1) + 1                                              # 1 = best
    model.train()
    return {f"hit@{k}": float((ranks <= k).float().mean()) for k in (1, 5, 10)} | {
        "mrr@10": float(torch.where(ranks <= 10, 1.0 / ranks, 0.0).mean()), "pool": len(query_ids)}


def learning_rate(step: int, args) -> float:
    """Linear warmup, then cosine decay to 10% of the peak over --steps."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = min(1.0, (step - args.warmup_steps) / max(1, args.steps - args.warmup_steps))
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + 60 * args.minutes
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))   # tokenizers' thread pool
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)

    roots = default_roots()[:1] if args.stdlib_only else default_roots()
    pairs, stats = mine_pairs(roots)
    manifest = build_manifest(roots, pairs, stats)
    train_pairs = [p for p in pairs if p.split == "train"]
    val_pairs = [p for p in pairs if p.split == "validation" and p.query_kind == "query"]
    val_pairs = random.Random(args.seed).sample(val_pairs, min(args.val_pool, len(val_pairs)))
    print(f"corpus: {len(train_pairs)} train pairs, {len(val_pairs)} validation queries "
          f"({time.monotonic() - started:.0f}s)", flush=True)

    texts = [p.query for p in train_pairs] + [p.code for p in train_pairs]
    hf_tokenizer = train_tokenizer(texts, vocab_size=args.vocab_size)
    cfg = EncoderConfig(vocab_size=hf_tokenizer.get_vocab_size(), max_tokens=args.max_tokens,
                        d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads,
                        d_ff=args.d_ff, latent_dim=args.latent_dim, embed_dim=args.embed_dim,
                        dropout=args.dropout)
    train_tok = CodeTokenizer(hf_tokenizer, args.train_tokens)
    eval_tok = CodeTokenizer(hf_tokenizer, cfg.max_tokens)      # evaluate as inference will run
    train_query_ids, train_code_ids = tokenize_pairs(train_tok, train_pairs)
    val_query_ids, val_code_ids = tokenize_pairs(eval_tok, val_pairs)
    print(f"tokenizer: {cfg.vocab_size} tokens ({time.monotonic() - started:.0f}s)", flush=True)

    model = TrajectoryModel(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters", flush=True)

    history, best, evals_since_best, step = [], None, 0, 0
    manifest["training"] = vars(args) | {"train_pairs": len(train_pairs), "validation_queries": len(val_pairs)}
    order, cursor, epoch = [], 0, 0
    running = {}
    stop_reason = "steps"
    while step < args.steps:
        if cursor + args.batch_size > len(order):          # a fresh shuffle each epoch
            order = torch.randperm(len(train_pairs), generator=generator).tolist()
            cursor, epoch = 0, epoch + 1
        rows = order[cursor:cursor + args.batch_size]
        cursor += args.batch_size
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args)

        q_ids, q_mask = pad_batch([train_query_ids[i] for i in rows], cfg.pad_id)
        c_ids, c_mask = pad_batch([train_code_ids[i] for i in rows], cfg.pad_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            q = model.encoder(q_ids, q_mask)
            c = model.encoder(c_ids, c_mask)
        latents = torch.cat([q.latent, c.latent]).float()                       # (2B, L)
        losses = {
            "info_nce": info_nce(q.embedding.float(), c.embedding.float(), args.temperature),
            "ode": 0.5 * (ode_matching_loss(model.drift, q.path.float(), q_mask)
                          + ode_matching_loss(model.drift, c.path.float(), c_mask)),
            # The prior models the latents; it must not pull them toward what is easy to model.
            "flow": flow_matching_loss(model.velocity, latents.detach(), generator),
            "epps_pulley": epps_pulley(latents, generator=generator),
        }
        loss = (losses["info_nce"] + args.lambda_ode * losses["ode"]
                + args.lambda_flow * losses["flow"] + args.lambda_ep * losses["epps_pulley"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        for name, value in losses.items():
            running[name] = running.get(name, 0.0) + value.item()
        out_of_time = time.monotonic() > deadline - 30             # leave time for a last eval
        if step % 50 == 0:
            print(f"step {step} epoch {epoch} lr {learning_rate(step, args):.2e} "
                  + " ".join(f"{k} {v.item():.4f}" for k, v in losses.items())
                  + f" ({time.monotonic() - started:.0f}s)", flush=True)

        if step % args.eval_every == 0 or step == args.steps or out_of_time:
            metrics = evaluate(model, val_query_ids, val_code_ids, cfg.pad_id, args.bf16)
            n = (step - 1) % args.eval_every + 1
            metrics |= {"step": step, "epoch": epoch, "elapsed_s": round(time.monotonic() - started, 1),
                        "train_losses": {k: v / n for k, v in running.items()}}
            running = {}
            history.append(metrics)
            print("eval " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith(("hit", "mrr")))
                  + f" at step {step}", flush=True)
            if best is None or metrics["hit@5"] > best["hit@5"]:
                best, evals_since_best = metrics, 0
                model_id = save_checkpoint(args.out, model, hf_tokenizer, manifest,
                                           {"best": best, "evaluations": history})
                print(f"saved best checkpoint {model_id} to {args.out}", flush=True)
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
    summary = {"best": best, "evaluations": history, "stopped": stop_reason, "steps": step,
               "random_hit@5": random_hit5, "wall_s": round(time.monotonic() - started, 1)}
    write_metrics(args.out, summary)
    print(f"done: {stop_reason}; best hit@5 {best['hit@5']:.4f} at step {best['step']} "
          f"(random {random_hit5:.4f})", flush=True)


if __name__ == "__main__":
    main()
