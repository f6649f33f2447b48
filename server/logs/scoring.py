"""Scoring a stream of lines against a log model: per line, and per session when it closes.

A line's score is the novelty of its template given the session so far, plus param_weight times
the surprise of its parameter kinds; a session's score is its judgement by the session model
(ltlsp.model.logmodel) at the time it is judged. Both are in nats and share the threshold: the
session model's calibrated one divided by --sensitivity.
"""

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from ltlsp.model.logmodel import NO_VERDICT, Judgement, SessionModel, SessionStats, Summary, Verdict
from ltlsp.server.logs.model import LineCache, LogModel
from ltlsp.server.logs.sessions import Sessionizer, compile_key

MAX_OPEN_SESSIONS = 20_000     # beyond this the least recently active session is closed


@dataclass
class LineResult:
    line: int
    score: float
    anomaly: bool
    template: int
    template_text: str
    session: str
    reason: str


@dataclass
class SessionResult:
    session: str
    score: float
    anomaly: bool
    lines: int
    reason: str
    template: int


@dataclass
class OpenSession:
    id: str
    present: set[int] = field(default_factory=set)
    occurrences: dict[int, int] = field(default_factory=dict)
    first_seen: dict[int, float | None] = field(default_factory=dict)
    last_active: float = 0.0                   # time.monotonic() of its last line
    unseen_text: str = ""                      # the first message of a template never seen
    arrived: float = field(default_factory=time.monotonic)  # when its first line reached us
    present_key: tuple[int, ...] = ()
    start: float | None = None
    worst: Verdict = field(default_factory=lambda: NO_VERDICT)
    param: float = 0.0                         # nats of its least usual parameter kind
    lines: int = 0
    missing_reported: bool = False

    def summary(self, elapsed: float | None) -> Summary:
        delays = {k: None if t is None or self.start is None else max(t - self.start, 0.0)
                  for k, t in self.first_seen.items()}
        return Summary(delays, dict(self.occurrences), elapsed, self.param)


class Scorer:
    def __init__(self, model: LogModel, session_key: str, sensitivity: float, learn: bool = False):
        if not (sensitivity > 0 and math.isfinite(sensitivity)):
            raise ValueError(f"--sensitivity must be a positive number, not {sensitivity}")
        self.model = model
        self.known: SessionModel
        self.known, self.fitted = model.session_model(session_key)  # fitted: new, worth saving
        self.stats: SessionStats = self.known.stats
        self.sessionizer = Sessionizer(compile_key(session_key))
        self.sensitivity = sensitivity
        self.threshold = self.known.threshold.nats / sensitivity
        self.param_weight = model.cfg.param_weight
        self.learn = learn                  # watch: closed normal sessions join the replay buffer
        self.learned = 0
        self._to_learn: list[tuple[Summary, float]] = []
        self.sessions: OrderedDict[str, OpenSession] = OrderedDict()
        self.clock: float | None = None     # latest timestamp seen: the log's own "now"
        self._cache = LineCache()

    def threshold_basis(self) -> str:
        """Which threshold is in use, and why, for people."""
        shifted = f", / --sensitivity {self.sensitivity:g}" if self.sensitivity != 1 else ""
        return f"{self.known.threshold.nats:.2f} nats ({self.known.threshold.basis}){shifted}"

    def line(self, source: str, number: int, text: str) -> LineResult:
        parsed = self.model.parse(text, self._cache)
        if parsed.timestamp is not None:
            self.clock = parsed.timestamp if self.clock is None else max(self.clock, parsed.timestamp)
        session = self._session(self.sessionizer.session_of(source, text))
        k = parsed.template
        novelty = 0.0
        if k not in session.present or k < 0:
            novelty = self.stats.novelty(k, session.present_key)
            if k >= 0:
                session.first_seen[k] = parsed.timestamp
                session.present.add(k)
                session.present_key = tuple(sorted(session.present))
        session.lines += 1
        session.last_active = time.monotonic()
        session.occurrences[k] = session.occurrences.get(k, 0) + 1
        if session.start is None:
            session.start = parsed.timestamp
        if novelty > session.worst.score:
            session.worst = Verdict(novelty, k, "novel")
        if parsed.param > session.param:
            session.param = parsed.param
        if k < 0 and not session.unseen_text:
            session.unseen_text = parsed.text
        score = novelty + self.param_weight * parsed.param
        anomaly = score > self.threshold
        return LineResult(number, score, anomaly, k, parsed.text, session.id,
                          self._line_reason(k, novelty, parsed.param) if anomaly else "")

    def _session(self, sid: str) -> OpenSession:
        session = self.sessions.get(sid)
        if session is None:
            session = self.sessions[sid] = OpenSession(sid)
            if len(self.sessions) > MAX_OPEN_SESSIONS:
                self.close(self.sessions.popitem(last=False)[1])
        else:
            self.sessions.move_to_end(sid)
        return session

    def _line_reason(self, k: int, novelty: float, param: float) -> str:
        if k < 0:
            return "a message never seen in training"
        reasons = []
        if novelty:
            reasons.append(f"template seen in {self.stats.share(k):.2%} of training sessions, "
                           f"unexplained by this session (p={math.exp(-novelty):.3g})")
        if param:
            reasons.append(f"a parameter of a kind this template rarely has (p={math.exp(-param):.3g})")
        return "; ".join(reasons)

    def judge(self, session: OpenSession) -> SessionResult:
        """The session's verdict now: its least explained line, an expected event that is
        overdue, and the tie-breakers (counts, parameter kinds)."""
        elapsed = self.elapsed(session)
        judged = self.judgement(session)
        worst, missing, counted = judged.unexplained, judged.missing, judged.count
        unusual = self.model.template_text(worst.template) or f"never seen: {session.unseen_text}"
        reason = worst.why and f"unusual line: {unusual}"
        if missing.score > worst.score:
            worst = missing
            reason = (f"missing: {self.model.template_text(missing.template)!r} appears in "
                      f"{self.stats.share(missing.template):.1%} of sessions within "
                      f"{self.stats.typical_delay(missing.template):.0f} s; not seen after {elapsed:.0f} s")
        if not reason and counted.score and counted.score >= judged.param:
            reason = (f"unusual count: {self.model.template_text(counted.template)!r} "
                      f"{session.occurrences[counted.template]} times")
        elif not reason and judged.param:
            reason = f"a parameter of an unusual kind (p={math.exp(-judged.param):.3g})"
        return SessionResult(session.id, judged.score, judged.score > self.threshold, session.lines, reason,
                             worst.template if worst.template >= 0 else counted.template)

    def judgement(self, session: OpenSession) -> Judgement:
        """Each part of the session's score (its unseen message, if any, explains nothing)."""
        unseen = session.worst if session.worst.template < 0 else NO_VERDICT
        return self.stats.judge(session.present_key, session.occurrences, self.elapsed(session), session.param, unseen)

    def still_unusual(self, session_id: str, k: int) -> bool:
        """Whether template k is still unexplained by the rest of its session (or it ended)."""
        session = self.sessions.get(session_id)
        if session is None:
            return True
        others = tuple(u for u in session.present_key if u != k)
        return self.stats.novelty(k, others) > self.threshold

    def elapsed(self, session: OpenSession) -> float | None:
        """Seconds since the session started: by the log's own clock when scoring a file, by the
        wall clock when watching live (a quiet log's clock stops, but overdue events are not)."""
        if self.learn:
            return time.monotonic() - session.arrived
        return None if session.start is None or self.clock is None else self.clock - session.start

    def close(self, session: OpenSession) -> SessionResult:
        """Judge a session that has ended; while learning, a normal one joins the replay buffer
        with its score, which is held out (the statistics do not count it yet)."""
        verdict = self.judge(session)
        if self.learn and not verdict.anomaly and session.present:
            self._to_learn.append((session.summary(self.elapsed(session)), verdict.score))
        return verdict

    def apply_learning(self) -> None:
        """Learn the closed normal sessions in one step: the derived tables are rebuilt and the
        threshold recalibrated once per batch rather than once per session."""
        if not self._to_learn:
            return
        with self.model.lock:
            self.known.learn(self._to_learn)
        self.threshold = self.known.threshold.nats / self.sensitivity
        self.learned += len(self._to_learn)
        self._to_learn = []

    def close_idle(self, idle_s: float) -> list[SessionResult]:
        """Close the sessions without a line for idle_s seconds (oldest activity first)."""
        now, closed = time.monotonic(), []
        while self.sessions:
            sid, session = next(iter(self.sessions.items()))
            if now - session.last_active < idle_s:
                break
            del self.sessions[sid]
            closed.append(self.close(session))
        return closed

    def finish(self) -> list[SessionResult]:
        return [self.judge(s) for s in self.sessions.values()]
