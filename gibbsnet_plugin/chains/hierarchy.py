"""Latent hierarchies x - z1 - ... - zL: deep GibbsNet (undirected) and HALI (directed).

A state is a tuple ``(x, z1, ..., zL)``: x of shape (B, *x_shape), z_l of shape (B, *shape of
layer l) (vectors, or a feature map for a spatial z1). Both kinds take their networks from a
``Hierarchy`` (see ``architectures.base``); D sees the whole tuple.

- ``DeepGibbsNet``: each layer has one transition given its neighbours (x from z1, a middle
  layer from the layers below and above, the top layer from the one below). One chain step is a
  blocked Gibbs sweep: the odd layers (z1, z3, ...) from the even ones, then the even layers (x,
  z2, ...) from the new odd ones. The unclamped chain starts every layer from N(0, I) noise and
  runs ``chain_steps`` sweeps; the clamped chain holds x at the data and sweeps the latents
  ``clamped_steps`` times (default ``chain_steps``) from noise. The same transitions serve both
  chains.
- ``HALI``: inference q(z1|x) q(z2|z1) ..., generation p(zL) = N(0, I), p(z_(L-1)|zL), ...,
  p(x|z1); training uses one pass each way. At test time a chain of N steps is the pass down
  from the prior followed by N - 1 cycles of a pass up to zL and a pass down.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from gibbsnet_plugin.architectures.base import Hierarchy
from gibbsnet_plugin.chains.base import Block, ChainModel, State, Update


class LatentHierarchy(ChainModel):
    """What both hierarchies share: the networks of a ``Hierarchy``, x decoded from z1, and D on
    the tuple. ``encoder`` and ``decoder`` hold the networks the encoder/decoder optimizer trains,
    so training, EMA and checkpoints treat every kind alike."""

    def __init__(self, networks: Hierarchy, x_shape: tuple[int, ...], z_dims: Sequence[int],
                 corruption: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 **settings: object) -> None:
        z_dims = list(z_dims)
        if len(z_dims) < 2:
            raise ValueError(f"a hierarchy needs at least 2 latent layers, got {z_dims}")
        levels = len(z_dims)
        for name, nets, count in (("encoders", networks.encoders, levels),
                                  ("decoders", networks.decoders, levels),
                                  ("conditionals", networks.conditionals, levels - 1)):
            if len(nets) != count:
                raise ValueError(f"the hierarchy has {len(nets)} {name}; {levels} layers need {count}")
        super().__init__(x_shape, networks.shapes(z_dims), corruption=corruption, **settings)  # type: ignore[arg-type]
        self.z_dim = z_dims
        self.discriminator = networks.discriminator

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x from z1 (B, *shape of z1): one pass of the x transition (HALI: p(x|z1))."""
        return self.decoder[0](z)

    def critique(self, x: torch.Tensor, zs: list[torch.Tensor]) -> torch.Tensor:
        return self.discriminator(x, zs)


class DeepGibbsNet(LatentHierarchy):
    """A deep GibbsNet (see the module docstring); ``clamped_steps`` sweeps in the clamped chain
    (None: ``chain_steps``)."""

    kind = "gibbsnet"
    first_block = 0

    def __init__(self, networks: Hierarchy, x_shape: tuple[int, ...], z_dims: Sequence[int],
                 clamped_steps: int | None = None, **settings: object) -> None:
        super().__init__(networks, x_shape, z_dims, **settings)
        self.start_layers = tuple(range(self.levels + 1))  # type: ignore[misc]
        self.clamped_steps = clamped_steps or self.chain_steps
        self.encoder = nn.ModuleList([*networks.conditionals, networks.encoders[-1]])
        self.decoder = nn.ModuleList([networks.decoders[0]])

    def settings(self) -> dict[str, object]:
        return {"clamped_steps": self.clamped_steps}

    def _update(self, layer: int) -> Update:
        top = self.levels
        if layer == 0:
            return Update(0, lambda s: self.decoder[0](s[1]), (1,))
        if layer == top:
            return Update(top, lambda s: self.encoder[-1](s[top - 1]), (top - 1,))
        net = self.encoder[layer - 1]
        return Update(layer, lambda s: net(s[layer - 1], s[layer + 1]), (layer - 1, layer + 1))

    def schedule(self) -> list[Block]:
        return [tuple(self._update(i) for i in range(parity, self.levels + 1, 2)) for parity in (1, 0)]

    def enter(self, zs: State) -> State:
        """Chains from given latents start with x decoded from z1 and the latents as given."""
        return (self.decode(zs[0]), *zs)

    def clamped(self, x: torch.Tensor) -> State:
        """x and its latents: ``clamped_steps`` sweeps of the latents from noise with x held,
        gradient through the last ``backprop_steps`` of them."""
        state = (x, *self.noise(x.shape[0], range(1, self.levels + 1))[1:])
        blocks = self.schedule()
        grad = torch.is_grad_enabled()
        for t in range(1, self.clamped_steps + 1):
            with torch.set_grad_enabled(grad and t > self.clamped_steps - self.backprop_steps):
                state = self._run_blocks(state, blocks, clamp=(0,), measured=True)
        return state

    def decode_level(self, z: torch.Tensor, level: int = 1) -> torch.Tensor:
        """x from layer ``level`` alone: z1 decoded (level 1), or z_level held at z while the
        other layers run ``clamped_steps`` sweeps from noise, then x."""
        self.check_level(level)
        z = z.reshape(z.shape[0], *self.latent_shapes[level - 1])  # features are flattened
        with torch.no_grad():
            if level == 1:
                return self.decode(z)
            return self.run_chain(z.shape[0], [self.clamped_steps], clamp={level: z}).layers[0][:, 0]


class HALI(LatentHierarchy):
    """HALI, a directed hierarchy (see the module docstring)."""

    kind = "hali"
    one_step_training = True

    def __init__(self, networks: Hierarchy, x_shape: tuple[int, ...], z_dims: Sequence[int],
                 **settings: object) -> None:
        super().__init__(networks, x_shape, z_dims, **settings)
        self.start_layers = (self.levels,)  # type: ignore[misc]
        self.first_block = self.levels  # type: ignore[misc]
        self.encoder = nn.ModuleList(networks.encoders)
        self.decoder = nn.ModuleList(networks.decoders)

    def _up(self, layer: int) -> Update:
        net = self.encoder[layer - 1]
        return Update(layer, lambda s: net(s[layer - 1]), (layer - 1,))

    def _down(self, layer: int) -> Update:
        net = self.decoder[layer]
        return Update(layer, lambda s: net(s[layer + 1]), (layer + 1,))

    def schedule(self) -> list[Block]:
        """A pass up from x to zL, then down to x: one update per block."""
        return [*((self._up(i),) for i in range(1, self.levels + 1)),
                *((self._down(i),) for i in range(self.levels - 1, -1, -1))]

    def clamped(self, x: torch.Tensor) -> State:
        """x and its latents by one pass up."""
        return self._run_blocks((x, *self.noise(x.shape[0], ())[1:]), self.schedule()[:self.levels],
                                measured=True)

    def decode_level(self, z: torch.Tensor, level: int = 1) -> torch.Tensor:
        """x by the pass down from z_level (z of its shape, or flattened)."""
        self.check_level(level)
        z = z.reshape(z.shape[0], *self.latent_shapes[level - 1])
        state = [torch.empty(0, device=z.device)] * level + [z]
        with torch.no_grad():
            for i in range(level - 1, -1, -1):
                state[i] = self.decoder[i](state[i + 1])
        return state[0]


__all__ = ["HALI", "DeepGibbsNet", "LatentHierarchy"]
