"""D's held-out AUC of data against chain states (gibbsnet_plugin/metrics/critic.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import gibbsnet_plugin as gn
from gibbsnet_plugin.chains import GibbsNet
from gibbsnet_plugin.metrics.critic import critic_auc, critic_steps

X_SHAPE = (1, 8, 8)


class Replay(nn.Module):
    """A decoder that ignores z and returns ``source`` images: noise, or real data."""

    def __init__(self, source: torch.Tensor) -> None:
        super().__init__()
        self.source = source
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        pick = torch.randint(len(self.source), (z.shape[0],))
        return self.source[pick] + 0 * self.anchor


class MeanEncoder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).mean(1, keepdim=True)


class Likeness(nn.Module):
    """D(x, z): minus the distance of x to the mean digit (data score high, noise low); packed
    x of m channels is compared channel by channel."""

    def __init__(self, mean: torch.Tensor) -> None:
        super().__init__()
        self.mean = mean

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return -(x - self.mean).pow(2).flatten(1).sum(1)


def _model(source: torch.Tensor, mean: torch.Tensor, pack: int = 1) -> GibbsNet:
    arch = gn.Architecture(MeanEncoder(), Replay(source), Likeness(mean))
    return GibbsNet(arch, X_SHAPE, 1, chain_steps=3, pack=pack).eval()


@pytest.fixture(scope="module")
def digits() -> tuple[TensorDataset, torch.Tensor]:
    train = gn.datasets.build("digits", "", train=True).tensors[0]
    test = gn.datasets.build("digits", "", train=False)
    return test, train


@pytest.mark.parametrize("pack", [1, 4])
def test_auc_separates_data_from_noise_and_not_data_from_data(digits, pack):
    test, train = digits
    mean = train.mean(0)
    torch.manual_seed(0)
    noise = _model(torch.rand(500, *X_SHAPE) * 2 - 1, mean, pack)
    real = _model(train, mean, pack)
    steps = critic_steps(3)
    assert steps == [3, 100, 1000]
    assert all(auc > 0.99 for auc in critic_auc(noise, test, steps, seed=0).values())
    assert all(0.4 < auc < 0.6 for auc in critic_auc(real, test, steps, seed=0).values())


def test_auc_is_seeded_and_leaves_the_global_random_state_alone(digits):
    test, train = digits
    model = _model(train, train.mean(0))
    torch.manual_seed(1)
    before = torch.random.get_rng_state()
    a = critic_auc(model, test, [1, 3], seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert a == critic_auc(model, test, [1, 3], seed=7)
    assert a != critic_auc(model, test, [1, 3], seed=8)


def test_evaluate_reports_the_critic_scores(run):
    result = gn.evaluate(run, metrics=["critic"], device="cpu", num_samples=64)
    scores = result["scores"]
    assert set(scores) == {"critic_auc", "critic_auc_100", "critic_auc_1000"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert result["details"]["critic"]["items"] == 64
