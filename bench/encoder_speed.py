"""Encoding throughput and peak memory of ltlsp's shipped encoder beside all-MiniLM-L6-v2, on the
same code chunks, with the same number of threads.

    python bench/encoder_speed.py [--chunks 2000] [--threads 2]

The chunks are an even spread over every chunk ltlsp's chunker makes of the standard library
(bench/common.py's python_sources: the benchmark packages and tests left out), each text as the
indexer embeds it. Each encoder runs in a subprocess of its own, so its peak RSS (ru_maxrss:
interpreter, libraries, weights, activations) is its own:
  - ours: model/api.py's Encoder as the daemon loads it (the default model, automatic
    precision), at the indexer's batch size;
  - MiniLM: sentence-transformers at its defaults (float32, 256 word pieces, batch 32), and once
    more under bfloat16 autocast, the precision ours picks on a CPU with AMX or AVX512-BF16.
Each encodes one batch to warm up, then all the chunks (timed), then a ten-word query 50 times
back to back and 20 times each after half a second idle (as a person's queries reach the daemon:
its threads asleep).
Needs the `teacher` extra for MiniLM.
"""

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import python_sources
from ltlsp.server.index.syntax import chunk_file
from scale_bench import rss_mb

HERE = Path(__file__).resolve().parent
ENCODERS = ("ours", "minilm", "minilm-bf16")
WARMUP_TEXTS = 32
QUERY = "read the configuration file and return a dictionary of its values"
QUERY_RUNS = 50
IDLE_QUERY_RUNS = 20
IDLE_SECONDS = 0.5


def stdlib_chunks(count: int) -> list[str]:
    """`count` chunk texts spread evenly over the standard library's chunks, in a fixed order."""
    texts = [c.embedding_text for _, rel, text in python_sources(include_site_packages=False)
             for c in chunk_file(str(rel), text)]
    if len(texts) < count:
        raise SystemExit(f"the standard library gives only {len(texts)} chunks; ask for at most that many")
    step = len(texts) / count
    return [texts[int(i * step)] for i in range(count)]


def load_ours():
    """(encode chunk texts, encode one query, a description): the daemon's encoder."""
    from ltlsp.model import Encoder
    from ltlsp.server.index.indexer import ENCODE_BATCH

    encoder = Encoder.load()
    precision = "bfloat16" if encoder.bfloat16 else "float32"
    return (lambda texts: encoder.encode(texts, kind="code", batch_size=ENCODE_BATCH),
            lambda query: encoder.encode([query], kind="query"), f"ours {encoder.model_id}, {precision} batches")


def load_minilm_encoder(bfloat16: bool):
    """(encode chunk texts, encode one query, a description): MiniLM through sentence-transformers."""
    import torch
    from baseline_cli import load_minilm

    model = load_minilm()

    def encode(texts):
        with torch.autocast("cpu", dtype=torch.bfloat16) if bfloat16 else contextlib.nullcontext():
            return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    return encode, lambda query: encode([query]), f"all-MiniLM-L6-v2, {'bfloat16 autocast' if bfloat16 else 'float32'}"


def worker(name: str, texts_file: Path, threads: int) -> None:
    """Runs in the subprocess: one JSON line of figures on stdout."""
    import torch

    torch.set_num_threads(threads)
    texts = json.loads(texts_file.read_text())
    encode, encode_query, description = load_ours() if name == "ours" else load_minilm_encoder(name == "minilm-bf16")
    loaded_mb, _ = rss_mb(os.getpid())
    encode(texts[:WARMUP_TEXTS])
    start = time.perf_counter()
    encode(texts)
    seconds = time.perf_counter() - start
    query_ms = [query_time_ms(encode_query) for _ in range(QUERY_RUNS)]
    idle_query_ms = []
    for _ in range(IDLE_QUERY_RUNS):
        time.sleep(IDLE_SECONDS)
        idle_query_ms.append(query_time_ms(encode_query))
    print(json.dumps({"encoder": description, "chunks_per_s": len(texts) / seconds, "seconds": seconds,
                      "loaded_mb": loaded_mb, "query_ms": statistics.median(query_ms),
                      "idle_query_ms": statistics.median(idle_query_ms),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def query_time_ms(encode_query) -> float:
    begin = time.perf_counter()
    encode_query(QUERY)
    return (time.perf_counter() - begin) * 1000


def measure(name: str, texts_file: Path, threads: int) -> dict:
    done = subprocess.run([sys.executable, str(HERE / "encoder_speed.py"), "--worker", name, "--texts",
                           str(texts_file), "--threads", str(threads)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", choices=ENCODERS, help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.chunks < WARMUP_TEXTS or args.threads < 1:
        parser.error(f"--chunks must be at least {WARMUP_TEXTS} and --threads at least 1")
    if args.worker:
        worker(args.worker, args.texts, args.threads)
        return 0
    texts = stdlib_chunks(args.chunks)
    load = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as texts_file:
        json.dump(texts, texts_file)
        texts_file.flush()
        results = {name: measure(name, Path(texts_file.name), args.threads) for name in ENCODERS}
    ours = results["ours"]
    print(f"{args.chunks} standard-library chunks (mean {sum(map(len, texts)) / len(texts):.0f} characters), "
          f"{args.threads} threads; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'encoder':<44} {'chunks/s':>8} {'ours/it':>7} {'peak RSS':>9} {'ours/it':>7} {'after load':>10} "
          f"{'query':>8} {'idle':>8}")
    for r in results.values():
        print(f"{r['encoder']:<44} {r['chunks_per_s']:8.1f} {ours['chunks_per_s'] / r['chunks_per_s']:6.2f}x "
              f"{r['peak_mb']:6.0f} MB {ours['peak_mb'] / r['peak_mb']:6.2f}x {r['loaded_mb']:7.0f} MB "
              f"{r['query_ms']:5.1f} ms {r['idle_query_ms']:5.1f} ms")
    print("targets: ours >= 5x MiniLM's chunks/s, peak RSS <= 0.5x MiniLM's, query <= 5 ms (median); "
          f"idle: each query after {IDLE_SECONDS} s without work")
    return 0


if __name__ == "__main__":
    sys.exit(main())
