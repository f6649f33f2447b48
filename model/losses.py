"""Contrastive loss for retrieval."""

import torch
import torch.nn.functional as F


def info_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Symmetric InfoNCE with in-batch negatives.

    queries, keys: (B, D), L2-normalised, row i of each is a positive pair; every other row of the
    batch is a negative. Averages the query->key and key->query cross-entropies.
    """
    logits = queries @ keys.T / temperature                       # (B, B) cosine / temperature
    targets = torch.arange(queries.shape[0], device=queries.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))
