"""Topic-aware batches: in-batch negatives that are hard, mined from the teacher's embeddings.

With random batches almost every negative is trivially unrelated (a regex helper against a tensor
kernel), and InfoNCE learns little from them. Clustering the training codes by the teacher's
embeddings and filling each batch from a few clusters makes the negatives near misses: functions
on the same topic that the encoder must tell apart by what they do.
"""

import faiss
import numpy as np


def topic_clusters(embeddings: np.ndarray, cluster_size: int, seed: int = 0) -> np.ndarray:
    """(N,) cluster id per row of embeddings (N, D), about `cluster_size` rows per cluster (k-means)."""
    n, dim = embeddings.shape
    k = max(1, n // cluster_size)
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    kmeans = faiss.Kmeans(dim, k, niter=12, seed=seed, spherical=True, min_points_per_centroid=1,
                          max_points_per_centroid=max(256, 2 * cluster_size))
    kmeans.train(np.ascontiguousarray(embeddings, dtype=np.float32))
    _, assignment = kmeans.index.search(np.ascontiguousarray(embeddings, dtype=np.float32), 1)
    return assignment[:, 0].astype(np.int64)


def topic_batches(clusters: np.ndarray, batch_size: int, rng: np.random.Generator,
                  random_share: float = 0.5) -> list[np.ndarray]:
    """One epoch of batches: each is `random_share` random rows, the rest whole clusters in a
    random order (members shuffled). The random part keeps easy negatives in every batch, so the
    embedding space stays globally spread out, not only locally sharp."""
    n = len(clusters)
    order = rng.permutation(n)
    n_random = int(round(n * random_share))
    random_rows, topical_rows = order[:n_random], order[n_random:]
    cluster_order = rng.permutation(int(clusters.max()) + 1)
    rank = np.empty_like(cluster_order)
    rank[cluster_order] = np.arange(len(cluster_order))
    topical_rows = topical_rows[np.argsort(rank[clusters[topical_rows]], kind="stable")]
    per_batch_random = int(round(batch_size * random_share))
    batches, r, t = [], 0, 0
    while r + per_batch_random <= len(random_rows) and t + batch_size - per_batch_random <= len(topical_rows):
        batch = np.concatenate([random_rows[r:r + per_batch_random],
                                topical_rows[t:t + batch_size - per_batch_random]])
        r, t = r + per_batch_random, t + batch_size - per_batch_random
        batches.append(batch)
    return batches
