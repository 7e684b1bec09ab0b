"""Discriminator-corrected chains (gibbsnet_plugin/chains/corrected.py): GibbsNet steps mixed with
Metropolis-Hastings independence moves that D accepts or rejects."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import gibbsnet_plugin as gn
from gibbsnet_plugin.chains import ChainModel, GibbsNet, Update, corrected_states

X_SHAPE = (1, 4, 4)
Z_DIM = 3
N = 3
"""The chain length the stub models are trained with (``trained_steps``): proposals run N steps."""


def linear_model(**settings) -> GibbsNet:
    torch.manual_seed(0)
    arch = gn.architectures.build("test_linear", X_SHAPE, Z_DIM)
    return GibbsNet(arch, X_SHAPE, Z_DIM, chain_steps=N, **settings).eval()


class Counting(ChainModel):
    """x counts its chain's steps: 1 after step 1 whatever the prior drew (|z0| < 5), t after
    step t. D scores every item ``early`` before step N and ``late`` from step N on (an ``lsgan``
    D scores probabilities; packs of m items score the sum of theirs)."""

    kind = "counting"
    start_layers = (1,)
    first_block = 1

    def __init__(self, early: float, late: float, **settings) -> None:
        super().__init__((1,), [(1,)], chain_steps=N, **settings)
        self.weight = nn.Parameter(torch.zeros(()))  # gives the model a device
        self.early, self.late = early, late

    def schedule(self) -> list[tuple[Update, ...]]:
        return [(Update(1, lambda s: s[0] + 10, (0,)),),
                (Update(0, lambda s: torch.where(s[1] < 5, 1.0, s[1] - 9), (1,)),)]

    def clamped(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return x, x + 10

    def critique(self, x: torch.Tensor, zs: list[torch.Tensor]) -> torch.Tensor:
        return torch.where(x >= N, self.late, self.early).sum(1)


def test_independent_0_is_the_plain_chain_exactly():
    model = linear_model()
    torch.manual_seed(5)
    plain = model.states(6, [1, 3, 7])
    torch.manual_seed(5)
    chains = corrected_states(model, 6, [7, 1, 3, 3], 0.0)
    assert chains.steps == [1, 3, 7] and chains.acceptance is None
    assert all(torch.equal(a, b) for s, r in zip(plain, chains.states, strict=True)
               for a, b in zip(s, r, strict=True))
    z0 = torch.randn(6, Z_DIM)
    torch.manual_seed(5)
    from_codes = model.states(6, [4], z0=z0)[0]
    torch.manual_seed(5)
    assert all(torch.equal(a, b) for a, b in zip(
        from_codes, corrected_states(model, 6, [4], 0.0, z0=z0).states[0], strict=True))


def test_independent_0_is_the_plain_partially_clamped_chain_exactly():
    model = linear_model()
    x, mask = torch.rand(6, *X_SHAPE) * 2 - 1, (torch.rand(X_SHAPE) > 0.5).float()
    torch.manual_seed(2)
    filled = model.inpaint(x, mask, 5)
    torch.manual_seed(2)
    chains = corrected_states(model, 6, [5], 0.0, x_observed=x, mask=mask)
    assert torch.equal(chains.states[0][0], filled)


@pytest.mark.parametrize("early, late, loss, expected", [
    (0.0, math.log(0.25), "bce", 0.25),  # the proposal's logit is log(1/4) below the state's
    (math.log(0.25), 0.0, "bce", 1.0),  # a proposal D prefers is always accepted
    (0.5, 0.2, "lsgan", 0.25),  # an lsgan D's scores are probabilities: odds 1 and 1/4
], ids=["lower", "higher", "lsgan"])
def test_proposals_are_accepted_at_d_s_density_ratio(early, late, loss, expected):
    model = Counting(early, late, loss=loss)
    torch.manual_seed(0)
    chains = corrected_states(model, 4000, [2], 1.0)
    x = chains.states[0][0].flatten()
    assert chains.proposals == [4000] and abs(chains.acceptance - expected) < 0.03
    # an accepted chain holds the fresh chain's N-step state; a rejected one keeps its step-1 state
    assert set(x.tolist()) <= {1.0, float(N)}
    assert chains.accepted == [int((x == N).sum())]


def test_without_a_proposal_a_chain_takes_an_ordinary_step():
    model = Counting(0.0, math.log(0.25))
    torch.manual_seed(1)
    chains = corrected_states(model, 4000, [2], 0.5)
    x = chains.states[0][0].flatten()
    assert chains.proposals == [int((x != 2).sum())] and abs(chains.proposals[0] / 4000 - 0.5) < 0.03


def test_a_d_that_always_gives_the_same_logit_accepts_every_proposal(monkeypatch):
    model = linear_model()
    monkeypatch.setattr(model, "critique", lambda x, zs: torch.full((x.shape[0],), 1.7))
    torch.manual_seed(3)
    chains = corrected_states(model, 8, [2, 5], 1.0)
    assert chains.proposals == [8, 32] and chains.accepted == [8, 32]
    assert chains.acceptance == 1.0 and chains.acceptance_by_step == [1.0, 1.0]


def test_packs_propose_and_accept_together_with_their_joint_logit():
    model = Counting(0.0, math.log(0.25), pack=2)
    torch.manual_seed(0)
    chains = corrected_states(model, 4000, [2], 1.0)
    x = chains.states[0][0].view(2000, 2)
    assert torch.equal(x[:, 0], x[:, 1])  # one decision per pack
    assert chains.proposals == [2000] and abs(chains.acceptance - 0.25 ** 2) < 0.02


def test_chains_that_do_not_split_into_packs_are_refused_in_one_line():
    with pytest.raises(ValueError, match="packs of 2 chains") as error:
        corrected_states(Counting(0.0, 0.0, pack=2), 5, [3], 0.5)
    assert "\n" not in str(error.value)
    corrected_states(Counting(0.0, 0.0, pack=2), 5, [3], 0.0)  # the plain chain has no packs


@pytest.mark.parametrize("independent", [-0.1, 1.5, math.nan])
def test_a_probability_outside_0_1_is_refused(independent):
    with pytest.raises(ValueError, match="between 0 and 1"):
        corrected_states(linear_model(), 4, [3], independent)


def test_a_model_whose_kind_supplies_no_critique_is_refused():
    class Mute(Counting):
        critique = ChainModel.critique

    with pytest.raises(ValueError, match="supplies no critique"):
        corrected_states(Mute(0.0, 0.0), 4, [3], 0.5)


def test_corrected_inpainting_keeps_the_observed_entries_bit_for_bit():
    model = linear_model()
    x, mask = torch.rand(8, *X_SHAPE) * 2 - 1, (torch.rand(8, *X_SHAPE) > 0.5).float()
    torch.manual_seed(4)
    chains = corrected_states(model, 8, [1, 2, 10], 0.7, x_observed=x, mask=mask)
    for state in chains.states:
        assert torch.equal(state[0][mask.bool()], x[mask.bool()])
    assert chains.proposals[-1] > 0


def test_corrected_chains_are_reproducible_without_autograd_and_report_each_step():
    model = linear_model()
    seen: list[int] = []
    runs = []
    for callback in (seen.append, None):
        torch.manual_seed(9)
        runs.append(corrected_states(model, 6, [2, 6], 0.5, callback=callback))
    assert seen == [1, 2, 3, 4, 5, 6]
    first, second = runs
    assert first.proposals == second.proposals and first.accepted == second.accepted
    for a, b in zip(first.states, second.states, strict=True):
        assert all(torch.equal(u, v) and not u.requires_grad for u, v in zip(a, b, strict=True))
    torch.manual_seed(9)
    plain = model.states(6, [6])[0][0]
    assert not torch.equal(plain, first.states[1][0])  # the proposals changed the chain


def test_the_restart_control_accepts_every_proposal_where_d_would_reject_them():
    """``restart`` is the control without D: the same proposals under the same seed, all taken."""
    model = Counting(0.0, math.log(0.25))
    torch.manual_seed(0)
    judged = corrected_states(model, 4000, [2], 1.0)
    torch.manual_seed(0)
    restarted = corrected_states(model, 4000, [2], 1.0, restart=True)
    assert abs(judged.acceptance - 0.25) < 0.03
    assert restarted.acceptance == 1.0 and restarted.proposals == judged.proposals
    assert set(restarted.states[0][0].flatten().tolist()) == {float(N)}
