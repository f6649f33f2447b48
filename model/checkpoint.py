"""A model directory: everything needed to rebuild the encoder, with no pickle anywhere.

    model.safetensors   weights (stored as float16 to halve the file, float32 once loaded)
    config.json         EncoderConfig, with format_version
    tokenizer.json      the HF tokenizers file
    manifest.json       the training corpus: sources, versions, counts, what was excluded
    metrics.json        validation metrics of each evaluation during training
"""

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from .config import EncoderConfig
from .tokenizer import CodeTokenizer
from .trajectory import TrajectoryModel

WEIGHTS, CONFIG, TOKENIZER, MANIFEST, METRICS = (
    "model.safetensors", "config.json", "tokenizer.json", "manifest.json", "metrics.json")
REQUIRED_FILES = (WEIGHTS, CONFIG, TOKENIZER)


def _write_atomic(path: Path, data: bytes):
    # A reader (the daemon) never sees a half-written file, even while training overwrites the best.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_json(path: Path, obj):
    _write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_metrics(directory, metrics: list | dict):
    """Replace metrics.json only; the weights, and so the model id, stay as they are."""
    _write_json(Path(directory) / METRICS, metrics)


def compute_model_id(directory) -> str:
    """ltt-<12 hex>: sha256 over the weights file and the config, so any change gives a new id."""
    directory = Path(directory)
    digest = hashlib.sha256()
    digest.update((directory / WEIGHTS).read_bytes())
    digest.update((directory / CONFIG).read_bytes())
    return "ltt-" + digest.hexdigest()[:12]


def save_checkpoint(directory, model: TrajectoryModel, tokenizer: Tokenizer,
                    manifest: dict | None = None, metrics: list | dict | None = None,
                    dtype: torch.dtype = torch.float16) -> str:
    """Write the model directory and return its model id."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().to("cpu", dtype).contiguous() for name, t in model.state_dict().items()}
    tmp = directory / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.chmod(tmp, 0o644)              # safetensors creates 0600; an installed model must be readable
    os.replace(tmp, directory / WEIGHTS)
    _write_atomic(directory / CONFIG, (model.cfg.to_json() + "\n").encode())
    _write_atomic(directory / TOKENIZER, tokenizer.to_str().encode())
    if manifest is not None:
        _write_json(directory / MANIFEST, manifest)
    if metrics is not None:
        _write_json(directory / METRICS, metrics)
    return compute_model_id(directory)


def load_checkpoint(directory) -> tuple[TrajectoryModel, CodeTokenizer, str]:
    """Rebuild (model in eval mode, float32; tokenizer; model id) from a model directory.

    Raises FileNotFoundError for a missing directory or file, ValueError for anything unreadable
    or written by an incompatible version.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"model directory {directory} does not exist")
    for name in REQUIRED_FILES:
        if not (directory / name).is_file():
            raise FileNotFoundError(
                f"model directory {directory} has no {name}; it must hold {', '.join(REQUIRED_FILES)}")
    try:
        cfg = EncoderConfig.from_json((directory / CONFIG).read_text())
    except (json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"{directory / CONFIG} is not a valid config: {e}") from None
    except ValueError as e:
        raise ValueError(f"{directory / CONFIG}: {e}") from None
    try:
        tokenizer = CodeTokenizer(Tokenizer.from_file(str(directory / TOKENIZER)), cfg.max_tokens)
    except Exception as e:  # the Rust side raises a plain Exception for malformed files
        raise ValueError(f"{directory / TOKENIZER} is not a valid tokenizer: {e}") from None
    if tokenizer.vocab_size != cfg.vocab_size:
        raise ValueError(f"{directory}: tokenizer has {tokenizer.vocab_size} tokens but config says "
                         f"vocab_size={cfg.vocab_size}; the files come from different models")
    try:
        tensors = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{directory / WEIGHTS} is not a valid safetensors file: {e}") from None
    model = TrajectoryModel(cfg)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong_shape:
        raise ValueError(f"{directory / WEIGHTS} does not match config.json (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}, wrong shape {wrong_shape[:3]})")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    model.eval()
    return model, tokenizer, compute_model_id(directory)
