"""gibbsnet: GibbsNet, ALI and HALI on PyTorch and pytorch-ignite.

The Python API (see the README)::

    import gibbsnet_plugin as gn
    recipe = gn.load_recipe("recipes/digits.yaml", overrides=["train.iterations=100"])
    run_dir = gn.train(recipe)
    model = gn.load_model(run_dir)
    x = model.sample(64, steps=10)

Names are imported on first use, so ``import gibbsnet_plugin`` (and ``gibbsnet --help``) stays
fast and does not load PyTorch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Architecture": "gibbsnet_plugin.architectures",
    "GibbsNet": "gibbsnet_plugin.model",
    "GibbsnetError": "gibbsnet_plugin.errors",
    "Recipe": "gibbsnet_plugin.recipe",
    "load_recipe": "gibbsnet_plugin.recipe",
    "load_model": "gibbsnet_plugin.checkpoint",
    "train": "gibbsnet_plugin.training",
}
_MODULES = {"architectures": "gibbsnet_plugin.architectures", "data": "gibbsnet_plugin.data",
            "datasets": "gibbsnet_plugin.data", "testtime": "gibbsnet_plugin.testtime"}

__all__ = sorted([*_LAZY, *_MODULES])

if TYPE_CHECKING:
    from gibbsnet_plugin import architectures, data, testtime
    from gibbsnet_plugin import data as datasets
    from gibbsnet_plugin.architectures import Architecture
    from gibbsnet_plugin.checkpoint import load_model
    from gibbsnet_plugin.errors import GibbsnetError
    from gibbsnet_plugin.model import GibbsNet
    from gibbsnet_plugin.recipe import Recipe, load_recipe
    from gibbsnet_plugin.training import train


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gibbsnet_plugin' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
