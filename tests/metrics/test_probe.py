"""The linear probe (gibbsnet_plugin/metrics/probe.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gibbsnet_plugin.errors import ProbeError
from gibbsnet_plugin.factory import build_dataset
from gibbsnet_plugin.metrics.probe import balanced_draw, linear_probe

pytestmark = pytest.mark.slow


def test_balanced_draws_take_each_class_equally_and_refuse_too_many():
    y = np.array([0] * 5 + [1] * 4 + [2] * 3)
    index = balanced_draw(y, 7, np.random.default_rng(0))
    assert len(set(index)) == 7 and np.bincount(y[index]).tolist() == [3, 2, 2]
    with pytest.raises(ProbeError, match=r"class 2.*has 3; lower `labels` \(eval\.labels\)$"):
        balanced_draw(y, 12, np.random.default_rng(0))


def test_linear_probe_is_seeded_and_separates_informative_features(loaded, test_split):
    train = build_dataset(loaded.recipe, train=True)
    a = linear_probe(loaded.model, train, test_split, labels=50, draws=3, seed=1)
    b = linear_probe(loaded.model, train, test_split, labels=50, draws=3, seed=1)
    assert a == b and len(a["errors"]) == 3 and 0 < a["error_mean"] < 0.9
    assert a["error_std"] == pytest.approx(np.std(a["errors"]))

    class Pixels(torch.nn.Module):  # an encoder that passes the pixels through: digits separate
        def forward(self, x):
            return x.flatten(1)

    model = loaded.model
    encoder, model.encoder = model.encoder, Pixels()
    try:
        pixels = linear_probe(model, train, test_split, labels=500, draws=2, seed=1)
    finally:
        model.encoder = encoder
    assert pixels["error_mean"] < 0.15 < a["error_mean"]
