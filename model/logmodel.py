"""The log session model: what normal sessions contain, and how soon.

A session (the lines sharing a block id, a request id, ...) is a trajectory through template
space: z_t = the set of templates seen by step t, with their first-seen times. Normal behaviour
is summarised by session statistics, exact counts over the sessions in a replay buffer (the
training sessions, anomalies included and unlabelled, then the normal sessions seen while
watching):

    present[k]     sessions that contain template k                          (V,)
    cooc[k, u]     sessions that contain both k and u                        (V, V)
    delays[k, b]   histogram of k's first-seen delay after the session start (V, B) log-spaced bins
    counts[k, c]   sessions holding template k exactly c times (c = COUNT_BINS - 1: that or more) (V, C)

Scores, all in nats (-log of a probability), so one threshold serves them:

    novelty(k | z_t) = -log max(P(k), max_u P(k | u))  for u already in the session
        a template is unusual unless the session already holds a template it comes with
        (P(k | u) is shrunk toward P(k), so rare co-occurrences explain little);
    missing(z_t, elapsed) = -log P(k absent)  for an expected template k (P(k) >= 1/2) that has
        not appeared although the session is far older than k's usual (99th percentile) delay;
    count(z_T) = max_k -log P(k occurs c_k times | k occurs)  for templates in the session;
    param = the surprise of the least usual parameter kind of its lines (ParamKinds).

A session scores max(novelty, missing) + count_weight * count + param_weight * param. On HDFS
novelty and missing carry the decisions (the anomalies there are rare events that nothing in the
session explains, and sessions that stop early); the count and parameter terms are kept small so
they only order sessions that are otherwise alike (a replica deleted four times rather than
three, a block file outside the usual subdirectories). bench/logs_bench.py measures each signal
alone and together, next to the trajectory drift residual and flow-prior density, which do not
earn a place in the score (no gain at the threshold, and seconds per thousand sessions).

The threshold is calibrated on the model's own sessions: each buffered session's score held out
from the statistics (5 folds when fitted, and its score when judged before being learned while
watching), then median + threshold_spread robust standard deviations (1.4826 MAD), the
modified z-score rule of Iglewicz and Hoaglin: the unlabelled anomalies among the training
sessions barely move a median. Pure numpy: the statistics are exact counts, saved as safetensors.
"""

import math
import random
from dataclasses import asdict, dataclass, fields

import numpy as np

COUNT_BINS = 21                  # occurrences per session: 0..19 exactly, then 20 or more
DELAY_BINS = 48                  # log-spaced first-seen delay bins: 0 s, then 0.1 s .. ~3e6 s
DELAY_EDGES = np.concatenate([[0.0], 10.0 ** (np.arange(DELAY_BINS - 1) / 6.0 - 1.0)])  # (B,)
ROBUST_SD = 1.4826               # MAD -> standard deviation of a normal distribution
FOLDS = 5                        # held-out folds of the sessions a threshold is calibrated on
REPLAY_COLUMNS = ("offsets", "templates", "delays", "counts", "elapsed", "param", "scores", "added")
MAX_KINDS = 32                   # kinds remembered per parameter slot; more: any kind is usual there
MAX_KIND_CHARS = 32
KIND_CHARS = "0123456789abcdefABCDEF"   # what a value's kind abstracts away
KIND_TABLE = str.maketrans("", "", KIND_CHARS)
KIND_BYTES = KIND_CHARS.encode()


@dataclass
class LogModelConfig:
    shrinkage: float = 2.0           # pseudo-sessions pulling P(k | u) toward P(k)
    expected_presence: float = 0.5   # a template in at least this share of sessions is expected
    overdue_factor: float = 2.0      # missing once the session is this many times k's q99 delay old...
    overdue_grace_s: float = 30.0    # ...plus this many seconds
    threshold: float = 3.0           # nats, until enough sessions calibrate it: fewer than ~5% (e^-3)
    threshold_spread: float = 3.5    # calibrated: median + this many robust sd of held-out scores
    threshold_floor: float = 2.0     # and never below this: a p of e^-2 (14%) is not an anomaly
    calibration_sessions: int = 30   # held-out sessions needed to calibrate
    count_weight: float = 0.2        # share of the count surprise added to a session's score
    param_weight: float = 0.2        # share of the parameter-kind surprise added to line and session
    max_templates: int = 1024        # templates beyond this count as unseen (cooc is V x V)
    replay_sessions: int = 20_000    # sessions the replay buffer of each session key holds

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
    why: str            # "novel" | "missing" | "count" | ""


NO_VERDICT = Verdict(0.0, -1, "")


@dataclass
class Summary:
    """A finished session, as the statistics count it and the replay buffer keeps it."""
    first_seen: dict[int, float | None]   # template -> seconds after the session start (None: untimed)
    occurrences: dict[int, int]           # template -> lines
    elapsed: float | None = None          # seconds from its start to when it was judged
    param: float = 0.0                    # nats of the least usual parameter kind among its lines

    @classmethod
    def of_events(cls, events: list[tuple[int, float | None, float]], clock: float | None) -> "Summary":
        """From (template, time or None, parameter nats) in order; clock: the log's latest time."""
        start = next((t for _, t, _ in events if t is not None), None)
        first_seen: dict[int, float | None] = {}
        occurrences: dict[int, int] = {}
        for k, t, _ in events:
            if k not in first_seen:  # a line stamped before the first one counts as at the start
                first_seen[k] = None if t is None or start is None else max(t - start, 0.0)
            occurrences[k] = occurrences.get(k, 0) + 1
        elapsed = None if start is None or clock is None else clock - start
        return cls(first_seen, occurrences, elapsed, max((p for _, _, p in events), default=0.0))


@dataclass
class Judgement:
    score: float
    unexplained: Verdict    # the template least explained by the rest of the session
    missing: Verdict        # the most surprising overdue expected template
    count: Verdict          # the least usual number of occurrences
    param: float            # nats of the least usual parameter kind


class SessionStats:
    """Exact counts over a set of sessions (Summary): add and remove are inverse."""

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

    def add(self, session: Summary) -> None:
        self.add_many([session])

    def remove(self, session: Summary) -> None:
        """Forget a session added before (the replay buffer evicted it)."""
        self.count_many([session], -1.0)

    def add_many(self, sessions: list[Summary]) -> None:
        self.count_many(sessions, 1.0)

    def count_many(self, sessions: list[Summary], sign: float, batch: int = 1024) -> None:
        """Add (sign 1) or subtract (-1) sessions, a batch at a time: cooc += X^T X for the
        sessions' presence rows X (batch, V), so the cost is a few array operations per batch."""
        v_max = self.cfg.max_templates
        for start in range(0, len(sessions), batch):
            rows, ks, delay_ks, delay_bins, count_bins, lines = [], [], [], [], [], 0.0
            for i, session in enumerate(sessions[start:start + batch]):
                if any(0 <= k < v_max for k in session.first_seen):
                    lines += sum(session.occurrences.values())
                for k, delay in session.first_seen.items():
                    if 0 <= k < v_max:
                        rows.append(i)
                        ks.append(k)
                        count_bins.append(min(session.occurrences[k], COUNT_BINS - 1))
                        if delay is not None:
                            delay_ks.append(k)
                            delay_bins.append(_delay_bin(delay))
            if not ks:
                continue
            self._grow(max(ks) + 1)
            x = np.zeros((max(rows) + 1, len(self.present)))
            x[rows, ks] = 1.0
            self.n_sessions += sign * int(x.any(1).sum())
            self.n_lines += sign * lines
            self.present += sign * x.sum(0)
            self.cooc += sign * (x.T @ x)
            np.add.at(self.delays, (delay_ks, delay_bins), sign)
            np.add.at(self.counts, (ks, count_bins), sign)
        self._dirty = True

    def copy(self) -> "SessionStats":
        twin = SessionStats(self.cfg)
        twin.n_sessions, twin.n_lines = self.n_sessions, self.n_lines
        twin.present, twin.cooc = self.present.copy(), self.cooc.copy()
        twin.delays, twin.counts = self.delays.copy(), self.counts.copy()
        twin._dirty = True
        return twin

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

    def unexplained(self, present_key: tuple[int, ...], unseen: Verdict = NO_VERDICT) -> Verdict:
        """The least explained template given all the others in the session. Unlike the line
        scores (which see only the past), a group of rare templates that always come together,
        such as the steps of a replication, explains its own first member here. `unseen`: the
        verdict on a message never seen, which nothing explains."""
        worst = NO_VERDICT
        for k in present_key:
            score = self.novelty(k, tuple(u for u in present_key if u != k))
            if score > worst.score:
                worst = Verdict(score, k, "novel")
        return unseen if unseen.score > worst.score else worst

    def missing(self, present: set[int], elapsed: float | None) -> Verdict:
        """The most surprising expected template not yet seen although it is overdue."""
        if self._dirty:
            self._refresh()
        best = NO_VERDICT
        if elapsed is None:
            return best
        for k, deadline, nats in self.expected:
            if elapsed > deadline and nats > best.score and k not in present:
                best = Verdict(nats, k, "missing")
        return best

    def count_surprise(self, occurrences: dict[int, int]) -> Verdict:
        """The template whose number of occurrences in this session is the least usual."""
        best = NO_VERDICT
        for k, n in occurrences.items():
            if 0 <= k < len(self.present) and self.present[k]:
                p = (self.counts[k, min(n, COUNT_BINS - 1)] + 0.5) / (self.present[k] + 1)
                if -math.log(p) > best.score:
                    best = Verdict(-math.log(p), k, "count")
        return best

    def judge(self, present_key: tuple[int, ...], occurrences: dict[int, int], elapsed: float | None,
              param: float = 0.0, unseen: Verdict = NO_VERDICT) -> Judgement:
        """A session's score: max(novelty, missing) + count_weight * count + param_weight * param."""
        unexplained = self.unexplained(present_key, unseen)
        missing = self.missing(set(present_key), elapsed)
        counted = self.count_surprise(occurrences)
        score = (max(unexplained.score, missing.score) + self.cfg.count_weight * counted.score
                 + self.cfg.param_weight * param)
        return Judgement(score, unexplained, missing, counted, param)

    def judge_summary(self, session: Summary) -> Judgement:
        return self.judge(tuple(sorted(session.first_seen)), session.occurrences, session.elapsed, session.param)

    def comes_with_others(self, k: int) -> bool:
        if self._dirty:
            self._refresh()
        return 0 <= k < len(self.has_companion) and bool(self.has_companion[k])

    def share(self, k: int) -> float:
        """Share of the sessions holding template k (0 for unseen templates)."""
        return float(self.present[k] / self.n_sessions) if 0 <= k < len(self.present) and self.n_sessions else 0.0

    def typical_delay(self, k: int) -> float:
        if self._dirty:
            self._refresh()
        return float(self.q99[k]) if 0 <= k < len(self.q99) else 0.0


def _delay_bin(seconds: float) -> int:
    return int(np.searchsorted(DELAY_EDGES, max(seconds, 0.0), side="right") - 1)


def _quantile(histogram: np.ndarray, q: float) -> float:
    """Upper edge of the bin where the cumulative share first reaches q (0 for an empty row)."""
    total = histogram.sum()
    if not total:
        return 0.0
    b = int(np.searchsorted(np.cumsum(histogram) / total, q))
    return float(DELAY_EDGES[min(b + 1, DELAY_BINS - 1)])


# ---- the replay buffer and the threshold ---------------------------------------------------------

class SessionReplay:
    """A bounded buffer of finished sessions and their held-out scores: the sessions the statistics
    count and the threshold is calibrated on. Once full, a new session replaces a random one, so
    what was remembered fades geometrically (each session survives an insertion with probability
    1 - 1/capacity) while new behaviour is learnt: new and remembered sessions stay mixed."""

    def __init__(self, capacity: int, sessions: list[Summary] | None = None,
                 scores: list[float] | None = None, added: int = 0):
        if capacity < 1:
            raise ValueError("the replay buffer needs room for at least one session")
        self.capacity = capacity
        self.sessions: list[Summary] = sessions or []
        self.scores: list[float] = scores or []
        self.added = added                    # sessions ever added: seeds the choice of the evicted

    def add(self, session: Summary, score: float) -> Summary | None:
        """Keep a session; returns the one it evicted, if any."""
        self.added += 1
        if len(self.sessions) < self.capacity:
            self.sessions.append(session)
            self.scores.append(score)
            return None
        slot = random.Random(self.added).randrange(self.capacity)
        evicted, self.sessions[slot], self.scores[slot] = self.sessions[slot], session, score
        return evicted

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        templates = [k for s in self.sessions for k in s.first_seen]
        return {
            f"{prefix}.offsets": np.cumsum([0] + [len(s.first_seen) for s in self.sessions]).astype(np.int64),
            f"{prefix}.templates": np.asarray(templates, dtype=np.int64),
            f"{prefix}.delays": np.asarray([np.nan if t is None else t for s in self.sessions
                                            for t in s.first_seen.values()], dtype=np.float64),
            f"{prefix}.counts": np.asarray([s.occurrences[k] for s in self.sessions for k in s.first_seen],
                                           dtype=np.int64),
            f"{prefix}.elapsed": np.asarray([np.nan if s.elapsed is None else s.elapsed for s in self.sessions],
                                            dtype=np.float64),
            f"{prefix}.param": np.asarray([s.param for s in self.sessions], dtype=np.float64),
            f"{prefix}.scores": np.asarray(self.scores, dtype=np.float64),
            f"{prefix}.added": np.asarray([self.added], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, tensors: dict[str, np.ndarray], prefix: str, capacity: int,
                    n_templates: int) -> "SessionReplay":
        """Rebuild from arrays(); ValueError unless shapes and values are consistent."""
        try:
            offsets, templates, delays, counts, elapsed, param, scores, added = (
                np.asarray(tensors[f"{prefix}.{name}"]) for name in REPLAY_COLUMNS)
        except KeyError as missing:
            raise ValueError(f"no {missing} in the replay buffer") from None
        n = len(scores)
        if (offsets.shape != (n + 1,) or elapsed.shape != (n,) or param.shape != (n,) or added.shape != (1,)
                or not len(templates) == len(delays) == len(counts) or n > capacity
                or offsets[0] != 0 or offsets[-1] != len(templates) or (np.diff(offsets) < 0).any()):
            raise ValueError("the replay buffer has inconsistent shapes")
        if ((templates < 0) | (templates >= n_templates)).any() or (counts < 1).any() or added[0] < n:
            raise ValueError("the replay buffer holds impossible templates or counts")
        if not (np.isfinite(scores).all() and np.isfinite(param).all() and (delays[np.isfinite(delays)] >= 0).all()
                and not np.isinf(delays).any() and not np.isinf(elapsed).any()):
            raise ValueError("the replay buffer holds non-finite scores or negative delays")
        sessions = []
        for i in range(n):
            span = range(int(offsets[i]), int(offsets[i + 1]))
            first_seen = {int(templates[j]): None if np.isnan(delays[j]) else float(delays[j]) for j in span}
            if len(first_seen) != len(span):
                raise ValueError("the replay buffer repeats a template within a session")
            sessions.append(Summary(first_seen, {int(templates[j]): int(counts[j]) for j in span},
                                    None if np.isnan(elapsed[i]) else float(elapsed[i]), float(param[i])))
        return cls(capacity, sessions, [float(x) for x in scores], int(added[0]))


@dataclass
class Threshold:
    nats: float     # before --sensitivity
    basis: str      # how it was chosen, for people


def calibrate(scores: list[float], cfg: LogModelConfig) -> Threshold:
    """median + threshold_spread robust sd of the held-out scores, at least threshold_floor."""
    if len(scores) < cfg.calibration_sessions:
        return Threshold(cfg.threshold, f"default {cfg.threshold:g} nats: only {len(scores)} sessions "
                                        f"to calibrate on ({cfg.calibration_sessions} needed)")
    values = np.asarray(scores)
    median = float(np.median(values))
    spread = ROBUST_SD * float(np.median(np.abs(values - median)))
    nats = median + cfg.threshold_spread * spread
    basis = (f"median {median:.2f} + {cfg.threshold_spread:g} x robust sd {spread:.2f} of the held-out "
             f"scores of {len(values)} sessions")
    if nats < cfg.threshold_floor:
        return Threshold(cfg.threshold_floor, f"floor {cfg.threshold_floor:g} nats ({basis} = {nats:.2f})")
    return Threshold(nats, basis)


def held_out_scores(stats: SessionStats, sessions: list[Summary], folds: int = FOLDS) -> list[float]:
    """Each session's score against the statistics of the other folds (exact counts: subtract)."""
    scores = [0.0] * len(sessions)
    for fold in range(min(folds, len(sessions))):
        members = range(fold, len(sessions), folds)
        rest = stats.copy()
        rest.count_many([sessions[i] for i in members], -1.0)
        for i in members:
            scores[i] = rest.judge_summary(sessions[i]).score
    return scores


class SessionModel:
    """What the model knows of the sessions of one session key: the replay buffer, the statistics
    of the sessions in it, and the threshold calibrated on their held-out scores."""

    def __init__(self, cfg: LogModelConfig, replay: SessionReplay, threshold: Threshold, n_templates: int):
        self.cfg = cfg
        self.replay = replay
        self.threshold = threshold
        self.stats = SessionStats(cfg, n_templates)
        self.stats.add_many(replay.sessions)

    @classmethod
    def fit(cls, cfg: LogModelConfig, n_templates: int, sessions: list[Summary]) -> "SessionModel":
        replay = SessionReplay(cfg.replay_sessions)
        for session in sessions:
            replay.add(session, 0.0)
        model = cls(cfg, replay, Threshold(cfg.threshold, ""), n_templates)
        replay.scores = held_out_scores(model.stats, replay.sessions)
        model.threshold = calibrate(replay.scores, cfg)
        return model

    def learn(self, judged: list[tuple[Summary, float]]) -> None:
        """Count sessions judged normal (each with the score it got before it was counted, which is
        a held-out score), forget the ones they evict, and recalibrate the threshold."""
        if not judged:
            return
        for session, score in judged:
            evicted = self.replay.add(session, score)
            self.stats.add(session)
            if evicted is not None:
                self.stats.remove(evicted)
        self.threshold = calibrate(self.replay.scores, self.cfg)


# ---- parameter kinds --------------------------------------------------------------------------------

class ParamKinds:
    """How often each kind of parameter value filled each slot of each template in training.

    A slot is a template's i-th variable or wildcard word; a kind is what the value looks like
    (the caller abstracts digits and hex away, so `/data/subdir58/blk_-12` and `/data/blk_-7`
    differ but two block ids do not). A kind's surprise is -log of the share of the slot's values
    whose kind is at most as frequent (a tail probability: a slot with many equally common kinds
    surprises no one); a kind never seen there gets the slot's rate of new kinds (distinct / n),
    and a slot with more than MAX_KINDS kinds is open (nothing there surprises).
    """

    def __init__(self):
        self.counts: dict[tuple[int, int], dict[str, int]] = {}
        self.open: set[tuple[int, int]] = set()
        self._nats: dict[tuple[int, int], tuple[dict[str, float], float]] = {}

    def add(self, k: int, slots: list[tuple[int, str]]) -> None:
        for slot, kind in slots:
            key = (k, slot)
            if key in self.open:
                continue
            table = self.counts.setdefault(key, {})
            table[kind] = table.get(kind, 0) + 1
            if len(table) > MAX_KINDS:
                self.open.add(key)
                del self.counts[key]
        self._nats = {}

    def surprise(self, k: int, slots: list[tuple[int, str]]) -> float:
        """Nats of the least usual kind among a line's slots (0 for unknown templates and slots)."""
        worst = 0.0
        for slot, kind in slots:
            table = self._slot_nats((k, slot))
            if table is not None:
                worst = max(worst, table[0].get(kind, table[1]))
        return worst

    def _slot_nats(self, key: tuple[int, int]) -> tuple[dict[str, float], float] | None:
        if key not in self._nats:
            table = self.counts.get(key)
            if table is None:
                return None
            n = sum(table.values())
            ordered = sorted(table.values())
            tail = {c: sum(x for x in ordered if x <= c) for c in set(ordered)}
            self._nats[key] = ({kind: -math.log((tail[c] + 0.5) / (n + 1)) for kind, c in table.items()},
                               -math.log((len(table) + 0.5) / (n + 1)))
        return self._nats[key]

    def to_json(self) -> dict:
        return {"slots": [[k, slot, table] for (k, slot), table in self.counts.items()],
                "open": [list(key) for key in self.open]}

    @classmethod
    def from_json(cls, raw: dict, n_templates: int) -> "ParamKinds":
        """Rebuild from to_json(); ValueError unless every slot and count is well formed."""
        kinds = cls()
        if not isinstance(raw, dict) or not isinstance(raw.get("slots"), list) or not isinstance(raw.get("open"), list):
            raise ValueError("parameter kinds are malformed")
        for entry in raw["slots"]:
            if not (isinstance(entry, list) and len(entry) == 3 and _is_slot(entry[:2], n_templates)
                    and isinstance(entry[2], dict) and len(entry[2]) <= MAX_KINDS
                    and all(isinstance(kind, str) and type(c) is int and c > 0 for kind, c in entry[2].items())):
                raise ValueError("parameter kinds are malformed")
            kinds.counts[(entry[0], entry[1])] = entry[2]
        for entry in raw["open"]:
            if not (isinstance(entry, list) and len(entry) == 2 and _is_slot(entry, n_templates)):
                raise ValueError("parameter kinds are malformed")
            kinds.open.add((entry[0], entry[1]))
        return kinds


def kind_of(value: str) -> str:
    """What a parameter value looks like: its text without digits and hex letters, so that ids,
    numbers and hashes of one shape share a kind (`blk_-123` -> `lk_-`, `10.0.0.1:80` -> `...:`)."""
    return value.translate(KIND_TABLE)[:MAX_KIND_CHARS]


def kind_shape(line: str) -> bytes:
    """A line without its kind characters: lines of one template with equal kind shapes have
    parameters of the same kinds (bytes.translate: several times faster than str.translate)."""
    return line.encode("utf-8", "surrogatepass").translate(None, KIND_BYTES)


def _is_slot(pair: list, n_templates: int) -> bool:
    return all(type(x) is int for x in pair) and 0 <= pair[0] < n_templates


def config_dict(cfg: LogModelConfig) -> dict:
    return asdict(cfg)
