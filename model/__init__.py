"""ltlsp.model: the latent trajectory encoder (pure ML; knows nothing of files, git or gRPC)."""

from .api import DEFAULT_MODEL_DIR, Encoder
from .config import FORMAT_VERSION, EncoderConfig

__all__ = ["DEFAULT_MODEL_DIR", "Encoder", "EncoderConfig", "FORMAT_VERSION"]
