"""The losses every chain model owns, written once: ``ChainLosses``, which ``ChainModel``
inherits, gives D's logits of a state (``judge``), D's loss with the R1 penalty, the encoder and
decoder loss with the z- and x-consistency terms, and the masked reconstruction error; below it
the adversarial losses ``bce`` (non-saturating, ALI's swapped labels) and ``lsgan`` (least
squares, the GibbsNet authors' code), PacGAN packing and instance noise."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F

from gibbsnet_plugin.architectures.base import reads_shown_cells, shown_cells
from gibbsnet_plugin.architectures.wrappers import categorical_head

if TYPE_CHECKING:
    from gibbsnet_plugin.chains.base import State

Loss = Literal["bce", "lsgan"]
"""The adversarial losses: non-saturating ``bce`` (ALI) and least-squares ``lsgan`` (the
GibbsNet authors' code)."""
LOSSES = ("bce", "lsgan")
Reconstruction = Literal["squared", "crps"]
"""How the masked reconstruction term scores a reconstruction: the ``squared`` error of one draw,
or the ``crps`` of two (``crps_of_pair``)."""
RECONSTRUCTIONS = ("squared", "crps")


@dataclass
class LossOutput:
    """A scalar loss to backpropagate and the mean D outputs on both chains (for logging).

    ``d_real``/``d_fake`` are probabilities for ``bce`` and raw scores for ``lsgan``.
    """

    loss: torch.Tensor
    d_real: torch.Tensor
    d_fake: torch.Tensor


def target_loss(loss: Loss, scores: torch.Tensor, target: float) -> torch.Tensor:
    """The ``bce`` or ``lsgan`` loss of D's logits ``scores`` (B,) against the label ``target``."""
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, target))
    return ((scores - target) ** 2).mean()


def score_summary(loss: Loss, scores: torch.Tensor) -> torch.Tensor:
    """D's mean output for logging: the probability (``bce``) or the raw score (``lsgan``)."""
    scores = scores.detach()
    return (torch.sigmoid(scores) if loss == "bce" else scores).mean()


def pack_items(t: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN's packing: (B, d0, d1, ...) -> (B/m, m*d0, d1, ...), each m consecutive items stacked
    along the first non-batch axis (their channels, or their entries for vectors)."""
    if m == 1:
        return t
    if t.shape[0] % m:
        raise ValueError(f"a batch of {t.shape[0]} items does not split into packs of {m} "
                         "(pack); use a batch size that is a multiple of it")
    return t.reshape(t.shape[0] // m, m * t.shape[1], *t.shape[2:])


def crps_of_pair(a: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The unbiased two-draw estimate of the continuous ranked probability score of each entry,
    ``(|a - y| + |b - y|) / 2 - |a - b| / 2`` for independent draws a, b of a predictive
    distribution and the truth y (all of one shape; returned in that shape). Its expectation,
    ``E|X - y| - E|X - X'| / 2``, is the CRPS (Gneiting and Raftery 2007): a proper scoring rule,
    lowest when the draws' distribution is the truth's, so a model trained on it learns a spread,
    not only a mean (as engression does, Shen and Meinshausen 2023)."""
    return ((a - y).abs() + (b - y).abs() - (a - b).abs()) / 2


def instance_noise_std(start: float, iteration: int, iterations: int) -> float:
    """Instance-noise std annealed linearly from ``start`` to 0 over the run."""
    return start * max(0.0, 1.0 - iteration / max(1, iterations)) if start > 0 else 0.0


def r1_penalty(real: State, scores: torch.Tensor) -> torch.Tensor:
    """``E ||grad D||^2`` over every layer of the states ``real`` (which require grad) that gave
    ``scores``; differentiable in D's parameters."""
    grads = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return sum(g.flatten(1).pow(2).sum(1) for g in grads).mean()


class ChainLosses:
    """The losses of a chain model, mixed into ``ChainModel``. They read the model's settings
    (``loss``, ``pack``, ``r1``, ``z_consistency``, ``x_consistency``, ``hide``,
    ``reconstruction``, ``bounded``, ``walkback``), what its kind supplies
    (``critique``, ``clamped``, ``schedule``) and its ``inpaint``, ``step``, ``x_update`` and
    ``observe``.

    A state is a tuple ``(x, z1, ..., zL)`` with a batch of B items first in each layer."""

    def judge(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        """D's logits for states (as ``states`` and ``clamped`` give them): (B,), or (B/m,) for
        packs of m = ``pack``. The one way to ask D; a kind supplies ``critique``, how its D takes
        a packed state."""
        x, *zs = (pack_items(t, self.pack) for t in state)
        return self.critique(x, zs).reshape(-1)

    def _scores(self, real: State, fake: State, noise_std: float) -> tuple[torch.Tensor, torch.Tensor]:
        """D's logits for both sides, with instance noise of std ``noise_std`` added to their x."""
        if noise_std > 0:
            real = (real[0] + noise_std * torch.randn_like(real[0]), *real[1:])
            fake = (fake[0] + noise_std * torch.randn_like(fake[0]), *fake[1:])
        return self.judge(real), self.judge(fake)

    def discriminator_loss(self, real: State, fake: State, noise_std: float = 0.0) -> LossOutput:
        """D's loss: clamped states labelled 1, unclamped states 0 (both detached here), plus
        ``r1``/2 times ``r1_penalty`` on the clamped states."""
        real = tuple(t.detach().requires_grad_(self.r1 > 0) for t in real)
        fake = tuple(t.detach() for t in fake)
        s_real, s_fake = self._scores(real, fake, noise_std)
        loss = target_loss(self.loss, s_real, 1.0) + target_loss(self.loss, s_fake, 0.0)
        if self.r1 > 0:
            loss = loss + self.r1 / 2 * r1_penalty(real, s_real)
        return LossOutput(loss, score_summary(self.loss, s_real), score_summary(self.loss, s_fake))

    def generator_loss(self, real: State, fake: State, noise_std: float = 0.0,
                       x: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                       fill_steps: int = 5) -> LossOutput:
        """The encoder and decoder loss: swapped labels (non-saturating), plus ``z_consistency``
        times the squared distance between the latents of ``fake`` and those the clamped chain
        gives its x, plus ``x_consistency`` times ``reconstruction_error(x, mask, fill_steps)``
        of the batch ``x`` (B, *x_shape) the states come from, plus ``walkback`` times
        ``walkback_error(x, mask, fill_steps=fill_steps)`` (either needs ``x``). Call it after
        D's update so that D's outputs are fresh."""
        s_real, s_fake = self._scores(real, fake, noise_std)
        loss = target_loss(self.loss, s_real, 0.0) + target_loss(self.loss, s_fake, 1.0)
        if self.z_consistency > 0:
            # fake[0] is what D sees: a measurement already when the model has a corruption
            again = self.clamped(fake[0])
            gap = sum((a - b).flatten(1).pow(2).sum(1).mean() for a, b in zip(fake[1:], again[1:],
                                                                              strict=True))
            loss = loss + self.z_consistency * gap
        if self.x_consistency > 0:
            if x is None:
                raise ValueError("x_consistency needs the batch x the states come from")
            loss = loss + self.x_consistency * self.reconstruction_error(x, mask, fill_steps)
        if self.walkback > 0:
            if x is None:
                raise ValueError("walkback needs the batch x the states come from")
            loss = loss + self.walkback * self.walkback_error(x, mask, fill_steps=fill_steps)
        return LossOutput(loss, score_summary(self.loss, s_real), score_summary(self.loss, s_fake))

    def reconstruction_error(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                             steps: int = 5) -> torch.Tensor:
        """The masked reconstruction term of ``x_consistency``: a random ``hide`` share of x's
        observed entries (where ``mask`` is 1; every entry without one) is hidden as well, the
        partially clamped chain fills everything hidden (``steps`` steps, no gradient), and x is
        recomputed, with gradient, from the latents of the filled x by the chain's own x update
        (one layer: ``dec(enc(x))``); returns the mean over all observed entries of the squared
        error, or with ``reconstruction: crps`` of ``crps_of_pair`` of two such draws made from
        two independent fills, so the networks learn to predict entries they were not shown (a
        model of a corruption f compares f of it with the measurements). The categorical blocks
        of a decoder that draws categories with ``score: log`` are scored by the cross-entropy of
        its logits instead (``CategoricalDraws.log_scores``). Hidden entries are only selected
        away. With ``bounded`` the draws are clipped to [-1, 1] before they are scored. A decoder
        that reads the shown cells (``shown_cells``) is given the entries left shown, in the fill
        and in the x update, and is scored on the hidden ones only: it is handed the others, and
        scoring them would teach it to copy them with no spread."""
        observed = _observed(x, mask)
        shown = observed & (torch.rand(x.shape, device=x.device) >= self.hide)
        x_known = torch.where(observed, x, torch.zeros_like(x))
        draws = 2 if self.reconstruction == "crps" else 1
        known, shown = torch.cat([x_known] * draws), torch.cat([shown] * draws)
        filled = self.inpaint(known, shown, steps) if steps > 0 else known
        scored = observed & ~shown[:len(x)] if reads_shown_cells(self) else observed
        with shown_cells(known, shown):
            return self._update_error(filled, x_known, scored)

    def _update_error(self, start: torch.Tensor, x_known: torch.Tensor,
                      observed: torch.Tensor) -> torch.Tensor:
        """The mean over the ``observed`` entries (bool, x_known's shape) of the score of the
        x update, with gradient, from ``start`` (one or two draws of B items each, stacked)
        against ``x_known`` (B, *x_shape): its squared error, or with two draws their
        ``crps_of_pair``; categorical blocks scored with ``score: log`` by the cross-entropy of
        their logits; with ``bounded`` the draws clipped to [-1, 1] first."""
        draws = start.shape[0] // x_known.shape[0]
        head = categorical_head(self)
        log_scored = head is not None and head.score == "log"
        with head.logits() if log_scored else nullcontext([]) as logits:  # type: ignore[union-attr]
            x_hat = self.observe(self.x_update(start))
        if self.bounded:  # where, not clamp: entries exactly on a bound (one-hot codes) keep their gradient
            x_hat = torch.where(x_hat.abs() > 1, x_hat.clamp(-1, 1), x_hat)
        if draws == 2:
            score = crps_of_pair(*x_hat.chunk(2), x_known)
        else:
            score = (x_hat - x_known).pow(2)
        if log_scored:
            ce, inside = head.log_scores(logits[-1], torch.cat([x_known] * draws))
            ce = ce.view(draws, -1, ce.shape[1]).mean(0)
            score = torch.where(inside, ce, score.flatten(1)).view_as(score)
        return torch.where(observed, score, torch.zeros_like(score)).sum() / observed.sum().clamp(min=1)

    def walkback_error(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                       steps: int | None = None, fill_steps: int = 5) -> torch.Tensor:
        """The walkback term of ``walkback``: chains start at the clamped states of the batch
        ``x`` (B, *x_shape; with a ``mask``, 1 = observed, its missing entries first filled by
        ``fill_steps`` steps of the partially clamped chain), walk ``steps`` chain steps away
        without gradient (default: k ~ U{1..``walkback_steps``}, one k per batch), and x is
        recomputed, with gradient, by the chain's x update from where they got to (one layer:
        ``dec(enc(x_k))``); returns the mean over x's observed entries of its squared error
        against x, or with ``reconstruction: crps`` of ``crps_of_pair`` of two such draws from
        the same walk (scored as ``reconstruction_error`` scores). The chain learns to return to
        the data from the states its own steps lead to. With a corruption f, x holds measurements
        y: the walk's first step reads them as they are (z = enc(y), as the clamped chain does),
        its states are clean x, and f of the x update from f(x_k) is scored against y."""
        if steps is None:
            steps = int(torch.randint(1, self.walkback_steps + 1, ()).item())
        observed = _observed(x, mask)
        x_known = x if mask is None else torch.where(observed, x, torch.zeros_like(x))
        with torch.no_grad():
            start = x_known if mask is None else self.inpaint(x_known, observed, fill_steps)
            state = self.step(tuple(self.clamped(start)), measured=True)
            for _ in range(steps - 1):
                state = self.step(state)
        draws = 2 if self.reconstruction == "crps" else 1
        return self._update_error(torch.cat([self.observe(state[0])] * draws), x_known, observed)


def _observed(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Where x (B, *x_shape) is observed, as bools of its shape: where ``mask`` is not 0, or
    everywhere without one."""
    if mask is None:
        return torch.ones_like(x, dtype=torch.bool)
    return torch.broadcast_to(mask != 0, x.shape)


__all__ = ["LOSSES", "RECONSTRUCTIONS", "ChainLosses", "Loss", "LossOutput", "Reconstruction",
           "crps_of_pair", "instance_noise_std", "pack_items", "r1_penalty", "score_summary",
           "target_loss"]
