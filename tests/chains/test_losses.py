"""The losses every chain model owns (gibbsnet_plugin/chains/losses.py), for every kind."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_recipe
from gibbsnet_plugin.factory import build_model

SHAPE = (1, 8, 8)
KINDS = {"gibbsnet": {}, "deep": {"z_dim": [8, 4]}, "hali": {"z_dim": [8, 4], "kind": "hali"}}


def twin_models(kind: str, **settings: object):
    """The model of ``kind`` without and with ``settings``, with the same weights."""
    models = []
    for chosen in ({}, settings):
        torch.manual_seed(0)
        models.append(build_model(tiny_recipe(model={**KINDS[kind], **chosen}), SHAPE))
    assert all(torch.equal(a, b) for a, b in zip(models[0].state_dict().values(),
                                                 models[1].state_dict().values(), strict=True))
    return models


@pytest.mark.parametrize("kind", KINDS)
def test_x_consistency_adds_its_weight_times_the_reconstruction_error_to_the_generator_loss(kind):
    plain, weighted = twin_models(kind, x_consistency=3.0)
    torch.manual_seed(1)
    x = torch.rand(16, *SHAPE) * 2 - 1
    mask = (torch.rand(16, *SHAPE) > 0.3).float()
    with torch.no_grad():
        real, fake = plain.clamped(x), plain.unclamped(16)
    torch.manual_seed(2)
    loss = weighted.generator_loss(real, fake, x=x, mask=mask, fill_steps=2).loss
    torch.manual_seed(2)  # the adversarial part draws nothing: the error sees the same noise
    base = plain.generator_loss(real, fake, x=x, mask=mask, fill_steps=2).loss
    error = plain.reconstruction_error(x, mask, steps=2)
    assert error > 0
    assert torch.allclose(loss, base + 3.0 * error, rtol=1e-6)
    loss.backward()  # the term trains the x update: the decoder that gives x gets its gradient
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in weighted.decoder.parameters())


def test_the_generator_loss_refuses_to_drop_x_consistency_without_the_batch():
    _, weighted = twin_models("gibbsnet", x_consistency=1.0)
    real, fake = weighted.clamped(torch.zeros(4, *SHAPE)), weighted.unclamped(4)
    with pytest.raises(ValueError, match="x_consistency needs the batch x"):
        weighted.generator_loss(real, fake)
