"""A named log model in the daemon: templates, session statistics, and the training lines.

    <data dir>/logs/<name>/model.json         settings, templates, sources, format version
    <data dir>/logs/<name>/model.safetensors  session statistics per session key, and the replay
                                              buffer: training lines, their templates and times

The replay buffer lets `score --session-key RE` fit statistics for a key that training never
saw (train takes no key): group the remembered lines by RE, count, cache. Nothing is pickled;
a damaged or foreign state file is refused with the command that rebuilds it.
"""

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from ltlsp.model.logmodel import LogModelConfig, SessionStats, config_dict
from ltlsp.server.errors import FailedPrecondition, NotFound, UserError
from ltlsp.server.logs.parse import leading_time, parse_line
from ltlsp.server.logs.sessions import Sessionizer, compile_key
from ltlsp.server.logs.templates import TemplateMiner, mask

FORMAT_VERSION = 1
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_REPLAY_BYTES = 64 * 1024 * 1024     # the newest training lines kept for refitting
MAX_LINE_CHARS = 64 * 1024              # longer lines are templated on their head only
DEFAULT_KEY = ""                        # statistics of per-source windows


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


@dataclass
class LogModel:
    name: str
    cfg: LogModelConfig
    miner: TemplateMiner
    replay: list[str] = field(default_factory=list)          # training lines, oldest first
    replay_sources: list[int] = field(default_factory=list)  # index into sources
    replay_templates: list[int] = field(default_factory=list)
    replay_times: list[float] = field(default_factory=list)  # NaN where the line had no time
    sources: list[str] = field(default_factory=list)
    stats: dict[str, SessionStats] = field(default_factory=dict)  # per session-key pattern
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
        self.stats = {DEFAULT_KEY: self.fit(DEFAULT_KEY)}

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

    def fit(self, key_pattern: str) -> SessionStats:
        """Session statistics of the replay buffer grouped by this key (or by source windows)."""
        sessionizer = Sessionizer(compile_key(key_pattern))
        sessions: dict[str, list[tuple[int, float | None]]] = {}
        for line, src, k, t in zip(self.replay, self.replay_sources, self.replay_templates, self.replay_times):
            sid = sessionizer.session_of(self.sources[src], line)
            sessions.setdefault(sid, []).append((k, None if t != t else t))
        stats = SessionStats(self.cfg, len(self.miner.clusters))
        for events in sessions.values():
            stats.add(events)
        return stats

    def stats_for(self, key_pattern: str) -> SessionStats:
        with self.lock:
            if key_pattern not in self.stats:
                self.stats[key_pattern] = self.fit(key_pattern)
            return self.stats[key_pattern]

    # ---- reading lines -----------------------------------------------------------------------

    def parse(self, line: str, cache: dict) -> ParsedLine:
        """Template a line without learning. `cache` maps a line's shape (the whole line masked)
        to its template and the way to read its time, so a line shaped like one seen before costs
        one regex substitution and one match instead of a full parse."""
        line = line[:MAX_LINE_CHARS]
        shape = mask(line)
        known = cache.get(shape)
        if known is not None:
            k, text, time_format = known
            stamp = leading_time(line, time_format) if time_format >= 0 else parse_line(line).timestamp
            return ParsedLine(k, text, stamp)
        record = parse_line(line)
        masked = mask(record.message)
        cluster = self.miner.match(masked)
        k, text = (cluster.id, cluster.template) if cluster else (-1, masked)
        if len(cache) < 200_000:
            cache[shape] = (k, text, record.time_format)
        return ParsedLine(k, text, record.timestamp)

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
    for pattern, stats in model.stats.items():
        keys[_key_id(pattern)] = pattern
        tensors.update(stats.arrays(_key_id(pattern)))
    replay = "\n".join(model.replay).encode("utf-8", "surrogatepass")
    tensors["replay.text"] = np.frombuffer(replay, dtype=np.uint8) if replay else np.zeros(0, np.uint8)
    tensors["replay.sources"] = np.asarray(model.replay_sources, dtype=np.int32)
    tensors["replay.templates"] = np.asarray(model.replay_templates, dtype=np.int32)
    tensors["replay.times"] = np.asarray(model.replay_times, dtype=np.float64)
    tmp = folder / "model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "ltlsp-logs", "version": str(FORMAT_VERSION)})
    os.replace(tmp, folder / "model.safetensors")
    meta = {"format_version": FORMAT_VERSION, "name": model.name, "saved_at": time.time(),
            "config": config_dict(model.cfg), "templates": model.miner.to_json(),
            "sources": model.sources, "session_keys": keys}
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
    tensors = load_file(str(folder / "model.safetensors"))
    sources = meta["sources"]
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ValueError("sources are malformed")
    text = tensors["replay.text"].tobytes().decode("utf-8", "surrogatepass")
    replay = text.split("\n") if text else []
    columns = [tensors[f"replay.{c}"].tolist() for c in ("sources", "templates", "times")]
    if any(len(c) != len(replay) for c in columns) or any(not 0 <= s < len(sources) for s in columns[0]):
        raise ValueError("the replay buffer is inconsistent")
    model = LogModel(name, cfg, miner, replay, *columns[:2], columns[2], sources)
    keys = meta["session_keys"]
    if not isinstance(keys, dict):
        raise ValueError("session keys are malformed")
    for key_id, pattern in keys.items():
        if key_id != _key_id(pattern):
            raise ValueError("session keys are malformed")
        model.stats[pattern] = SessionStats.from_arrays(cfg, tensors, key_id)
    if DEFAULT_KEY not in model.stats:
        raise ValueError("the default statistics are missing")
    return model
