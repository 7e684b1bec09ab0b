"""The chain family: one base (``ChainModel``, in ``base``) that samples, inpaints and
reconstructs and owns the losses (``losses``), the settings every kind takes (``ChainSettings``,
in ``settings``), the probe of an architecture's networks (``probe``), and one module per kind
supplying its start, transition and clamped side:

- ``gibbsnet``: one latent layer (``GibbsNet``; ALI with ``chain_steps: 1``) or a hierarchy
  (``DeepGibbsNet``), by the recipe's ``z_dim`` (an int or a list);
- ``hali``: a directed hierarchy (``HALI``).

``corrected`` runs any kind's chains with Metropolis-Hastings independence moves that the
trained discriminator accepts or rejects (``corrected_states``).

A kind is registered by name, like an architecture; a third-party package adds one through the
``gibbsnet.chains`` entry-point group. A kind's factory is
``build(networks, x_shape, z_dim, **settings) -> ChainModel``: ``networks`` is what the
architecture built (an ``Architecture``, or a ``Hierarchy`` for a list ``z_dim``); ``settings``
are keyword arguments for ``ChainModel``: ``config`` (the ``ChainSettings``), ``corruption``,
plus ``clamped_steps`` when the recipe sets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gibbsnet_plugin.architectures import Architecture, Hierarchy
from gibbsnet_plugin.chains.base import (
    MODES,
    Block,
    ChainModel,
    ChainStates,
    PersistentChains,
    State,
    StepCallback,
    Update,
    mode_layers,
)
from gibbsnet_plugin.chains.corrected import CorrectedStates, check_corrected, corrected_states
from gibbsnet_plugin.chains.hierarchy import HALI, DeepGibbsNet, LatentHierarchy
from gibbsnet_plugin.chains.losses import LossOutput, instance_noise_std, pack_items
from gibbsnet_plugin.chains.one_layer import GibbsNet
from gibbsnet_plugin.chains.probe import check_architecture
from gibbsnet_plugin.chains.settings import ChainSettings
from gibbsnet_plugin.registry import CHAINS

names = CHAINS.names
get = CHAINS.get
build = CHAINS.build
entries = CHAINS.entries
register = CHAINS.register


@register("gibbsnet")
def build_gibbsnet(networks: Architecture | Hierarchy, x_shape: Sequence[int], z_dim: int | list[int],
                   **settings: Any) -> ChainModel:
    """One-layer GibbsNet (ALI with ``chain_steps=1``) for an int ``z_dim``, else a deep GibbsNet."""
    if isinstance(z_dim, list):
        return DeepGibbsNet(networks, tuple(x_shape), z_dim, **settings)  # type: ignore[arg-type]
    if settings.pop("clamped_steps", None) is not None:
        raise ValueError("clamped_steps is for latent hierarchies: one layer's clamped chain is "
                         "one encoder pass")
    return GibbsNet(networks, tuple(x_shape), z_dim, **settings)  # type: ignore[arg-type]


@register("hali")
def build_hali(networks: Architecture | Hierarchy, x_shape: Sequence[int], z_dim: int | list[int],
               **settings: Any) -> ChainModel:
    """HALI over the latent layers ``z_dim`` (a list of at least 2)."""
    if not isinstance(z_dim, list):
        raise ValueError("hali needs at least 2 latent layers, e.g. z_dim [32, 16] (with one it is "
                         "ALI: kind gibbsnet with chain_steps 1)")
    if settings.pop("clamped_steps", None) is not None:
        raise ValueError("clamped_steps: hali has no clamped chain (one pass up)")
    return HALI(networks, tuple(x_shape), z_dim, **settings)  # type: ignore[arg-type]


__all__ = ["HALI", "MODES", "Block", "ChainModel", "ChainSettings", "ChainStates", "CorrectedStates",
           "DeepGibbsNet", "GibbsNet", "LatentHierarchy", "LossOutput", "PersistentChains", "State",
           "StepCallback", "Update", "build", "check_architecture", "check_corrected",
           "corrected_states", "entries", "get", "instance_noise_std", "mode_layers", "names",
           "pack_items", "register"]
