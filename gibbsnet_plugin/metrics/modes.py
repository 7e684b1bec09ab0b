"""The metric ``modes``: mode coverage on a Gaussian mixture (VEEGAN's and PacGAN's protocol for
``grid25``/``ring8``).

A sample is *high quality* when it lies within ``3 std`` of its nearest centre; a mode is
*covered* when at least one high-quality sample is nearest to it. The reverse KL divergence
``sum_k q_k log(q_k / p_k)`` compares q, the shares of the high-quality samples per mode, with the
mixture's equal weights p_k = 1/K (modes with q_k = 0 add nothing). Distances are in the data's
units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine
from ignite.metrics import Metric
from ignite.metrics.metric import reinit__is_reduced, sync_all_reduce
from torch.utils.data import Dataset

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.metrics.base import Context, Result, register
from gibbsnet_plugin.metrics.base import Metric as EvalMetric
from gibbsnet_plugin.metrics.data import Progress, local_share, track
from gibbsnet_plugin.utils import seeded

DEFAULT_SAMPLES = 2500
"""Samples scored by default (PacGAN's and VEEGAN's 2,500)."""
BATCH = 500
QUALITY_STDS = 3.0
"""A sample within this many std of its nearest centre is high quality."""


def _counts(samples: torch.Tensor, centres: torch.Tensor, std: float) -> torch.Tensor:
    """High-quality samples nearest to each centre, shape (K,), float64."""
    distances = torch.cdist(samples.flatten(1).double(), centres.to(samples.device).double())
    nearest, mode = distances.min(dim=1)
    good = mode[nearest <= QUALITY_STDS * std]
    return torch.bincount(good, minlength=len(centres)).double()


def _scores(counts: torch.Tensor, num: int) -> dict[str, float]:
    good = float(counts.sum())
    if good == 0:  # no high-quality sample: q is undefined, the divergence infinite
        kl = math.inf
    else:
        q = counts[counts > 0] / good
        kl = float((q * torch.log(q * len(counts))).sum())
    return {"modes": int((counts > 0).sum()), "modes_high_quality": good / num if num else 0.0,
            "modes_reverse_kl": kl}


def mode_scores(samples: torch.Tensor, centres: torch.Tensor, std: float) -> dict[str, float]:
    """Scores of ``samples`` (N, D) against a mixture of ``centres`` (K, D) with ``std``:

    ``modes`` (covered modes, 0 ... K), ``modes_high_quality`` (fraction of samples within
    3 std of their nearest centre, 0 ... 1) and ``modes_reverse_kl`` (nats, 0 ... log K; infinite
    when no sample is of high quality).
    """
    if samples.ndim != 2 or centres.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples (N, D) and centres (K, D) must have the same D, got "
                         f"{tuple(samples.shape)} and {tuple(centres.shape)}")
    return _scores(_counts(samples, centres, std), len(samples))


class ModeCoverage(Metric):
    """``mode_scores`` of all the sample batches passed to ``update`` (each (B, D)), accumulated as
    per-mode counts (summed across processes)."""

    def __init__(self, centres: torch.Tensor, std: float,
                 output_transform: Callable[[Any], Any] = lambda x: x,
                 device: str | torch.device = "cpu") -> None:
        self.centres, self.std = centres, std
        super().__init__(output_transform=output_transform, device=device)

    @reinit__is_reduced
    def reset(self) -> None:
        self._counts = torch.zeros(len(self.centres), dtype=torch.float64, device=self._device)
        self._num = torch.zeros((), dtype=torch.float64, device=self._device)

    @reinit__is_reduced
    def update(self, output: torch.Tensor) -> None:
        self._counts += _counts(output, self.centres, self.std).to(self._device)
        self._num += output.shape[0]

    @sync_all_reduce("_counts", "_num")
    def compute(self) -> dict[str, Any]:
        counts = self._counts.cpu()
        return {**_scores(counts, int(self._num)), "counts": [int(c) for c in counts.tolist()]}


def mixture_of(data: Dataset) -> tuple[torch.Tensor, float]:
    """``(centres (K, D), std)`` of a mixture data set such as ``grid25`` or ``ring8``."""
    centres, std = getattr(data, "centres", None), getattr(data, "std", None)
    if not isinstance(centres, torch.Tensor) or centres.ndim != 2 or not isinstance(std, (int, float)):
        raise GibbsnetError(
            "metric 'modes' needs a 2-D mixture data set such as grid25 or ring8 (one whose data set "
            f"object has `centres` (K, D) and `std` attributes); {type(data).__name__} has not")
    return centres, float(std)


def mode_coverage(
    model: ChainModel, data: Dataset, num_samples: int = DEFAULT_SAMPLES, steps: int | None = None,
    seed: int | None = 0, progress: Progress | None = None,
) -> dict[str, Any]:
    """``mode_scores`` of ``num_samples`` unclamped-chain samples after ``steps`` (default: the
    model's ``chain_steps``) against the mixture of ``data`` (see ``mixture_of``), drawn in
    batches of 500 with the model's current mode, reported to ``progress`` as ``mode samples``.

    Returns the three scores, ``counts`` (high-quality samples per mode), ``num_modes``,
    ``num_samples``, ``chain_steps``, ``std`` and ``seed``.
    """
    centres, std = mixture_of(data)
    steps = model.chain_steps if steps is None else steps
    if num_samples < 1:
        raise GibbsnetError(f"metric 'modes' needs at least 1 sample, got {num_samples}")
    if model.x_shape != tuple(centres.shape[1:]):
        raise GibbsnetError(f"metric 'modes': the model's samples have shape {model.x_shape}, the "
                            f"mixture's centres {tuple(centres.shape[1:])}")
    local = local_share(num_samples)  # each process makes its share; the metric sums them all
    sizes = [BATCH] * (local // BATCH) + ([local % BATCH] if local % BATCH else [])
    evaluator = Engine(lambda engine, size: model.sample(size, steps))
    ModeCoverage(centres, std, device=model.device).attach(evaluator, "coverage")
    track(evaluator, progress, "mode samples")
    rank_seed = None if seed is None else seed + idist.get_rank()
    with seeded(rank_seed, model.device), torch.no_grad():
        result = evaluator.run(sizes).metrics["coverage"]
    return {**result, "num_modes": len(centres), "num_samples": num_samples, "chain_steps": steps,
            "std": std, "seed": seed}


@register("modes")
class Modes(EvalMetric):
    """``modes`` (covered), ``modes_high_quality`` (share) and ``modes_reverse_kl`` (nats) of
    ``num_samples`` chain samples (default 2,500) against the training mixture."""

    summary = "modes covered, high-quality share and reverse KL on a 2-D Gaussian mixture"
    needs_truth = True

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return ["modes", "modes_high_quality", "modes_reverse_kl"]

    def lower_is_better(self, score: str) -> bool:
        return score == "modes_reverse_kl"

    def label(self, score: str) -> str:
        return {"modes": "modes covered", "modes_high_quality": "modes high-quality samples (%)",
                "modes_reverse_kl": "modes reverse KL (nats)"}[score]

    def cell(self, score: str, value: float) -> str:
        shown = {"modes": f"{value:.0f}", "modes_high_quality": f"{100 * value:.2f}"}
        return shown.get(score, f"{value:.3f}")

    def run(self, ctx: Context) -> Result:
        s = ctx.settings
        details = mode_coverage(ctx.model, ctx.data.train, s.num_samples or DEFAULT_SAMPLES,
                                s.chain_steps, s.seed, ctx.progress)
        return Result({name: float(details[name]) for name in self.score_names((), 1)}, {"modes": details})
