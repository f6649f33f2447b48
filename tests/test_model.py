"""Tests of ltlsp.model: tokenizer, encoder, dynamics, regularisers, losses, checkpoints, corpus.

Tiny random models keep this fast; one test loads the shipped weights.
"""

import json
import math
import threading

import numpy as np
import pytest
import torch

from ltlsp.model import Encoder, EncoderConfig
from ltlsp.model.checkpoint import CONFIG, WEIGHTS, compute_model_id, save_checkpoint
from ltlsp.model.corpus import BenchFilter, first_sentence, mine_pairs, web_query
from ltlsp.model.dynamics import (Drift, VelocityField, drift_residual, flow_matching_loss, log_density,
                                  ode_matching_loss)
from ltlsp.model.losses import info_nce
from ltlsp.model.regularizers import epps_pulley
from ltlsp.model.tokenizer import CodeTokenizer, train_tokenizer
from ltlsp.model.trajectory import TrajectoryModel

CORPUS = [
    "def parseHTTPHeader_value(header_line): return header_line.split(':', 1)[1].strip()",
    "Parse the value of an HTTP header line.",
    "class XMLHttpRequest: pass  # sends a request and reads the response",
    "def read_lines(path):\n    with open(path) as f:\n        return f.read().splitlines()",
    "Read a file and return its lines.",
    "def factorial(n):\n    return 1 if n < 2 else n * factorial(n - 1)",
    "Compute the factorial of n recursively.",
    "MAX_SIZE = 1024; getX2Value(x1, y2) >= 3.5",
] * 20


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # These tensors are tiny: a second thread only adds synchronisation, badly so on a busy machine.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def hf_tokenizer():
    return train_tokenizer(CORPUS, vocab_size=300, min_frequency=1)


def tiny_config(vocab_size: int) -> EncoderConfig:
    return EncoderConfig(vocab_size=vocab_size, max_tokens=32, d_model=32, n_layers=2, n_heads=2,
                         d_ff=64, latent_dim=16, embed_dim=24, dropout=0.0, drift_hidden=32, flow_hidden=32)


@pytest.fixture(scope="module")
def tiny_dir(hf_tokenizer, tmp_path_factory):
    torch.manual_seed(0)
    model = TrajectoryModel(tiny_config(hf_tokenizer.get_vocab_size()))
    directory = tmp_path_factory.mktemp("tiny")
    save_checkpoint(directory, model, hf_tokenizer, manifest={"sources": []}, metrics={})
    return directory


@pytest.fixture(scope="module")
def tiny_encoder(tiny_dir):
    return Encoder.load(tiny_dir, precision="float32")


# --- tokenizer ---------------------------------------------------------------------------------

def test_tokenizer_splits_identifiers_on_case_and_underscores(hf_tokenizer):
    tok = CodeTokenizer(hf_tokenizer, max_tokens=32)
    assert tok.tokens("parseHTTPHeader_value") == ["parse", "http", "header", "value"]
    assert tok.tokens("parse_http_header_value") == ["parse", "http", "header", "value"]
    assert tok.tokens("XMLHttpRequest") == ["xml", "http", "request"]
    assert tok.tokens("x1>=35") == ["x", "1", ">", "=", "3", "5"]      # digits and symbols single


def test_tokenizer_prefixes_kind_and_truncates(hf_tokenizer):
    tok = CodeTokenizer(hf_tokenizer, max_tokens=8)
    code, query = tok.encode_batch(["read lines " * 50, ""], "code"), tok.encode_batch([""], "query")
    assert len(code[0]) == 8 and code[0][0] == tok.kind_ids["code"]
    assert code[1] == [tok.kind_ids["code"]] and query[0] == [tok.kind_ids["query"]]
    with pytest.raises(ValueError, match="kind"):
        tok.encode_batch(["x"], "prose")


# --- encoder and API ---------------------------------------------------------------------------

def test_encoder_returns_path_mask_and_unit_embedding(hf_tokenizer):
    cfg = tiny_config(hf_tokenizer.get_vocab_size())
    model = TrajectoryModel(cfg).encoder.eval()
    ids = torch.randint(4, cfg.vocab_size, (3, 10))
    mask = torch.arange(10) < torch.tensor([[10], [4], [1]])
    out = model(ids, mask)
    assert out.path.shape == (3, 10, cfg.latent_dim) and out.mask.shape == (3, 10)
    assert out.latent.shape == (3, cfg.latent_dim) and out.embedding.shape == (3, cfg.embed_dim)
    assert torch.allclose(out.embedding.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.all(out.path[1, 4:] == 0)                     # padding contributes nothing
    # Padding is invisible: the same text alone gives the same embedding.
    alone = model(ids[1:2, :4], mask[1:2, :4])
    assert torch.allclose(alone.embedding, out.embedding[1:2], atol=1e-5)


def test_encode_shapes_norms_order_and_empty(tiny_encoder):
    texts = ["def f(x):\n    return x", "", "read a file " * 100, "factorial of n", "x"]
    vecs = tiny_encoder.encode(texts, kind="code", batch_size=2)
    assert vecs.shape == (5, tiny_encoder.dim) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([tiny_encoder.encode([t], kind="code")[0] for t in texts])
    assert np.allclose(vecs, one_by_one, atol=1e-5)            # batching/sorting keeps input order
    assert tiny_encoder.encode([], kind="query").shape == (0, tiny_encoder.dim)


def test_kind_prefix_changes_embedding(tiny_encoder):
    code = tiny_encoder.encode(["read a file and return its lines"], kind="code")
    query = tiny_encoder.encode(["read a file and return its lines"], kind="query")
    assert not np.allclose(code, query, atol=1e-4)
    with pytest.raises(ValueError, match="kind"):
        tiny_encoder.encode(["x"], kind="text")
    with pytest.raises(TypeError):
        tiny_encoder.encode("not a list")


def test_encode_is_thread_safe(tiny_encoder):
    texts = [f"def f{i}(x): return x + {i}" for i in range(40)]
    expected = tiny_encoder.encode(texts)
    results, errors = [None] * 4, []

    def work(k):
        try:
            results[k] = tiny_encoder.encode(texts, batch_size=7)
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(np.allclose(r, expected, atol=1e-5) for r in results)


# --- checkpoints -------------------------------------------------------------------------------

def test_checkpoint_round_trip_gives_identical_outputs(tiny_dir, tiny_encoder, tmp_path):
    again = tmp_path / "again"
    model_id = save_checkpoint(again, tiny_encoder.model, tiny_encoder.tokenizer.tokenizer)
    reloaded = Encoder.load(again, precision="float32")
    texts = ["def f(): pass", "Read a file", ""]
    assert np.array_equal(reloaded.encode(texts), tiny_encoder.encode(texts))
    assert model_id == reloaded.model_id == tiny_encoder.model_id == compute_model_id(tiny_dir)
    assert model_id.startswith("ltt-") and len(model_id) == 16
    assert all(n.startswith(("encoder.", "drift.", "velocity.")) for n in reloaded.model.state_dict())


def test_bad_checkpoints_give_clear_errors(tiny_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Encoder.load(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in (CONFIG, "tokenizer.json", WEIGHTS):
        (broken / name).write_bytes((tiny_dir / name).read_bytes())
    (broken / WEIGHTS).unlink()
    with pytest.raises(FileNotFoundError, match=WEIGHTS):
        Encoder.load(broken)
    (broken / WEIGHTS).write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="safetensors"):
        Encoder.load(broken)
    (broken / WEIGHTS).write_bytes((tiny_dir / WEIGHTS).read_bytes())
    config = json.loads((tiny_dir / CONFIG).read_text())
    (broken / CONFIG).write_text(json.dumps(config | {"format_version": 999}))
    with pytest.raises(ValueError, match="format_version"):
        Encoder.load(broken)
    (broken / CONFIG).write_text(json.dumps(config | {"d_model": 64}))
    with pytest.raises(ValueError, match="does not match"):
        Encoder.load(broken)
    (broken / CONFIG).write_text("{not json")
    with pytest.raises(ValueError, match="config"):
        Encoder.load(broken)


def test_shipped_weights_load_and_rank_sensibly():
    enc = Encoder.load()
    assert enc.model_id.startswith("ltt-") and enc.dim > 0 and enc.max_tokens >= 128
    codes = ["def read_lines(path):\n    with open(path) as f:\n        return f.read().splitlines()",
             "def factorial(n):\n    if n < 2:\n        return 1\n    return n * factorial(n - 1)",
             "def send_request(url, data):\n    conn = connect(url)\n    conn.post(data)\n    return conn.response()"]
    queries = ["Read a file and return its lines", "Compute the factorial of a number",
               "Send a request to the server and return the response"]
    code_vecs, query_vecs = enc.encode(codes, kind="code"), enc.encode(queries, kind="query")
    assert np.allclose(np.linalg.norm(code_vecs, axis=1), 1.0, atol=1e-3)
    assert list((query_vecs @ code_vecs.T).argmax(1)) == [0, 1, 2]


# --- dynamics, regulariser, loss ---------------------------------------------------------------

def test_ode_loss_is_zero_on_a_path_that_follows_the_drift():
    torch.manual_seed(0)
    drift = Drift(dim=4, hidden=16)
    lengths = torch.tensor([6, 3])
    mask = torch.arange(6) < lengths.unsqueeze(1)
    path = torch.zeros(2, 6, 4)
    with torch.no_grad():
        for b, n in enumerate(lengths.tolist()):
            dt, z = 1.0 / (n - 1), torch.randn(4)
            for i in range(n):                     # exact Euler integration of dz/dt = f(z, t)
                path[b, i] = z
                z = z + dt * drift(z, torch.tensor(i * dt))
        assert ode_matching_loss(drift, path, mask) < 1e-10
        assert torch.all(drift_residual(drift, path, mask) < 1e-10)
        assert ode_matching_loss(drift, path + 0.1 * torch.randn_like(path) * mask[..., None], mask) > 1e-4


def test_ode_loss_decreases_when_the_drift_is_trained():
    torch.manual_seed(0)
    drift = Drift(dim=4, hidden=32)
    t = torch.linspace(0, 1, 12)
    path = torch.stack([torch.sin(3 * t), torch.cos(3 * t), t, t ** 2], dim=-1).expand(5, 12, 4)
    mask = torch.ones(5, 12, dtype=torch.bool)
    optimizer = torch.optim.Adam(drift.parameters(), lr=1e-2)
    first = ode_matching_loss(drift, path, mask).item()
    for _ in range(60):
        loss = ode_matching_loss(drift, path, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first


def test_flow_prior_learns_and_scores_density():
    torch.manual_seed(0)
    velocity = VelocityField(dim=2, hidden=64)
    optimizer = torch.optim.Adam(velocity.parameters(), lr=5e-3)
    data = torch.randn(256, 2) * 0.5 + 2.0
    first = flow_matching_loss(velocity, data).item()
    for _ in range(150):
        loss = flow_matching_loss(velocity, data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first
    with torch.inference_mode():                                     # as the daemon will call it
        scores = log_density(velocity, torch.tensor([[2.0, 2.0], [-2.0, -2.0]]), steps=8)
    assert torch.isfinite(scores).all() and scores[0] > scores[1] + 5


def test_epps_pulley_small_for_gaussian_large_otherwise():
    g = torch.Generator().manual_seed(0)
    gaussian = torch.randn(1024, 16, generator=g)
    stat = lambda x: epps_pulley(x, generator=torch.Generator().manual_seed(1)).item()
    assert stat(gaussian) < 2.0          # its expectation under N(0, I) is about 1.06
    assert stat(0.01 * gaussian) > 50 * stat(gaussian)               # collapsed
    assert stat(gaussian + 2.0) > 50 * stat(gaussian)                # off-centre
    uniform = (torch.rand(1024, 1, generator=g) * 2 - 1) * math.sqrt(3)   # unit variance, not normal
    assert stat(uniform) > 3 * stat(torch.randn(1024, 1, generator=g))
    collapsed = (0.01 * gaussian).requires_grad_()
    epps_pulley(collapsed).backward()
    assert torch.isfinite(collapsed.grad).all() and collapsed.grad.abs().sum() > 0


def test_info_nce_prefers_aligned_pairs():
    torch.manual_seed(0)
    keys = torch.nn.functional.normalize(torch.randn(16, 8), dim=-1)
    queries = torch.nn.functional.normalize(keys + 0.1 * torch.randn(16, 8), dim=-1)
    assert info_nce(queries, keys) < info_nce(queries[torch.randperm(16)], keys)
    assert info_nce(queries, keys) < info_nce(queries.roll(1, 0), keys)


# --- corpus ------------------------------------------------------------------------------------

def test_web_query_reads_like_a_search():
    sentence = "Returns the list of open files, as `Path` objects."
    assert {web_query(sentence, seed) for seed in range(4)} == {
        "python return list of open files as path objects", "return list of open files as path objects python",
        "how to return list of open files as path objects", "return list of open files as path objects"}
    assert web_query("Process a very long sentence with far more than nine words in it", 3).split() == \
        "process very long sentence with far more than nine".split()


def test_first_sentence():
    assert first_sentence("Read the file.  More text.\n\nDetails.") == "Read the file"
    assert first_sentence("Return ``x`` as a\n    list of lines e.g. this.\n") == "Return x as a list of lines e.g"
    assert first_sentence(":param x: nothing") == ""


def test_mining_excludes_bench_packages_and_copies(tmp_path):
    fake_stdlib = tmp_path / "stdlib"
    (fake_stdlib / "json").mkdir(parents=True)
    bench_source = 'def decode_thing(s):\n    """Decode a JSON document into a thing."""\n    a = 1\n    b = 2\n    return s\n'
    (fake_stdlib / "json" / "decoder.py").write_text(bench_source)
    bench = BenchFilter(fake_stdlib, bench_data=None)

    root = tmp_path / "site"
    normal = ('def add_numbers(a, b):\n    """Add two numbers and return the sum."""\n    total = a + b\n'
              '    total = int(total)\n    return total\n')
    for rel, text in {"pkg/ok.py": normal,
                      "pkg/email/mime.py": normal.replace("add_numbers", "add_email"),      # bench path
                      "vendor/copy.py": bench_source,                                         # bench file copy
                      "other/moved.py": "x = 1\n" + bench_source.replace("\n", "\n\n", 1),   # bench function copy
                      "pkg/tests/test_x.py": normal.replace("add_numbers", "add_test")}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    pairs, stats = mine_pairs([("site", root)], bench=bench, code_pair_every=1, documented_view_every=1)
    doc_pair, documented = [p for p in pairs if p.query_kind == "query"]
    assert doc_pair.query == "Add two numbers and return the sum"
    assert documented.query in {web_query(doc_pair.query, seed) for seed in range(4)}
    assert stats.files_excluded_bench_path == 1 and stats.files_excluded_bench_content == 1
    assert stats.functions_excluded_bench_hash == 1
    assert '"""' not in doc_pair.code and doc_pair.source == "site:pkg/ok.py"
    assert documented.code.startswith('def add_numbers(a, b):\n    """Add two numbers') and stats.documented_views == 1
    code_pair = next(p for p in pairs if p.query_kind == "code")      # renamed-locals positive
    assert "v0" in code_pair.code and "total" not in code_pair.code


def test_padding_to_a_bucket_width_changes_no_embedding():
    """Batches are padded to a multiple of PAD_MULTIPLE tokens (bounded kernel caches); the mask
    must make that padding invisible."""
    enc = Encoder.load(precision="float32")
    texts = ["def f(x):\n    return x + 1\n", "a much longer piece of code " * 20, "q"]
    alone = np.stack([enc.encode([t], kind="code")[0] for t in texts])
    assert np.allclose(enc.encode(texts, kind="code"), alone, atol=1e-5)
