"""GibbsNet with one latent layer, and ALI as its one-step case.

Unclamped chain of N steps: ``z0 ~ N(0, I)``, ``x1 = dec(z0)``, then for t = 2..N
``z(t-1) = enc(x(t-1))``, ``x(t) = dec(z(t-1))``; the state shown to D is ``(x_N, z_(N-1))``, so
N = 1 is exactly ALI's ``(dec(z0), z0)``. The clamped chain is ``(x, enc(x))`` for data x. The
rest (training chain, sampling, partially clamped chains, losses) is ``ChainModel``'s.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gibbsnet_plugin.architectures import Architecture
from gibbsnet_plugin.chains.base import Block, ChainModel, State, Update


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


__all__ = ["GibbsNet"]
