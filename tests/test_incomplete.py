"""Training pairs for incomplete and corrupted data: the chain never changes an observed entry,
hidden values are never read (NaN-poisoned data train exactly like zero-poisoned), and each
method shows D what it says."""

from __future__ import annotations

import math

import pytest
import torch

import gibbsnet_plugin as gn
from conftest import Poisoned, tiny_recipe
from gibbsnet_plugin.factory import build_model
from gibbsnet_plugin.incomplete import chain_fill, training_pairs, zero_fill
from gibbsnet_plugin.recipe import recipe_from_dict

SHAPE = (1, 8, 8)


def model_and_batch(poison: float = math.nan, **model: object):
    torch.manual_seed(0)
    recipe = tiny_recipe(model=dict(model))
    net = build_model(recipe, SHAPE)
    batch = [Poisoned(poison, False)[i] for i in range(16)]
    x, mask = torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch])
    return net, x, mask


@pytest.mark.parametrize("model", [{}, {"z_dim": [8, 4]}, {"z_dim": [8, 4], "kind": "hali"}],
                         ids=["gibbsnet", "deep", "hali"])
def test_the_chain_never_changes_an_observed_entry(model):
    net, x, mask = model_and_batch(**model)
    for steps in (1, 5, 30):
        filled = chain_fill(net, x, mask, steps)
        assert torch.equal(filled[mask == 1], x[mask == 1])
        assert torch.isfinite(filled).all() and bool((filled[mask == 0] != 0).any())
    real, _ = training_pairs(net, x, mask, "chain", 5)
    assert torch.equal(real[0][mask == 1], x[mask == 1])


@pytest.mark.parametrize("method", ["chain", "chain-ambient", "ambient", "zero-fill"])
def test_nan_in_hidden_entries_reaches_no_pair_and_no_gradient(method):
    net, x, mask = model_and_batch()
    assert torch.isnan(x).any()
    real, fake = training_pairs(net, x, mask, method, 3)
    assert all(torch.isfinite(t).all() for t in (*real, *fake))
    loss = net.generator_loss(real, fake).loss + net.discriminator_loss(real, fake).loss
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_zero_fill_and_ambient_show_zeros_where_entries_are_missing():
    net, x, mask = model_and_batch()
    real, fake = training_pairs(net, x, mask, "zero-fill")
    assert bool((real[0][mask == 0] == 0).all()) and torch.equal(real[0][mask == 1], x[mask == 1])
    assert bool((fake[0] != 0).all())
    real, fake = training_pairs(net, x, mask, "ambient")
    assert torch.equal(real[0], zero_fill(x, mask))
    shown = sorted(map(tuple, (fake[0] != 0).flatten(1).int().tolist()))
    assert shown == sorted(map(tuple, mask.flatten(1).int().tolist()))  # the batch's masks, permuted


def test_chain_ambient_encodes_the_filled_x_and_shows_d_only_observed_entries():
    net, x, mask = model_and_batch()
    torch.manual_seed(2)
    real, fake = training_pairs(net, x, mask, "chain-ambient", 3)
    torch.manual_seed(2)
    expected = net.clamped(chain_fill(net, x, mask, 3))
    assert torch.equal(real[0], zero_fill(x, mask)) and torch.allclose(real[1], expected[1])
    assert (fake[0] == 0).float().mean().item() == pytest.approx(0.7, abs=0.01)


def test_ambient_masks_every_state_shown_to_d():
    net, x, mask = model_and_batch(critic_states=2)
    _, fake = training_pairs(net, x, mask, "ambient")
    assert fake[0].shape[0] == 32
    assert (fake[0] == 0).float().mean().item() == pytest.approx(0.7, abs=0.01)


def test_a_corruption_shows_d_the_measurement_of_the_models_x():
    recipe = tiny_recipe(data={"corruption": {"name": "downsample", "options": {"factor": 4}}})
    net = build_model(recipe, SHAPE)
    real, fake = training_pairs(net, torch.zeros(8, *SHAPE))
    blocks = fake[0].unfold(2, 4, 4).unfold(3, 4, 4)
    assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks))
    assert fake[0].std() > 0
    direct = build_model(tiny_recipe(data=recipe.data.__dict__ | {"corruption": {}},
                                     train={"corruption": "direct"}), SHAPE)
    assert direct.corruption is None


@pytest.mark.parametrize("method", ["chain", "chain-ambient", "ambient", "zero-fill"])
def test_training_never_reads_hidden_values(method, tmp_path):
    weights = []
    for poison in (math.nan, 0.0, 123.0):
        recipe = tiny_recipe(data={"dataset": "test_poisoned", "options": {"poison": poison}},
                             train={"missing": method, "missing_steps": 2})
        out = gn.train(recipe, out=tmp_path / f"{poison}")
        weights.append(torch.load(out / "checkpoints" / "last.pt", weights_only=True)["model"])
    for key, value in weights[0].items():
        assert torch.isfinite(value.float()).all(), key
        assert torch.equal(value, weights[1][key]) and torch.equal(value, weights[2][key]), key


@pytest.mark.parametrize("kind", ["gibbsnet", "hali"])
def test_latent_hierarchies_train_on_incomplete_data_and_impute(kind, tmp_path):
    from gibbsnet_plugin.evaluation import evaluate_model

    recipe = tiny_recipe(data={"missing": "window-4"}, model={"z_dim": [8, 4], "kind": kind},
                         train={"missing_steps": 2})
    model = gn.load_model(gn.train(recipe, out=tmp_path / kind), device="cpu")
    scores = evaluate_model(model, recipe, ["imputation"], inpaint_steps=2)["scores"]
    assert 0 < scores["imputation_rmse"] < 2


def test_imputation_during_training_keeps_the_best_checkpoint(tmp_path):
    import json

    recipe = tiny_recipe(data={"missing": "random-50"}, train={"missing_steps": 2})
    recipe = recipe_from_dict({**recipe.to_dict(), "eval": {
        "metrics": ["imputation"], "every": 6, "best": "imputation_rmse", "inpaint_steps": 2}})
    out = gn.train(recipe, out=tmp_path / "run")
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in logged if "eval/imputation_rmse" in row] == [6, 12]
    assert (out / "checkpoints" / "best.pt").exists()


def test_the_moving_average_model_keeps_the_corruption(tmp_path):
    from gibbsnet_plugin.training import setup

    recipe = tiny_recipe(data={"corruption": {"name": "noise"}}, train={"ema": 0.01})
    s = setup(recipe)
    assert s.shown is not s.model and s.shown.corruption is s.model.corruption is not None


def test_sample_quality_of_a_model_trained_on_incomplete_data_is_scored_against_complete_images(
        tmp_path, hub):
    from gibbsnet_plugin.evaluation import evaluate_model

    recipe = tiny_recipe(data={"missing": "random-80"}, train={"missing_steps": 2})
    model = gn.load_model(gn.train(recipe, out=tmp_path / "run"), device="cpu")
    options = dict(num_samples=10, fid_dims=64, inception_weights=hub, fid_cache=tmp_path / "c")
    masked = evaluate_model(model, recipe, ["fid"], **options)["details"]["fid"]
    complete = evaluate_model(model, tiny_recipe(), ["fid"], **options)["details"]["fid"]
    assert masked["fid"] == pytest.approx(complete["fid"]) and masked["fid"] > 0
    assert complete["reference"]["cached"]  # the same complete-image statistics
