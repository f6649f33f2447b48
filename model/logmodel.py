"""The log session model: what normal sessions contain, and how soon.

A session (the lines sharing a block id, a request id, ...) is a trajectory through template
space: z_t = the set of templates seen by step t, with their first-seen times. Normal behaviour
is summarised by session statistics learned from training logs (anomalies included, unlabelled):

    present[k]     sessions that contain template k                          (V,)
    cooc[k, u]     sessions that contain both k and u                        (V, V)
    delays[k, b]   histogram of k's first-seen delay after the session start (V, B) log-spaced bins
    counts[k, c]   sessions holding template k exactly c times (c = COUNT_BINS - 1: that or more) (V, C)

Three scores, all in nats (-log of a probability), so one threshold serves them:

    novelty(k | z_t) = -log max(P(k), max_u P(k | u))  for u already in the session
        a template is unusual unless the session already holds a template it comes with
        (P(k | u) is shrunk toward P(k), so rare co-occurrences explain little);
    missing(z_t, elapsed) = -log P(k absent)  for an expected template k (P(k) >= 1/2) that has
        not appeared although the session is far older than k's usual (99th percentile) delay;
    count(z_T) = max_k -log P(k occurs c_k times | k occurs)  for templates in the session.

A session scores max(novelty, missing) + count_weight * count. On HDFS novelty and missing carry
the decisions (the anomalies there are rare events that nothing in the session explains, and
sessions that stop early); the count term is kept small so it only orders sessions that are
otherwise alike (a replica deleted four times rather than three). bench/logs_bench.py measures
each signal alone and together, next to the trajectory drift residual and flow-prior density.
Pure numpy: the statistics are exact counts, saved as safetensors.
"""

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

COUNT_BINS = 21                  # occurrences per session: 0..19 exactly, then 20 or more
DELAY_BINS = 48                  # log-spaced first-seen delay bins: 0 s, then 0.1 s .. ~3e6 s
DELAY_EDGES = np.concatenate([[0.0], 10.0 ** (np.arange(DELAY_BINS - 1) / 6.0 - 1.0)])  # (B,)
ARRAYS = ("n_sessions", "n_lines", "present", "cooc", "delays", "counts")


@dataclass
class LogModelConfig:
    shrinkage: float = 2.0           # pseudo-sessions pulling P(k | u) toward P(k)
    expected_presence: float = 0.5   # a template in at least this share of sessions is expected
    overdue_factor: float = 2.0      # missing once the session is this many times k's q99 delay old...
    overdue_grace_s: float = 30.0    # ...plus this many seconds
    threshold: float = 3.0           # nats: flag what fewer than ~5% (e^-3) of sessions show
    count_weight: float = 0.2        # share of the count surprise added to a session's score
    max_templates: int = 1024        # templates beyond this count as unseen (cooc is V x V)

    @classmethod
    def from_dict(cls, raw: dict) -> "LogModelConfig":
        known = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) - known:
            raise ValueError(f"unknown log model settings {sorted(set(raw) - known)}")
        return cls(**raw)


@dataclass
class Verdict:
    score: float        # nats
    template: int       # the template the score is about (-1: none)
    why: str            # "novel" | "missing" | ""


class SessionStats:
    """Counts over sessions; each session is a list of (template id, seconds or None)."""

    def __init__(self, cfg: LogModelConfig, n_templates: int = 0):
        self.cfg = cfg
        v = min(max(n_templates, 1), cfg.max_templates)
        self.n_sessions = 0.0
        self.n_lines = 0.0
        self.present = np.zeros(v)                 # (V,)
        self.cooc = np.zeros((v, v))               # (V, V)
        self.delays = np.zeros((v, DELAY_BINS))    # (V, B)
        self.counts = np.zeros((v, COUNT_BINS))    # (V, C)
        self._refresh()

    # ---- learning ----------------------------------------------------------------------------

    def add(self, session: list[tuple[int, float | None]]) -> None:
        """Count one finished session, given as its (template, time) events in order."""
        first_seen: dict[int, float | None] = {}
        occurrences: dict[int, int] = {}
        for k, t in session:
            first_seen.setdefault(k, t)
            occurrences[k] = occurrences.get(k, 0) + 1
        start = next((t for _, t in session if t is not None), None)
        self.add_summary(first_seen, occurrences, start)

    def add_summary(self, first_seen: dict[int, float | None], occurrences: dict[int, int],
                    start: float | None) -> None:
        """Count one finished session from its first-seen times and occurrences per template
        (what a watched session keeps, instead of all its lines)."""
        first_seen = {k: t for k, t in first_seen.items() if 0 <= k < self.cfg.max_templates}
        if not first_seen:
            return
        self._grow(max(first_seen) + 1)
        ids = np.fromiter(first_seen, dtype=np.int64)
        self.n_sessions += 1
        self.n_lines += sum(occurrences.values())
        self.present[ids] += 1
        self.cooc[np.ix_(ids, ids)] += 1
        for k, t in first_seen.items():
            if start is not None and t is not None:
                self.delays[k, _delay_bin(t - start)] += 1
            self.counts[k, min(occurrences[k], COUNT_BINS - 1)] += 1
        self._dirty = True

    def _grow(self, v: int) -> None:
        old = len(self.present)
        if v <= old:
            return
        self.present = np.pad(self.present, (0, v - old))
        self.cooc = np.pad(self.cooc, ((0, v - old), (0, v - old)))
        self.delays = np.pad(self.delays, ((0, v - old), (0, 0)))
        self.counts = np.pad(self.counts, ((0, v - old), (0, 0)))

    def _refresh(self) -> None:
        """Derived tables, recomputed lazily after learning."""
        n, a = self.n_sessions, self.cfg.shrinkage
        self.base = (self.present + 0.5) / (n + 1)                                  # P(k)   (V,)
        self.conditional = (self.cooc + a * self.base[:, None]) / (self.present[None, :] + a)  # P(k|u) (V, V)
        self.q99 = np.array([_quantile(row, 0.99) for row in self.delays])          # (V,) seconds
        # A message never seen is rarer than any seen one: rarer than one in all training lines.
        self.unseen_nats = math.log((max(n, self.n_lines) + 1) / 0.5)
        self._novelty_cache: dict[tuple, tuple[float, int]] = {}
        # Templates that mostly come with another one (seen 3+ times): a lone first sighting
        # may be explained by what follows, so a live alert for it waits a moment.
        supported = (self.present >= 3)[None, :] & ~np.eye(len(self.present), dtype=bool)
        self.has_companion = (np.where(supported, self.cooc / np.maximum(self.present[None, :], 1), 0.0)
                              .max(1, initial=0.0) >= 0.5)                                  # (V,)
        # (template, seconds after the session start by which it is overdue, nats if absent)
        share = self.present / max(n, 1.0)
        self.expected = [(int(k), self.cfg.overdue_factor * self.q99[k] + self.cfg.overdue_grace_s,
                          -math.log(1.0 - share[k] + 1.0 / (n + 1)))
                         for k in np.flatnonzero(share >= self.cfg.expected_presence) if n]
        self._dirty = False

    # ---- scoring -----------------------------------------------------------------------------

    def novelty(self, k: int, present: tuple[int, ...]) -> float:
        """-log P(k | the session so far), in nats; a template the model never saw is maximal."""
        if self._dirty:
            self._refresh()
        if k < 0 or k >= len(self.base):
            return self.unseen_nats
        key = (k, present)
        hit = self._novelty_cache.get(key)
        if hit is None:
            known = [u for u in present if 0 <= u < len(self.base) and u != k]
            p = max(self.base[k], self.conditional[k, known].max() if known else 0.0)
            hit = (-math.log(p), k)
            if len(self._novelty_cache) < 100_000:
                self._novelty_cache[key] = hit
        return hit[0]

    def missing(self, present: set[int], elapsed: float | None) -> Verdict:
        """The most surprising expected template not yet seen although it is overdue."""
        if self._dirty:
            self._refresh()
        best = Verdict(0.0, -1, "")
        if elapsed is None:
            return best
        for k, deadline, nats in self.expected:
            if elapsed > deadline and nats > best.score and k not in present:
                best = Verdict(nats, k, "missing")
        return best

    def count_surprise(self, occurrences: dict[int, int]) -> Verdict:
        """The template whose number of occurrences in this session is the least usual."""
        best = Verdict(0.0, -1, "")
        for k, n in occurrences.items():
            if 0 <= k < len(self.present) and self.present[k]:
                p = (self.counts[k, min(n, COUNT_BINS - 1)] + 0.5) / (self.present[k] + 1)
                if -math.log(p) > best.score:
                    best = Verdict(-math.log(p), k, "count")
        return best

    def comes_with_others(self, k: int) -> bool:
        if self._dirty:
            self._refresh()
        return 0 <= k < len(self.has_companion) and bool(self.has_companion[k])

    def share(self, k: int) -> float:
        """Share of training sessions holding template k (0 for unseen templates)."""
        return float(self.present[k] / self.n_sessions) if 0 <= k < len(self.present) and self.n_sessions else 0.0

    def typical_delay(self, k: int) -> float:
        if self._dirty:
            self._refresh()
        return float(self.q99[k]) if 0 <= k < len(self.q99) else 0.0

    # ---- persistence -------------------------------------------------------------------------

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.n_sessions": np.array([self.n_sessions]), f"{prefix}.n_lines": np.array([self.n_lines]),
                f"{prefix}.present": self.present,
                f"{prefix}.cooc": self.cooc, f"{prefix}.delays": self.delays, f"{prefix}.counts": self.counts}

    @classmethod
    def from_arrays(cls, cfg: LogModelConfig, tensors: dict[str, np.ndarray], prefix: str) -> "SessionStats":
        """Rebuild from arrays(); ValueError unless shapes and values are consistent."""
        try:
            n, lines, present, cooc, delays, counts = (np.asarray(tensors[f"{prefix}.{name}"], dtype=np.float64)
                                                       for name in ARRAYS)
        except KeyError as missing:
            raise ValueError(f"no {missing} statistics") from None
        v = present.shape[0] if present.ndim == 1 else -1
        if (n.shape != (1,) or lines.shape != (1,) or v < 1 or v > cfg.max_templates or cooc.shape != (v, v)
                or delays.shape != (v, DELAY_BINS) or counts.shape != (v, COUNT_BINS)):
            raise ValueError(f"{prefix} statistics have inconsistent shapes")
        if not all(np.isfinite(a).all() and (a >= 0).all() for a in (n, lines, present, cooc, delays, counts)):
            raise ValueError(f"{prefix} statistics hold negative or non-finite counts")
        stats = cls(cfg)
        stats.n_sessions, stats.n_lines, stats.present, stats.cooc, stats.delays, stats.counts = (
            float(n[0]), float(lines[0]), present, cooc, delays, counts)
        stats._refresh()
        return stats


def _delay_bin(seconds: float) -> int:
    return int(np.searchsorted(DELAY_EDGES, max(seconds, 0.0), side="right") - 1)


def _quantile(histogram: np.ndarray, q: float) -> float:
    """Upper edge of the bin where the cumulative share first reaches q (0 for an empty row)."""
    total = histogram.sum()
    if not total:
        return 0.0
    b = int(np.searchsorted(np.cumsum(histogram) / total, q))
    return float(DELAY_EDGES[min(b + 1, DELAY_BINS - 1)])


def config_dict(cfg: LogModelConfig) -> dict:
    return asdict(cfg)
