"""gRPC servicer of ltlsp.v1.Logs: Train, Score and Watch (daemon side).

Models live in memory once loaded (one per name) and on disk under the data dir. Lines arrive as
bytes and are decoded with replacement, so invalid UTF-8 or binary garbage is scored like any
other odd line instead of failing the stream.
"""

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from ltlsp.server.errors import UserError
from ltlsp.server.index import gitrepo
from ltlsp.server.logs.codeloc import CodeLocator
from ltlsp.server.logs.templates import TemplateMiner
from ltlsp.server.paths import data_dir
from ltlsp.server.proto import logs_pb2 as pb
from ltlsp.server.proto import logs_pb2_grpc as pb_grpc
from ltlsp.server.services import _report_errors

if TYPE_CHECKING:
    from ltlsp.server.logs.model import LogModel
    from ltlsp.server.logs.scoring import LineResult, Scorer, SessionResult

log = logging.getLogger("ltlsp.daemon")

BATCH_LINES = 2048
ALERT_REPEAT_S = 60.0      # the same template alerts at most once a minute; repeats are counted
MAX_ALERTS_PER_S = 20
MAX_REMEMBERED = 10_000    # templates the de-duplication remembers
SESSION_IDLE_S = 300.0    # a watched session without a line for this long has ended
SAVE_EVERY_SESSIONS = 1000
HOLD_S = 2.0              # a line of a template that usually comes with others waits this long
SWEEP_S = 1.0             # how often open sessions are checked for overdue events


def _model_side():
    """The model modules, imported on first use: they load numpy and ltlsp.model (so torch),
    and the daemon imports this module before it takes its lock and binds its socket."""
    from ltlsp.server.logs import model, scoring
    return model, scoring


def _lines(chunk: bytes) -> list[str]:
    text = chunk.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _line_pb(r: "LineResult", source: str) -> pb.LineScore:
    return pb.LineScore(line=r.line, score=r.score, anomaly=r.anomaly, template_id=r.template,
                        template=r.template_text, session=r.session, reason=r.reason, source=source)


def _add_line(lines, r: "LineResult", source: str) -> None:
    """Append in place (no intermediate message to copy: this runs for every scored line)."""
    lines.add(line=r.line, score=r.score, anomaly=r.anomaly, template_id=r.template,
              template=r.template_text, session=r.session, reason=r.reason, source=source)


def _session_pb(r: "SessionResult") -> pb.SessionScore:
    return pb.SessionScore(session=r.session, score=r.score, anomaly=r.anomaly, lines=r.lines, reason=r.reason)


class LogsService(pb_grpc.LogsServicer):
    def __init__(self, engine=None, data_root: Path | None = None):
        self.engine = engine                # the encoder and indexes, for semantic log -> code
        self.data_root = data_root
        self.models: dict[str, "LogModel"] = {}
        self.locator = CodeLocator(self._similar_code if engine is not None else None)
        self._lock = threading.Lock()

    def _similar_code(self, repo: Path, text: str) -> str:
        """The indexed chunk closest to a message, or "" (repository not indexed, model loading)."""
        try:
            encoder, repos = self.engine.require()
            index = repos.get(gitrepo.work_tree_root(repo))
            if not index.meta("last_update"):
                return ""
            hits = index.search(1, vector=encoder.encode([text], kind="query")[0], text=text)
        except UserError:
            return ""
        except Exception:  # noqa: BLE001 - a hint only: never let it end the watch
            log.exception("semantic log -> code lookup failed in %s", repo)
            return ""
        return f"{hits[0].path}:{hits[0].start_line}-{hits[0].end_line} (similar code)" if hits else ""

    def _root(self) -> Path:
        return self.data_root or data_dir()

    def _model(self, name: str) -> "LogModel":
        logmodel, _ = _model_side()
        logmodel.check_name(name)
        with self._lock:
            if name not in self.models:
                self.models[name] = logmodel.load(logmodel.model_dir(self._root(), name), name)
            return self.models[name]

    @_report_errors
    def Train(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None:
            raise UserError("no input: give at least one log file")
        logmodel, _ = _model_side()
        name = logmodel.check_name(first.model)
        model = logmodel.LogModel(name, logmodel.LogModelConfig(), TemplateMiner())
        lines = 0
        for message in _with_first(first, request_iterator):
            for line in _lines(message.data):
                model.learn_line(message.source or "-", line)
                lines += 1
        if not context.is_active():
            return pb.TrainReply()  # the client went away mid-input: keep the old model
        if not lines:
            raise UserError("the input has no lines to learn from")
        model.finish_training()
        folder = logmodel.model_dir(self._root(), name)
        logmodel.save(model, folder)
        with self._lock:
            self.models[name] = model
        log.info("trained log model %s on %d lines: %d templates", name, lines, len(model.miner.clusters))
        return pb.TrainReply(lines=lines, templates=len(model.miner.clusters),
                             sessions=int(model.sessions[logmodel.DEFAULT_KEY].stats.n_sessions), path=str(folder))

    def _scorer(self, first: pb.LogInput, learn: bool = False) -> "Scorer":
        model = self._model(first.model)
        _, scoring = _model_side()
        try:
            return scoring.Scorer(model, first.session_key, first.sensitivity or 1.0, learn)
        except ValueError as err:
            raise UserError(str(err)) from None

    @_report_errors
    def Score(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None:
            return
        scorer = self._scorer(first)
        for message in _with_first(first, request_iterator):
            batch = pb.ScoreBatch()
            source = message.source or "-"
            for offset, line in enumerate(_lines(message.data)):
                _add_line(batch.lines, scorer.line(source, message.first_line + offset, line), source)
                if len(batch.lines) >= BATCH_LINES:
                    yield batch
                    batch = pb.ScoreBatch()
            if batch.lines:
                yield batch
        sessions = scorer.finish()
        for start in range(0, len(sessions), BATCH_LINES):
            yield pb.ScoreBatch(sessions=[_session_pb(s) for s in sessions[start:start + BATCH_LINES]],
                                threshold=scorer.threshold, threshold_basis=scorer.threshold_basis())
        if scorer.fitted:  # a session key scored for the first time: keep its model and threshold
            self._save(scorer.model)

    @_report_errors
    def Watch(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None:
            return
        scorer = self._scorer(first, learn=True)
        try:
            yield from self._watch(scorer, first.repo, _with_first(first, request_iterator))
        finally:  # also when the client goes away
            scorer.apply_learning()
            self._save_learned(scorer)

    def _watch(self, scorer: "Scorer", repo: str, messages):
        """Score each chunk, answer with its alerts and acknowledgement; sweep sessions each second."""
        alerts = AlertGate()
        held: list[tuple[float, "LineResult", str, str]] = []  # (release time, result, text, source)
        seen, last_sweep = 0, 0.0

        def alert(result: "LineResult", text: str, source: str) -> None:
            folded = alerts.admit(result.template_text, time.monotonic())
            if folded is not None:
                event.alerts.append(pb.Alert(line=_line_pb(result, source), text=text, suppressed=folded,
                                             location=self.locator.locate(repo, result.template_text)))

        for message in messages:
            source = message.source or "-"
            event = pb.WatchEvent(source=source)
            lines = _lines(message.data)
            for offset, text in enumerate(lines):
                result = scorer.line(source, message.first_line + offset, text)
                if result.anomaly and scorer.stats.comes_with_others(result.template):
                    held.append((time.monotonic() + HOLD_S, result, text, source))
                elif result.anomaly:
                    alert(result, text, source)
            if time.monotonic() - last_sweep >= SWEEP_S:
                last_sweep = time.monotonic()
                due = [h for h in held if h[0] <= last_sweep]
                held = [h for h in held if h[0] > last_sweep]
                for _, result, text, source_of_line in due:
                    if scorer.still_unusual(result.session, result.template):
                        alert(result, text, source_of_line)
                event.alerts.extend(self._overdue(scorer))
                scorer.close_idle(SESSION_IDLE_S)
                scorer.apply_learning()
                if scorer.learned >= SAVE_EVERY_SESSIONS:
                    self._save_learned(scorer)
            seen += len(lines)
            event.acked_through = max(message.first_line + len(lines) - 1, 0)
            event.lines_seen = seen
            yield event

    def _save_learned(self, scorer: "Scorer") -> None:
        """Persist what watching learned (and a session key fitted for it), so a restarted daemon
        keeps it."""
        if not scorer.learned and not scorer.fitted:
            return
        self._save(scorer.model)
        log.info("log model %s learned %d watched sessions; threshold %s", scorer.model.name, scorer.learned,
                 scorer.threshold_basis())
        scorer.learned, scorer.fitted = 0, False

    def _save(self, model: "LogModel") -> None:
        logmodel, _ = _model_side()
        with model.lock:
            logmodel.save(model, logmodel.model_dir(self._root(), model.name))

    @staticmethod
    def _overdue(scorer: "Scorer") -> list[pb.Alert]:
        """Session alerts for expected events that are now overdue (each session once)."""
        found = []
        for session in scorer.sessions.values():
            if session.missing_reported:
                continue
            if not scorer.stats.missing(session.present, scorer.elapsed(session)).score:
                continue  # the cheap test first: most sessions miss nothing
            verdict = scorer.judge(session)
            if verdict.anomaly and verdict.reason.startswith("missing"):
                session.missing_reported = True
                found.append(pb.Alert(session=_session_pb(verdict)))
        return found


class AlertGate:
    """De-duplicates alerts per template text (one a minute; unseen messages are their own
    template) and caps them per second. Bounded: old entries go once the table is full."""

    def __init__(self):
        self.last: dict[str, float] = {}
        self.folded: dict[str, int] = {}
        self.window_start = 0.0
        self.in_window = 0

    def admit(self, template: str, now: float) -> int | None:
        """None to suppress; else the number of similar alerts folded since the last one shown."""
        if len(self.last) > MAX_REMEMBERED:
            self.last = {t: seen for t, seen in self.last.items() if now - seen < ALERT_REPEAT_S}
            self.folded = {t: n for t, n in self.folded.items() if t in self.last}
        if now - self.window_start >= 1.0:
            self.window_start, self.in_window = now, 0
        recent = now - self.last.get(template, -ALERT_REPEAT_S) < ALERT_REPEAT_S
        if recent or self.in_window >= MAX_ALERTS_PER_S:
            self.folded[template] = self.folded.get(template, 0) + 1
            return None
        self.last[template] = now
        self.in_window += 1
        return self.folded.pop(template, 0)


def _with_first(first, rest):
    yield first
    try:
        yield from rest
    except grpc.RpcError:  # the client went away (Ctrl-C, a closed pipe): no one to answer
        return


def add_to_server(server: grpc.Server, service: LogsService) -> None:
    pb_grpc.add_LogsServicer_to_server(service, server)
