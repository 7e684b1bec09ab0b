"""Reconstruction and inpainting scores on a data split, as Ignite evaluators.

Each evaluator's step turns a batch of data into ``(prediction, target)`` over the entries that
are scored (flattened to 1-D), and Ignite's ``MeanSquaredError`` averages the squared error over
all those entries of the split. Images are in the data's range ([-1, 1]); PSNR uses
``testtime.PSNR_PEAK_TO_PEAK``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from ignite.engine import Engine
from ignite.metrics import MeanSquaredError
from torch.utils.data import Dataset

from gibbsnet_plugin.data.masks import resolve_mask
from gibbsnet_plugin.engines.trainer import batch_to_x
from gibbsnet_plugin.metrics.data import Progress, shard_in_order, track
from gibbsnet_plugin.model import GibbsNet
from gibbsnet_plugin.testtime import psnr, seeded

Step = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _mse(model: GibbsNet, data: Dataset, step: Step, batch_size: int, seed: int | None,
         progress: Progress | None, task: str) -> float:
    """Mean squared error of ``step(x)`` = (prediction, target) over the whole of ``data``."""
    evaluator = Engine(lambda engine, batch: step(batch_to_x(batch, model.device)))
    MeanSquaredError().attach(evaluator, "mse")
    track(evaluator, progress, task)
    with seeded(seed, model.device), torch.no_grad():
        return float(evaluator.run(shard_in_order(data, batch_size)).metrics["mse"])


def reconstruction_mse(model: GibbsNet, data: Dataset, batch_size: int = 100,
                       seed: int | None = 0, progress: Progress | None = None) -> float:
    """Mean over all entries and images of (x - dec(enc(x)))²; batches are reported to
    ``progress`` as ``reconstruction``."""
    return _mse(model, data, lambda x: (model.reconstruct(x).flatten(), x.flatten()),
                batch_size, seed, progress, "reconstruction")


def inpainting_scores(
    model: GibbsNet, data: Dataset, masks: Sequence[str], steps: int = 20, batch_size: int = 100,
    seed: int | None = 0, progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """For each mask (a name such as ``left-half`` or a mask image, see ``resolve_mask``): the MSE
    and PSNR (dB) of ``steps`` partially clamped chain steps against the originals, on the hidden
    entries only, over the whole of ``data``. ``random-PCT`` masks are drawn with ``seed``.
    Batches are reported to ``progress`` as ``inpainting MASK``."""
    scores = {}
    for spec in masks:
        mask = resolve_mask(spec, model.x_shape, seed or 0).to(model.device)
        hidden = mask == 0

        def step(x: torch.Tensor, mask: torch.Tensor = mask, hidden: torch.Tensor = hidden
                 ) -> tuple[torch.Tensor, torch.Tensor]:
            filled = model.inpaint(x, mask, steps)
            where = hidden.expand_as(x)
            return filled[where], x[where]

        mse = _mse(model, data, step, batch_size, seed, progress, f"inpainting {spec}")
        scores[spec] = {"mse": mse, "psnr": psnr(mse), "steps": steps}
    return scores
