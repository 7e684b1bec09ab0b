"""Discriminator-corrected chains: GibbsNet steps mixed with Metropolis-Hastings independence moves
that use the trained discriminator's density ratio.

D was trained to tell clamped states of data (label 1) from the states of N-step unclamped chains
started from noise (label 0), N = ``model.trained_steps``. At its optimum
D = p_data / (p_data + q_N), so ``exp(log_ratio(s))`` estimates p_data(s) / q_N(s), with q_N the
distribution of those N-step states. An independence sampler whose proposal is a fresh N-step
chain, accepted with probability min(1, ratio(s') / ratio(s)), then targets p_data wherever D is
right (Turner et al. 2019, "Metropolis-Hastings Generative Adversarial Networks"; the implicit
Metropolis-Hastings of Neklyudov et al., NeurIPS 2019, bounds the error by D's loss).

``corrected_states`` runs such chains: at each step t >= 2, with probability ``independent``
(per chain, per step) a chain proposes a fresh N-step state and accepts or rejects it; otherwise
it takes an ordinary GibbsNet step, always accepted. Only the independence moves are corrected:
the mixture is a heuristic that keeps the GibbsNet step's local moves and lets the chain jump
between modes. With PacGAN packs (``pack`` m > 1) D judges m consecutive chains together, so
each pack proposes and accepts together (one uniform per pack, D's joint logit): Metropolis-
Hastings on the product of the m chains.

Partially clamped chains (inpainting, imputation) work the same way: the proposal is a fresh
partially clamped chain of N steps and every step keeps the observed entries. D was trained
against unclamped chains, so there its ratio is a heuristic weight too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gibbsnet_plugin.chains.base import ChainModel, State, StepCallback

RATIO_EPS = 1e-6
"""An ``lsgan`` D's raw score d estimates p_data / (p_data + q_N) and is clamped to
[RATIO_EPS, 1 - RATIO_EPS] before its log-odds are taken, so scores outside (0, 1) give a large
but finite log ratio."""


@dataclass
class CorrectedStates:
    """The states of corrected chains at the recorded ``steps`` (``states``: one State per step,
    as ``ChainModel.states`` gives them), and for each recorded step the independent proposals
    made and accepted up to it (``proposals``, ``accepted``; packs of ``pack`` chains count
    once)."""

    steps: list[int]
    states: list[State]
    proposals: list[int]
    accepted: list[int]

    @property
    def acceptance(self) -> float | None:
        """Accepted independent proposals / proposals made, over the whole chain; None when no
        proposal was made (``independent`` 0, or chains of one step)."""
        return self.acceptance_by_step[-1]

    @property
    def acceptance_by_step(self) -> list[float | None]:
        """The acceptance rate of the proposals made up to each recorded step (None: none yet)."""
        return [a / p if p else None for a, p in zip(self.accepted, self.proposals, strict=True)]


def check_corrected(model: ChainModel, n: int, independent: float) -> None:
    """Refuse corrected chains that cannot run: ``independent`` outside [0, 1], or, when it is
    above 0, a model whose kind supplies no ``critique`` (D cannot judge its states) or ``n``
    chains that do not split into D's packs of ``model.pack``.

    Raises:
        ValueError: says what to change, in one line.
    """
    if not 0.0 <= independent <= 1.0:
        raise ValueError(f"the probability of an independent proposal per chain step must be "
                         f"between 0 and 1 (0: the plain chain), got {independent}")
    if independent == 0:
        return
    if type(model).critique is ChainModel.critique:
        raise ValueError(f"independent proposals need D's judgement, and the kind of a "
                         f"{type(model).__name__} model supplies no critique of its states; run the "
                         "plain chain (independent 0)")
    if n % model.pack:
        raise ValueError(f"D judges packs of {model.pack} chains, which propose and accept "
                         f"together, and {n} chains do not split into them; run a multiple of "
                         f"{model.pack} chains")


def log_ratio(model: ChainModel, state: State) -> torch.Tensor:
    """D's estimate of log(p_data / q_N) for chain states, (B,) or (B/m,) for packs of m: the
    logit of a ``bce`` D, the log-odds of an ``lsgan`` D's score (see ``RATIO_EPS``). A model of a
    corruption f is judged on f(x), as in training."""
    scores = model.judge((model.observe(state[0]), *state[1:]))
    return torch.logit(scores, eps=RATIO_EPS) if model.loss == "lsgan" else scores


class _Chains:
    """How the chains of ``corrected_states`` start and step, for chains ``rows`` (indices into
    the batch): unclamped (from the prior, or from the latents ``z0``), or partially clamped at
    ``x_observed`` where ``observed``."""

    def __init__(self, model: ChainModel, z0: Sequence[torch.Tensor] | torch.Tensor | None,
                 x_observed: torch.Tensor | None, observed: torch.Tensor | None,
                 restart: bool = False) -> None:
        self.model, self.z0 = model, z0
        self.x_observed, self.observed = x_observed, observed
        self.restart = restart

    def start(self, n: int) -> State:
        """Every chain's state after step 1."""
        if self.x_observed is None or self.observed is None:
            return self.model.start(n, self.z0)
        state = self.model.partial_start(self.x_observed, self.observed)
        return self.model.partial_step(state, self.x_observed, self.observed)

    def step(self, state: State, t: int, rows: torch.Tensor | None = None) -> State:
        """An ordinary step t of the chains ``rows`` (None: all) from their ``state``."""
        if self.x_observed is None or self.observed is None:
            return self.model.step(state, t if self.z0 is None else None)
        x_observed, observed = self.x_observed, self.observed
        if rows is not None:
            x_observed, observed = x_observed[rows], observed[rows]
        return self.model.partial_step(state, x_observed, observed)

    def fresh(self, rows: torch.Tensor) -> State:
        """The state of new chains for ``rows`` after the N = ``trained_steps`` steps D was
        trained against, from noise (partially clamped: the rows' observed entries kept)."""
        steps = self.model.trained_steps
        if self.x_observed is None or self.observed is None:
            return self.model.states(rows.shape[0], [steps])[0]
        x_observed, observed = self.x_observed[rows], self.observed[rows]
        state = self.model.partial_start(x_observed, observed)
        for _ in range(steps):
            state = self.model.partial_step(state, x_observed, observed)
        return state

    def advance(self, state: State, t: int, independent: float) -> tuple[State, int, int]:
        """Step t >= 2 of the chains in ``state``: each pack of ``pack`` chains proposes a fresh
        state with probability ``independent`` and accepts it with D's ratio (with ``restart``:
        always); the others take an ordinary step. Returns the new state, the proposals made and
        those accepted."""
        if independent == 0:
            return self.step(state, t), 0, 0
        pack, n = self.model.pack, state[0].shape[0]
        move = (torch.rand(n // pack, device=state[0].device) < independent).repeat_interleave(pack)
        rows, rest = move.nonzero().squeeze(1), (~move).nonzero().squeeze(1)
        if not rows.numel():
            return self.step(state, t), 0, 0
        new = _put(state, rest, self.step(_take(state, rest), t, rest)) if rest.numel() else state
        current, proposal = _take(state, rows), self.fresh(rows)
        if self.restart:
            gain = torch.full((rows.numel() // pack,), torch.inf, device=state[0].device)
        else:
            gain = log_ratio(self.model, proposal) - log_ratio(self.model, current)
        accept = torch.rand(gain.shape[0], device=gain.device).log() < gain
        take = accept.repeat_interleave(pack)
        chosen = tuple(torch.where(take.view(-1, *[1] * (p.dim() - 1)), p, c)
                       for p, c in zip(proposal, current, strict=True))
        return _put(new, rows, chosen), gain.shape[0], int(accept.sum())


def _take(state: State, rows: torch.Tensor) -> State:
    return tuple(layer[rows] for layer in state)


def _put(state: State, rows: torch.Tensor, values: State) -> State:
    """``state`` with the chains ``rows`` replaced by ``values``."""
    return tuple(layer.index_copy(0, rows, value) for layer, value in zip(state, values, strict=True))


def corrected_states(
    model: ChainModel, n: int, record: Sequence[int], independent: float,
    callback: StepCallback | None = None, x_observed: torch.Tensor | None = None,
    mask: torch.Tensor | None = None, z0: Sequence[torch.Tensor] | torch.Tensor | None = None,
    restart: bool = False,
) -> CorrectedStates:
    """``n`` chains mixing GibbsNet steps with D-corrected independence moves (see the module
    docstring), their states at the steps ``sorted(set(record))``.

    Args:
        independent: the probability, per chain (per pack) and step t >= 2, of proposing the
            state of a fresh chain of ``model.trained_steps`` steps, accepted with probability
            min(1, exp(log_ratio(proposal) - log_ratio(current))); otherwise an ordinary step.
            0 is the plain chain: the same states as ``model.states`` (unclamped) or
            ``model.inpaint`` (partially clamped) after the same seed.
        callback: called with t after each step t (as ``ChainModel.states``).
        x_observed: partially clamped chains (as ``ChainModel.inpaint`` takes them), the values
            (n, *x_shape) whose observed entries every state keeps exactly.
        mask: with ``x_observed``, its shape or (*x_shape); 1 = observed, 0 = filled by the chain.
        z0: unclamped chains that start from these latents instead of the prior (as
            ``ChainModel.start``); proposals still start from the prior.
        restart: the control without D: every proposal is accepted, so a chain restarts with
            probability ``independent`` per step (the same proposals under the same seed).
    Returns:
        ``CorrectedStates``. Runs without autograd on the model's device; memory grows with
        ``len(record)``, not with the chain's length; reproducible under ``torch.manual_seed``.
    Raises:
        ValueError: recorded steps below 1, ``x_observed`` without ``mask`` (or with another
            number of rows than ``n``), and what ``check_corrected`` refuses.
    """
    wanted = sorted(set(record))
    if not wanted or wanted[0] < 1:
        raise ValueError(f"recorded steps must be at least 1, got {list(record)}")
    if (x_observed is None) != (mask is None):
        raise ValueError("partially clamped chains need both x_observed and mask")
    observed = None
    if x_observed is not None and mask is not None:
        if x_observed.shape[0] != n:
            raise ValueError(f"x_observed holds {x_observed.shape[0]} rows for {n} chains; give one "
                             "row per chain")
        x_observed = x_observed.to(model.device)
        observed = torch.broadcast_to(mask.to(model.device) != 0, x_observed.shape)
    check_corrected(model, n, independent)
    chains = _Chains(model, z0, x_observed, observed, restart)
    kept: list[State] = []
    proposals = accepted = 0
    counts: list[tuple[int, int]] = []
    with torch.no_grad():
        state = chains.start(n)
        for t in range(1, wanted[-1] + 1):
            if t > 1:
                state, made, took = chains.advance(state, t, independent)
                proposals, accepted = proposals + made, accepted + took
            if callback is not None:
                callback(t)
            if t == wanted[len(kept)]:
                kept.append(state)
                counts.append((proposals, accepted))
    return CorrectedStates(wanted, kept, [p for p, _ in counts], [a for _, a in counts])


__all__ = ["RATIO_EPS", "CorrectedStates", "check_corrected", "corrected_states", "log_ratio"]
