"""gibbsnet: GibbsNet, ALI and HALI on PyTorch and pytorch-ignite.

The Python API (see the README)::

    import gibbsnet_plugin as gn
    recipe = gn.load_recipe("recipes/digits.yaml", overrides=["train.iterations=100"])
    run_dir = gn.train(recipe)
    model = gn.load_model(run_dir)
    x = model.sample(64, steps=10)
"""

from gibbsnet_plugin import architectures, data
from gibbsnet_plugin.architectures import Architecture
from gibbsnet_plugin.checkpoint import load_model
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.model import GibbsNet
from gibbsnet_plugin.recipe import Recipe, load_recipe
from gibbsnet_plugin.training import train

datasets = data

__version__ = "0.1.0"

__all__ = [
    "Architecture", "GibbsNet", "GibbsnetError", "Recipe", "architectures", "data", "datasets",
    "load_model", "load_recipe", "train",
]
