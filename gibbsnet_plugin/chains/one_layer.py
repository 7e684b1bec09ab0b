"""GibbsNet with one latent layer, and ALI as its one-step case.

Unclamped chain of N steps: ``z0 ~ N(0, I)``, ``x1 = dec(z0)``, then for t = 2..N
``z(t-1) = enc(x(t-1))``, ``x(t) = dec(z(t-1))``; the state shown to D is ``(x_N, z_(N-1))``, so
N = 1 is exactly ALI's ``(dec(z0), z0)``. The clamped chain is ``(x, enc(x))`` for data x. The
rest (training chain, sampling, partially clamped chains, losses) is ``ChainModel``'s.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gibbsnet_plugin.architectures import Architecture
from gibbsnet_plugin.chains.base import Block, ChainModel, State, Update
from gibbsnet_plugin.chains.losses import pack_items
from gibbsnet_plugin.errors import GibbsnetError


class GibbsNet(ChainModel):
    """Encoder q(z|x), decoder p(x|z) and joint discriminator D(x, z), with their chains.

    Args:
        architecture: the three networks (see ``Architecture`` for their shapes).
        x_shape: shape of one data point, e.g. (1, 8, 8).
        z_dim: latent size (channels of a spatial z: ``architecture.latent_shape``).
        **settings: the chain and loss settings of ``ChainModel`` (``chain_steps``, ...).
    """

    kind = "gibbsnet"
    start_layers = (1,)
    first_block = 1

    def __init__(self, architecture: Architecture, x_shape: tuple[int, ...], z_dim: int,
                 corruption: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 **settings: object) -> None:
        super().__init__(x_shape, [architecture.shape(z_dim)], corruption=corruption, **settings)  # type: ignore[arg-type]
        self.encoder = architecture.encoder
        self.decoder = architecture.decoder
        self.discriminator = architecture.discriminator
        self.z_dim = z_dim

    def schedule(self) -> list[Block]:
        return [(Update(1, lambda s: self.encoder(s[0]), (0,)),),
                (Update(0, lambda s: self.decoder(s[1]), (1,)),)]

    def prior(self, n: int) -> torch.Tensor:
        """``n`` draws of z0 ~ N(0, I), shape (n, *z's shape), on the model's device."""
        return torch.randn(n, *self.latent_shapes[0], device=self.device)

    def clamped(self, x: torch.Tensor) -> State:
        """The data pair ``(x, enc(x))``; with a corruption x are the data's measurements y."""
        return x, self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, *z's shape) -> (B, *x_shape): one sample of p(x|z)."""
        return self.decoder(z)

    def decode_level(self, z: torch.Tensor, level: int = 1) -> torch.Tensor:
        """``decode(z)`` without autograd (one layer: ``level`` must be 1); z of z's shape, or
        flattened (``features``)."""
        self.check_level(level)
        with torch.no_grad():
            return self.decoder(z.reshape(z.shape[0], *self.latent_shapes[0]))

    def critique(self, x: torch.Tensor, zs: list[torch.Tensor]) -> torch.Tensor:
        return self.discriminator(x, zs[0])

    def critic(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """D's logits for pairs (x, z): shape (B,), or (B/m,) for packs of m = ``pack`` pairs."""
        return self.judge((x, z))


def check_architecture(arch: Architecture, x_shape: tuple[int, ...], z_dim: int, name: str,
                       pack: int = 1) -> None:
    """Probe the networks with a batch of 2 (D: 2 packs of ``pack`` pairs) and raise
    ``GibbsnetError`` on a contract violation."""
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
            if tuple(z.shape) != (2, *arch.shape(z_dim)):
                raise GibbsnetError(
                    f"architecture '{name}': encoder maps x of shape {tuple(x.shape)} to "
                    f"{tuple(z.shape)}; expected "
                    + (f"(batch, *latent_shape) = {(2, *arch.shape(z_dim))}" if arch.latent_shape
                       else f"(batch, z_dim) = (2, {z_dim})")
                )
            x2 = arch.decoder(z)
            if tuple(x2.shape) != tuple(x.shape):
                raise GibbsnetError(
                    f"architecture '{name}': decoder maps z of shape {tuple(z.shape)} to "
                    f"{tuple(x2.shape)}; expected (batch, *x_shape) = {tuple(x.shape)}"
                )
            x, z = (pack_items(t.repeat_interleave(pack, 0), pack) for t in (x, z))
            d = arch.discriminator(x, z)
            if tuple(d.shape) not in ((2,), (2, 1)):
                raise GibbsnetError(
                    f"architecture '{name}': discriminator returns shape {tuple(d.shape)}; "
                    "expected logits of shape (batch,) or (batch, 1)"
                )
    finally:
        for net, mode in zip(nets, modes, strict=True):
            net.train(mode)


__all__ = ["GibbsNet", "check_architecture"]
