"""The log session model in the daemon: signals, continual learning, and safe persistence."""

import json
import math

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from ltlsp.model.logmodel import ROBUST_SD, LogModelConfig, SessionStats
from ltlsp.server.errors import FailedPrecondition, NotFound
from ltlsp.server.logs import model as logmodel
from ltlsp.server.logs.scoring import Scorer
from ltlsp.server.logs.templates import TemplateMiner


OPEN, READ, CLOSE, EXPLODE = "open", "reading the data", "closing it down now", "explode with smoke and fire and noise"


def session_lines(i: int, second: int = 0, steps=(OPEN, READ, CLOSE)) -> list[str]:
    return [f"2024-01-01 00:{(second + n) // 60 % 60:02d}:{(second + n) % 60:02d} INFO job {i} {step} ok"
            for n, step in enumerate(steps)]


def trained(sessions, cfg=None, name="t") -> logmodel.LogModel:
    m = logmodel.LogModel(name, cfg or LogModelConfig(), TemplateMiner())
    for lines in sessions:
        for line in lines:
            m.learn_line("train.log", line)
    m.finish_training()
    return m


@pytest.fixture
def model():
    return trained(session_lines(i, second=i * 10) for i in range(200))


def known(model, key=r"job \d+"):
    return model.session_model(key)[0]


def score(model, lines, **kwargs):
    scorer = Scorer(model, r"job \d+", 1.0, **kwargs)
    results = [scorer.line("t.log", n, line) for n, line in enumerate(lines, 1)]
    return scorer, results, {s.session: s for s in scorer.finish()}


def test_signals_flag_novel_and_overdue_sessions_only(model):
    lines = (session_lines(1000, 0) + session_lines(1001, 5, steps=(OPEN, EXPLODE, CLOSE))
             + session_lines(1002, 10, steps=(OPEN,)) + session_lines(1003, 4000, steps=(OPEN,)))
    _, results, sessions = score(model, lines)
    assert [r.anomaly for r in results] == [False] * 4 + [True] + [False] * 3
    assert not sessions["job 1000"].anomaly
    assert sessions["job 1001"].anomaly and "explode" in sessions["job 1001"].reason
    assert sessions["job 1002"].anomaly and sessions["job 1002"].reason.startswith("missing")
    assert not sessions["job 1003"].anomaly  # started just now: its steps are not overdue yet


def test_watching_learns_closed_normal_sessions_only(model):
    before = known(model).stats.n_sessions
    scorer, _, _ = score(model, session_lines(5000, 0) + session_lines(5001, 3, (OPEN, EXPLODE)), learn=True)
    closed = scorer.close_idle(0.0)
    scorer.apply_learning()
    assert len(closed) == 2 and scorer.learned == 1
    assert known(model).stats.n_sessions == before + 1


def test_save_and_load_round_trip(model, tmp_path):
    known(model)
    logmodel.save(model, tmp_path / "t")
    again = logmodel.load(tmp_path / "t", "t")
    assert set(again.sessions) == {"", r"job \d+"}
    assert np.array_equal(known(again).stats.cooc, known(model).stats.cooc)
    assert known(again).threshold == known(model).threshold
    assert again.replay == model.replay and len(again.miner.clusters) == len(model.miner.clusters)
    assert again.replay_params == model.replay_params and again.kinds.counts == model.kinds.counts


def test_missing_damaged_and_foreign_state_is_refused_clearly(model, tmp_path):
    with pytest.raises(NotFound, match="logs train"):
        logmodel.load(tmp_path / "none", "none")
    logmodel.save(model, tmp_path / "t")
    weights = tmp_path / "t" / "model.safetensors"
    good = weights.read_bytes()
    for damage in (b"", b"\x00" * 64, good[:len(good) // 2]):
        weights.write_bytes(damage)
        with pytest.raises(FailedPrecondition, match="retrain"):
            logmodel.load(tmp_path / "t", "t")
    weights.write_bytes(good)
    meta = tmp_path / "t" / "model.json"
    good_meta = meta.read_text()
    for damage in ({"config": {"evil": 1}}, {"param_kinds": {"slots": [[0, 0, {"x": -3}]], "open": []}},
                   {"session_keys": {"key-0": {"pattern": "x", "threshold": 3.0, "threshold_basis": ""}}}):
        meta.write_text(json.dumps({**json.loads(good_meta), **damage}))
        with pytest.raises(FailedPrecondition, match="retrain"):
            logmodel.load(tmp_path / "t", "t")
    meta.write_text(good_meta)
    for name in ("", "../x", "a/b", ".hidden", "x" * 100):
        with pytest.raises(Exception, match="model name"):
            logmodel.check_name(name)


def test_watching_judges_overdue_events_by_the_wall_clock(model):
    scorer, _, _ = score(model, session_lines(7000, 0, steps=(OPEN,)), learn=True)
    session = scorer.sessions["job 7000"]
    assert not scorer.judge(session).anomaly            # just arrived: nothing is overdue yet
    session.arrived -= 3600                              # the log went quiet an hour ago
    verdict = scorer.judge(session)
    assert verdict.anomaly and verdict.reason.startswith("missing")


def test_templates_that_come_in_groups_are_explained_by_their_group():
    m = logmodel.LogModel("g", LogModelConfig(), TemplateMiner())
    start, done = "replication of the block begins now", "replication finished for every single replica"
    for i in range(200):
        steps = (OPEN, start, done, CLOSE) if i % 25 == 0 else (OPEN, READ, CLOSE)
        for line in session_lines(i, second=i * 10, steps=steps):
            m.learn_line("train.log", line)
    m.finish_training()
    scorer, results, sessions = score(m, session_lines(900, 0, (OPEN, start, done, CLOSE))
                                      + session_lines(901, 5, (OPEN, start, CLOSE)))
    start_id = results[1].template
    assert results[1].anomaly and scorer.stats.comes_with_others(start_id)   # alone so far: held back
    assert not scorer.still_unusual("job 900", start_id)                      # its companion came
    assert not sessions["job 900"].anomaly
    assert scorer.still_unusual("job 901", start_id) and sessions["job 901"].anomaly  # it never came


def test_state_of_another_version_or_with_an_inconsistent_replay_buffer_is_refused(model, tmp_path):
    logmodel.save(model, tmp_path / "t")
    meta = tmp_path / "t" / "model.json"
    good = json.loads(meta.read_text())
    meta.write_text(json.dumps({**good, "format_version": logmodel.FORMAT_VERSION - 1}))
    with pytest.raises(FailedPrecondition, match="another ltlsp version.*logs train FILE... --model t"):
        logmodel.load(tmp_path / "t", "t")
    meta.write_text(json.dumps(good))
    weights = tmp_path / "t" / "model.safetensors"
    tensors = load_file(str(weights))
    key_id = next(iter(good["session_keys"]))
    for column, bad in (("templates", 10_000), ("counts", 0), ("scores", np.nan)):
        broken = dict(tensors)
        broken[f"{key_id}.{column}"] = np.full_like(tensors[f"{key_id}.{column}"], bad)
        save_file(broken, str(weights))
        with pytest.raises(FailedPrecondition, match="replay buffer.*retrain"):
            logmodel.load(tmp_path / "t", "t")


def varied_sessions(n: int) -> list[list[str]]:
    """Sessions that differ: every third one reads twice, every seventh retries once."""
    return [session_lines(i, second=i * 10, steps=(OPEN,) + (READ,) * (1 + (i % 3 == 0))
                          + (("retrying the read",) if i % 7 == 0 else ()) + (CLOSE,))
            for i in range(n)]


def test_threshold_is_calibrated_on_held_out_sessions_and_shifted_by_sensitivity():
    m = trained(varied_sessions(300))
    fitted = known(m)
    scores = np.array(fitted.replay.scores)
    assert len(scores) == 300 and scores.std() > 0
    median = np.median(scores)
    expected = median + 3.5 * ROBUST_SD * np.median(np.abs(scores - median))
    assert fitted.threshold.nats == pytest.approx(max(expected, m.cfg.threshold_floor))
    assert "held-out scores of 300 sessions" in fitted.threshold.basis
    plain, eager = Scorer(m, r"job \d+", 1.0), Scorer(m, r"job \d+", 4.0)
    assert eager.threshold == pytest.approx(plain.threshold / 4)
    assert "--sensitivity 4" in eager.threshold_basis() and "sensitivity" not in plain.threshold_basis()
    # a session that retries twice: unusual, but not beyond the calibrated threshold
    odd = session_lines(9000, 0, steps=(OPEN, READ, "retrying the read", "retrying the read", CLOSE))
    verdicts = [{s.session: s for s in scorer_of.finish()}["job 9000"]
                for scorer_of in (plain, eager) if [scorer_of.line("t.log", n, x) for n, x in enumerate(odd)]]
    assert verdicts[0].score == pytest.approx(verdicts[1].score)
    assert not verdicts[0].anomaly and verdicts[1].anomaly


def test_threshold_falls_back_to_the_floor_or_the_default_when_data_cannot_calibrate_it(model):
    assert known(model).threshold.nats == model.cfg.threshold_floor   # identical sessions: no spread
    assert known(model).threshold.basis.startswith("floor")
    few = trained(varied_sessions(10))
    assert known(few).threshold.nats == few.cfg.threshold
    assert "only 10 sessions" in known(few).threshold.basis


def test_an_unusual_parameter_kind_of_a_known_template_raises_the_line_score():
    stored = "stored the result in /data/out/part-{i}"
    m = trained(session_lines(i, second=i * 10, steps=(OPEN, stored.format(i=i), CLOSE)) for i in range(200))
    scorer = Scorer(m, r"job \d+", 1.0)
    usual = scorer.line("t.log", 1, session_lines(900, 0, (stored.format(i=900),))[0])
    unusual = scorer.line("t.log", 2, session_lines(901, 0, ("stored the result in 10.0.0.1:8080",))[0])
    assert usual.template == unusual.template >= 0
    # a kind never seen in a slot that held one kind 200 times: -log((1 + 0.5) / (200 + 1)) nats
    assert unusual.score - usual.score == pytest.approx(m.cfg.param_weight * math.log(201 / 1.5), rel=0.01)
    assert "rarely has" in scorer._line_reason(unusual.template, 0.0, 5.0)


def test_replay_buffer_stays_bounded_keeps_exact_counts_and_persists(tmp_path):
    m = trained(varied_sessions(120), LogModelConfig(replay_sessions=50))
    buffer = known(m)
    assert len(buffer.replay.sessions) == 50 and buffer.replay.added == 120
    scorer = Scorer(m, r"job \d+", 1.0, learn=True)
    for n, line in enumerate(line for lines in varied_sessions(140)[120:] for line in lines):
        scorer.line("t.log", n, line.replace("job ", "job 7"))  # new sessions, normal ones
    scorer.close_idle(0.0)
    scorer.apply_learning()
    assert scorer.learned == 20 and len(buffer.replay.sessions) == 50 and buffer.replay.added == 140
    recount = SessionStats(m.cfg, len(m.miner.clusters))
    recount.add_many(buffer.replay.sessions)
    assert recount.n_sessions == buffer.stats.n_sessions == 50
    assert np.array_equal(recount.cooc, buffer.stats.cooc) and np.array_equal(recount.counts, buffer.stats.counts)
    logmodel.save(m, tmp_path / "t")
    again = known(logmodel.load(tmp_path / "t", "t"))
    assert again.replay.sessions == buffer.replay.sessions and again.replay.scores == buffer.replay.scores
    assert again.replay.added == 140 and again.threshold == buffer.threshold
    assert np.array_equal(again.stats.cooc, buffer.stats.cooc)
