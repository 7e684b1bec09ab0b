"""Checking an architecture's networks before a chain model is built from them, for every kind:
one probe of each network with a batch of zeros, and a message naming the network that breaks
the contract of ``Architecture`` or ``Hierarchy`` (see ``architectures.base``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from gibbsnet_plugin.architectures.base import Architecture, Hierarchy
from gibbsnet_plugin.chains.losses import pack_items
from gibbsnet_plugin.errors import GibbsnetError


class _Transition(NamedTuple):
    """A network that computes layer ``layer`` from the layers ``reads`` (0 = x, l = z_l)."""

    role: str
    net: Any
    reads: tuple[int, ...]
    layer: int


def _transitions(networks: Architecture | Hierarchy, levels: int) -> list[_Transition]:
    """The networks besides D, in the order they are probed: each encoder, then its decoder (a
    ``Hierarchy``'s layer by layer, then its conditionals)."""
    if not isinstance(networks, Hierarchy):
        return [_Transition("encoder", getattr(networks, "encoder", None), (0,), 1),
                _Transition("decoder", getattr(networks, "decoder", None), (1,), 0)]
    found = []
    for i in range(levels):
        found += [_Transition(f"encoders[{i}]", networks.encoders[i], (i,), i + 1),
                  _Transition(f"decoders[{i}]", networks.decoders[i], (i + 1,), i)]
    return found + [_Transition(f"conditionals[{i}]", networks.conditionals[i], (i, i + 2), i + 1)
                    for i in range(levels - 1)]


def check_architecture(networks: Architecture | Hierarchy, x_shape: Sequence[int], z_dim: int | list[int],
                       name: str, pack: int = 1) -> None:
    """Probe the networks that architecture ``name`` built for ``z_dim`` (an ``Architecture`` for
    an int, a ``Hierarchy`` for a list) with a batch of 2 zeros in every layer (D: 2 packs of
    ``pack`` states), in eval mode and without autograd, and raise ``GibbsnetError`` naming the
    network and the shape expected on a contract violation."""
    if isinstance(z_dim, list) and not isinstance(networks, Hierarchy):
        raise GibbsnetError(
            f"architecture '{name}' returned {type(networks).__name__}, not a Hierarchy, for the "
            f"list model.z_dim {z_dim}; it supports one latent layer: set model.z_dim to an int")
    levels = len(z_dim) if isinstance(z_dim, list) else 1
    transitions = _transitions(networks, levels)
    discriminator = getattr(networks, "discriminator", None)
    for role, net in [*((t.role, t.net) for t in transitions), ("discriminator", discriminator)]:
        if not isinstance(net, nn.Module):
            raise GibbsnetError(f"architecture '{name}': {role} must be a torch.nn.Module")
    latent = networks.shapes(z_dim) if isinstance(networks, Hierarchy) else [networks.shape(z_dim)]
    if len(latent) != levels:
        raise GibbsnetError(f"architecture '{name}': latent_shapes has {len(latent)} layers; "
                            f"model.z_dim has {levels}")
    shapes = [tuple(x_shape), *latent]
    names = ["x", "z"] if levels == 1 else ["x", *(f"z{i}" for i in range(1, levels + 1))]
    nets: list[nn.Module] = [*(t.net for t in transitions), discriminator]
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        with torch.no_grad():
            layers = [torch.zeros(2, *shape) for shape in shapes]
            for t in transitions:
                out = t.net(*(layers[i] for i in t.reads))
                if tuple(out.shape) != (2, *shapes[t.layer]):
                    given = " and ".join(f"{names[i]} of shape {tuple(layers[i].shape)}" for i in t.reads)
                    raise GibbsnetError(
                        f"architecture '{name}': {t.role} maps {given} to {tuple(out.shape)}; "
                        f"expected (batch, *shape of {names[t.layer]}) = {(2, *shapes[t.layer])}")
            x, *zs = (pack_items(t.repeat_interleave(pack, 0), pack) for t in layers)
            d = discriminator(x, zs if isinstance(networks, Hierarchy) else zs[0])
            if tuple(d.shape) not in ((2,), (2, 1)):
                raise GibbsnetError(f"architecture '{name}': discriminator returns shape "
                                    f"{tuple(d.shape)}; expected logits of shape (batch,) or (batch, 1)")
    finally:
        for net, mode in zip(nets, modes, strict=True):
            net.train(mode)


__all__ = ["check_architecture"]
