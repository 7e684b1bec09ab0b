"""The adversarial losses every chain model shares: ``bce`` (non-saturating, ALI's swapped labels)
and ``lsgan`` (least squares, the GibbsNet authors' code), PacGAN packing, and instance noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

Loss = Literal["bce", "lsgan"]
"""The adversarial losses: non-saturating ``bce`` (ALI) and least-squares ``lsgan`` (the
GibbsNet authors' code)."""
LOSSES = ("bce", "lsgan")


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


def instance_noise_std(start: float, iteration: int, iterations: int) -> float:
    """Instance-noise std annealed linearly from ``start`` to 0 over the run."""
    return start * max(0.0, 1.0 - iteration / max(1, iterations)) if start > 0 else 0.0


__all__ = ["LOSSES", "Loss", "LossOutput", "instance_noise_std", "pack_items", "score_summary",
           "target_loss"]
