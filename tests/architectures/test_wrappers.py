"""Network wrappers any architecture can use (gibbsnet_plugin/architectures/wrappers.py)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import gibbsnet_plugin as gn
from conftest import FixedRow
from gibbsnet_plugin.architectures.wrappers import (
    CategoricalDraws,
    NoisyInput,
    Standardized,
    draw_categories,
    stabilise,
)

X_SHAPE, Z_DIM = (1, 8, 8), 4


def plain_mlp() -> gn.Architecture:
    torch.manual_seed(0)
    return gn.architectures.build("mlp", X_SHAPE, Z_DIM, hidden=[32], posterior="gaussian",
                                  standardize=False, decoder_noise=0, dropout=0.0, norm="none")


def largest_singular_values(d: nn.Module) -> list[float]:
    weights = [m.weight for m in d.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return [torch.linalg.matrix_norm(w.detach().flatten(1), ord=2).item() for w in weights]


def push_d(d: nn.Module, steps: int = 30) -> None:
    """Train D to separate two clouds with a large learning rate, which grows its weights."""
    opt = torch.optim.SGD(d.parameters(), lr=0.5)
    torch.manual_seed(1)
    for _ in range(steps):
        x, z = torch.randn(64, *X_SHAPE), torch.randn(64, Z_DIM)
        loss = -(d(x + 2, z) - d(x - 2, z)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_spectral_norm_bounds_every_layer_of_d():
    free, bounded = plain_mlp(), stabilise(plain_mlp(), Z_DIM, spectral=True)
    push_d(free.discriminator)
    push_d(bounded.discriminator)
    assert max(largest_singular_values(free.discriminator)) > 2.0
    values = largest_singular_values(bounded.discriminator)
    assert len(values) == 3 and max(values) < 1.05


def test_spectral_norm_needs_layers_to_normalise():
    arch = plain_mlp()
    arch.discriminator = nn.Identity()
    with pytest.raises(ValueError, match="no linear or convolutional layer"):
        stabilise(arch, Z_DIM, spectral=True)


def test_standardized_encoder_has_zero_mean_unit_variance_per_dimension():
    arch = stabilise(plain_mlp(), Z_DIM, standardize=True)
    assert isinstance(arch.encoder, Standardized)
    z = arch.encoder(torch.rand(256, *X_SHAPE) * 5)
    assert torch.allclose(z.mean(0), torch.zeros(Z_DIM), atol=1e-5)
    assert torch.allclose(z.var(0, unbiased=False), torch.ones(Z_DIM), atol=1e-3)
    arch.encoder.eval()  # running statistics: one image's code does not depend on its batch
    x = torch.rand(5, *X_SHAPE)
    torch.manual_seed(3)
    raw = arch.encoder.encoder(x)
    torch.manual_seed(3)
    z = arch.encoder(x)
    norm = arch.encoder.standardize
    expected = (raw - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
    assert torch.allclose(z, expected, atol=1e-6)


def test_noisy_input_makes_the_decoder_stochastic_and_learns_its_mixing():
    arch = stabilise(plain_mlp(), Z_DIM, decoder_noise=6)
    assert isinstance(arch.decoder, NoisyInput)
    z = torch.randn(3, Z_DIM)
    a, b = arch.decoder(z), arch.decoder(z)
    assert a.shape == (3, *X_SHAPE) and not torch.allclose(a, b)
    a.sum().backward()
    assert arch.decoder.noise.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="decoder_noise must be >= 0"):
        stabilise(plain_mlp(), Z_DIM, decoder_noise=-1)


def test_stabilise_with_nothing_chosen_keeps_the_networks():
    arch = plain_mlp()
    same = stabilise(arch, Z_DIM)
    assert (same.encoder, same.decoder, same.discriminator) == (arch.encoder, arch.decoder,
                                                                 arch.discriminator)


def test_categorical_draws_are_one_hot_codes_at_the_softmax_frequencies():
    logits = [0.0, 1.0, 2.0]
    decoder = CategoricalDraws(FixedRow([0.3, *logits, -0.7]), [(1, 3)])
    torch.manual_seed(0)
    x = decoder(torch.zeros(20000, 2))
    assert torch.equal(x[:, 0], torch.full((20000,), 0.3))  # numbers pass through
    assert torch.equal(x[:, 4], torch.full((20000,), -0.7))
    block = x[:, 1:4]
    assert set(block.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal((block == 1).sum(1), torch.ones(20000, dtype=torch.long))
    frequencies = (block == 1).float().mean(0)
    assert torch.allclose(frequencies, torch.softmax(torch.tensor(logits), 0), atol=0.01)


def test_categorical_draws_pass_gradients_to_the_logits():
    decoder = CategoricalDraws(FixedRow([0.0, 0.0, 0.0, 0.0]), [(0, 2), (2, 2)])
    torch.manual_seed(0)
    # a loss that falls as category 0 of the first block is drawn: descent raises its logit
    (-decoder(torch.zeros(256, 1))[:, 0]).sum().backward()
    grad = decoder.decoder.row.grad
    assert grad[0] < 0 < grad[1]
    assert torch.equal(grad[2:], torch.zeros(2))


def test_log_scores_are_each_blocks_cross_entropy_spread_over_its_entries():
    decoder = CategoricalDraws(FixedRow([0.0]), [(1, 3), (4, 2)])
    logits = torch.tensor([[9.0, 0.0, 1.0, 2.0, 5.0, 5.0],
                           [9.0, 3.0, 0.0, 0.0, 0.0, 1.0]])
    code = torch.tensor([[0.5, -1.0, -1.0, 1.0, 1.0, -1.0],   # categories 2 and 0
                         [0.5, 1.0, -1.0, -1.0, -1.0, 1.0]])  # categories 0 and 1
    scores, inside = decoder.log_scores(logits, code)
    assert inside.tolist() == [False, True, True, True, True, True]
    assert torch.equal(scores[:, 0], torch.zeros(2))  # numbers are not scored here
    first = torch.log(torch.tensor([1 + math.e + math.e ** 2])) - 2  # -log softmax(0, 1, 2)[2]
    assert torch.allclose(scores[0, 1:4], (first / 3).expand(3))
    assert torch.allclose(scores[0, 4:], torch.full((2,), math.log(2) / 2))
    second = torch.log(1 + 2 * torch.exp(torch.tensor(-3.0)))  # -log softmax(3, 0, 0)[0]
    assert torch.allclose(scores[1, 1:4], (second / 3).expand(3))
    assert torch.allclose(scores[1, 4:], torch.log(1 + torch.exp(torch.tensor(-1.0))).expand(2) / 2)


def test_categorical_draws_refuse_an_unknown_score():
    with pytest.raises(ValueError, match="category_score must be 'log' or 'brier', got 'hinge'"):
        CategoricalDraws(FixedRow([0.0]), [(0, 1)], score="hinge")


def test_draw_categories_wraps_the_decoder_of_x_only():
    arch = draw_categories(plain_mlp(), [(0, 4)])
    assert isinstance(arch.decoder, CategoricalDraws)
    x = arch.decoder(torch.randn(5, Z_DIM))
    assert torch.equal((x.flatten(1)[:, :4] == 1).sum(1), torch.ones(5, dtype=torch.long))
