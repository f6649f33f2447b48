"""Hyper-parameters of the trajectory encoder, stored beside the weights as config.json."""

import json
from dataclasses import asdict, dataclass, fields

# Bump when the meaning of the weights or of a config field changes; load() refuses other versions
# instead of silently producing garbage embeddings.
FORMAT_VERSION = 1


@dataclass
class EncoderConfig:
    vocab_size: int = 8192     # subword vocabulary, including the special tokens
    max_tokens: int = 256      # longest input, kind prefix included; longer texts are truncated
    d_model: int = 256         # width of the transformer's residual stream
    n_layers: int = 4          # transformer blocks
    n_heads: int = 4           # attention heads per block (d_model must divide by it)
    d_ff: int = 1024           # hidden width of each block's feed-forward MLP
    latent_dim: int = 128      # width of the latent path z_1..z_T
    embed_dim: int = 256       # width of the final, L2-normalised embedding
    dropout: float = 0.1       # used in training only; inference runs in eval mode
    drift_hidden: int = 256    # hidden width of the drift network f(z, t)
    flow_hidden: int = 256     # hidden width of the flow-matching velocity field v(x, s)
    pad_id: int = 0            # token id used for padding (the tokenizer puts [PAD] first)
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "EncoderConfig":
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("config.json must hold a JSON object")
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"model format_version {version!r} is not supported (this ltlsp reads version "
                f"{FORMAT_VERSION}); retrain with `python -m ltlsp.model.train` or reinstall ltlsp")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"config.json has unknown fields {unknown}; it was written by another version")
        return cls(**raw)
