"""The parts trained together and saved in one weights file: encoder, path drift, flow prior."""

from torch import nn

from .config import EncoderConfig
from .dynamics import Drift, VelocityField
from .encoder import TrajectoryEncoder


class TrajectoryModel(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = TrajectoryEncoder(cfg)                          # text -> path, embedding
        self.drift = Drift(cfg.latent_dim, cfg.drift_hidden)           # f(z, t) along the path
        self.velocity = VelocityField(cfg.latent_dim, cfg.flow_hidden)  # v(x, s), prior on latents
