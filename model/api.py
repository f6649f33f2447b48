"""The one entry point the daemon uses:

    enc = Encoder.load()                                  # the shipped model in model/weights/
    vecs = enc.encode(["def f(x): ..."], kind="code")     # (n, enc.dim) float32, unit rows
"""

from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_checkpoint
from .tokenizer import KIND_TOKENS, CodeTokenizer
from .trajectory import TrajectoryModel

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "weights"


PRECISIONS = ("auto", "float32", "bfloat16")
PAD_MULTIPLE = 32
BFLOAT16_MIN_TOKENS = 256     # padded tokens in a batch from which bfloat16 beats float32 (measured)
# Padded tokens up to which a batch runs on one thread. After the daemon sat idle, waking torch's
# other intra-op thread cost a lone ten-word query ~4 ms (7.8 ms on 2 threads, 3.9 ms on one);
# from a 256-token selection on, the threads earn their wake-up.
SINGLE_THREAD_TOKENS = 128


def cpu_has_fast_bfloat16() -> bool:
    """True on x86 CPUs with AMX or AVX512-BF16, where bfloat16 matmuls are about twice as fast;
    elsewhere bfloat16 is emulated and slower than float32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class Encoder:
    """Text -> L2-normalised embedding. Thread-safe: encode() mutates no shared state and runs
    under torch.inference_mode, so several threads may call it on one instance."""

    def __init__(self, model: TrajectoryModel, tokenizer: CodeTokenizer, model_id: str,
                 precision: str = "auto"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.dim = model.cfg.embed_dim
        self.max_tokens = model.cfg.max_tokens
        # Compute precision for large batches; the weights stay float32.
        self.bfloat16 = precision == "bfloat16" or (precision == "auto" and cpu_has_fast_bfloat16())
        # Intra-op threads for big batches: the loading thread's setting. torch.set_num_threads
        # holds for the thread that calls it, so each batch sets its own count (see encode()).
        self.threads = torch.get_num_threads()

    @classmethod
    def load(cls, path=None, precision: str = "auto") -> "Encoder":
        """Load a model directory; None means the default shipped with the package.

        precision: "float32", "bfloat16", or "auto" (bfloat16 where the CPU computes it natively).
        """
        directory = DEFAULT_MODEL_DIR if path is None else Path(path)
        if path is None and not (directory / "model.safetensors").is_file():
            raise FileNotFoundError(
                f"the default model is missing from {directory}; reinstall ltlsp or train one with "
                "`python -m ltlsp.model.train --out DIR` and pass its path")
        return cls(*load_checkpoint(directory), precision=precision)

    def encode(self, texts: list[str], kind: str = "code", batch_size: int = 64) -> np.ndarray:
        """Embed texts as `kind` ("code" or "query"); returns (len(texts), dim) float32 rows of
        unit length, in input order. Texts longer than max_tokens are truncated."""
        if kind not in KIND_TOKENS:
            raise ValueError(f"kind must be one of {sorted(KIND_TOKENS)}, got {kind!r}")
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of str")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer.encode_batch(texts, kind)
        # Longest first: batches of similar length waste little compute on padding.
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                lengths = [len(ids[i]) for i in rows]
                batch = np.full((len(rows), self._padded_width(max(lengths))), self.tokenizer.pad_id,
                                dtype=np.int64)
                for r, i in enumerate(rows):
                    batch[r, :lengths[r]] = ids[i]
                torch.set_num_threads(1 if batch.size <= SINGLE_THREAD_TOKENS else self.threads)
                token_ids = torch.from_numpy(batch)
                mask = torch.arange(batch.shape[1]) < torch.tensor(lengths).unsqueeze(1)
                # Autocast re-casts the weights on every call: that only pays off for big batches,
                # a lone short query is faster in float32 (cosines agree to ~1e-4 either way).
                fast = self.bfloat16 and batch.size >= BFLOAT16_MIN_TOKENS
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
                    out[rows] = self.model.encoder(token_ids, mask).embedding.float().numpy()
        return out

    def _padded_width(self, longest: int) -> int:
        """Pad batches to a multiple of PAD_MULTIPLE tokens: oneDNN keeps compiled kernels per
        input shape, and with one width per batch its caches grew the daemon by >1 GB over
        100k chunks; a handful of widths keeps them small (the mask hides the extra padding)."""
        return min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, self.max_tokens)
