"""Epps–Pulley normality statistic on random 1-D projections (SIGReg, as in LeJEPA).

For N(0, I) samples every 1-D projection onto a unit direction is N(0, 1), whose characteristic
function is exp(-t^2 / 2). The statistic integrates the squared gap between the empirical
characteristic function of the projected samples and that target, under a Gaussian window:

    EP = N * integral |phi_N(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt

It is differentiable (only cos/sin of the samples), costs O(N * projections * knots), and is
averaged over random directions, so it pushes latents toward N(0, I) without a covariance matrix.
The samples are not standardised: the target is N(0, I) itself, scale and centre included.
"""

import torch


def epps_pulley(x: torch.Tensor, n_projections: int = 64, n_knots: int = 17, t_max: float = 3.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean Epps–Pulley statistic of x (N, D) over random unit directions (scalar, >= 0)."""
    n, dim = x.shape
    directions = torch.randn(dim, n_projections, generator=generator, device=x.device, dtype=x.dtype)
    directions = directions / directions.norm(dim=0, keepdim=True)
    projected = x @ directions                                                # (N, P)
    t = torch.linspace(0.0, t_max, n_knots, device=x.device, dtype=x.dtype)  # (K,)
    angles = projected.unsqueeze(-1) * t                                      # (N, P, K)
    real = angles.cos().mean(0)                                               # (P, K)
    imag = angles.sin().mean(0)
    target = torch.exp(-0.5 * t.pow(2))                                       # N(0,1) char. function
    gap = (real - target).pow(2) + imag.pow(2)
    # The integrand is even in t, so integrate over [0, t_max] and double it.
    integral = 2.0 * torch.trapezoid(gap * target, t, dim=-1)                 # (P,)
    return n * integral.mean()
