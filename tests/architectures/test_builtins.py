"""Built-in architectures (gibbsnet_plugin/architectures/)."""

from __future__ import annotations

import pytest
import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.architectures.base import shown_cells
from gibbsnet_plugin.chains import check_architecture

SHAPES = {"mlp": (2, 5, 3), "conv8": (1, 8, 8), "conv28": (1, 28, 28), "conv32": (3, 32, 32)}


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_builtin_shapes_and_output_range(name, norm):
    torch.manual_seed(0)
    shape = SHAPES[name]
    arch = gn.architectures.build(name, shape, 6, norm=norm)
    check_architecture(arch, shape, 6, name)
    x = torch.rand(3, *shape) * 2 - 1
    z = arch.encoder(x)
    x2 = arch.decoder(z)
    assert z.shape == (3, 6) and x2.shape == (3, *shape)
    assert x2.min() >= -1 and x2.max() <= 1
    assert arch.discriminator(x, z).shape == (3,)


@pytest.mark.parametrize("name", ["conv8", "conv28", "conv32"])
def test_conv_architectures_refuse_other_shapes(name):
    size = name.removeprefix("conv")
    with pytest.raises(ValueError, match=rf"'{name}' needs images of C×{size}×{size}, got data of "
                                         r"shape 1×9×9; use 'mlp'"):
        gn.architectures.build(name, (1, 9, 9), 4)


@pytest.mark.parametrize("name", ["conv8", "conv28", "conv32"])
def test_conv_architectures_take_any_number_of_channels(name):
    size = int(name.removeprefix("conv"))
    arch = gn.architectures.build(name, (2, size, size), 4)
    check_architecture(arch, (2, size, size), 4, name)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("posterior", "laplace", "posterior must be one of sigmoid, gaussian"),
    ("norm", "instance", "norm must be one of batch, layer, none"),
    ("dropout", 1.0, r"dropout must be in \[0, 1\)"),
    ("standardize", "layer", "standardize must be one of sample, batch, none"),
    ("decoder_noise", -1, "decoder_noise must be between 0 and"),
])
def test_invalid_options_are_refused(option, value, message):
    with pytest.raises(ValueError, match=message):
        gn.architectures.build("conv8", (1, 8, 8), 4, **{option: value})


@pytest.mark.parametrize("option", ["linear_path", "shown_cells"])
def test_mlp_refuses_a_switch_that_is_not_a_boolean(option):
    with pytest.raises(ValueError, match=f"{option} must be true or false, got 'decoder'"):
        gn.architectures.build("mlp", (4,), 3, **{option: "decoder"})


@pytest.mark.parametrize("z_dim", [3, [3, 2]])
def test_a_shown_cells_decoder_reads_the_shown_cells_inside_a_partially_clamped_step(z_dim):
    """Outside ``shown_cells`` (an unclamped chain) it is given no cells; inside, the values of
    the shown cells steer it and those of the hidden cells do not."""
    torch.manual_seed(0)
    arch = gn.architectures.build("mlp", (5,), z_dim, hidden=[8], norm="layer", output="linear",
                                  decoder_noise=0, shown_cells=True)
    decoder = arch.decoder if z_dim == 3 else arch.decoders[0]
    z = torch.randn(4, 3)
    x = torch.randn(4, 5)
    shown = torch.tensor([True, True, False, False, True]).expand(4, 5)
    nothing = torch.zeros(4, 5, dtype=torch.bool)
    with shown_cells(x, nothing):
        unclamped = decoder(z)
    assert torch.equal(decoder(z), unclamped)
    with shown_cells(x, shown):
        given = decoder(z)
    assert not torch.allclose(given, unclamped)
    hidden_moved, shown_moved = x.clone(), x.clone()
    hidden_moved[:, 2] += 5
    shown_moved[:, 0] += 5
    with shown_cells(hidden_moved, shown):
        assert torch.equal(decoder(z), given)
    with shown_cells(shown_moved, shown):
        assert not torch.allclose(decoder(z), given)
    with shown_cells(x[:2], shown[:2]), pytest.raises(ValueError, match="shown cells are"):
        decoder(z)


def test_mlp_linear_path_starts_as_the_plain_decoder_and_maps_z_only():
    torch.manual_seed(0)
    plain = gn.architectures.build("mlp", (5,), 3, hidden=[8], norm="layer", output="linear")
    torch.manual_seed(0)
    paths = gn.architectures.build("mlp", (5,), 3, hidden=[8], norm="layer", output="linear",
                                   linear_path=True)
    z = torch.randn(4, 3)
    torch.manual_seed(1)
    expected = plain.decoder(z)
    torch.manual_seed(1)
    assert torch.equal(paths.decoder(z), expected)  # the affine map starts at zero
    path = paths.decoder.body[0]
    with torch.no_grad():
        for layer in (path.body[-1], path.linear):
            layer.weight.normal_()
            layer.bias.normal_()
        path.body[-1].weight.zero_()
        path.body[-1].bias.zero_()
    # only the affine map of z is left: the decoder's noise no longer moves its output
    torch.testing.assert_close(paths.decoder(z), paths.decoder(z))
    torch.testing.assert_close(paths.decoder(z), z @ path.linear.weight.T + path.linear.bias)
    assert not torch.equal(plain.decoder(z), plain.decoder(z))


def _fit_a_linear_map(linear_path: bool, steps: int = 600) -> float:
    torch.manual_seed(0)
    arch = gn.architectures.build("mlp", (3,), 2, hidden=[8], norm="layer", output="linear",
                                  decoder_noise=0, linear_path=linear_path)
    weights = torch.tensor([[1.0, -2.0, 0.5], [3.0, 1.0, -1.0]])
    optimizer = torch.optim.Adam(arch.decoder.parameters(), lr=1e-2)
    for _ in range(steps):
        z = torch.randn(64, 2) * 3
        loss = (arch.decoder(z) - z @ weights).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    z = torch.randn(1000, 2) * 3
    return (arch.decoder(z) - z @ weights).pow(2).mean().item()


def test_mlp_linear_path_fits_a_linear_map_closer():
    """A column that is a linear function of z (as CPS1985's education is of age and
    experience) is fitted far more closely with the linear path than by the ReLU body alone."""
    assert _fit_a_linear_map(True) < _fit_a_linear_map(False) / 5


@pytest.mark.parametrize("posterior", ["sigmoid", "gaussian"])
def test_encoder_samples_around_the_mean_with_positive_spread(posterior):
    torch.manual_seed(0)
    arch = gn.architectures.build("mlp", (4,), 3, hidden=[8], posterior=posterior, standardize=False)
    x = torch.rand(1, 4).expand(256, 4)
    z = arch.encoder.eval()(x)
    assert (z.std(0) > 0).all()
    mu = arch.encoder.features(x[:1]).chunk(2, dim=1)[0]
    assert torch.allclose(z.mean(0), mu[0], atol=0.4 if posterior == "sigmoid" else 3.0)


def test_decoder_noise_makes_decoding_stochastic_and_standardize_normalises_codes():
    torch.manual_seed(0)
    arch = gn.architectures.build("conv8", (1, 8, 8), 4, decoder_noise=8)
    z = torch.randn(5, 4)
    arch.decoder.eval()
    assert not torch.equal(arch.decoder(z), arch.decoder(z))
    codes = arch.encoder.train()(torch.rand(64, 1, 8, 8) * 2 - 1)
    assert torch.allclose(codes.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(codes.std(0, unbiased=False), torch.ones(4), atol=1e-3)


def test_mlp_linear_output_is_unbounded_and_tanh_stays_the_default():
    torch.manual_seed(0)
    tanh = gn.architectures.build("mlp", (2,), 4, hidden=[16], norm="none")
    linear = gn.architectures.build("mlp", (2,), 4, hidden=[16], norm="none", output="linear")
    linear.decoder.load_state_dict(tanh.decoder.state_dict())
    z = 50 * torch.randn(64, 4)
    torch.manual_seed(1)
    bounded = tanh.decoder(z)
    torch.manual_seed(1)  # same decoder noise
    free = linear.decoder(z)
    assert bounded.min() >= -1 and bounded.max() <= 1
    assert free.abs().max() > 1
    assert torch.allclose(torch.tanh(free), bounded)
    with pytest.raises(ValueError, match="output must be one of tanh, clip, linear, got 'relu'"):
        gn.architectures.build("mlp", (2,), 4, output="relu")


@pytest.mark.parametrize("name,shape,options", [
    ("conv8", (1, 8, 8), {}), ("conv8", (1, 8, 8), {"z_stride": 2}), ("conv28", (1, 28, 28), {}),
    ("conv28", (1, 28, 28), {"z_stride": 4}), ("mlp", (1, 8, 8), {"hidden": [16]}),
])
def test_clip_output_reaches_the_bounds_exactly_and_keeps_the_decoder(name, shape, options):
    torch.manual_seed(0)
    tanh = gn.architectures.build(name, shape, 4, **options)
    with torch.no_grad():  # a last layer strong enough to push pixels past the bounds
        [*tanh.decoder.parameters()][-2].mul_(100)
    clip = gn.architectures.build(name, shape, 4, output="clip", **options)
    clip.decoder.load_state_dict(tanh.decoder.state_dict())
    tanh.decoder.eval(), clip.decoder.eval()
    z = torch.randn(16, *tanh.shape(4))
    torch.manual_seed(1)
    squashed = tanh.decoder(z)
    torch.manual_seed(1)  # same decoder noise
    clipped = clip.decoder(z)
    assert squashed.abs().max() <= 1
    assert clipped.min() == -1 and clipped.max() == 1  # a background can be drawn exactly
    inside = clipped.abs() < 1
    assert inside.any()
    assert torch.allclose(torch.tanh(clipped[inside]), squashed[inside])
    assert (squashed[~inside].sign() == clipped[~inside]).all()


@pytest.mark.parametrize("name,shape", [("conv8", (1, 8, 8)), ("conv28", (1, 28, 28))])
def test_clip_output_reaches_the_data_layer_of_a_hierarchy(name, shape):
    torch.manual_seed(0)
    clip = gn.architectures.build(name, shape, [4, 4], output="clip")
    torch.manual_seed(0)  # the same weights: the output adds none
    linear = gn.architectures.build(name, shape, [4, 4], output="linear")
    bottoms = [arch.decoders[0].eval() for arch in (clip, linear)]
    with torch.no_grad():  # a last layer strong enough to push pixels past the bounds
        for bottom in bottoms:
            [*bottom.parameters()][-2].mul_(100)
    z1 = torch.randn(8, *(clip.latent_shapes[0] if clip.latent_shapes else (4,)))
    torch.manual_seed(1)
    x = bottoms[0](z1)
    torch.manual_seed(1)  # same decoder noise
    raw = bottoms[1](z1)
    assert x.shape[1:] == shape
    assert raw.abs().max() > 1
    assert torch.equal(x, raw.clamp(-1, 1))
