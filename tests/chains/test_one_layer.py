"""One-layer GibbsNet and ALI, and the chains and losses of the base they share (gibbsnet_plugin/chains)."""

from __future__ import annotations

import weakref

import pytest
import torch
import torch.nn.functional as F

import gibbsnet_plugin as gn
from gibbsnet_plugin.chains import GibbsNet, check_architecture, instance_noise_std
from gibbsnet_plugin.errors import GibbsnetError

X_SHAPE = (1, 4, 4)
Z_DIM = 3


def linear_model(chain_steps: int = 3, backprop_steps: int = 1, **kwargs) -> GibbsNet:
    torch.manual_seed(0)
    arch = gn.architectures.build("test_linear", X_SHAPE, Z_DIM)
    return GibbsNet(arch, X_SHAPE, Z_DIM, chain_steps=chain_steps, backprop_steps=backprop_steps, **kwargs)


def test_one_step_is_ali_pair_from_the_prior():
    model = linear_model(chain_steps=1)
    torch.manual_seed(7)
    z0 = torch.randn(5, Z_DIM)
    torch.manual_seed(7)
    x, z = model.unclamped(5)
    assert torch.equal(z, z0)
    assert torch.equal(x, model.decoder(z0))
    assert model.encoder.inputs == []


@pytest.mark.parametrize("steps", [2, 3, 5])
def test_chain_feeds_the_encoders_output_to_the_decoder(steps):
    model = linear_model(chain_steps=steps, backprop_steps=1)
    x, z = model.unclamped(4)
    enc, dec = model.encoder, model.decoder
    assert len(dec.inputs) == steps and len(enc.inputs) == steps - 1
    for t in range(1, steps):
        assert torch.equal(enc.inputs[t - 1], dec.outputs[t - 1])
        assert torch.equal(dec.inputs[t], enc.outputs[t - 1])
    assert torch.equal(z, enc.outputs[-1]) and torch.equal(x, dec.outputs[-1])


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_backprop_steps_puts_gradient_on_exactly_the_last_k_steps(k):
    steps = 4
    model = linear_model(chain_steps=steps, backprop_steps=k)
    grads = {"encoder": 0, "decoder": 0}
    for name in grads:
        getattr(model, name).register_full_backward_hook(
            lambda *_, name=name: grads.__setitem__(name, grads[name] + 1)
        )
    x, z = model.unclamped(4)
    (x.sum() + z.sum()).backward()
    assert grads["decoder"] == k
    assert grads["encoder"] == min(k, steps - 1)
    assert x.requires_grad


def test_clamped_pair_is_data_and_its_encoding():
    model = linear_model()
    x = torch.rand(3, *X_SHAPE)
    xc, zc = model.clamped(x)
    assert xc is x and torch.equal(zc, model.encoder.outputs[-1])


def test_sample_one_step_is_one_decoder_pass_from_the_prior():
    model = linear_model()
    torch.manual_seed(3)
    expected = model.decoder(torch.randn(6, Z_DIM))
    torch.manual_seed(3)
    assert torch.equal(model.sample(6, steps=1), expected)


def test_sample_runs_the_requested_number_of_steps_without_graph():
    model = linear_model()
    x = model.sample(2, steps=7)
    assert x.shape == (2, *X_SHAPE) and not x.requires_grad
    assert len(model.decoder.inputs) == 7 and len(model.encoder.inputs) == 6


def test_discriminator_loss_bce_values():
    model = linear_model(loss="bce")
    real = (torch.rand(4, *X_SHAPE), torch.rand(4, Z_DIM))
    fake = (torch.rand(4, *X_SHAPE), torch.rand(4, Z_DIM))
    out = model.discriminator_loss(real, fake)
    s_real, s_fake = model.judge(real), model.judge(fake)
    expected = F.binary_cross_entropy_with_logits(s_real, torch.ones(4)) + \
        F.binary_cross_entropy_with_logits(s_fake, torch.zeros(4))
    assert torch.allclose(out.loss, expected)
    assert torch.allclose(out.d_real, torch.sigmoid(s_real).mean())
    g = model.generator_loss(real, fake)
    swapped = F.binary_cross_entropy_with_logits(s_real, torch.zeros(4)) + \
        F.binary_cross_entropy_with_logits(s_fake, torch.ones(4))
    assert torch.allclose(g.loss, swapped)


def test_lsgan_losses_and_discriminator_loss_detaches_pairs():
    model = linear_model(loss="lsgan")
    x = torch.rand(4, *X_SHAPE)
    real, fake = model.clamped(x), model.unclamped(4)
    s_real, s_fake = model.judge(real).detach(), model.judge(fake).detach()
    d = model.discriminator_loss(real, fake)
    assert torch.allclose(d.loss, ((s_real - 1) ** 2).mean() + (s_fake ** 2).mean())
    d.loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.decoder.parameters())
    g = model.generator_loss(real, fake)
    assert torch.allclose(g.loss, (s_real ** 2).mean() + ((s_fake - 1) ** 2).mean())


def test_z_consistency_adds_the_weighted_latent_distance():
    plain = linear_model(z_consistency=0.0)
    weighted = linear_model(z_consistency=0.5)
    torch.manual_seed(1)
    x = torch.rand(4, *X_SHAPE)
    real, fake = weighted.clamped(x), weighted.unclamped(4)
    extra = 0.5 * (fake[1] - weighted.encoder(fake[0])).pow(2).sum(1).mean()
    base = plain.generator_loss(real, fake).loss
    assert torch.allclose(weighted.generator_loss(real, fake).loss, base + extra)


def test_inpaint_keeps_observed_entries_bit_for_bit():
    model = linear_model()
    x = torch.rand(3, *X_SHAPE) * 2 - 1
    mask = torch.zeros(X_SHAPE)
    mask[..., :2] = 1
    filled = model.inpaint(x, mask, steps=4)
    assert torch.equal(filled[..., :2], x[..., :2])
    assert not torch.equal(filled[..., 2:], x[..., 2:])


def test_inpaint_in_eval_mode_does_not_depend_on_the_rest_of_the_batch():
    torch.manual_seed(0)
    model = GibbsNet(gn.architectures.build("mlp", X_SHAPE, Z_DIM, hidden=[16]), X_SHAPE, Z_DIM)
    model.train()
    for _ in range(3):  # give batch norm some running statistics
        model.unclamped(16)
    model.eval()
    x = torch.rand(4, *X_SHAPE) * 2 - 1
    other = x.clone()
    other[1:] = torch.rand(3, *X_SHAPE)
    mask = torch.ones(X_SHAPE)
    mask[..., 2:] = 0
    torch.manual_seed(5)
    a = model.inpaint(x, mask, steps=5)
    torch.manual_seed(5)
    b = model.inpaint(other, mask, steps=5)
    assert torch.equal(a[0], b[0])


def test_check_architecture_reports_wrong_shapes():
    arch = gn.architectures.build("test_linear", X_SHAPE, Z_DIM)
    with pytest.raises(GibbsnetError, match=r"'test_linear': encoder maps x of shape \(2, 1, 4, 4\) to "
                       r"\(2, 3\); expected \(batch, \*shape of z\) = \(2, 5\)"):
        check_architecture(arch, X_SHAPE, 5, "test_linear")
    with pytest.raises(GibbsnetError, match="encoder must be a torch.nn.Module"):
        check_architecture(gn.Architecture(None, arch.decoder, arch.discriminator), X_SHAPE, Z_DIM, "x")


def test_invalid_chain_settings_are_refused():
    arch = gn.architectures.build("test_linear", X_SHAPE, Z_DIM)
    with pytest.raises(ValueError, match="backprop_steps"):
        GibbsNet(arch, X_SHAPE, Z_DIM, chain_steps=2, backprop_steps=3)


def test_instance_noise_anneals_to_zero():
    assert instance_noise_std(0.2, 0, 100) == pytest.approx(0.2)
    assert instance_noise_std(0.2, 50, 100) == pytest.approx(0.1)
    assert instance_noise_std(0.2, 100, 100) == 0.0
    assert instance_noise_std(0.0, 10, 100) == 0.0


# -- test-time chains: trajectory, callbacks, flat memory -------------------------------------------

def test_trajectory_keeps_the_chosen_steps_of_one_chain():
    model = linear_model()
    z0 = torch.randn(3, Z_DIM)
    frames = model.trajectory(3, [5, 1, 3, 3], z0=z0)
    assert frames.shape == (3, 3, *X_SHAPE) and not frames.requires_grad
    assert len(model.decoder.inputs) == 5 and len(model.encoder.inputs) == 4
    for i, t in enumerate([1, 3, 5]):
        assert torch.equal(frames[:, i], model.sample(3, steps=t, z0=z0))
    with pytest.raises(ValueError, match="at least 1"):
        model.trajectory(3, [0, 2])


def test_trajectory_draws_like_sample_from_the_same_seed():
    model = linear_model()
    torch.manual_seed(4)
    frames = model.trajectory(5, [1, 4])
    torch.manual_seed(4)
    assert torch.equal(frames[:, 1], model.sample(5, steps=4))


def test_callbacks_get_every_step_number():
    model = linear_model()
    seen: list[int] = []
    model.sample(2, steps=6, callback=seen.append)
    assert seen == [1, 2, 3, 4, 5, 6]
    seen.clear()
    model.inpaint(torch.zeros(2, *X_SHAPE), torch.ones(X_SHAPE).index_fill(2, torch.tensor([0]), 0),
                  steps=3, callback=seen.append)
    assert seen == [1, 2, 3]


class Probe(torch.nn.Module):
    """Wraps a network; remembers weak references to its outputs and the grad mode of each call."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.outputs: list[weakref.ref] = []
        self.grad_modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        self.outputs.append(weakref.ref(y))
        self.grad_modes.append(torch.is_grad_enabled())
        return y


def test_long_chains_keep_no_history_and_no_graph():
    torch.manual_seed(0)
    arch = gn.architectures.build("mlp", X_SHAPE, Z_DIM, hidden=[8])
    model = GibbsNet(gn.Architecture(Probe(arch.encoder), Probe(arch.decoder), arch.discriminator),
                     X_SHAPE, Z_DIM).eval()
    x = model.sample(2, steps=2000)
    frames = model.trajectory(2, [1, 10, 1000])
    assert x.shape == (2, *X_SHAPE) and frames.shape == (2, 3, *X_SHAPE)
    for probe in (model.encoder, model.decoder):
        assert len(probe.outputs) >= 999 and not any(probe.grad_modes)
        assert sum(ref() is not None for ref in probe.outputs) <= 1  # nothing piles up
    assert torch.is_grad_enabled()  # the chain's no_grad ended with it


# -- stabilisers ------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2])
def test_critic_states_shows_d_the_last_states_oldest_first(k):
    model = linear_model(chain_steps=3, backprop_steps=k, critic_states=2)
    x, z = model.unclamped(4)
    enc, dec = model.encoder, model.decoder
    assert x.shape == (8, *X_SHAPE) and z.shape == (8, Z_DIM)
    assert torch.equal(x[:4], dec.outputs[1]) and torch.equal(x[4:], dec.outputs[2])
    assert torch.equal(z[:4], enc.outputs[0]) and torch.equal(z[4:], enc.outputs[1])
    # The state before the backprop window is shown to D detached.
    assert dec.outputs[1].requires_grad == (k == 2)
    assert dec.outputs[2].requires_grad


def test_critic_states_must_fit_the_chain():
    with pytest.raises(ValueError, match="critic_states must be between 1 and chain_steps"):
        linear_model(chain_steps=2, critic_states=3)


def test_persistent_chains_continue_from_the_last_state():
    model = linear_model(chain_steps=2, persistent=1.0)
    model.unclamped(4)
    stored = model.chains.layers[1].clone()  # the next step's z = enc(x_N)
    assert torch.equal(stored, model.encoder.outputs[-1]) and stored.grad_fn is None
    start = len(model.decoder.inputs)
    model.unclamped(4)
    assert torch.equal(model.decoder.inputs[start], stored)  # the second call continues the chains


def test_persistent_chains_restart_the_rest_from_the_prior():
    model = linear_model(chain_steps=2, persistent=0.5)
    model.chains.layers = {1: torch.full((1000, Z_DIM), 7.0)}
    empty = torch.empty(0)
    torch.manual_seed(0)
    z0 = model.chains.start((empty, torch.zeros(1000, Z_DIM)), [1])[1]
    kept = (z0 == 7.0).all(1)
    assert torch.all(kept | (z0 == 0.0).all(1))
    assert 0.45 < kept.float().mean().item() < 0.55
    fresh = model.chains.start((empty, torch.zeros(3, Z_DIM)), [1])  # another batch size: nothing to continue
    assert torch.equal(fresh[1], torch.zeros(3, Z_DIM))


def test_persistent_chains_round_trip_through_a_state_dict():
    model = linear_model(persistent=0.9)
    assert model.chains.state_dict() == {}
    model.unclamped(5)
    other = linear_model(persistent=0.9)
    other.chains.load_state_dict(model.chains.state_dict())
    assert torch.equal(other.chains.layers[1], model.chains.layers[1])
    # a checkpoint of gibbsnet 0.1 kept the one-layer z under "z"
    other.chains.load_state_dict({"z": torch.ones(5, Z_DIM)})
    assert torch.equal(other.chains.layers[1], torch.ones(5, Z_DIM))
    other.chains.load_state_dict({"z": torch.empty(0)})
    assert other.chains.layers == {}


def test_random_steps_vary_the_chain_length_in_training_only():
    model = linear_model(chain_steps=4, random_steps=True)
    lengths = set()
    for _ in range(40):
        before = len(model.decoder.inputs)
        model.unclamped(2)
        lengths.add(len(model.decoder.inputs) - before)
    assert lengths == {1, 2, 3, 4}
    model.eval()
    before = len(model.decoder.inputs)
    model.unclamped(2)
    assert len(model.decoder.inputs) - before == 4


def test_r1_adds_the_squared_input_gradient_of_d_on_clamped_pairs():
    plain, penalised = linear_model(), linear_model(r1=2.0)
    x = torch.rand(6, *X_SHAPE)
    real = (x, plain.encoder(x))
    fake = (torch.rand(6, *X_SHAPE), torch.randn(6, Z_DIM))
    # D is linear, so grad_(x,z) D = its weight for every pair: the penalty is gamma/2 * ||w||^2.
    w = plain.discriminator.linear.weight
    expected = plain.discriminator_loss(real, fake).loss + 1.0 * w.pow(2).sum()
    out = penalised.discriminator_loss(real, fake)
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    out.loss.backward()
    plain_grad = torch.autograd.grad(plain.discriminator_loss(real, fake).loss, w)[0]
    # The penalty's gradient reaches D's weights: d/dw (||w||^2) = 2w on top of the plain gradient.
    assert torch.allclose(penalised.discriminator.linear.weight.grad, plain_grad + 2 * w, atol=1e-6)


def test_options_rebuild_a_model_that_trains_the_same_way():
    chosen = {"chain_steps": 3, "backprop_steps": 2, "loss": "lsgan", "z_consistency": 0.1,
              "x_consistency": 2.0, "reconstruction": "crps", "critic_states": 2, "persistent": 0.7,
              "random_steps": True, "r1": 0.5, "pack": 2, "stationarity": 3, "bounded": True,
              "hide": 0.3, "walkback": 2.0, "walkback_steps": 4}
    model = GibbsNet(gn.architectures.build("test_linear", X_SHAPE, Z_DIM), X_SHAPE, Z_DIM, **chosen)
    assert model.options() == chosen  # every setting is reported, none left at its default


class RecordingCritic(torch.nn.Module):
    """D(x, z) = a linear score of the flattened pair; records the shapes it is given."""

    def __init__(self, n_in: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(n_in, 1)
        self.shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self.shapes.append((tuple(x.shape), tuple(z.shape)))
        return self.linear(torch.cat([x.flatten(1), z], 1))


@pytest.mark.parametrize("m", [2, 4])
def test_packing_shows_d_packs_of_m_pairs_stacked_along_their_first_axis(m):
    arch = gn.architectures.build("test_linear", X_SHAPE, Z_DIM)
    critic = RecordingCritic(m * (16 + Z_DIM))
    model = GibbsNet(gn.Architecture(arch.encoder, arch.decoder, critic), X_SHAPE, Z_DIM, pack=m)
    x = torch.rand(8, *X_SHAPE)
    real, fake = model.clamped(x), model.unclamped(8)
    out = model.discriminator_loss(real, fake)
    assert critic.shapes == [((8 // m, m * X_SHAPE[0], 4, 4), (8 // m, m * Z_DIM))] * 2
    # one logit per pack: the pack's first pair comes first along the stacked axis
    packed_x = x.reshape(8 // m, m, 16)
    z = real[1].reshape(8 // m, m, Z_DIM)
    by_hand = critic.linear(torch.cat([packed_x.flatten(1), z.flatten(1)], 1)).reshape(-1)
    assert torch.allclose(model.judge(real), by_hand)
    assert out.loss.isfinite()
    with pytest.raises(ValueError, match=f"a batch of 5 items does not split into packs of {m}"):
        model.judge((x[:5], real[1][:5]))


def test_a_packed_recipe_builds_d_for_packed_inputs_from_the_same_architecture():
    from conftest import tiny_recipe
    from gibbsnet_plugin.factory import build_model

    model = build_model(tiny_recipe(model={"architecture": "conv8", "pack": 2, "options": {}}), (1, 8, 8))
    first = next(m for m in model.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 2  # two 1-channel images side by side
    z_branch = next(m for m in model.discriminator.z_net.modules() if isinstance(m, torch.nn.Linear))
    assert z_branch.in_features == 2 * 8
    assert model.judge((torch.zeros(4, 1, 8, 8), torch.zeros(4, 8))).shape == (2,)


@pytest.mark.parametrize("architecture", ["conv8", "mlp"])
def test_default_networks_step_one_chain_independently_of_its_batch_once_calibrated(architecture):
    """The built models normalise with stored batch statistics per chain step at inference: a
    chain's next state depends on its own state and noise only; with batch statistics (training
    mode) it depends on the others."""
    from conftest import tiny_recipe
    from gibbsnet_plugin.calibration import calibrate_batchnorm
    from gibbsnet_plugin.factory import build_model

    model = build_model(tiny_recipe(model={"architecture": architecture, "options": {}}), (1, 8, 8))
    calibrate_batchnorm(model, chains=32, steps=8, seed=0)
    torch.manual_seed(1)
    state = model.start(4)
    other = tuple(t.clone() for t in state)
    other[0][1:], other[1][1:] = torch.rand(3, 1, 8, 8) * 2 - 1, 3 * torch.randn(3, 8)
    for training, same in ((False, True), (True, False)):
        model.train(training)
        torch.manual_seed(5)
        a = model.step(state, 3)
        torch.manual_seed(5)
        b = model.step(other, 3)
        assert torch.allclose(a[0][0], b[0][0], atol=1e-6) is same
