"""gibbsnet: GibbsNet, ALI and HALI on PyTorch and pytorch-ignite."""

from gibbsnet_plugin import data

datasets = data

__all__ = ["data", "datasets"]
