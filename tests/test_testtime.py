"""Test-time operations (gibbsnet_plugin/testtime.py) on a tiny trained run and on linear nets."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin import testtime
from gibbsnet_plugin.architectures.norms import chain_step
from gibbsnet_plugin.chains import GibbsNet
from gibbsnet_plugin.data.masks import named_mask, resolve_mask
from gibbsnet_plugin.errors import GibbsnetError, MaskError
from gibbsnet_plugin.recipe import resolved

pytestmark = pytest.mark.slow
SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def digits(loaded) -> torch.Tensor:
    return testtime.dataset_images(loaded.recipe, "test", 6, SHAPE)


def test_load_run_gives_the_eval_model_and_its_recipe(run, loaded):
    assert not loaded.model.training and loaded.model.device.type == "cpu"
    assert loaded.recipe == resolved(tiny_recipe()) and loaded.checkpoint == run / "checkpoints" / "last.pt"
    same = testtime.load_run(run / "checkpoints" / "step_0000006.pt", device="cpu")
    assert same.model.x_shape == SHAPE


def test_runs_that_are_not_runs_are_refused_in_one_line(tmp_path, run):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    Image.new("L", (8, 8)).save(tmp_path / "image.png")
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["meta"]["recipe"]["model"]["options"]["hidden"] = [16]
    torch.save(ckpt, tmp_path / "other.pt")
    cases = [("empty", "expected a run directory (with checkpoints/last.pt) or a checkpoint file"),
             ("missing", "no such run directory or checkpoint file"),
             ("notes.txt", "not a checkpoint; expected a run directory or a checkpoint file"),
             ("image.png", "not a checkpoint; expected a run directory or a checkpoint file"),
             ("other.pt", "the weights do not fit architecture 'mlp'")]
    for name, message in cases:
        with pytest.raises(GibbsnetError) as info:
            testtime.load_run(tmp_path / name, device="cpu")
        assert message in str(info.value) and "\n" not in str(info.value)


def test_sample_is_seeded_and_leaves_the_callers_generator_alone(loaded):
    model = loaded.model
    state = torch.get_rng_state()
    a = testtime.sample(model, 5, 4, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.x, testtime.sample(model, 5, 4, seed=1).x)
    assert not torch.equal(a.x, testtime.sample(model, 5, 4, seed=2).x)
    assert a.x.shape == (5, *SHAPE) and a.frames is None and a.start is None


def test_one_step_is_one_decoder_pass_from_the_prior(loaded):
    model = loaded.model
    torch.manual_seed(3)
    with torch.no_grad(), chain_step(1):  # step 1's batch-norm statistics
        expected = model.decode(model.prior(7))
    assert torch.equal(testtime.sample(model, 7, steps=1, seed=3).x, expected)
    assert torch.equal(testtime.sample(model, 7, seed=3).x,
                       testtime.sample(model, 7, steps=model.chain_steps, seed=3).x)


def test_recorded_steps_are_the_states_of_the_same_chain(loaded):
    model = loaded.model
    chains = testtime.sample(model, 4, steps=6, seed=0, record=[10, 1, 3])
    assert chains.record == [1, 3, 10] and chains.frames.shape == (4, 3, *SHAPE)
    assert torch.equal(chains.x, testtime.sample(model, 4, steps=6, seed=0).x)
    for i, t in enumerate(chains.record):
        assert torch.equal(chains.frames[:, i], testtime.sample(model, 4, steps=t, seed=0).x)
    seen: list[int] = []
    testtime.sample(model, 2, steps=10_000, progress=seen.append)
    assert seen == list(range(1, 10_001))


def test_chains_from_images_start_at_their_encodings(loaded, digits):
    model = loaded.model
    chains = testtime.sample(model, 99, steps=1, seed=5, start=digits)
    assert chains.x.shape == digits.shape and torch.equal(chains.start, digits)
    # one step from enc(x) is dec(enc(x)), with the same noise draws as a reconstruction
    assert torch.equal(chains.x, testtime.reconstruct(model, digits, seed=5).reconstruction)


def test_an_images_result_does_not_depend_on_the_rest_of_its_batch(loaded, digits):
    model = loaded.model
    other = digits.clone()
    other[1:] = digits.flip(0)[1:]
    mask = named_mask("right-half", SHAPE)
    for run_op in (
        lambda x: testtime.sample(model, 0, steps=5, seed=2, start=x).x,
        lambda x: testtime.inpaint(model, x, mask, steps=5, seed=2).filled,
        lambda x: testtime.reconstruct(model, x, seed=2).reconstruction,
    ):
        assert torch.equal(run_op(digits)[0], run_op(other)[0])


def mask_image(tmp_path: Path) -> Path:
    pixels = np.full((8, 8), 255, dtype=np.uint8)
    pixels[2:5, 1:7] = 0
    Image.fromarray(pixels).save(tmp_path / "mask.png")
    return tmp_path / "mask.png"


@pytest.mark.parametrize("spec", ["left-half", "right-half", "top-half", "bottom-half", "center",
                                  "random-30", "random-90", "IMAGE"])
def test_observed_entries_are_exactly_the_input(loaded, digits, tmp_path, spec):
    spec = str(mask_image(tmp_path)) if spec == "IMAGE" else spec
    mask = resolve_mask(spec, SHAPE, seed=1)
    result = testtime.inpaint(loaded.model, digits, mask, steps=3, seed=0)
    observed = mask.bool().expand_as(digits)
    assert torch.equal(result.filled[observed], digits[observed])
    assert not torch.equal(result.filled[~observed], digits[~observed])
    assert result.filled.shape == digits.shape and result.filled.abs().max() <= 1


def test_inpainting_scores_are_on_the_hidden_region(loaded, digits):
    mask = named_mask("top-half", SHAPE)
    result = testtime.inpaint(loaded.model, digits, mask, steps=4, seed=0)
    hidden = ~mask.bool().expand_as(digits)
    mse = (result.filled - digits)[hidden].pow(2).mean().item()
    scores = result.scores
    assert scores["mse"] == pytest.approx(mse, rel=1e-5)
    assert scores["psnr"] == pytest.approx(10 * math.log10(4 / mse), rel=1e-5)
    assert scores["hidden_fraction"] == 0.5 and len(scores["mse_per_image"]) == len(digits)
    assert np.mean(scores["mse_per_image"]) == pytest.approx(mse, rel=1e-5)
    assert torch.equal(result.filled,
                       testtime.inpaint(loaded.model, digits, mask, steps=4, seed=0).filled)


@pytest.mark.parametrize(("fill", "message"), [(1.0, "hides nothing"), (0.0, "observes nothing")])
def test_inpaint_refuses_masks_that_hide_nothing_or_everything(loaded, digits, fill, message):
    with pytest.raises(MaskError, match=message):
        testtime.inpaint(loaded.model, digits, torch.full(SHAPE, fill))


def test_reconstruction_error(loaded, digits):
    result = testtime.reconstruct(loaded.model, digits, seed=0)
    assert result.reconstruction.shape == digits.shape
    assert result.mse == pytest.approx((result.reconstruction - digits).pow(2).mean().item())
    assert len(result.mse_per_image) == len(digits)


def linear_model() -> GibbsNet:
    torch.manual_seed(0)
    return GibbsNet(gn.architectures.build("test_linear", SHAPE, 3), SHAPE, 3).eval()


def test_interpolation_decodes_the_line_between_two_encodings():
    model = linear_model()
    x_a, x_b = torch.rand(2, *SHAPE) * 2 - 1, torch.rand(2, *SHAPE) * 2 - 1
    result = testtime.interpolate(model, x_a, x_b, points=5, chain_steps=3)
    assert result.line.shape == (2, 5, *SHAPE) and result.chained.shape == (2, 5, *SHAPE)
    with torch.no_grad():
        z_a, z_b = model.encode(x_a), model.encode(x_b)
        assert torch.allclose(result.line[:, 0], model.decode(z_a))
        assert torch.allclose(result.line[:, -1], model.decode(z_b))
        assert torch.allclose(result.line[:, 2], model.decode((z_a + z_b) / 2), atol=1e-6)
        assert torch.allclose(result.chained[:, 1], model.sample(2, 3, z0=0.75 * z_a + 0.25 * z_b),
                              atol=1e-6)
    assert testtime.interpolate(model, x_a, x_b, points=3).chained is None
    with pytest.raises(GibbsnetError, match="at least 2 points"):
        testtime.interpolate(model, x_a, x_b, points=1)


def test_data_set_images_and_the_chosen_steps():
    x = testtime.dataset_images(tiny_recipe(), "train", 3, SHAPE)
    assert x.shape == (3, *SHAPE)
    assert torch.equal(x, gn.datasets.build("digits", "", train=True).tensors[0][:3])
    with pytest.raises(GibbsnetError, match=r"gives items of shape \(1, 8, 8\); the model expects"):
        testtime.dataset_images(tiny_recipe(), "test", 3, (3, 8, 8))
    assert testtime.default_record(1000) == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    assert testtime.default_record(3) == [1, 2, 3] and testtime.default_record(1) == [1]
    assert testtime.gif_steps(5) == [1, 2, 3, 4, 5]
    frames = testtime.gif_steps(10_000)
    assert frames[:3] == [1, 2, 3] and frames[-1] == 10_000 and len(frames) == 100
    assert all(a < b for a, b in itertools.pairwise(frames))
    assert testtime.gif_steps(101)[-1] == 101 and len(testtime.gif_steps(101)) == 100


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: testtime.sample(m, 2, steps=2_000_000), r"chain steps must be between 1 and "
     r"1,000,000; got steps 2,000,000"),
    (lambda m: testtime.sample(m, 2, steps=3, record=[1, 10**12]),
     r"recorded steps up to 1,000,000,000,000"),
    (lambda m: testtime.sample(m, 10**12, steps=1), r"number of chains must be between 1 and "
     r"10,000,000, got 1,000,000,000,000"),
    (lambda m: testtime.inpaint(m, torch.zeros(2, 1, 8, 8), named_mask("left-half", (1, 8, 8)),
                                steps=0), r"chain steps must be between 1 and 1,000,000; got steps 0"),
])
def test_chains_that_cannot_run_are_refused_before_any_step(loaded, call, message):
    with pytest.raises(GibbsnetError, match=message):
        call(loaded.model)


def test_more_chains_than_memory_holds_are_refused(loaded, monkeypatch):
    from gibbsnet_plugin import limits

    monkeypatch.setattr(limits, "memory_bytes", lambda device=None: 2**20)
    with pytest.raises(GibbsnetError, match=r"^5,000 chains needs at least .* GiB of memory and "
                       r"this machine has 0\.0 GiB; lower `num`$"):
        testtime.sample(loaded.model, 5000, steps=2)
    assert testtime.sample(loaded.model, 4, steps=2).x.shape == (4, 1, 8, 8)


def test_independent_0_runs_the_plain_chains(loaded, digits):
    model = loaded.model
    torch.manual_seed(4)
    expected = model.trajectory(5, [1, 3, 6])
    chains = testtime.sample(model, 5, steps=6, seed=4, record=[1, 3], independent=0.0)
    assert torch.equal(chains.frames, expected[:, :2]) and torch.equal(chains.x, expected[:, 2])
    assert chains.acceptance is None
    mask = named_mask("right-half", SHAPE)
    torch.manual_seed(4)
    filled = model.inpaint(digits, mask, 5)
    result = testtime.inpaint(model, digits, mask, steps=5, seed=4)
    assert torch.equal(result.filled, filled) and result.acceptance is None


def test_independent_proposals_are_seeded_and_keep_the_observed_pixels(loaded, digits):
    model = loaded.model
    chains = testtime.sample(model, 6, steps=8, seed=1, independent=0.5)
    assert torch.equal(chains.x, testtime.sample(model, 6, steps=8, seed=1, independent=0.5).x)
    assert not torch.equal(chains.x, testtime.sample(model, 6, steps=8, seed=1).x)
    assert 0.0 <= chains.acceptance <= 1.0
    dreaming = testtime.modes(model, 6, 8, mode="dreaming", seed=1, independent=0.5)
    assert torch.equal(dreaming.states.layers[0][:, 0], chains.x)
    assert dreaming.acceptance == chains.acceptance
    mask = named_mask("left-half", SHAPE)
    result = testtime.inpaint(model, digits, mask, steps=6, seed=1, independent=0.5)
    observed = mask.bool().expand_as(digits)
    assert torch.equal(result.filled[observed], digits[observed])
    assert 0.0 <= result.acceptance <= 1.0


@pytest.mark.parametrize("call, message", [
    (lambda m, x: testtime.sample(m, 4, independent=1.5),
     r"^`independent`: the probability of an independent proposal per chain step must be between "
     r"0 and 1 \(0: the plain chain\), got 1.5$"),
    (lambda m, x: testtime.inpaint(m, x, named_mask("left-half", SHAPE), independent=-0.5),
     r"between 0 and 1"),
    (lambda m, x: testtime.modes(m, 6, mode="daydreaming", images=x, independent=0.5),
     r"^`independent`: independent proposals correct the unclamped chain \(dreaming\)"),
])
def test_independent_proposals_that_do_not_apply_are_refused_in_one_line(loaded, digits, call,
                                                                         message):
    with pytest.raises(GibbsnetError, match=message):
        call(loaded.model, digits)


def test_chains_that_do_not_fill_d_s_packs_are_refused(loaded, monkeypatch):
    monkeypatch.setattr(loaded.model.config, "pack", 2)
    with pytest.raises(GibbsnetError, match=r"packs of 2 chains.* run a multiple of 2 chains$"):
        testtime.sample(loaded.model, 5, independent=0.5)
