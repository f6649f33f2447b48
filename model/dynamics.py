"""Latent dynamics: a drift f(z, t) along each text's path, and a flow-matching prior on latents.

The drift treats the latent path z_1..z_T of a text as samples of an ODE dz/dt = f(z, t) with time
t running from 0 (first token) to 1 (last token). Training it jointly with the encoder pulls paths
toward trajectories that a small vector field can predict; its residual later scores how unusual a
sequence is (logs).

The prior is a rectified flow: a velocity field v(x, s) that transports N(0, I) noise (s = 0) to
pooled latents (s = 1) along straight lines. Its log-density gives a per-text energy score.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def time_features(t: torch.Tensor, n_frequencies: int = 4) -> torch.Tensor:
    """(...,) times in [0, 1] -> (..., 1 + 2 * n_frequencies) smooth features [t, sin, cos]."""
    freqs = math.pi * torch.arange(1, n_frequencies + 1, device=t.device, dtype=t.dtype)
    angles = t.unsqueeze(-1) * freqs
    return torch.cat([t.unsqueeze(-1), angles.sin(), angles.cos()], dim=-1)


class TimeConditionedMLP(nn.Module):
    """u(x, t): R^dim x [0, 1] -> R^dim, a two-hidden-layer SiLU MLP on [x, time_features(t)]."""

    def __init__(self, dim: int, hidden: int, n_frequencies: int = 4):
        super().__init__()
        self.n_frequencies = n_frequencies
        self.net = nn.Sequential(
            nn.Linear(dim + 1 + 2 * n_frequencies, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # x: (..., dim); t: (...) with the same leading shape
        return self.net(torch.cat([x, time_features(t, self.n_frequencies)], dim=-1))


class Drift(TimeConditionedMLP):
    """f(z, t): the drift of the latent path."""


class VelocityField(TimeConditionedMLP):
    """v(x, s): the rectified-flow velocity from noise (s = 0) to latents (s = 1)."""


def _path_residuals(drift: Drift, path: torch.Tensor, mask: torch.Tensor):
    """Per step squared error of the finite-difference velocity against the drift.

    path: (B, T, L); mask: (B, T) bool (real tokens first, padding after).
    Returns errors (B, T-1) and the step mask (B, T-1).
    """
    lengths = mask.sum(1, keepdim=True).to(path.dtype)                          # (B, 1)
    dt = 1.0 / (lengths - 1).clamp_min(1.0)                                     # (B, 1)
    steps = torch.arange(path.shape[1] - 1, device=path.device, dtype=path.dtype)
    t = steps.unsqueeze(0) * dt                                                 # (B, T-1), t_i = i * dt
    z_now, z_next = path[:, :-1], path[:, 1:]                                   # (B, T-1, L)
    velocity = (z_next - z_now) / dt.unsqueeze(-1)                              # finite difference
    predicted = drift(z_now, t)                                                 # (B, T-1, L)
    # Weight by dt^2 (the squared Euler-step residual): the velocity of a long path is large in
    # proportion to its length, and without it long code would swamp short queries.
    errors = ((velocity - predicted) * dt.unsqueeze(-1)).pow(2).mean(-1)        # (B, T-1)
    step_mask = mask[:, 1:] & mask[:, :-1]
    return errors, step_mask


def ode_matching_loss(drift: Drift, path: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over all real steps of |(z_{i+1} - z_i)/dt - f(z_i, t_i)|^2 dt^2 (scalar)."""
    errors, step_mask = _path_residuals(drift, path, mask)
    weights = step_mask.to(errors.dtype)
    return (errors * weights).sum() / weights.sum().clamp_min(1.0)


def drift_residual(drift: Drift, path: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per sequence mean ODE-matching error (B,): how poorly the drift explains each path."""
    errors, step_mask = _path_residuals(drift, path, mask)
    weights = step_mask.to(errors.dtype)
    return (errors * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def flow_matching_loss(velocity: VelocityField, z: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Rectified-flow loss on latents z (B, L): x_s = s z + (1 - s) eps, target z - eps."""
    noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    s = torch.rand(z.shape[0], generator=generator, device=z.device, dtype=z.dtype)
    x_s = s.unsqueeze(-1) * z + (1 - s.unsqueeze(-1)) * noise
    return F.mse_loss(velocity(x_s, s), z - noise)


def log_density(velocity: VelocityField, z: torch.Tensor, steps: int = 32, n_probes: int = 4,
                seed: int = 0) -> torch.Tensor:
    """log p(z) (B,) under the flow prior, by the instantaneous change of variables:

        log p_1(z) = log N(x_0; 0, I) - integral_0^1 div v(x_s, s) ds,   dx/ds = v(x, s), x_1 = z,

    integrated backward with Euler steps; the divergence uses Hutchinson's estimator with fixed
    Rademacher probes (forward-mode JVPs, so it also runs under torch.inference_mode).
    Deterministic for a given seed, so scores of the same input are comparable.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    probes = (torch.randint(0, 2, (n_probes, *z.shape), generator=generator) * 2 - 1).to(z)
    x = z
    h = 1.0 / steps
    divergence_integral = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype)
    for k in range(steps, 0, -1):
        s = torch.full((z.shape[0],), k * h, device=z.device, dtype=z.dtype)
        divergence = 0.0
        for probe in probes:
            v, jv = torch.func.jvp(lambda inp: velocity(inp, s), (x,), (probe,))
            divergence = divergence + (probe * jv).sum(-1) / n_probes
        divergence_integral = divergence_integral + h * divergence
        x = x - h * v
    log_normal = -0.5 * x.pow(2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)
    return log_normal - divergence_integral
