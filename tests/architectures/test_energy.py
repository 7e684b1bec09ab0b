"""The ``energy`` architecture: both transitions are Langevin steps on one learned energy."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.architectures.energy import Langevin
from gibbsnet_plugin.engines.trainer import update
from gibbsnet_plugin.factory import build_model, build_optimizers


def energy_recipe(**options):
    return tiny_recipe(data={"dataset": "digits", "batch_size": 32},
                       model={"architecture": "energy", "z_dim": 4, "chain_steps": 2,
                              "options": {"hidden": [16], "steps": 3, "critic_hidden": 16, **options}})


class Quadratic(nn.Module):
    """E(x, z) = |z - 2 x[:, :2]|^2 / (2 s^2): q(z|x) is N(2 x[:, :2], s^2 I) and
    p(x|z) puts x[:, :2] at z / 2 with std s / 2."""

    def __init__(self, s: float) -> None:
        super().__init__()
        self.s = s

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return ((z - 2 * x.flatten(1)[:, :2]) ** 2).sum(1) / (2 * self.s ** 2)


def test_langevin_steps_sample_the_conditional_of_the_energy():  # noise scale 1: exact Langevin
    torch.manual_seed(0)
    s = 0.5
    x = torch.tensor([[0.3, -0.2, 0.9]]).repeat(4000, 1)
    z = Langevin(Quadratic(s), "z", (2,), steps=600, step_size=0.005)(x).detach()
    assert z.mean(0).tolist() == pytest.approx([0.6, -0.4], abs=0.03)
    assert z.std(0).tolist() == pytest.approx([s, s], rel=0.05)
    cold = Langevin(Quadratic(s), "z", (2,), steps=600, step_size=0.005, noise=0.5)
    assert cold(x).std(0).tolist() == pytest.approx([s / 2, s / 2], rel=0.05)  # exp(-E / (1/2)^2)
    # x given z: the first two coordinates at z / 2 (std s / 2), the third left to its N(0, 1) start
    zs = torch.tensor([[0.8, -1.0]]).repeat(4000, 1)
    xs = Langevin(Quadratic(s), "x", (3,), steps=600, step_size=0.001, bounds=(-1, 1))(zs).detach()
    assert xs[:, :2].mean(0).tolist() == pytest.approx([0.4, -0.5], abs=0.03)
    assert xs[:, :2].std(0).tolist() == pytest.approx([s / 2, s / 2], rel=0.1)
    assert xs.min() >= -1 and xs.max() <= 1  # images stay in [-1, 1]


def test_encoder_and_decoder_hold_one_energy_and_training_reaches_it(tmp_path):
    recipe = energy_recipe()
    model = build_model(recipe, (1, 8, 8))
    assert model.encoder.energy is model.decoder.energy
    opt_d, opt_g = build_optimizers(model, recipe)
    before = [p.detach().clone() for p in model.encoder.energy.parameters()]
    scalars = [m.log_step.item() for m in (model.encoder, model.decoder)] + \
        [m.log_noise.item() for m in (model.encoder, model.decoder)]
    x = gn.datasets.build("digits", "", train=True).tensors[0][:32]
    update(model, opt_d, opt_g, x)
    after = list(model.encoder.energy.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    trained = [m.log_step.item() for m in (model.encoder, model.decoder)] + \
        [m.log_noise.item() for m in (model.encoder, model.decoder)]
    assert all(a != b for a, b in zip(scalars, trained, strict=True))  # step sizes and noise scales
    run = gn.train(recipe, out=tmp_path / "run")
    loaded = gn.load_model(run)
    assert loaded.encoder.energy is loaded.decoder.energy


def test_linear_output_leaves_x_unbounded():
    torch.manual_seed(0)
    arch = gn.architectures.build("energy", (2,), 2, hidden=[8], steps=2, step_size=1.0, output="linear")
    assert arch.decoder(torch.randn(500, 2)).abs().max() > 1


def test_sampling_without_gradients_keeps_no_graph():
    arch = gn.architectures.build("energy", (1, 8, 8), 4, hidden=[16], steps=3)
    with torch.no_grad():
        x = arch.decoder(torch.randn(5, 4))
    assert x.shape == (5, 1, 8, 8) and not x.requires_grad
    assert all(p.grad is None for p in arch.decoder.parameters())
    z = arch.encoder(x)  # with gradients: the steps keep their graph to the energy's weights
    z.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in arch.encoder.energy.parameters())


def test_bad_options_are_refused_with_what_to_do(tmp_path):
    build = gn.architectures.build
    with pytest.raises(ValueError, match="give z_dim as one number"):
        build("energy", (1, 8, 8), [4, 2])
    with pytest.raises(ValueError, match="steps must be between 1 and 1000, got 0"):
        build("energy", (1, 8, 8), 4, steps=0)
    with pytest.raises(ValueError, match="step_size must be > 0"):
        build("energy", (1, 8, 8), 4, step_size=0.0)
    with pytest.raises(ValueError, match="noise must be > 0"):
        build("energy", (1, 8, 8), 4, noise=-1.0)
    with pytest.raises(ValueError, match="output must be one of tanh, clip, linear"):
        build("energy", (1, 8, 8), 4, output="sigmoid")
    with pytest.raises(ValueError, match="widths between 1 and"):
        build("energy", (1, 8, 8), 4, hidden=[])
    with pytest.raises(gn.GibbsnetError, match="architecture .energy. refused: steps must be"):
        gn.train(energy_recipe(steps=-1), out=tmp_path / "run")
