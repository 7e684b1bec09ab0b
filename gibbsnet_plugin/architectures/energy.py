"""``energy``: both transitions derived from one learned energy E(x, z) by Langevin dynamics.

The GibbsNet talk's future work: "instead of parameterising the transition operator with
networks, have general networks for the energy and derive transition operators from that". One
network E(x, z) (an MLP over the flattened pair with smooth SiLU units, so its gradient is
smooth too) defines both conditionals. q(z|x) starts z from N(0, I) and takes ``steps`` Langevin
steps on E(x, .):

    z <- z - (eps / 2) dE/dz + tau * sqrt(eps) * N(0, I),

and p(x|z) does the same for x on E(., z), then keeps x in [-1, 1], the range of image data
(``output: linear`` leaves x unbounded, for data in other units).
Each direction learns its own step size eps (started at ``step_size``) and noise scale tau
(started at ``noise``; 1 is exact Langevin dynamics, tau < 1 samples exp(-E / tau^2), a lower
temperature, as short-run samplers of energy models do, Nijkamp et al. 2019). Training backpropagates
the GibbsNet objective through the Langevin steps (second derivatives of E), so the energy is
learned by the same adversarial game as transition networks are; D is an MLP over (x, z) like
``mlp``'s. Encoder and decoder hold the same ``Energy`` module: one set of weights.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from gibbsnet_plugin.architectures.base import OUTPUTS, Architecture, JointDiscriminator, Output, lrelu, mlp
from gibbsnet_plugin.limits import MAX_WIDTH
from gibbsnet_plugin.registry import ARCHITECTURES

MAX_LANGEVIN_STEPS = 1000


class Energy(nn.Module):
    """E(x, z): (B, *x_shape), (B, z_dim) -> (B,), an MLP of ``hidden`` SiLU layers (no output
    bias: a constant changes no transition)."""

    def __init__(self, n_x: int, z_dim: int, hidden: list[int]) -> None:
        super().__init__()
        self.net = nn.Sequential(mlp([n_x + z_dim, *hidden], nn.SiLU), nn.SiLU(),
                                 nn.Linear(hidden[-1], 1, bias=False))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x.flatten(1), z.flatten(1)], dim=1)).squeeze(1)


class Langevin(nn.Module):
    """One conditional of ``energy``: ``forward(given)`` (B, ...) draws the other variable
    (B, *``shape``) by ``steps`` Langevin steps from N(0, I) (see the module docstring).

    ``draws``: ``"x"`` (p(x|z): the energy's first argument) or ``"z"`` (q(z|x)); ``bounds``:
    the interval the draws are clamped to at the end, or None. With gradients enabled the steps
    keep their graph (training reaches E's weights, the step size and the noise scale through
    them); otherwise each step is detached.
    """

    def __init__(self, energy: Energy, draws: Literal["x", "z"], shape: tuple[int, ...], steps: int,
                 step_size: float, noise: float = 1.0,
                 bounds: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.energy = energy
        self.draws = draws
        self.shape = tuple(shape)
        self.steps = steps
        self.bounds = bounds
        self.log_step = nn.Parameter(torch.tensor(math.log(step_size)))
        self.log_noise = nn.Parameter(torch.tensor(math.log(noise)))

    def forward(self, given: torch.Tensor) -> torch.Tensor:
        graph = torch.is_grad_enabled()
        v = torch.randn(given.shape[0], *self.shape, device=given.device, dtype=given.dtype)
        eps, tau = self.log_step.exp(), self.log_noise.exp()
        with torch.enable_grad():
            if not graph:
                given, eps, tau = given.detach(), eps.detach(), tau.detach()
            for _ in range(self.steps):
                if not graph or not v.requires_grad:
                    v = v.detach().requires_grad_(True)
                pair = (v, given) if self.draws == "x" else (given, v)
                (grad,) = torch.autograd.grad(self.energy(*pair).sum(), v, create_graph=graph)
                v = v - eps / 2 * grad + tau * eps.sqrt() * torch.randn_like(v)
        if self.bounds is not None:
            v = v.clamp(*self.bounds)
        return v if graph else v.detach()


@ARCHITECTURES.register("energy")
def build_energy(
    x_shape: tuple[int, ...], z_dim: int | list[int], hidden: list[int] | tuple[int, ...] = (256, 256),
    steps: int = 10, step_size: float = 0.1, noise: float = 1.0, critic_hidden: int = 256,
    dropout: float = 0.0, output: Output = "tanh",
) -> Architecture:
    """Encoder and decoder as ``steps`` Langevin steps on one energy MLP of ``hidden`` widths
    (``step_size`` and ``noise``: each direction's starting eps and tau), D an MLP of
    ``critic_hidden`` units over x and z, for data of any shape (flattened) and a vector z of
    ``z_dim``; ``output``: ``tanh`` or ``clip`` keeps x in [-1, 1], ``linear`` leaves it unbounded."""
    if isinstance(z_dim, list):
        raise ValueError("the energy architecture has one latent layer: give z_dim as one number")
    widths = list(hidden)
    if not widths or any(not isinstance(h, int) or not 1 <= h <= MAX_WIDTH
                         for h in [*widths, critic_hidden]):
        raise ValueError(f"hidden and critic_hidden must be widths between 1 and {MAX_WIDTH:,}, got "
                         f"{widths} and {critic_hidden}")
    if not 1 <= steps <= MAX_LANGEVIN_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_LANGEVIN_STEPS}, got {steps}")
    for name, value in (("step_size", step_size), ("noise", noise)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got '{output}'")
    n_x = math.prod(x_shape)
    energy = Energy(n_x, z_dim, widths)
    h = critic_hidden
    return Architecture(
        encoder=Langevin(energy, "z", (z_dim,), steps, step_size, noise),
        decoder=Langevin(energy, "x", tuple(x_shape), steps, step_size, noise,
                         None if output == "linear" else (-1.0, 1.0)),
        discriminator=JointDiscriminator(
            nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(n_x, h), lrelu()),
            nn.Sequential(nn.Linear(z_dim, h), lrelu()),
            mlp([2 * h, h, 1], lrelu, dropout=dropout)))


__all__ = ["MAX_LANGEVIN_STEPS", "Energy", "Langevin", "build_energy"]
