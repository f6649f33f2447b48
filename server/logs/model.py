"""A named log model in the daemon: templates, parameter kinds, session models, training lines.

    <data dir>/logs/<name>/model.json         settings, templates, parameter kinds, sources, the
                                              session keys with their thresholds, format version
    <data dir>/logs/<name>/model.safetensors  per session key its replay buffer of sessions (the
                                              statistics are counted from it on load), and the
                                              training lines: text, templates, times, parameter nats

The training lines let `score --session-key RE` fit a key that training never saw (train takes
no key): group the remembered lines by RE into sessions, fill that key's replay buffer, count and
calibrate. Nothing is pickled; a damaged or foreign state file is refused with the command that
rebuilds it.
"""

import hashlib
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from ltlsp.model.logmodel import (LogModelConfig, ParamKinds, SessionModel, SessionReplay, Summary,
                                  Threshold, config_dict, kind_of, kind_shape)
from ltlsp.server.errors import FailedPrecondition, NotFound, UserError
from ltlsp.server.logs.parse import leading_time, parse_line
from ltlsp.server.logs.sessions import Sessionizer, compile_key
from ltlsp.server.logs.templates import WILDCARD, TemplateMiner, mask, shape, tokenize, variables

FORMAT_VERSION = 2          # 2: replay buffers of sessions, calibrated thresholds, parameter kinds
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_REPLAY_BYTES = 64 * 1024 * 1024     # the newest training lines kept for refitting
MAX_LINE_CHARS = 64 * 1024              # longer lines are templated on their head only
DEFAULT_KEY = ""                        # statistics of per-source windows
MAX_SLOTS = 16                          # parameter slots of a line: its first variables and wildcard words
MAX_CACHED = 200_000                    # entries of each cache of a LineCache
MAX_KIND_SHAPES = 256                   # kind shapes per template: beyond, its parameters vary too much to judge


def check_name(name: str) -> str:
    if not NAME.fullmatch(name or ""):
        raise UserError(f"model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', e.g. --model web")
    return name


def retrain_advice(name: str) -> str:
    return f"retrain it with `ltlsp logs train FILE... --model {name}`"


@dataclass
class ParsedLine:
    template: int            # cluster id, -1 when the model does not know the template
    text: str                # the template text
    timestamp: float | None
    param: float = 0.0       # nats of its least usual parameter kind


@dataclass
class LineCache:
    """What a scorer remembers of lines it read: a line's shape (templates.shape()) gives its
    template and the way to read its time; its kind shape (the line without digits and hex
    letters) gives the nats of its parameter kinds."""
    shapes: dict[str, tuple[int, str, int]] = field(default_factory=dict)
    kinds: dict[bytes, tuple[int, float]] = field(default_factory=dict)
    kind_shapes: dict[int, int] = field(default_factory=dict)   # template -> kind shapes seen


@dataclass
class LogModel:
    name: str
    cfg: LogModelConfig
    miner: TemplateMiner
    replay: list[str] = field(default_factory=list)          # training lines, oldest first
    replay_sources: list[int] = field(default_factory=list)  # index into sources
    replay_templates: list[int] = field(default_factory=list)
    replay_times: list[float] = field(default_factory=list)  # NaN where the line had no time
    replay_params: list[float] = field(default_factory=list)  # nats of each line's parameter kinds
    sources: list[str] = field(default_factory=list)
    kinds: ParamKinds = field(default_factory=ParamKinds)
    sessions: dict[str, SessionModel] = field(default_factory=dict)  # per session-key pattern
    lock: threading.Lock = field(default_factory=threading.Lock)
    _replay_bytes: int = 0

    # ---- training ----------------------------------------------------------------------------

    def learn_line(self, source: str, line: str) -> None:
        line = line[:MAX_LINE_CHARS]
        record = parse_line(line)
        cluster = self.miner.add(mask(record.message))
        if source not in self.sources:
            self.sources.append(source)
        self.replay.append(line)
        self.replay_sources.append(self.sources.index(source))
        self.replay_templates.append(cluster.id)
        self.replay_times.append(np.nan if record.timestamp is None else record.timestamp)
        self._replay_bytes += len(line) + 1
        if self._replay_bytes > 2 * MAX_REPLAY_BYTES:  # a huge training input keeps only its newest lines
            self._trim_replay()

    def finish_training(self) -> None:
        self._trim_replay()
        self._count_kinds()
        self.sessions = {DEFAULT_KEY: self.fit(DEFAULT_KEY)}

    def _count_kinds(self) -> None:
        """Parameter kinds of the training lines, in the slots of their final templates."""
        cache: dict[bytes, tuple[int, list]] = {}
        slots = []
        for line, k in zip(self.replay, self.replay_templates):
            kinds = kind_shape(line)
            hit = cache.get(kinds)
            if hit is None or hit[0] != k:
                hit = cache[kinds] = (k, self._param_slots(line, k))
            slots.append(hit[1])
        self.kinds = ParamKinds()
        for k, line_slots in zip(self.replay_templates, slots):
            self.kinds.add(k, line_slots)
        self.replay_params = [self.kinds.surprise(k, s) for k, s in zip(self.replay_templates, slots)]

    def _param_slots(self, line: str, k: int) -> list[tuple[int, str]]:
        """(slot, kind) of a line's variables (slot i >= 0: the i-th) and of the words where its
        template has a wildcard (slot -1 - position). Parses the line: the slow path."""
        if not 0 <= k < len(self.miner.clusters):
            return []
        message = parse_line(line[:MAX_LINE_CHARS]).message
        slots = [(i, kind_of(v)) for i, v in enumerate(variables(message)[:MAX_SLOTS])]
        tokens = tokenize(mask(message))
        template = self.miner.clusters[k].tokens
        if len(tokens) == len(template):
            words = [(-1 - i, kind_of(t)) for i, (t, w) in enumerate(zip(tokens, template))
                     if w == WILDCARD and WILDCARD not in t]
            slots += words[:MAX_SLOTS]
        return slots

    def _trim_replay(self) -> None:
        """Keep the newest lines that fit in MAX_REPLAY_BYTES."""
        total, keep = 0, len(self.replay)
        for i in range(len(self.replay) - 1, -1, -1):
            if total + len(self.replay[i]) + 1 > MAX_REPLAY_BYTES:
                keep = len(self.replay) - 1 - i
                break
            total += len(self.replay[i]) + 1
        cut = len(self.replay) - keep
        for column in (self.replay, self.replay_sources, self.replay_templates, self.replay_times):
            del column[:cut]
        self._replay_bytes = total

    def fit(self, key_pattern: str) -> SessionModel:
        """The session model of the training lines grouped by this key (or by source windows),
        each session judged at the end of the training log."""
        sessionizer = Sessionizer(compile_key(key_pattern))
        sessions: dict[str, list[tuple[int, float | None, float]]] = {}
        for line, src, k, t, p in zip(self.replay, self.replay_sources, self.replay_templates,
                                      self.replay_times, self.replay_params):
            sid = sessionizer.session_of(self.sources[src], line)
            sessions.setdefault(sid, []).append((k, None if t != t else t, p))
        clock = max((t for t in self.replay_times if t == t), default=None)
        summaries = [Summary.of_events(events, clock) for events in sessions.values()]
        return SessionModel.fit(self.cfg, len(self.miner.clusters), summaries)

    def session_model(self, key_pattern: str) -> tuple[SessionModel, bool]:
        """The model of this key's sessions, and whether it was fitted just now."""
        with self.lock:
            fitted = key_pattern not in self.sessions
            if fitted:
                self.sessions[key_pattern] = self.fit(key_pattern)
            return self.sessions[key_pattern], fitted

    # ---- reading lines -----------------------------------------------------------------------

    def parse(self, line: str, cache: LineCache) -> ParsedLine:
        """Template a line without learning, and judge its parameter kinds. A line shaped like one
        seen before costs one regex substitution, one translation and two lookups instead of a
        full parse (see LineCache)."""
        line = line[:MAX_LINE_CHARS]
        line_shape = shape(line)
        known = cache.shapes.get(line_shape)
        if known is not None:
            k, text, time_format = known
            stamp = leading_time(line, time_format) if time_format >= 0 else parse_line(line).timestamp
        else:
            record = parse_line(line)
            masked = mask(record.message)
            cluster = self.miner.match(masked)
            k, text = (cluster.id, cluster.template) if cluster else (-1, masked)
            stamp = record.timestamp
            if len(cache.shapes) < MAX_CACHED:
                cache.shapes[line_shape] = (k, text, record.time_format)
        return ParsedLine(k, text, stamp, self._param_nats(line, k, cache) if k >= 0 else 0.0)

    def _param_nats(self, line: str, k: int, cache: LineCache) -> float:
        kinds = kind_shape(line)
        known = cache.kinds.get(kinds)
        if known is not None and known[0] == k:
            return known[1]
        seen = cache.kind_shapes.get(k, 0)
        if seen >= MAX_KIND_SHAPES:
            return 0.0  # its parameters vary in kind at every line: no kind is unusual there
        nats = self.kinds.surprise(k, self._param_slots(line, k))
        if len(cache.kinds) < MAX_CACHED:
            cache.kinds[kinds] = (k, nats)
            cache.kind_shapes[k] = seen + 1
        return nats

    def template_text(self, k: int) -> str:
        return self.miner.clusters[k].template if 0 <= k < len(self.miner.clusters) else ""


# ---- persistence -----------------------------------------------------------------------------

def model_dir(data_root: Path, name: str) -> Path:
    return data_root / "logs" / check_name(name)


def _key_id(pattern: str) -> str:
    return "key-" + hashlib.sha256(pattern.encode()).hexdigest()[:16]


def save(model: LogModel, folder: Path) -> None:
    """Write both files atomically (model.json last: it names what the tensors hold)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tensors: dict[str, np.ndarray] = {}
    keys = {}
    for pattern, sessions in model.sessions.items():
        keys[_key_id(pattern)] = {"pattern": pattern, "threshold": sessions.threshold.nats,
                                  "threshold_basis": sessions.threshold.basis}
        tensors.update(sessions.replay.arrays(_key_id(pattern)))
    text = "\n".join(model.replay).encode("utf-8", "surrogatepass")
    tensors["lines.text"] = np.frombuffer(text, dtype=np.uint8) if text else np.zeros(0, np.uint8)
    tensors["lines.sources"] = np.asarray(model.replay_sources, dtype=np.int32)
    tensors["lines.templates"] = np.asarray(model.replay_templates, dtype=np.int32)
    tensors["lines.times"] = np.asarray(model.replay_times, dtype=np.float64)
    tensors["lines.params"] = np.asarray(model.replay_params, dtype=np.float64)
    tmp = folder / "model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "ltlsp-logs", "version": str(FORMAT_VERSION)})
    os.replace(tmp, folder / "model.safetensors")
    meta = {"format_version": FORMAT_VERSION, "name": model.name, "saved_at": time.time(),
            "config": config_dict(model.cfg), "templates": model.miner.to_json(),
            "param_kinds": model.kinds.to_json(), "sources": model.sources, "session_keys": keys}
    tmp = folder / "model.json.tmp"
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, folder / "model.json")


def load(folder: Path, name: str) -> LogModel:
    """The saved model; NotFound if never trained, FailedPrecondition if damaged or foreign."""
    if not (folder / "model.json").is_file():
        raise NotFound(f"no log model named {name!r}: train one with "
                       f"`ltlsp logs train FILE... --model {name}`")
    try:
        return _load(folder, name)
    except (ValueError, KeyError, TypeError, OSError, SafetensorError, UnicodeDecodeError) as err:
        raise FailedPrecondition(f"the log model {name!r} in {folder} cannot be used ({err}); "
                                 f"{retrain_advice(name)}") from None


def _load(folder: Path, name: str) -> LogModel:
    meta = json.loads((folder / "model.json").read_text())
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError("it was written by another ltlsp version")
    cfg = LogModelConfig.from_dict(meta["config"])
    miner = TemplateMiner.from_json(meta["templates"])
    n_templates = len(miner.clusters)
    tensors = load_file(str(folder / "model.safetensors"))
    sources = meta["sources"]
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ValueError("sources are malformed")
    text = tensors["lines.text"].tobytes().decode("utf-8", "surrogatepass")
    lines = text.split("\n") if text else []
    columns = [tensors[f"lines.{c}"].tolist() for c in ("sources", "templates", "times", "params")]
    if (any(len(c) != len(lines) for c in columns) or any(not 0 <= s < len(sources) for s in columns[0])
            or any(not 0 <= k < n_templates for k in columns[1]) or not all(math.isfinite(p) for p in columns[3])):
        raise ValueError("the training lines are inconsistent")
    model = LogModel(name, cfg, miner, lines, *columns, sources=sources,
                     kinds=ParamKinds.from_json(meta["param_kinds"], n_templates))
    keys = meta["session_keys"]
    if not isinstance(keys, dict):
        raise ValueError("session keys are malformed")
    for key_id, key in keys.items():
        if not (isinstance(key, dict) and isinstance(key.get("pattern"), str) and key_id == _key_id(key["pattern"])
                and isinstance(key.get("threshold"), (int, float)) and math.isfinite(key["threshold"])
                and key["threshold"] > 0 and isinstance(key.get("threshold_basis"), str)):
            raise ValueError("session keys are malformed")
        replay = SessionReplay.from_arrays(tensors, key_id, cfg.replay_sessions, n_templates)
        model.sessions[key["pattern"]] = SessionModel(cfg, replay, Threshold(float(key["threshold"]),
                                                                             key["threshold_basis"]), n_templates)
    if DEFAULT_KEY not in model.sessions:
        raise ValueError("the statistics of per-source sessions are missing")
    return model
