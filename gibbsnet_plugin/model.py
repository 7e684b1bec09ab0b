"""GibbsNet: the chains (unclamped, clamped, partially clamped) and the adversarial losses.

Unclamped chain of N steps: ``z0 ~ N(0, I)``, ``x1 = dec(z0)``, then for t = 2..N
``z(t-1) = enc(x(t-1))``, ``x(t) = dec(z(t-1))``; the pair shown to D is ``(x_N, z_(N-1))``, so
N = 1 is exactly ALI's ``(dec(z0), z0)``. The clamped chain is ``(x, enc(x))`` for data x. Only the
last ``backprop_steps`` steps of the unclamped chain carry gradient (the authors' code: 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gibbsnet_plugin.architectures import Architecture
from gibbsnet_plugin.errors import GibbsnetError

Pair = tuple[torch.Tensor, torch.Tensor]
Loss = Literal["bce", "lsgan"]
StepCallback = Callable[[int], None]
"""Called with the step number t (1-based) after each chain step; e.g. to advance a progress bar."""


@dataclass
class LossOutput:
    """A scalar loss to backpropagate and the mean D outputs on both chains (for logging).

    ``d_real``/``d_fake`` are probabilities for ``bce`` and raw scores for ``lsgan``.
    """

    loss: torch.Tensor
    d_real: torch.Tensor
    d_fake: torch.Tensor


def check_architecture(arch: Architecture, x_shape: tuple[int, ...], z_dim: int, name: str) -> None:
    """Probe the networks with a batch of 2 and raise ``GibbsnetError`` on a contract violation."""
    for role in ("encoder", "decoder", "discriminator"):
        if not isinstance(getattr(arch, role, None), nn.Module):
            raise GibbsnetError(f"architecture '{name}': {role} must be a torch.nn.Module")
    nets = (arch.encoder, arch.decoder, arch.discriminator)
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(2, *x_shape)
            z = arch.encoder(x)
            if tuple(z.shape) != (2, z_dim):
                raise GibbsnetError(
                    f"architecture '{name}': encoder maps x of shape {tuple(x.shape)} to "
                    f"{tuple(z.shape)}; expected (batch, z_dim) = (2, {z_dim})"
                )
            x2 = arch.decoder(z)
            if tuple(x2.shape) != tuple(x.shape):
                raise GibbsnetError(
                    f"architecture '{name}': decoder maps z of shape {tuple(z.shape)} to "
                    f"{tuple(x2.shape)}; expected (batch, *x_shape) = {tuple(x.shape)}"
                )
            d = arch.discriminator(x, z)
            if tuple(d.shape) not in ((2,), (2, 1)):
                raise GibbsnetError(
                    f"architecture '{name}': discriminator returns shape {tuple(d.shape)}; "
                    "expected logits of shape (batch,) or (batch, 1)"
                )
    finally:
        for net, mode in zip(nets, modes, strict=True):
            net.train(mode)


class GibbsNet(nn.Module):
    """Encoder q(z|x), decoder p(x|z) and joint discriminator D(x, z), with their chains.

    Args:
        architecture: the three networks (see ``Architecture`` for their shapes).
        x_shape: shape of one data point, e.g. (1, 8, 8).
        z_dim: latent size.
        chain_steps: N, steps of the unclamped chain in training and the default for sampling.
        backprop_steps: k, how many of the last chain steps carry gradient (1 <= k <= N).
        loss: ``bce`` (non-saturating, ALI's swapped labels) or ``lsgan``.
        z_consistency: weight of ``||z_(N-1) - enc(x_N)||^2`` in the encoder/decoder loss.
    """

    def __init__(
        self, architecture: Architecture, x_shape: tuple[int, ...], z_dim: int,
        chain_steps: int = 3, backprop_steps: int = 1, loss: Loss = "bce",
        z_consistency: float = 0.0,
    ) -> None:
        super().__init__()
        if chain_steps < 1 or not 1 <= backprop_steps <= chain_steps:
            raise ValueError(
                f"need chain_steps >= 1 and 1 <= backprop_steps <= chain_steps, "
                f"got {chain_steps} and {backprop_steps}"
            )
        if loss not in ("bce", "lsgan"):
            raise ValueError(f"loss must be 'bce' or 'lsgan', got {loss!r}")
        self.encoder = architecture.encoder
        self.decoder = architecture.decoder
        self.discriminator = architecture.discriminator
        self.x_shape = tuple(x_shape)
        self.z_dim = z_dim
        self.chain_steps = chain_steps
        self.backprop_steps = backprop_steps
        self.loss = loss
        self.z_consistency = z_consistency

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def prior(self, n: int) -> torch.Tensor:
        """``n`` draws of z0 ~ N(0, I), shape (n, z_dim), on the model's device."""
        return torch.randn(n, self.z_dim, device=self.device)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *x_shape) -> (B, z_dim): one sample of q(z|x)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, z_dim) -> (B, *x_shape): one sample of p(x|z)."""
        return self.decoder(z)

    def critic(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """D's logits for pairs (x, z), shape (B,)."""
        return self.discriminator(x, z).reshape(-1)

    # -- chains ---------------------------------------------------------------------------------

    def unclamped(self, n: int) -> Pair:
        """The training pair ``(x_N, z_(N-1))`` of ``n`` unclamped chains started from the prior.

        Steps 1..N-k run without autograd, so gradient reaches only the last k = backprop_steps
        steps (each an encoder pass, except step 1, and a decoder pass).
        """
        n_steps, k = self.chain_steps, self.backprop_steps
        z = self.prior(n)
        x = None
        with torch.no_grad():
            for t in range(1, n_steps - k + 1):
                if t > 1:
                    z = self.encoder(x)
                x = self.decoder(z)
        for t in range(n_steps - k + 1, n_steps + 1):
            if t > 1:
                z = self.encoder(x)
            x = self.decoder(z)
        return x, z

    def clamped(self, x: torch.Tensor) -> Pair:
        """The data pair ``(x, enc(x))``."""
        return x, self.encoder(x)

    def iterate(self, z0: torch.Tensor) -> Iterator[Pair]:
        """Endless unclamped chain from ``z0``: yields ``(x_t, z_(t-1))`` for t = 1, 2, ...

        Keeps no history and builds no autograd graph, so memory stays flat however long it runs.
        """
        z = z0
        with torch.no_grad():
            while True:
                x = self.decoder(z)
                yield x, z
                z = self.encoder(x)

    def sample(
        self, n: int, steps: int | None = None, z0: torch.Tensor | None = None,
        callback: StepCallback | None = None,
    ) -> torch.Tensor:
        """``x_steps`` of ``n`` unclamped chains (default: ``chain_steps``), shape (n, *x_shape).

        ``steps=1`` is one decoder pass from the prior. ``z0`` (n, z_dim) replaces the prior draw
        (e.g. encodings of images, to see where the chain takes them). Keeps no history and builds
        no autograd graph. Uses the modules' current mode: a model from ``load_model`` is in eval
        mode.
        """
        steps = self.chain_steps if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        return self.trajectory(n, [steps], z0, callback)[:, 0]

    def trajectory(
        self, n: int, record: Sequence[int], z0: torch.Tensor | None = None,
        callback: StepCallback | None = None,
    ) -> torch.Tensor:
        """The states ``x_t`` at the chosen steps of ``n`` unclamped chains, shape
        (n, len(steps), *x_shape) with steps = ``sorted(set(record))``.

        The chain runs to the last recorded step and keeps only the recorded states, so memory
        grows with ``len(record)``, not with the chain's length. ``z0`` and the modules' mode as
        in ``sample``; ``callback(t)`` is called after each step t.
        """
        wanted = sorted(set(record))
        if not wanted or wanted[0] < 1:
            raise ValueError(f"recorded steps must be at least 1, got {list(record)}")
        z0 = self.prior(n) if z0 is None else z0.to(self.device)
        kept = []
        # closing(): ending the generator early restores the grad mode it switched off.
        with closing(self.iterate(z0)) as chain:
            for t, (x, _) in enumerate(chain, start=1):
                if callback is not None:
                    callback(t)
                if t == wanted[len(kept)]:
                    kept.append(x)
                    if len(kept) == len(wanted):
                        break
        return torch.stack(kept, dim=1)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``dec(enc(x))`` without autograd, shape of x."""
        with torch.no_grad():
            return self.decoder(self.encoder(x))

    def inpaint(
        self, x_observed: torch.Tensor, mask: torch.Tensor, steps: int = 20,
        callback: StepCallback | None = None,
    ) -> torch.Tensor:
        """Partially clamped chain: entries where ``mask`` is 1 stay exactly ``x_observed``.

        Args:
            x_observed: (B, *x_shape); values where mask is 0 are ignored.
            mask: x_observed's shape, or one (*x_shape) mask for the batch; 1 = observed, 0 = fill.
            steps: K chain steps; each is ``z = enc(x)``, ``x' = dec(z)``, observed entries reset.
            callback: called with t after each step t.
        Returns:
            (B, *x_shape), starting from uniform noise in [-1, 1] at the hidden entries.
        """
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        x_observed = x_observed.to(self.device)
        observed = torch.broadcast_to(mask.to(self.device) != 0, x_observed.shape)
        noise = torch.rand_like(x_observed) * 2 - 1
        x = torch.where(observed, x_observed, noise)
        with torch.no_grad():
            for t in range(1, steps + 1):
                x = torch.where(observed, x_observed, self.decoder(self.encoder(x)))
                if callback is not None:
                    callback(t)
        return x

    # -- losses ---------------------------------------------------------------------------------

    def _scores(self, real: Pair, fake: Pair, noise_std: float) -> tuple[torch.Tensor, torch.Tensor]:
        (xr, zr), (xf, zf) = real, fake
        if noise_std > 0:
            xr = xr + noise_std * torch.randn_like(xr)
            xf = xf + noise_std * torch.randn_like(xf)
        return self.critic(xr, zr), self.critic(xf, zf)

    def _target_loss(self, scores: torch.Tensor, target: float) -> torch.Tensor:
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, target))
        return ((scores - target) ** 2).mean()

    def _summary(self, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.detach()
        return (torch.sigmoid(scores) if self.loss == "bce" else scores).mean()

    def discriminator_loss(self, real: Pair, fake: Pair, noise_std: float = 0.0) -> LossOutput:
        """D's loss: clamped pairs labelled 1, unclamped pairs 0. The pairs are detached here."""
        real = (real[0].detach(), real[1].detach())
        fake = (fake[0].detach(), fake[1].detach())
        s_real, s_fake = self._scores(real, fake, noise_std)
        loss = self._target_loss(s_real, 1.0) + self._target_loss(s_fake, 0.0)
        return LossOutput(loss, self._summary(s_real), self._summary(s_fake))

    def generator_loss(self, real: Pair, fake: Pair, noise_std: float = 0.0) -> LossOutput:
        """Encoder and decoder loss with swapped labels (non-saturating), plus the optional
        z-consistency term. Call it after D's update so that D's outputs are fresh."""
        s_real, s_fake = self._scores(real, fake, noise_std)
        loss = self._target_loss(s_real, 0.0) + self._target_loss(s_fake, 1.0)
        if self.z_consistency > 0:
            x_n, z_prev = fake
            loss = loss + self.z_consistency * (z_prev - self.encoder(x_n)).pow(2).sum(1).mean()
        return LossOutput(loss, self._summary(s_real), self._summary(s_fake))


def instance_noise_std(start: float, iteration: int, iterations: int) -> float:
    """Instance-noise std annealed linearly from ``start`` to 0 over the run."""
    return start * max(0.0, 1.0 - iteration / max(1, iterations)) if start > 0 else 0.0
