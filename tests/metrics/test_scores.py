"""Reconstruction and inpainting scores (gibbsnet_plugin/metrics/scores.py)."""

from __future__ import annotations

import math

import pytest
import torch

from gibbsnet_plugin import testtime
from gibbsnet_plugin.data.masks import named_mask
from gibbsnet_plugin.metrics.pixels import inpaint_scores, psnr
from gibbsnet_plugin.metrics.scores import (
    imputation_rmse,
    inpainting_scores,
    reconstruction_mse,
    restoration_rmse,
)

pytestmark = pytest.mark.slow


def test_reconstruction_and_inpainting_scores_match_the_test_time_operations(loaded, test_split):
    model, n = loaded.model, len(test_split)
    x = testtime.dataset_images(loaded.recipe, "test", n, model.x_shape)
    expected = testtime.reconstruct(model, x, seed=3).mse
    assert reconstruction_mse(model, test_split, batch_size=n, seed=3) == pytest.approx(expected)

    mask = named_mask("left-half", model.x_shape)
    alone = testtime.inpaint(model, x, mask, steps=3, seed=5).scores
    ours = inpainting_scores(model, test_split, ["left-half", "random-30"], steps=3,
                             batch_size=n, seed=5)
    assert ours["left-half"]["mse"] == pytest.approx(alone["mse"], rel=1e-6)
    assert ours["left-half"]["psnr"] == pytest.approx(alone["psnr"], rel=1e-6)
    assert ours["random-30"]["mse"] != ours["left-half"]["mse"]


def test_inpaint_scores_by_hand():
    original = torch.zeros(2, 1, 2, 2)
    mask = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    filled = original.clone()
    filled[0, ..., 1] = 0.5
    filled[1, ..., 1] = 1.0
    filled[1, ..., 0] = 9.0  # an observed entry: not scored
    scores = inpaint_scores(filled, original, mask)
    assert scores["mse_per_image"] == [0.25, 1.0]
    assert scores["mse"] == pytest.approx(0.625)
    assert scores["psnr_per_image"] == pytest.approx([10 * math.log10(16), 10 * math.log10(4)])
    assert psnr(0.0) == math.inf


def test_imputation_rmse_is_the_rmse_of_the_chain_on_the_missing_entries_only(loaded, test_split):
    from gibbsnet_plugin.data.missing import Masked

    model, n = loaded.model, len(test_split)
    items = Masked(test_split, "random-60", model.x_shape, seed=0, train=False, hide=False)
    x = torch.stack([items[i][0] for i in range(n)])
    mask = torch.stack([items.mask(i) for i in range(n)])
    torch.manual_seed(7)
    filled = model.inpaint(x, mask, 4)
    expected = (filled - x)[mask == 0].pow(2).mean().sqrt().item()
    assert imputation_rmse(model, items, steps=4, batch_size=n, seed=7) == pytest.approx(expected, rel=1e-5)
    torch.manual_seed(7)
    mean = torch.stack([model.inpaint(x, mask, 4) for _ in range(3)]).mean(0)
    averaged = (mean - x)[mask == 0].pow(2).mean().sqrt().item()
    assert imputation_rmse(model, items, steps=4, batch_size=n, seed=7, draws=3) == pytest.approx(
        averaged, rel=1e-5)
    poisoned = Masked(test_split, "random-60", model.x_shape, seed=0, train=False, hide=True)
    assert imputation_rmse(model, poisoned, steps=4, batch_size=n, seed=7) != pytest.approx(expected)


def test_restoration_rmse_compares_dec_enc_of_the_measurement_with_the_clean_image(loaded, test_split):
    model, n = loaded.model, len(test_split)
    x = torch.stack([test_split[i][0] for i in range(n)])

    def halve(t: torch.Tensor) -> torch.Tensor:
        return t / 2

    torch.manual_seed(0)
    with torch.no_grad():
        expected = (model.decoder(model.encoder(x / 2)) - x).pow(2).mean().sqrt().item()
    assert restoration_rmse(model, test_split, halve, batch_size=n) == pytest.approx(expected, rel=1e-5)
    torch.manual_seed(0)
    with torch.no_grad():
        mean = torch.stack([model.decoder(model.encoder(x / 2)) for _ in range(4)]).mean(0)
    assert restoration_rmse(model, test_split, halve, batch_size=n, draws=4) == pytest.approx(
        (mean - x).pow(2).mean().sqrt().item(), rel=1e-5)
