"""What a recipe builds (gibbsnet_plugin/factory.py): checks made before any network exists."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_recipe
from gibbsnet_plugin import limits
from gibbsnet_plugin.errors import GibbsnetError, RecipeError
from gibbsnet_plugin.factory import build_model


def test_networks_too_large_for_the_machine_are_refused_before_allocation(monkeypatch):
    monkeypatch.setattr(limits, "memory_bytes", lambda device=None: 2**20)  # a 1 MiB machine
    recipe = tiny_recipe(model={"options": {"hidden": [4096]}})
    with pytest.raises(GibbsnetError, match=r"model.architecture 'mlp' with these sizes "
                       r"\([\d,]+ parameters\) needs at least [\d.]+ GiB .* this machine has 0\.0 "
                       r"GiB; lower model.z_dim or the sizes in model.options"):
        build_model(recipe, (1, 8, 8))


def test_a_model_that_fits_is_built():
    model = build_model(tiny_recipe(), (1, 8, 8))
    assert model.z_dim == 8


@pytest.mark.parametrize("options", [{}, {"norm": "none"}])
def test_batches_of_one_are_refused_where_the_model_normalises_over_the_batch(options):
    recipe = tiny_recipe(data={"batch_size": 1}, model={"options": {"hidden": [32], **options}})
    with pytest.raises(RecipeError, match=r"^data.batch_size: 1 does not work with this model "
                       r"\(architecture 'mlp' normalises over the batch"):
        build_model(recipe, (1, 8, 8))


def test_batches_of_one_work_without_batch_statistics():
    recipe = tiny_recipe(data={"batch_size": 1},
                         model={"options": {"hidden": [32], "norm": "none", "standardize": False}})
    model = build_model(recipe, (1, 8, 8))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    real, fake = model.clamped(torch.rand(1, 1, 8, 8) * 2 - 1), model.unclamped(1)  # train mode
    loss = model.discriminator_loss(real, fake).loss + model.generator_loss(real, fake).loss
    assert torch.isfinite(loss)


def test_a_width_of_zero_is_refused_by_name():
    recipe = tiny_recipe(model={"architecture": "conv8", "options": {"width": 0}})
    with pytest.raises(RecipeError, match="model.options: architecture 'conv8' refused: width must "
                       "be between 1 and 65,536, got 0"):
        build_model(recipe, (1, 8, 8))


def test_softmax_categories_are_refused_for_data_that_is_not_a_table():
    recipe = tiny_recipe(model={"categories": "softmax"})
    with pytest.raises(RecipeError, match=r"^model.categories: 'softmax' draws the text columns of "
                       r"a table; this data set is not a table \(use 'code'\)$"):
        build_model(recipe, (1, 8, 8))
