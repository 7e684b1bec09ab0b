"""The built-in corruptions y = f(x): what each does to images, gradients, and bad options."""

from __future__ import annotations

import pytest
import torch

import gibbsnet_plugin.corruptions as corruptions


def images(n: int = 4, shape: tuple[int, ...] = (1, 8, 8)) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_the_built_ins_are_registered():
    assert {"noise", "blur", "downsample", "drop"} <= set(corruptions.names())


def test_noise_adds_gaussian_noise_of_the_given_std():
    torch.manual_seed(0)
    x = torch.zeros(200, 1, 8, 8)
    y = corruptions.build("noise", (1, 8, 8), sigma=0.3)(x)
    assert y.std().item() == pytest.approx(0.3, rel=0.05)
    assert y.mean().item() == pytest.approx(0.0, abs=0.01)


def test_blur_keeps_constants_and_averages_neighbours():
    f = corruptions.build("blur", (1, 8, 8), sigma=1.0)
    flat = torch.full((1, 1, 8, 8), 0.4)
    assert torch.allclose(f(flat), flat, atol=1e-6)
    spike = torch.zeros(1, 1, 8, 8)
    spike[0, 0, 4, 4] = 1.0
    y = f(spike)
    assert y[0, 0, 4, 4] < 0.2 and y[0, 0, 4, 5] > 0 and y.sum().item() == pytest.approx(1.0, abs=0.02)


def test_blur_with_noise_is_random_and_without_is_not():
    x = images()
    plain = corruptions.build("blur", (1, 8, 8), sigma=1.0)
    noisy = corruptions.build("blur", (1, 8, 8), sigma=1.0, noise=0.1)
    assert torch.equal(plain(x), plain(x))
    assert (noisy(x) - plain(x)).std().item() == pytest.approx(0.1, rel=0.25)


def test_downsample_averages_blocks_and_keeps_the_shape():
    x = images()
    y = corruptions.build("downsample", (1, 8, 8), factor=2)(x)
    assert y.shape == x.shape
    assert torch.allclose(y[:, :, 0, 0], x[:, :, :2, :2].mean((-1, -2)))
    assert torch.equal(y[:, :, 0, 0], y[:, :, 1, 1])
    small = corruptions.build("downsample", (1, 8, 8), factor=4, keep_shape=False)(x)
    assert small.shape == (4, 1, 2, 2)


def test_drop_replaces_whole_pixels_with_the_value():
    torch.manual_seed(0)
    x = images(500, (3, 8, 8))
    y = corruptions.build("drop", (3, 8, 8), p=0.3, value=-1.0)(x)
    dropped = (y != x).any(1)
    assert dropped.float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert bool((y.permute(0, 2, 3, 1)[dropped] == -1.0).all())


@pytest.mark.parametrize("name", ["noise", "blur", "downsample", "drop"])
def test_every_built_in_is_differentiable_in_x(name):
    x = images().requires_grad_(True)
    corruptions.build(name, (1, 8, 8))(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name, options, words", [
    ("noise", {"sigma": 0}, "sigma must be > 0"),
    ("blur", {"sigma": -1}, "sigma must be > 0"),
    ("downsample", {"factor": 3}, "must divide the image size 8×8"),
    ("downsample", {"factor": 1}, "integer >= 2"),
    ("drop", {"p": 1.0}, "p must be in (0, 1)"),
])
def test_bad_options_are_value_errors_that_say_what_is_expected(name, options, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        corruptions.build(name, (1, 8, 8), **options)


@pytest.mark.parametrize("name", ["noise", "blur", "downsample", "drop"])
def test_built_ins_pickle_for_data_loader_workers(name):
    import pickle

    f = corruptions.build(name, (1, 8, 8))
    x = images()
    torch.manual_seed(3)
    expected = f(x)
    torch.manual_seed(3)
    assert torch.equal(pickle.loads(pickle.dumps(f))(x), expected)
