"""The trajectory encoder: tokens -> bidirectional transformer -> latent path -> embedding.

    ids (B, T) ──embed + positions──> h (B, T, d_model) ──n_layers blocks──> h
    h ──LayerNorm, Linear──> path z_1..z_T (B, T, latent_dim)     one latent point per token
    path ──masked mean──> latent (B, latent_dim) ──Linear──> L2-normalise ──> embedding (B, embed_dim)

The path is what the dynamics (dynamics.py) model as a trajectory; the pooled latent is what the
normality regulariser and the flow prior see; the embedding is what retrieval uses.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import EncoderConfig


@dataclass
class EncoderOutput:
    path: torch.Tensor        # (B, T, latent_dim)  z_1..z_T, padded positions are zero
    mask: torch.Tensor        # (B, T) bool, True where the token is real
    latent: torch.Tensor      # (B, latent_dim)     masked mean of the path
    embedding: torch.Tensor   # (B, embed_dim)      unit L2 norm


class SelfAttention(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        # x: (B, T, C); attend: (B, 1, 1, T) bool, True for keys that may be attended to
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(                  # (B, H, T, C/H), non-causal
            q, k, v, attn_mask=attend, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.ln_attn = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln_mlp = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model),
            nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_attn(x), attend)
        return x + self.mlp(self.ln_mlp(x))


class TrajectoryEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        self.position_embedding = nn.Embedding(cfg.max_tokens, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_path = nn.LayerNorm(cfg.d_model)
        self.to_path = nn.Linear(cfg.d_model, cfg.latent_dim)
        self.to_embedding = nn.Linear(cfg.latent_dim, cfg.embed_dim)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module):
        # GPT-2 style: small normal weights keep the residual stream well scaled at init.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> EncoderOutput:
        # ids: (B, T) int64; mask: (B, T) bool, True for real tokens; T <= max_tokens
        B, T = ids.shape
        if T > self.cfg.max_tokens:
            raise ValueError(f"sequence of {T} tokens exceeds max_tokens={self.cfg.max_tokens}")
        positions = torch.arange(T, device=ids.device)
        x = self.dropout(self.token_embedding(ids) + self.position_embedding(positions))  # (B, T, C)
        attend = mask[:, None, None, :]                                                  # (B, 1, 1, T)
        for block in self.blocks:
            x = block(x, attend)
        weights = mask.unsqueeze(-1).to(x.dtype)                                         # (B, T, 1)
        path = self.to_path(self.ln_path(x)) * weights                                   # (B, T, L)
        latent = path.sum(1) / weights.sum(1).clamp_min(1.0)                             # (B, L)
        # Normalise in float32 even under bfloat16 autocast, so rows are unit length to 1e-6.
        embedding = F.normalize(self.to_embedding(latent).float(), dim=-1)               # (B, D)
        return EncoderOutput(path=path, mask=mask, latent=latent, embedding=embedding)
