"""Scoring a stream of lines against a log model: per line, and per session when it closes.

A line's score is the novelty of its template given the session so far; a session's score is the
largest of its lines' scores and of the missing-event score at the time it is judged. Both are in
nats and share the threshold (config threshold / sensitivity).
"""

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from ltlsp.model.logmodel import SessionStats, Verdict
from ltlsp.server.logs.model import LogModel
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
    worst: Verdict = field(default_factory=lambda: Verdict(0.0, -1, ""))
    lines: int = 0
    missing_reported: bool = False


class Scorer:
    def __init__(self, model: LogModel, session_key: str, sensitivity: float, learn: bool = False):
        if not (sensitivity > 0 and math.isfinite(sensitivity)):
            raise ValueError(f"--sensitivity must be a positive number, not {sensitivity}")
        self.model = model
        self.stats: SessionStats = model.stats_for(session_key)
        self.sessionizer = Sessionizer(compile_key(session_key))
        self.threshold = model.cfg.threshold / sensitivity
        self.learn = learn                  # watch: closed normal sessions join the statistics
        self.learned = 0
        self._to_learn: list[OpenSession] = []
        self.sessions: OrderedDict[str, OpenSession] = OrderedDict()
        self.clock: float | None = None     # latest timestamp seen: the log's own "now"
        self._templates: dict = {}

    def line(self, source: str, number: int, text: str) -> LineResult:
        parsed = self.model.parse(text, self._templates)
        if parsed.timestamp is not None:
            self.clock = parsed.timestamp if self.clock is None else max(self.clock, parsed.timestamp)
        session = self._session(self.sessionizer.session_of(source, text))
        k = parsed.template
        score = 0.0
        if k not in session.present or k < 0:
            score = self.stats.novelty(k, session.present_key)
            if k >= 0:
                session.first_seen[k] = parsed.timestamp
                session.present.add(k)
                session.present_key = tuple(sorted(session.present))
        session.lines += 1
        session.last_active = time.monotonic()
        session.occurrences[k] = session.occurrences.get(k, 0) + 1
        if session.start is None:
            session.start = parsed.timestamp
        if score > session.worst.score:
            session.worst = Verdict(score, k, "novel")
        if k < 0 and not session.unseen_text:
            session.unseen_text = parsed.text
        anomaly = score > self.threshold
        return LineResult(number, score, anomaly, k, parsed.text, session.id,
                          self._novel_reason(k, score) if anomaly else "")

    def _session(self, sid: str) -> OpenSession:
        session = self.sessions.get(sid)
        if session is None:
            session = self.sessions[sid] = OpenSession(sid)
            if len(self.sessions) > MAX_OPEN_SESSIONS:
                self.close(self.sessions.popitem(last=False)[1])
        else:
            self.sessions.move_to_end(sid)
        return session

    def _novel_reason(self, k: int, score: float) -> str:
        if k < 0:
            return "a message never seen in training"
        share = self.stats.share(k)
        return f"template seen in {share:.2%} of training sessions, unexplained by this session (p={math.exp(-score):.3g})"

    def judge(self, session: OpenSession) -> SessionResult:
        """The session's verdict now: its worst line, or an expected event that is overdue."""
        elapsed = self.elapsed(session)
        missing = self.stats.missing(session.present, elapsed)
        worst = self._unexplained(session)
        unusual = self.model.template_text(worst.template) or f"never seen: {session.unseen_text}"
        reason = worst.why and f"unusual line: {unusual}"
        if missing.score > worst.score:
            worst = missing
            reason = (f"missing: {self.model.template_text(missing.template)!r} appears in "
                      f"{self.stats.share(missing.template):.1%} of sessions within "
                      f"{self.stats.typical_delay(missing.template):.0f} s; not seen after {elapsed:.0f} s")
        counted = self.stats.count_surprise(session.occurrences)
        score = worst.score + self.model.cfg.count_weight * counted.score
        if counted.score and not reason:
            reason = (f"unusual count: {self.model.template_text(counted.template)!r} "
                      f"{session.occurrences[counted.template]} times")
        return SessionResult(session.id, score, score > self.threshold, session.lines, reason,
                             worst.template if worst.template >= 0 else counted.template)

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

    def _unexplained(self, session: OpenSession) -> Verdict:
        """The least explained template given all the others in the session. Unlike the line
        scores (which see only the past), a group of rare templates that always come together,
        such as the steps of a replication, explains its own first member here."""
        worst = Verdict(0.0, -1, "")
        for k in session.present:
            others = tuple(u for u in session.present_key if u != k)
            score = self.stats.novelty(k, others)
            if score > worst.score:
                worst = Verdict(score, k, "novel")
        if session.worst.template < 0 and session.worst.score > worst.score:
            worst = session.worst  # an unseen message explains nothing
        return worst

    def close(self, session: OpenSession) -> SessionResult:
        """Judge a session that has ended; while learning, a normal one updates the statistics
        (continual learning: exact counts, so new and remembered sessions weigh the same)."""
        verdict = self.judge(session)
        if self.learn and not verdict.anomaly and session.present:
            self._to_learn.append(session)
        return verdict

    def apply_learning(self) -> None:
        """Add the closed normal sessions to the statistics in one step: the derived tables are
        rebuilt once per batch rather than once per session."""
        if not self._to_learn:
            return
        with self.model.lock:
            for session in self._to_learn:
                start = next((t for t in session.first_seen.values() if t is not None), None)
                self.stats.add_summary(session.first_seen, session.occurrences, start)
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
