"""Reconstruction and inpainting scores (gibbsnet_plugin/metrics/scores.py)."""

from __future__ import annotations

import math

import pytest
import torch

from gibbsnet_plugin import testtime
from gibbsnet_plugin.data.masks import named_mask
from gibbsnet_plugin.metrics.scores import inpaint_scores, inpainting_scores, psnr, reconstruction_mse

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
