"""Latent hierarchies: deep GibbsNet and HALI (gibbsnet_plugin/chains/hierarchy.py), built from recipes
with a list model.z_dim, trained, resumed and used at test time."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.architectures.base import Hierarchy
from gibbsnet_plugin.chains import ChainModel, LatentHierarchy, check_architecture, mode_layers
from gibbsnet_plugin.errors import GibbsnetError, RecipeError
from gibbsnet_plugin.factory import build_model
from gibbsnet_plugin.utils import seeded

SHAPE = (1, 8, 8)
DIMS = [6, 4, 3]


def model(kind: str = "gibbsnet", dims: list[int] = DIMS, **settings) -> ChainModel:
    torch.manual_seed(0)
    recipe = tiny_recipe(model={"z_dim": dims, "kind": kind, "chain_steps": 3, **settings})
    return build_model(recipe, SHAPE)


class Calls(nn.Module):
    """Wraps a transition and records which inputs it was called on."""

    def __init__(self, inner: nn.Module, log: list, name: str) -> None:
        super().__init__()
        self.inner, self.log, self.name = inner, log, name

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        self.log.append((self.name, torch.is_grad_enabled()))
        return self.inner(*args)


@pytest.mark.parametrize("kind", ["gibbsnet", "hali"])
def test_every_layer_has_its_shape_in_both_chains_and_at_test_time(kind):
    m = model(kind)
    x = torch.rand(5, *SHAPE) * 2 - 1
    for state in (m.clamped(x), m.unclamped(5)):
        assert [tuple(t.shape) for t in state] == [(5, *SHAPE), (5, 6), (5, 4), (5, 3)]
    assert [tuple(z.shape) for z in m.encode(x)] == [(5, 6), (5, 4), (5, 3)]
    assert m.sample(7, steps=4).shape == (7, *SHAPE)
    assert m.trajectory(2, [1, 3, 5]).shape == (2, 3, *SHAPE)
    for level in (1, 2, 3):
        assert m.reconstruct(x, level).shape == x.shape
        assert m.features(x, level).shape == (5, DIMS[level - 1])
    with pytest.raises(ValueError, match="level must be between 1 and 3, got 4"):
        m.reconstruct(x, 4)


def test_the_clamped_chain_holds_x_bit_for_bit_and_gradient_reaches_only_the_last_sweeps():
    m = model(backprop_steps=2)
    x = torch.rand(4, *SHAPE) * 2 - 1
    state = m.clamped(x)
    assert state[0] is x
    assert all(z.requires_grad for z in state[1:])
    log: list[str] = []
    m.encoder = nn.ModuleList([Calls(net, log, f"z{i + 1}") for i, net in enumerate(m.encoder)])
    m.decoder = nn.ModuleList([Calls(m.decoder[0], log, "x")])
    m.unclamped(2)
    # Three sweeps; each updates the odd layers (z1, z3), then the even ones (x, z2); only the
    # last two (backprop_steps) build a graph.
    sweep = ["z1", "z3", "x", "z2"]
    assert log == [(name, grad) for grad in (False, True, True) for name in sweep]
    log.clear()
    m.clamped(x)
    assert log == [(name, grad) for grad in (False, True, True) for name in ("z1", "z3", "z2")]
    log.clear()
    m.clamped_steps = 1  # the clamped chain has its own length; its one sweep carries gradient
    m.clamped(x)
    assert log == [("z1", True), ("z3", True), ("z2", True)]


def test_blocked_gibbs_reads_the_new_odd_layers_when_it_updates_the_even_ones():
    m = model(dims=[6, 4])
    state = m.noise(3)
    with torch.no_grad():
        torch.manual_seed(1)
        new = m.step(state)
        torch.manual_seed(1)
        z1 = m.encoder[0](state[0], state[2])
        expected_x, expected_z2 = m.decoder[0](z1), m.encoder[1](z1)
    assert torch.equal(new[1], z1) and torch.equal(new[0], expected_x) and torch.equal(new[2], expected_z2)


@pytest.mark.parametrize("kind", ["gibbsnet", "hali"])
def test_chains_started_from_latents_show_them_decoded_at_step_1(kind):
    m = model(kind).eval()
    zs = [torch.randn(2, d) for d in DIMS]
    torch.manual_seed(4)
    first = m.trajectory(2, [1], z0=zs)[:, 0]
    torch.manual_seed(4)
    expected = m.decode(zs[0]) if kind == "gibbsnet" else m.decode_level(zs[-1], 3)
    assert torch.equal(first, expected)
    with pytest.raises(ValueError, match=r"z0 must be 3 tensor\(s\) of shape\(s\) "
                                         r"\[\(2, 6\), \(2, 4\), \(2, 3\)\]"):
        m.trajectory(2, [1], z0=zs[:2])


def test_hali_passes_once_up_and_once_down():
    m = model("hali", dims=[6, 4])
    x = torch.rand(3, *SHAPE) * 2 - 1
    torch.manual_seed(2)
    real = m.clamped(x)
    torch.manual_seed(2)
    z1 = m.encoder[0](x)
    assert torch.equal(real[1], z1) and torch.equal(real[2], m.encoder[1](z1))
    torch.manual_seed(3)
    fake = m.unclamped(3)
    torch.manual_seed(3)
    z2 = torch.randn(3, 4)
    z1 = m.decoder[1](z2)
    assert torch.equal(fake[2], z2) and torch.equal(fake[1], z1) and torch.equal(fake[0], m.decoder[0](z1))


@pytest.mark.parametrize("kind", ["gibbsnet", "hali"])
def test_losses_train_d_and_the_transitions(kind):
    m = model(kind)
    x = torch.rand(8, *SHAPE) * 2 - 1
    real, fake = m.clamped(x), m.unclamped(8)
    d = m.discriminator_loss(real, fake)
    d.loss.backward()
    assert all(p.grad is None for p in [*m.encoder.parameters(), *m.decoder.parameters()])
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.discriminator.parameters())
    m.zero_grad()
    m.generator_loss(real, fake).loss.backward()
    named = [*m.encoder.named_parameters(), *m.decoder.named_parameters()]
    assert [name for name, p in named if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_inpainting_keeps_the_observed_entries():
    m = model().eval()
    x = torch.rand(3, *SHAPE) * 2 - 1
    mask = gn.resolve_mask("left-half", SHAPE)
    filled = m.inpaint(x, mask, steps=4)
    observed = mask.expand_as(x) == 1
    assert torch.equal(filled[observed], x[observed]) and not torch.equal(filled, x)


def test_the_four_modes_name_clamped_and_impotent_layers():
    assert mode_layers("dreaming", 3) == (set(), set())
    assert mode_layers("ready-to-hand", 3) == ({3}, set())
    assert mode_layers("daydreaming", 3) == ({0}, {0})
    assert mode_layers("present-at-hand", 2) == ({0}, {2})
    with pytest.raises(ValueError, match="unknown mode 'sleeping'; expected one of dreaming, "):
        mode_layers("sleeping", 2)


@pytest.mark.parametrize("kind", ["gibbsnet", "hali"])
def test_clamped_layers_stay_bit_for_bit_fixed_while_the_others_move(kind):
    m = model(kind).eval()
    top = torch.randn(3)
    states = m.run_chain(4, [1, 2, 5], clamp={3: top})
    assert [tuple(layer.shape) for layer in states.layers] == [(4, 3, *SHAPE), (4, 3, 6), (4, 3, 4),
                                                               (4, 3, 3)]
    assert torch.equal(states.layers[3], top.expand(4, 3, 3))
    assert not torch.equal(states.layers[0][:, 0], states.layers[0][:, 2])
    x = torch.rand(4, *SHAPE) * 2 - 1
    held = m.run_chain(4, [3], clamp={0: x, 2: torch.zeros(4, 4)})
    assert torch.equal(held.layers[0][:, 0], x) and torch.equal(held.layers[2][:, 0], torch.zeros(4, 4))


def test_an_impotent_layer_does_not_steer_its_neighbours():
    m = model().eval()
    a, b = torch.rand(2, 3, *SHAPE) * 2 - 1

    def run(x, impotent):
        torch.manual_seed(5)
        return m.run_chain(3, [1, 4], clamp={0: x}, impotent=impotent)

    # daydreaming: x is clamped and impotent, so the latents do not depend on which x is shown
    first, second = run(a, [0]), run(b, [0])
    assert torch.equal(first.layers[0][:, -1], a) and torch.equal(second.layers[0][:, -1], b)
    assert all(torch.equal(first.layers[i], second.layers[i]) for i in (1, 2, 3))
    assert set(first.copies) == {0} and first.copies[0].shape == (3, 2, *SHAPE)
    # a potent clamped x steers them
    potent_a, potent_b = run(a, []), run(b, [])
    assert not torch.equal(potent_a.layers[1], potent_b.layers[1])
    # present-at-hand: an impotent top layer, clamped here to two values, does not reach z2
    tops = torch.randn(2, 3)
    lower = []
    for top in tops:
        torch.manual_seed(6)
        lower.append(m.run_chain(3, [3], clamp={0: a, 3: top}, impotent=[3]).layers[2])
    assert torch.equal(lower[0], lower[1])


def test_bad_modes_are_refused_clearly():
    m = model()
    with pytest.raises(ValueError, match=r"layer 4 does not exist: this model has layers x, z1, z2, z3"):
        m.run_chain(2, [1], clamp={4: torch.zeros(2, 3)})
    with pytest.raises(ValueError, match=r"clamped to z2 has shape \(2, 5\); expected \(4,\) or \(2, 4\)"):
        m.run_chain(2, [1], clamp={2: torch.zeros(2, 5)})
    with pytest.raises(ValueError, match=r"impotent layers \[5\]: this model has layers"):
        m.run_chain(2, [1], impotent=[5])


@gn.architectures.register("test_one_layer")
def one_layer_only(x_shape, z_dim):
    if isinstance(z_dim, list):
        raise ValueError(f"builds one layer (an int z_dim), got {z_dim}")
    return gn.architectures.build("mlp", x_shape, z_dim)


@pytest.mark.parametrize("kind", ["gibbsnet", "hali"])
@pytest.mark.parametrize(("name", "shape", "z1"), [("conv28", (1, 28, 28), (3, 14, 14)),
                                                   ("conv32", (3, 32, 32), (3, 16, 16))])
def test_conv28_and_conv32_build_a_spatial_z1(name, shape, z1, kind):
    torch.manual_seed(0)
    recipe = tiny_recipe(model={"architecture": name, "z_dim": [3, 5], "kind": kind, "options": {}})
    m = build_model(recipe, shape)
    x = torch.rand(2, *shape) * 2 - 1
    for state in (m.clamped(x), m.unclamped(2)):
        assert [tuple(t.shape) for t in state] == [(2, *shape), (2, *z1), (2, 5)]
    m.eval()
    assert m.features(x, 1).shape == (2, 3 * z1[1] * z1[2])
    assert m.reconstruct(x, 2).shape == x.shape
    held = m.run_chain(2, [1, 3], clamp={1: torch.zeros(*z1)})
    assert torch.equal(held.layers[1], torch.zeros(2, 2, *z1))


def test_architectures_build_hierarchies_or_refuse_lists_clearly():
    for name in ("mlp", "conv8"):
        arch = gn.architectures.build(name, SHAPE, [6, 4])
        assert isinstance(arch, Hierarchy)
        check_architecture(arch, SHAPE, [6, 4], name)
    with pytest.raises(RecipeError, match=r"model\.z_dim: architecture 'test_one_layer' refused: "
                                          r"builds one layer"):
        build_model(tiny_recipe(model={"architecture": "test_one_layer", "z_dim": [6, 4],
                                       "options": {}}), SHAPE)
    with pytest.raises(GibbsnetError, match=r"'mlp' returned Architecture, not a Hierarchy"):
        check_architecture(gn.architectures.build("mlp", SHAPE, 6), SHAPE, [6, 4], "mlp")
    broken = gn.architectures.build("mlp", SHAPE, [6, 4])
    broken.encoders[1] = nn.Linear(6, 5)
    with pytest.raises(GibbsnetError, match=r"encoders\[1\] maps z1 of shape \(2, 6\) to \(2, 5\); "
                                            r"expected \(batch, \*shape of z2\) = \(2, 4\)"):
        check_architecture(broken, SHAPE, [6, 4], "mlp")


def test_one_latent_layer_in_a_list_is_the_one_layer_model():
    one = build_model(tiny_recipe(model={"z_dim": [8]}), SHAPE)
    assert isinstance(one, gn.GibbsNet) and one.z_dim == 8


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gibbsnet", "hali"])
def test_hierarchical_runs_train_resume_exactly_and_evaluate(tmp_path, kind):
    sections = {"model": {"z_dim": [8, 4], "kind": kind}, "data": {"batch_size": 200},
                "train": {"iterations": 10, "log_every": 1, "checkpoint_every": 5, "sample_every": 5,
                          "calibration_steps": 10, "ema": 0.01}}
    straight = gn.train(tiny_recipe(**sections), out=tmp_path / "a")
    half = tiny_recipe(**{**sections, "train": {**sections["train"], "iterations": 5}})
    resumed = gn.train(half, out=tmp_path / "b")
    gn.train(tiny_recipe(**sections), out=resumed, resume=True)
    a = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(a["ema"][k], b["ema"][k]) for k in a["ema"])

    run = gn.load_run(resumed, device="cpu")
    assert isinstance(run.model, LatentHierarchy) and run.model.kind == kind
    result = gn.evaluate(resumed, ["reconstruction", "inpainting", "probe"], device="cpu",
                         labels=50, draws=2, inpaint_steps=2)
    assert set(result["scores"]) >= {"reconstruction_mse", "reconstruction_z2_mse", "inpaint_center_psnr",
                                     "probe_error", "probe_z2_error", "probe_z2_error_std"}
    assert result["details"]["probe_z2"]["labels"] == 50
    chains = gn.sample(run.model, 4, steps=6, record=[2], start=torch.zeros(4, *SHAPE))
    assert chains.x.shape == (4, *SHAPE) and chains.frames.shape == (4, 1, *SHAPE)
    line = gn.interpolate(run.model, chains.x[:2], chains.x[2:], points=3, level=2).line
    assert line.shape == (2, 3, *SHAPE)
    with pytest.raises(GibbsnetError, match="`chain_steps`: a chain from the points of one latent layer"):
        gn.interpolate(run.model, chains.x[:2], chains.x[2:], chain_steps=2)
    with pytest.raises(GibbsnetError, match=r"`level` 3: this model has latent layers 1 \.\.\. 2"):
        gn.reconstruct(run.model, chains.x, level=3)
    assert gn.reconstruct(run.model, chains.x, level=2).reconstruction.shape == chains.x.shape


def test_modes_clamp_layers_to_files_or_to_the_images_encodings(tmp_path):
    import numpy as np

    m = model(dims=[6, 4])
    np.save(tmp_path / "z2.npy", np.ones(4, dtype=np.float32))
    np.save(tmp_path / "bad.npy", np.ones((2, 5), dtype=np.float32))
    run = gn.modes(m, 3, steps=4, clamp=[f"z2={tmp_path / 'z2.npy'}"], record=[2])
    assert run.clamped == ["z2"] and run.images is None
    assert torch.equal(run.states.layers[2], torch.ones(3, 2, 4))
    images = torch.rand(3, *SHAPE) * 2 - 1
    ready = gn.modes(m, 3, steps=4, mode="ready-to-hand", images=images, seed=1, record=[1, 2])
    with seeded(1):  # modes encodes the images first, under its seed
        expected = m.encode(images)[1]
    assert ready.clamped == ["z2"] and torch.equal(ready.images, images)
    assert torch.equal(ready.states.layers[2], expected[:, None].expand(3, 3, 4))
    assert gn.modes_need_images(m, "ready-to-hand") and gn.modes_need_images(m, clamp=["x"])
    assert not gn.modes_need_images(m, "dreaming", [f"z2={tmp_path / 'z2.npy'}"])
    with pytest.raises(GibbsnetError, match=r"`clamp` z2=.*bad\.npy: the array has shape \(2, 5\); "
                                            r"expected \(4,\) or \(3, 4\)"):
        gn.modes(m, 3, clamp=[f"z2={tmp_path / 'bad.npy'}"])
    with pytest.raises(GibbsnetError, match="clamping x needs images"):
        gn.modes(m, 3, mode="daydreaming")
    # one latent layer has the same modes: ready-to-hand holds z at the images' codes
    one = build_model(tiny_recipe(), SHAPE).eval()
    images = torch.rand(3, *SHAPE) * 2 - 1
    held = gn.modes(one, 3, steps=4, mode="ready-to-hand", images=images, record=[1, 2])
    assert held.clamped == ["z"] and held.states.layers[1].shape == (3, 3, 8)
    assert torch.equal(held.states.layers[1][:, 0], held.states.layers[1][:, 2])


@pytest.mark.slow
def test_trajectories_show_every_layer_that_has_an_image_form(tmp_path, monkeypatch):
    import numpy as np
    from click.testing import CliRunner
    from PIL import Image

    from gibbsnet_cli.main import cli

    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "images" / f"{i}.png")
    recipe = tiny_recipe(data={"dataset": "folder", "root": str(tmp_path / "images"), "batch_size": 8,
                               "options": {"size": 28, "channels": 1}},
                         model={"architecture": "conv28", "z_dim": [1, 4], "options": {"width": 8}},
                         train={"iterations": 2, "sample_every": 0, "calibration_steps": 2})
    run = gn.train(recipe, out=tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sample", str(run), "--mode", "dreaming", "--num", "3",
                                      "--steps", "4", "--trajectory", "t.png", "--device", "cpu"])
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "t-z1.png") as z1, Image.open(tmp_path / "t.png") as x:
        assert z1.size[0] < x.size[0] and z1.size[1] < x.size[1]  # 14×14 cells against 28×28
    assert not (tmp_path / "t-z2.png").exists()  # z2 is a vector
    (tmp_path / "u-z1.png").write_bytes(b"mine")  # the z1 figure of --trajectory u.png
    again = CliRunner().invoke(cli, ["sample", str(run), "--mode", "dreaming", "--num", "3",
                                     "--steps", "4", "--trajectory", "u.png", "--out", "other.png",
                                     "--device", "cpu"])
    assert again.exit_code == 2 and "u-z1.png: exists; pass --force" in again.stderr
    assert (tmp_path / "u-z1.png").read_bytes() == b"mine"
    assert not (tmp_path / "other.png").exists() and not (tmp_path / "u.png").exists()


def test_what_the_latents_imagine_is_reproducible_by_seed():
    # daydreaming shows x decoded from z1; the decoder's noise is drawn with the seed
    m = model().eval()
    images = torch.rand(3, *SHAPE) * 2 - 1
    states = gn.modes(m, 3, steps=3, mode="daydreaming", images=images, seed=2, record=[1, 3]).states
    first, again = gn.imagined(m, states, seed=4), gn.imagined(m, states, seed=4)
    assert 0 in states.copies and first.shape == (3, 2, *SHAPE)
    assert torch.equal(first, again)
    assert not torch.equal(first, gn.imagined(m, states, seed=5))
