"""Batch-norm statistics measured on the unclamped chain (gibbsnet_plugin/calibration.py)."""

from __future__ import annotations

import pytest
import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.calibration import calibrate_batchnorm
from gibbsnet_plugin.chains import GibbsNet


def mlp_model() -> GibbsNet:
    torch.manual_seed(0)
    arch = gn.architectures.build("mlp", (1, 4, 4), 3, hidden=[16], norm="batch", standardize="batch")
    return GibbsNet(arch, (1, 4, 4), 3)


def buffers(model: GibbsNet) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k}


def test_calibration_is_deterministic_and_leaves_rng_modes_and_momenta_alone():
    model = mlp_model().eval()
    torch.manual_seed(42)
    expected = torch.rand(3)
    torch.manual_seed(42)
    assert calibrate_batchnorm(model, chains=32, steps=5, seed=1)
    assert torch.equal(torch.rand(3), expected)
    first = buffers(model)
    calibrate_batchnorm(model, chains=32, steps=5, seed=1)
    assert all(torch.equal(first[k], v) for k, v in buffers(model).items())
    assert not model.training and not any(m.training for m in model.modules())
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))


def test_running_statistics_are_the_chain_average():
    model = mlp_model()
    before = buffers(model)
    calibrate_batchnorm(model, chains=64, steps=3, seed=0)
    after = buffers(model)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # The z standardiser's statistics are the average over the three encoder passes of the chain
    # (x_1, x_2, x_3 encoded).
    standardizer = model.encoder.standardize
    codes = []
    hook = standardizer.register_forward_hook(lambda m, args, out: codes.append(args[0]))
    model.train()
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(0)
        for t, (x, _) in enumerate(model.iterate(model.start(64)), start=1):
            if t == 3:
                model.encoder(x)
                break
    hook.remove()
    mean = torch.stack([c.mean(0) for c in codes]).mean(0)
    assert len(codes) == 3
    assert torch.allclose(after["encoder.standardize.running_mean"], mean, atol=1e-5)


@pytest.mark.parametrize("steps", [1, 3])
def test_every_batch_norm_layer_measures_every_step(steps):
    # One step used to reset the encoder's statistics and never measure them: the chain stopped
    # after the first decoder pass.
    arch = gn.architectures.build("conv8", (1, 8, 8), 4, width=8, norm="batch", standardize="batch")
    model = GibbsNet(arch, (1, 8, 8), 4)
    assert calibrate_batchnorm(model, chains=16, steps=steps, seed=0)
    norms = {name: m for name, m in model.named_modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and "discriminator" not in name}
    assert any(name.startswith("encoder") for name in norms)
    assert {name: int(m.num_batches_tracked) for name, m in norms.items()} == dict.fromkeys(norms, steps)


@pytest.mark.parametrize("kind", ["gibbsnet", "hali"])
def test_latent_hierarchies_measure_every_transition_every_step(kind):
    from conftest import tiny_recipe
    from gibbsnet_plugin.factory import build_model

    model = build_model(tiny_recipe(model={"architecture": "conv8", "z_dim": [6, 4], "kind": kind,
                                           "options": {"width": 8, "norm": "batch",
                                                       "standardize": "batch"}}), (1, 8, 8))
    assert calibrate_batchnorm(model, chains=16, steps=3, seed=0)
    norms = {name: int(m.num_batches_tracked) for name, m in model.named_modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and "discriminator" not in name}
    # The chains start as unclamped chains do and run one step more than a whole number of them
    # where needed, so that every transition sees each of the 3 steps once.
    assert len(norms) > 4
    assert set(norms.values()) == {3}


def test_architectures_without_batch_norm_are_left_alone():
    model = GibbsNet(gn.architectures.build("test_linear", (1, 4, 4), 3), (1, 4, 4), 3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert calibrate_batchnorm(model) is False
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
