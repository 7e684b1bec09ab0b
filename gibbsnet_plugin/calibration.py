"""Batch-norm statistics measured on the unclamped chain ("standing statistics"), per chain step.

In training, batch norm normalises each batch with its own statistics; at inference it uses
stored ones, which must describe the batches each chain step saw. Every ``ChainBatchNorm``
(``architectures.norms``; the factory converts every batch norm of a model's transitions) keeps
one set of statistics per chain step. The steps that training runs (1 ... N) are measured as
training runs them, for free. The long run (steps N+1 ... ``train.calibration_steps``) is
measured by ``calibrate_batchnorm`` once, at the end of training (and before each periodic
evaluation): it runs unclamped chains with batch statistics and stores the average statistics of
each chain step, and in every batch norm the average over all steps (used outside a chain step).
The trained steps are measured again there, on the final weights and over more batches than one
(training's running averages lag behind weights that change at every iteration). Eval-mode
sampling then computes at each step what that step computed in training, and an image never
depends on the rest of its batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from gibbsnet_plugin.architectures.norms import ChainBatchNorm, slot
from gibbsnet_plugin.chains import ChainModel, StepCallback
from gibbsnet_plugin.utils import seeded

if TYPE_CHECKING:
    from gibbsnet_plugin.recipe import Recipe

TRAINED_REPEATS = 8
"""Batches of chains the trained steps are measured over (a step after them, in a doubling slot,
averages many steps' batches already)."""


def batch_norms(model: ChainModel) -> list[_BatchNorm]:
    """The batch-norm layers of the encoder and decoder that keep running statistics: what a
    calibration measures (none: nothing to calibrate)."""
    return [m for net in (model.encoder, model.decoder) for m in net.modules()
            if isinstance(m, _BatchNorm) and m.track_running_stats]


def calibrate_batchnorm(model: ChainModel, chains: int = 64, steps: int = 1000, seed: int = 0,
                        callback: StepCallback | None = None, trained: int = 0) -> bool:
    """Recompute the statistics of the encoder's and decoder's batch-norm layers over ``steps``
    steps of ``chains`` unclamped chains run with batch statistics (``model.burn``: every network
    sees ``steps`` batches): per chain step in ``ChainBatchNorm`` layers, and their average over
    all steps as the running statistics. ``callback(t)`` is called after each chain step t.
    ``trained``: the first chain steps, those training runs and sample grids show, are measured
    over ``TRAINED_REPEATS`` batches of ``chains`` chains instead of one.

    Deterministic for a given ``seed`` and leaves the global random state untouched; the modules'
    modes and momenta are restored. Returns False (and does nothing) when there is no batch norm.
    """
    norms = batch_norms(model)
    if not norms or steps < 1:
        return False
    modes = {m: m.training for m in model.modules()}
    momenta = [m.momentum for m in norms]
    stepped = [m for m in norms if isinstance(m, ChainBatchNorm)]
    try:
        with seeded(seed, model.device), torch.inference_mode():
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over all calibration batches
            for m in stepped:
                m.start_measuring()
            model.encoder.train()
            model.decoder.train()
            model.burn(chains, steps, callback)
            for _ in range(TRAINED_REPEATS - 1 if trained > 0 else 0):
                model.burn(chains, min(trained, steps))
            for m in stepped:
                m.stop_measuring()
    finally:
        for m in stepped:
            m.measuring = False
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        for m, mode in modes.items():
            m.training = mode
    return True


def calibration_steps(steps: int, chains: int, trained_states: int, trained: int = 0) -> int:
    """How many chain steps the calibration at the end of a run measures: ``steps``, or fewer
    for a short run, so that it never computes more chain states than the run's training did
    (``trained_states``: iterations × batch size × chain steps), counting the ``trained`` steps
    measured again ``TRAINED_REPEATS - 1`` times. A smoke run of a few iterations is thus
    measured in about the time it trained; at least one step."""
    budget = trained_states // max(chains, 1) - (TRAINED_REPEATS - 1) * trained
    return max(1, min(steps, budget))


def end_calibration_steps(recipe: Recipe, model: ChainModel) -> int:
    """The chain steps whose batch-norm statistics the end of a run of ``recipe`` measures
    (``calibration.calibration_steps``: ``train.calibration_steps``, fewer for a short run; 0 =
    off)."""
    t = recipe.train
    if not t.calibration_steps:
        return 0
    trained = t.iterations * recipe.data.batch_size * model.trained_steps
    return calibration_steps(t.calibration_steps, t.calibration_chains, trained, model.trained_steps)


def is_calibrated(model: ChainModel, steps: int) -> bool:
    """True when every ``ChainBatchNorm`` of ``model`` holds statistics measured (by training or
    a calibration) for chain step ``steps`` or a later one (an encoder, which step 1 does not
    run, is measured from step 2), or when the model has none."""
    s = slot(steps)
    return all(bool((m.step_count[s:] > 0).any()) for m in model.modules() if isinstance(m, ChainBatchNorm))


__all__ = ["TRAINED_REPEATS", "batch_norms", "calibrate_batchnorm", "calibration_steps",
           "end_calibration_steps", "is_calibrated"]
