"""Batch-norm statistics measured on the unclamped chain (gibbsnet_plugin/calibration.py)."""

from __future__ import annotations

import pytest
import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.architectures.norms import SLOTS, ChainBatchNorm, slot
from gibbsnet_plugin.calibration import (
    TRAINED_REPEATS,
    calibrate_batchnorm,
    calibration_steps,
    is_calibrated,
)
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


def step_norms(model) -> dict[str, ChainBatchNorm]:
    return {name: m for name, m in model.named_modules() if isinstance(m, ChainBatchNorm)}


def test_training_measures_the_steps_it_runs_and_the_end_of_training_the_long_run(tmp_path):
    from conftest import tiny_recipe

    # conv8's decoder runs at every step 1..N of the training chain, its encoder at 2..N
    recipe = tiny_recipe(model={"architecture": "conv8", "z_dim": 4, "chain_steps": 3,
                                "options": {"width": 8}},
                         train={"iterations": 6, "checkpoint_every": 3, "sample_every": 0,
                                "calibration_steps": 40, "calibration_chains": 8})
    run = gn.train(recipe, out=tmp_path / "run")
    middle = torch.load(run / "checkpoints" / "step_0000003.pt", weights_only=True)["model"]
    decoder = next(k.removesuffix(".step_count") for k in middle
                   if k.startswith("decoder") and k.endswith("step_count"))
    # after 3 iterations, only the 3 trained steps are measured: 3 batches each
    assert middle[decoder + ".step_count"].tolist() == [3, 3, 3] + [0] * (SLOTS - 3)
    model = gn.load_model(run / "checkpoints" / "last.pt")
    for name, norm in step_norms(model).items():
        counts = norm.step_count.tolist()
        # at the end, on the final weights: the trained steps over 8 batches of chains (the
        # encoder also encodes step 3's x 8 times, as step 4 would), steps 4..40 over one chain
        # each (and the encoder step 40's x, as step 41 would)
        expected = ([8, 8, 8, 1, 1, 1, 1, 1, 8, 16, 8] if name.startswith("decoder")
                    else [0, 8, 8, 8, 1, 1, 1, 1, 8, 16, 9])
        assert counts[:slot(40) + 1] == expected, name
        assert counts[slot(40) + 1:] == [0] * (SLOTS - slot(40) - 1)
    assert TRAINED_REPEATS == 8
    assert is_calibrated(model, 40) and not is_calibrated(model, 80)


def test_the_trained_steps_are_measured_on_the_final_weights_over_several_batches():
    from conftest import tiny_recipe
    from gibbsnet_plugin.factory import build_model

    recipe = tiny_recipe(model={"architecture": "conv8", "z_dim": 4, "options": {"width": 8}})
    model, single = (build_model(recipe, (1, 8, 8)) for _ in range(2))
    single.load_state_dict(model.state_dict())
    calibrate_batchnorm(model, chains=16, steps=6, seed=0, trained=2)
    calibrate_batchnorm(single, chains=16, steps=6, seed=0)
    for (name, m), one in zip(step_norms(model).items(), step_norms(single).values(), strict=True):
        decoder = name.startswith("decoder")
        assert m.step_count[:6].tolist() == ([8, 8, 1, 1, 1, 1] if decoder else [0, 8, 8, 1, 1, 1])
        assert one.step_count[:6].tolist() == ([1, 1, 1, 1, 1, 1] if decoder else [0, 1, 1, 1, 1, 1])
        # the same first batch, then 7 more: an average that differs from the first batch's
        assert not torch.allclose(m.step_mean[1], one.step_mean[1])


def test_a_short_run_measures_no_more_chain_states_than_it_trained():
    assert calibration_steps(1000, 64, 3000 * 100 * 3, trained=3) == 1000
    # 3000 chain states over 64 chains: 46 steps, 21 of them the trained steps' 7 extra batches
    assert calibration_steps(1000, 64, 10 * 100 * 3, trained=3) == 25
    assert calibration_steps(1000, 64, 10 * 100 * 3) == 46
    assert calibration_steps(1000, 64, 1 * 2 * 1, trained=1) == 1


def test_a_checkpoint_saved_before_training_ended_is_measured_when_loaded(tmp_path):
    from conftest import tiny_recipe

    recipe = tiny_recipe(model={"architecture": "conv8", "z_dim": 4, "options": {"width": 8}},
                         train={"iterations": 6, "checkpoint_every": 3, "sample_every": 0,
                                "calibration_steps": 20, "calibration_chains": 8})
    run = gn.train(recipe, out=tmp_path / "run")
    middle = run / "checkpoints" / "step_0000003.pt"
    assert not is_calibrated(gn.load_model(middle), 20)
    seen = []
    loaded = gn.load_run(middle, "cpu", progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 20) and seen[-1] == (20, 20) and len(seen) == 21
    assert is_calibrated(loaded.model, 20)
    # the measurement is the end of training's, on other weights: a run's last checkpoint is
    # not measured again
    again = gn.load_run(run, "cpu", progress=lambda done, total: seen.append("again"))
    assert "again" not in seen
    for a, b in zip(step_norms(loaded.model).values(), step_norms(again.model).values(), strict=True):
        assert torch.equal(a.step_count, b.step_count)
        assert not torch.equal(a.step_mean, b.step_mean)
