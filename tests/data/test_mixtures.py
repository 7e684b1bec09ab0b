"""The 2-D Gaussian mixtures ``grid25`` and ``ring8`` (gibbsnet_plugin/data/mixtures.py)."""

from __future__ import annotations

import math

import pytest
import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.errors import RecipeError
from gibbsnet_plugin.factory import build_dataset
from gibbsnet_plugin.recipe import recipe_from_dict

DEFAULT_STD = {"grid25": 0.05, "ring8": 0.01}
MODES = {"grid25": 25, "ring8": 8}


@pytest.mark.parametrize("name", ["grid25", "ring8"])
def test_items_are_float32_points_with_the_index_of_their_component(name):
    data = gn.datasets.build(name, "unused", train=True, size=500)
    assert len(data) == 500 and data.std == DEFAULT_STD[name]
    assert data.centres.shape == (MODES[name], 2) and data.centres.dtype == torch.float32
    x, y = data[7]
    assert x.shape == (2,) and x.dtype == torch.float32 and isinstance(y, int)
    labels = torch.tensor([data[i][1] for i in range(len(data))])
    assert labels.min() >= 0 and labels.max() < MODES[name]
    assert len(labels.unique()) == MODES[name]  # 500 draws of K equal weights reach every mode
    nearest = torch.cdist(data.x, data.centres).argmin(1)
    assert torch.equal(nearest, labels)  # clusters this tight never overlap


def test_grid25_centres_are_the_papers_grid():
    centres = gn.datasets.build("grid25", "", train=True, size=1).centres
    expected = {(-4.0 + 2 * i, -4.0 + 2 * j) for i in range(5) for j in range(5)}
    assert {tuple(c) for c in centres.tolist()} == expected
    wide = gn.datasets.build("grid25", "", train=True, size=1, spacing=1.0).centres
    assert torch.equal(wide, centres / 2)


def test_ring8_centres_lie_on_the_circle_every_45_degrees():
    centres = gn.datasets.build("ring8", "", train=True, size=1, radius=2.0).centres.double()
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64), atol=1e-6)
    angles = torch.atan2(centres[:, 1], centres[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles, torch.arange(8, dtype=torch.float64) * math.pi / 4, atol=1e-6)


@pytest.mark.parametrize(("name", "std"), [("grid25", None), ("ring8", None), ("grid25", 0.2)])
def test_points_spread_around_their_centre_with_the_configured_std(name, std):
    data = gn.datasets.build(name, "", train=True, size=20_000, std=std)
    expected = DEFAULT_STD[name] if std is None else std
    assert data.std == expected
    offsets = data.x - data.centres[data.y]
    assert offsets.mean(0).abs().max() < 0.05 * expected
    assert offsets.std(0) == pytest.approx([expected, expected], rel=0.03)
    counts = torch.bincount(data.y, minlength=MODES[name]).double()
    assert (counts / len(data) - 1 / MODES[name]).abs().max() < 0.01  # equal weights


@pytest.mark.parametrize("name", ["grid25", "ring8"])
def test_each_split_has_its_own_fixed_seed_and_leaves_the_global_rng_alone(name):
    torch.manual_seed(1)
    state = torch.get_rng_state()
    train = gn.datasets.build(name, "", train=True, size=300)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(2)
    again = gn.datasets.build(name, "", train=True, size=300)
    test = gn.datasets.build(name, "", train=False, size=300)
    assert torch.equal(train.x, again.x) and torch.equal(train.y, again.y)
    assert not torch.equal(train.x, test.x)
    assert torch.equal(gn.datasets.build(name, "", train=False, size=300).x, test.x)


@pytest.mark.parametrize(("name", "options", "message"), [
    ("grid25", {"size": 0}, "size must be at least 1, got 0"),
    ("ring8", {"size": -5}, "size must be at least 1"),
    ("grid25", {"std": 0.0}, "std must be > 0, got 0.0"),
    ("ring8", {"std": -0.1}, "std must be > 0"),
    ("ring8", {"radius": 0}, "radius must be > 0"),
    ("grid25", {"spacing": -1}, "spacing must be > 0"),
])
def test_invalid_options_are_refused_by_name(name, options, message):
    with pytest.raises(ValueError, match=message):
        gn.datasets.build(name, "", train=True, **options)


def test_recipes_pass_options_and_name_a_bad_one():
    raw = {"name": "m", "data": {"dataset": "ring8", "options": {"size": 50, "radius": 3.0}}}
    data = build_dataset(recipe_from_dict(raw), train=False)
    assert len(data) == 50 and data.centres.norm(dim=1).max() == pytest.approx(3.0)
    with pytest.raises(RecipeError, match="data.options.radius: unknown option for dataset 'grid25'"):
        recipe_from_dict({"name": "m", "data": {"dataset": "grid25", "options": {"radius": 2}}})
    bad = recipe_from_dict({"name": "m", "data": {"dataset": "grid25", "options": {"std": -1}}})
    with pytest.raises(RecipeError, match="data.options: dataset 'grid25' refused its options: std"):
        build_dataset(bad, train=True)
