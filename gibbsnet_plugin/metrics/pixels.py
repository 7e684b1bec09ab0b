"""Scores of one inpainted batch against its originals: MSE and PSNR on the hidden entries
(images in the data's range, [-1, 1]). Light on imports: ``gibbsnet inpaint`` uses it."""

from __future__ import annotations

import math

import torch

from gibbsnet_plugin.data.masks import hidden_fraction

PSNR_PEAK_TO_PEAK = 2.0
"""The value range used for PSNR: data in [-1, 1]."""


def psnr(mse: float, peak_to_peak: float = PSNR_PEAK_TO_PEAK) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(peak_to_peak² / mse)``; inf when mse is 0."""
    return math.inf if mse == 0 else 10 * math.log10(peak_to_peak ** 2 / mse)


def hidden_entries(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Boolean tensor shaped like ``x`` (B, *x_shape): True where ``mask`` (1 = observed, 0 =
    hidden; one mask for the batch or one per image) hides an entry."""
    return torch.broadcast_to(mask.to(x.device) == 0, x.shape)


def inpaint_scores(
    filled: torch.Tensor, original: torch.Tensor, mask: torch.Tensor
) -> dict[str, object]:
    """MSE and PSNR of one inpainted batch ``filled`` against ``original`` (B, *x_shape) on the
    entries that ``mask`` hides.

    Returns ``mse`` and ``psnr`` over all hidden entries of the batch, ``mse_per_image`` and
    ``psnr_per_image`` (lists, one per image; NaN for an image with nothing hidden) and
    ``hidden_fraction`` (of all entries).
    """
    hidden = hidden_entries(filled, mask)
    sq = (filled - original.to(filled.device)).pow(2) * hidden
    counts = hidden.flatten(1).sum(1)
    per_image = (sq.flatten(1).sum(1) / counts).tolist()
    mse = float(sq.sum() / hidden.sum())
    return {
        "mse": mse, "psnr": psnr(mse),
        "mse_per_image": per_image,
        "psnr_per_image": [math.nan if math.isnan(m) else psnr(m) for m in per_image],
        "hidden_fraction": hidden_fraction(mask),
    }
