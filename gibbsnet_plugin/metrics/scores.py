"""The metrics ``reconstruction``, ``inpainting``, ``imputation`` and ``coverage``: PSNR, the
scores of one inpainted batch, the scores over a whole data split, and the calibration of K
imputations (``uncertainty``).

Over a split, each metric's step turns a batch of data into ``(prediction, target)`` over the
entries that are scored (flattened to 1-D), and ``_mse`` averages the squared error over all
those entries of the split (summed across processes as Ignite's ``MeanSquaredError`` does, without
importing Ignite for a single process: a test-time command answers a second sooner). Images are
in the data's range ([-1, 1]); PSNR uses ``PSNR_PEAK_TO_PEAK``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.data.base import batch_to_x
from gibbsnet_plugin.data.masks import resolve_mask
from gibbsnet_plugin.data.missing import Masked, check_process, split_item
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.metrics.base import Context, Metric, Result, option, register
from gibbsnet_plugin.metrics.data import Progress, shard_in_order, world
from gibbsnet_plugin.metrics.pixels import hidden_entries, psnr
from gibbsnet_plugin.metrics.uncertainty import (
    LEVELS,
    PIT_BINS,
    central_coverage,
    energy_scores,
    pit_counts,
)
from gibbsnet_plugin.utils import seeded

Step = Callable[[Any], tuple[torch.Tensor, torch.Tensor]]
"""A batch of data -> (prediction, target), the scored entries flattened."""


def _mse(model: ChainModel, data: Dataset, step: Step, batch_size: int, seed: int | None,
         progress: Progress | None, task: str) -> float:
    """Mean squared error of ``step(batch)`` = (prediction, target) over the whole of ``data``;
    batches are reported to ``progress`` as ``task``."""
    loader = shard_in_order(data, batch_size)
    total = torch.zeros(2, dtype=torch.float64, device=model.device)  # squared errors, entries
    if progress is not None:
        progress(task, 0, len(loader))
    with seeded(seed, model.device), torch.no_grad():
        for i, batch in enumerate(loader, start=1):
            prediction, target = step(batch)
            total[0] += (prediction - target.view_as(prediction)).pow(2).sum().double()
            total[1] += target.numel()
            if progress is not None:
                progress(task, i, len(loader))
    if world()[0] > 1:
        import ignite.distributed as idist

        total = idist.all_reduce(total)
    if total[1] == 0:
        raise GibbsnetError(f"{task}: no entries to score")
    return float(total[0] / total[1])


def reconstruction_mse(model: ChainModel, data: Dataset, batch_size: int = 100,
                       seed: int | None = 0, progress: Progress | None = None,
                       level: int = 1) -> float:
    """Mean over all entries and images of (x - dec(enc(x)))², for a latent hierarchy x rebuilt
    from layer ``level`` (``model.reconstruct(x, level)``); batches are reported to ``progress``
    as ``reconstruction`` (``reconstruction z<level>`` above level 1)."""
    def step(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch_to_x(batch, model.device)
        return model.reconstruct(x, level).flatten(), x.flatten()

    task = "reconstruction" if level == 1 else f"reconstruction z{level}"
    return _mse(model, data, step, batch_size, seed, progress, task)


def inpainting_scores(
    model: ChainModel, data: Dataset, masks: Sequence[str], steps: int = 20, batch_size: int = 100,
    seed: int | None = 0, progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """For each mask (a name such as ``left-half`` or a mask image, see ``resolve_mask``): the MSE
    and PSNR (dB) of ``steps`` partially clamped chain steps against the originals, on the hidden
    entries only, over the whole of ``data``. ``random-PCT`` masks are drawn with ``seed``.
    Batches are reported to ``progress`` as ``inpainting MASK``."""
    scores = {}
    for spec in masks:
        mask = resolve_mask(spec, model.x_shape, seed or 0).to(model.device)

        def step(batch: Any, mask: torch.Tensor = mask) -> tuple[torch.Tensor, torch.Tensor]:
            x = batch_to_x(batch, model.device)
            filled = model.inpaint(x, mask, steps)
            where = hidden_entries(x, mask)
            return filled[where], x[where]

        mse = _mse(model, data, step, batch_size, seed, progress, f"inpainting {spec}")
        scores[spec] = {"mse": mse, "psnr": psnr(mse), "steps": steps}
    return scores


def imputation_rmse(model: ChainModel, data: Dataset, steps: int = 20, batch_size: int = 100,
                    seed: int | None = 0, progress: Progress | None = None, draws: int = 1) -> float:
    """Root mean squared error of the partially clamped chain's imputations (``steps`` steps) on
    the missing entries of ``data``, whose items carry masks and their true values ``(x, mask)``
    or ``(x, y, mask)`` (NaN where the truth is unknown: not scored); over all missing entries
    of the split, in the data's units. With
    ``draws`` > 1 the imputation is the mean of that many independent chains (an estimate of the
    conditional mean, which RMSE favours over any single draw). Batches are reported to
    ``progress`` as ``imputation``."""
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")

    def step(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, _, mask = split_item(batch)
        x, mask = x.to(model.device), mask.to(model.device)
        filled = torch.stack([model.inpaint(x, mask, steps) for _ in range(draws)]).mean(0)
        hidden = (mask == 0) & x.isfinite()
        return filled[hidden], x[hidden]

    return math.sqrt(_mse(model, data, step, batch_size, seed, progress, "imputation"))


def coverage_scores(model: ChainModel, data: Dataset, steps: int = 20, draws: int = 20,
                    batch_size: int = 100, seed: int | None = 0,
                    progress: Progress | None = None) -> dict[str, Any]:
    """How well ``draws`` independent partially clamped chains (``steps`` steps each) describe
    the missing entries of ``data`` (items ``(x, mask)`` or ``(x, y, mask)`` with their true
    values; NaN where the truth is unknown: not scored), in the data's units (``uncertainty``):
    over all scored entries of the split, the coverage of the central intervals of ``LEVELS``
    (``coverage``: level -> share) and the PIT histogram (``pit``: ``PIT_BINS`` counts); the
    energy score over the scored entries of each row, averaged over the rows with any
    (``energy``); and ``entries``, ``rows``, ``draws``, ``steps``. Batches are reported to
    ``progress`` as ``coverage``.

    Raises:
        ValueError: ``draws`` below 2 (an interval needs a spread).
        GibbsnetError: no missing entry with a known truth in ``data``.
    """
    if draws < 2:
        raise ValueError(f"draws must be at least 2, got {draws}")
    loader = shard_in_order(data, batch_size)
    rng = np.random.default_rng(seed)
    # inside counts per level, PIT counts, entries, energy sum, rows scored
    total = np.zeros(len(LEVELS) + PIT_BINS + 3)
    if progress is not None:
        progress("coverage", 0, len(loader))
    with seeded(seed, model.device), torch.no_grad():
        for i, batch in enumerate(loader, start=1):
            x, _, mask = split_item(batch)
            x, mask = x.to(model.device), mask.to(model.device)
            filled = torch.stack([model.inpaint(x, mask, steps) for _ in range(draws)])
            hidden = ((mask == 0) & x.isfinite()).flatten(1).cpu().numpy()
            samples = filled.flatten(2).double().cpu().numpy()  # (K, B, D)
            truth = x.flatten(1).double().cpu().numpy()
            n = int(hidden.sum())
            if n:
                inside = central_coverage(samples[:, hidden], truth[hidden])
                total[:len(LEVELS)] += [inside[level] * n for level in LEVELS]
                total[len(LEVELS):-3] += pit_counts(samples[:, hidden], truth[hidden], rng=rng)
                rows = hidden.any(1)
                total[-3] += n
                total[-2] += energy_scores(samples[:, rows], truth[rows], hidden[rows]).sum()
                total[-1] += rows.sum()
            if progress is not None:
                progress("coverage", i, len(loader))
    if world()[0] > 1:
        import ignite.distributed as idist

        total = idist.all_reduce(torch.from_numpy(total).to(model.device)).cpu().numpy()
    entries = total[-3]
    if entries == 0:
        raise GibbsnetError("coverage: no missing entries to score")
    return {"coverage": {level: float(total[j] / entries) for j, level in enumerate(LEVELS)},
            "energy": float(total[-2] / total[-1]),
            "pit": [int(round(c)) for c in total[len(LEVELS):-3]],
            "entries": int(entries), "rows": int(total[-1]), "draws": draws, "steps": steps}


def restoration_rmse(model: ChainModel, data: Dataset,
                     corruption: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 100,
                     seed: int | None = 0, progress: Progress | None = None, draws: int = 1) -> float:
    """Root mean squared error between the images x of ``data`` and the model's restorations
    ``dec(enc(y))`` of their measurements y = ``corruption(x)`` (drawn with ``seed``), over all
    entries, in the data's units; with ``draws`` > 1 the restoration is the mean of that many
    encodings of the same y. Batches are reported to ``progress`` as ``restoration``."""
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")

    def step(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch_to_x(batch, model.device)
        y = corruption(x)
        restored = torch.stack([model.decode_level(model.clamped(y)[1], 1)
                                for _ in range(draws)]).mean(0)
        return restored.flatten(), x.flatten()

    return math.sqrt(_mse(model, data, step, batch_size, seed, progress, "restoration"))


@dataclass(frozen=True)
class FillOptions:
    """The option of the metrics that fill hidden entries with the partially clamped chain."""

    inpaint_steps: int = option(20, "the steps of the partially clamped chain")

    def __post_init__(self) -> None:
        if self.inpaint_steps < 1:
            raise GibbsnetError(f"inpaint_steps must be at least 1, got {self.inpaint_steps}")


@dataclass(frozen=True)
class InpaintingOptions(FillOptions):
    """The options of ``inpainting`` (``eval.masks``, ``eval.inpaint_steps``)."""

    masks: Sequence[str] = option(("left-half",), "the inpainting masks (names or mask images)")


@dataclass(frozen=True)
class ImputationOptions(FillOptions):
    """The options of ``imputation`` (``eval.inpaint_steps``; ``data.missing`` and the recipe's
    seed)."""

    missing: str | None = option(None, "a mask process", needs_metric=True)
    mask_seed: int = option(0, "the seed the masks of the mask process are drawn with")


@dataclass(frozen=True)
class CoverageOptions(ImputationOptions):
    """The options of ``coverage``: those of ``imputation`` and the number of draws."""

    coverage_draws: int = option(20, "the imputations drawn per missing entry by `coverage`")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.coverage_draws < 2:
            raise GibbsnetError(f"coverage_draws must be at least 2, got {self.coverage_draws}")


COVERAGE_PREFIX = "imputation_coverage"
COVERAGE_SCORES = (*(f"{COVERAGE_PREFIX}{round(100 * level)}" for level in LEVELS),
                   f"{COVERAGE_PREFIX}_error", "imputation_energy")
"""The scores of ``coverage``: the coverage of each central interval, the mean of
|coverage - level| over the levels, and the energy score."""


@register("reconstruction")
class Reconstruction(Metric):
    """``reconstruction_mse`` of the test split (and, for a hierarchy, of x rebuilt from each
    higher layer: ``reconstruction_z<l>_mse``)."""

    summary = "mean squared error of dec(enc(x)) on the test split, per latent layer"
    default = True
    needs_truth = True

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return ["reconstruction_mse", *(f"reconstruction_z{i}_mse" for i in range(2, levels + 1))]

    def owns(self, score: str) -> bool:
        return score.startswith("reconstruction_") and score.endswith("_mse")

    def label(self, score: str) -> str:
        return score.replace("_mse", " MSE").replace("_", " ")

    def cell(self, score: str, value: float) -> str:
        return f"{value:.4f}"

    def run(self, ctx: Context) -> Result:
        model, test, seed = ctx.model, ctx.data.test, ctx.settings.seed
        scores = {"reconstruction_mse": reconstruction_mse(model, test, seed=seed, progress=ctx.progress)}
        for level in range(2, model.levels + 1):
            scores[f"reconstruction_z{level}_mse"] = reconstruction_mse(
                model, test, seed=seed, progress=ctx.progress, level=level)
        return Result(scores)


@register("inpainting")
class Inpainting(Metric[InpaintingOptions]):
    """MSE and PSNR on the hidden entries of each inpainting mask after ``inpaint_steps``."""

    summary = "MSE and PSNR of the partially clamped chain on each mask's hidden entries"
    default = True
    needs_truth = True
    Options = InpaintingOptions

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return [f"inpaint_{m}_{s}" for m in masks for s in ("mse", "psnr")]

    def owns(self, score: str) -> bool:
        return score.startswith("inpaint_") and score.endswith(("_mse", "_psnr"))

    def lower_is_better(self, score: str) -> bool:
        return not score.endswith("_psnr")

    def label(self, score: str) -> str:
        return score.replace("_mse", " MSE").replace("_psnr", " PSNR (dB)").replace("_", " ")

    def cell(self, score: str, value: float) -> str:
        return f"{value:.4f}" if score.endswith("mse") else f"{value:.2f}"

    def run(self, ctx: Context[InpaintingOptions]) -> Result:
        o = ctx.options
        details = inpainting_scores(ctx.model, ctx.data.test, o.masks, o.inpaint_steps,
                                    seed=ctx.settings.seed, progress=ctx.progress)
        scores = {}
        for mask, values in details.items():
            scores[f"inpaint_{mask}_mse"] = values["mse"]
            scores[f"inpaint_{mask}_psnr"] = values["psnr"]
        return Result(scores, {"inpainting": details})


@register("imputation")
class Imputation(Metric[ImputationOptions]):
    """``imputation_rmse``: RMSE of the imputed entries of test items hidden by the mask process
    ``missing`` (drawn with ``mask_seed``; of items that carry masks of their own, the observed
    entries it hides); for a model of a known corruption without one, the RMSE of the
    restorations dec(enc(f(x)))."""

    summary = "RMSE of imputed missing entries (or of restorations of corrupted data)"
    default = True
    needs_truth = True
    Options = ImputationOptions

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return ["imputation_rmse"]

    def cell(self, score: str, value: float) -> str:
        return f"{value:.4f}"

    def label(self, score: str) -> str:
        return "imputation RMSE"

    def check(self, ctx: Context[ImputationOptions]) -> None:
        if ctx.options.missing is not None:
            check_process(ctx.options.missing, ctx.model.x_shape)

    def truth_known(self, ctx: Context[ImputationOptions]) -> bool:
        return ctx.options.missing is not None

    def skip_reason(self, ctx: Context[ImputationOptions]) -> str | None:
        if ctx.options.missing is None and ctx.data.corruption is None:
            return ""  # complete data: nothing to impute, and nothing to say by default
        return None

    def run(self, ctx: Context[ImputationOptions]) -> Result:
        s, o, model = ctx.settings, ctx.options, ctx.model
        if o.missing is not None:
            masked = Masked(ctx.data.test, o.missing, model.x_shape, o.mask_seed, train=False, hide=False)
            return Result({"imputation_rmse": imputation_rmse(model, masked, o.inpaint_steps, seed=s.seed,
                                                               progress=ctx.progress)})
        if ctx.data.corruption is None:
            raise GibbsnetError("imputation needs missing entries: give a mask process (missing, e.g. "
                                "random-80) or a run trained with data.missing or data.corruption")
        return Result({"imputation_rmse": restoration_rmse(model, ctx.data.test, ctx.data.corruption,
                                                            seed=s.seed, progress=ctx.progress)})


@register("coverage")
class Coverage(Metric[CoverageOptions]):
    """``coverage_scores``: the calibration of ``coverage_draws`` imputations of the test items'
    entries hidden by the mask process ``missing`` (drawn with ``mask_seed``), as the
    ``imputation`` metric hides them (of items that carry masks of their own, such as table rows
    with empty cells, only the observed entries it hides are scored). ``imputation_coverage<P>``
    (the share of true values inside the central P % interval of their draws) describe the draws
    rather than rank them: each is best at P / 100; ``imputation_coverage_error`` (the mean
    |coverage - level| over the levels) and ``imputation_energy`` (the energy score, a proper
    scoring rule) are lower-is-better. The PIT histogram is in the details (``coverage.pit``)."""

    summary = "coverage of central intervals, energy score and PIT of K imputations of missing entries"
    needs_truth = True
    Options = CoverageOptions

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return list(COVERAGE_SCORES)

    def lower_is_better(self, score: str) -> bool:
        # a coverage is best at its level; too narrow draws (below it) are the usual failure
        return score in COVERAGE_SCORES[-2:]

    def label(self, score: str) -> str:
        if score == "imputation_energy":
            return "imputation energy score"
        if score == f"{COVERAGE_PREFIX}_error":
            return "imputation coverage error"
        return f"imputation {score.removeprefix(COVERAGE_PREFIX)} % interval coverage"

    def cell(self, score: str, value: float) -> str:
        return f"{value:.4f}"

    def check(self, ctx: Context[CoverageOptions]) -> None:
        if ctx.options.missing is not None:
            check_process(ctx.options.missing, ctx.model.x_shape)

    def truth_known(self, ctx: Context[CoverageOptions]) -> bool:
        return ctx.options.missing is not None

    def skip_reason(self, ctx: Context[CoverageOptions]) -> str | None:
        if ctx.options.missing is None:
            return ""  # nothing hidden whose truth is known
        return None

    def run(self, ctx: Context[CoverageOptions]) -> Result:
        s, o, model = ctx.settings, ctx.options, ctx.model
        if o.missing is None:
            raise GibbsnetError("coverage needs missing entries: give a mask process (missing, e.g. "
                                "random-80) or a run trained with data.missing")
        masked = Masked(ctx.data.test, o.missing, model.x_shape, o.mask_seed, train=False, hide=False)
        details = coverage_scores(model, masked, o.inpaint_steps, o.coverage_draws, seed=s.seed,
                                  progress=ctx.progress)
        scores = {f"{COVERAGE_PREFIX}{round(100 * level)}": value
                  for level, value in details["coverage"].items()}
        scores[f"{COVERAGE_PREFIX}_error"] = float(np.mean(
            [abs(value - level) for level, value in details["coverage"].items()]))
        scores["imputation_energy"] = details["energy"]
        details = {**details, "coverage": {str(level): v for level, v in details["coverage"].items()},
                   "missing": o.missing, "pit_bins": PIT_BINS}
        return Result(scores, {"coverage": details})
