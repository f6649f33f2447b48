"""The log session model in the daemon: signals, continual learning, and safe persistence."""

import numpy as np
import pytest

from ltlsp.model.logmodel import LogModelConfig
from ltlsp.server.errors import FailedPrecondition, NotFound
from ltlsp.server.logs import model as logmodel
from ltlsp.server.logs.scoring import Scorer
from ltlsp.server.logs.templates import TemplateMiner


OPEN, READ, CLOSE, EXPLODE = "open", "reading the data", "closing it down now", "explode with smoke and fire and noise"


def session_lines(i: int, second: int = 0, steps=(OPEN, READ, CLOSE)) -> list[str]:
    return [f"2024-01-01 00:{(second + n) // 60 % 60:02d}:{(second + n) % 60:02d} INFO job {i} {step} ok"
            for n, step in enumerate(steps)]


@pytest.fixture
def model():
    m = logmodel.LogModel("t", LogModelConfig(), TemplateMiner())
    for i in range(200):
        for line in session_lines(i, second=i * 10):
            m.learn_line("train.log", line)
    m.finish_training()
    return m


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
    before = model.stats_for(r"job \d+").n_sessions
    scorer, _, _ = score(model, session_lines(5000, 0) + session_lines(5001, 3, (OPEN, EXPLODE)), learn=True)
    closed = scorer.close_idle(0.0)
    scorer.apply_learning()
    assert len(closed) == 2 and scorer.learned == 1
    assert model.stats_for(r"job \d+").n_sessions == before + 1


def test_save_and_load_round_trip(model, tmp_path):
    model.stats_for(r"job \d+")
    logmodel.save(model, tmp_path / "t")
    again = logmodel.load(tmp_path / "t", "t")
    assert set(again.stats) == {"", r"job \d+"}
    assert np.array_equal(again.stats[r"job \d+"].cooc, model.stats[r"job \d+"].cooc)
    assert again.replay == model.replay and len(again.miner.clusters) == len(model.miner.clusters)


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
    (tmp_path / "t" / "model.json").write_text('{"format_version": 1, "config": {"evil": 1}}')
    with pytest.raises(FailedPrecondition, match="retrain"):
        logmodel.load(tmp_path / "t", "t")
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
