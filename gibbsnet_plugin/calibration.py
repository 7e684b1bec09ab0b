"""Batch-norm statistics measured on the unclamped chain ("standing statistics"), per chain step.

In training, batch norm normalises each batch with its own statistics; at inference it uses
stored ones, which must describe the batches each chain step saw. ``calibrate_batchnorm`` runs
unclamped chains with batch statistics and stores, in every ``ChainBatchNorm``
(``architectures.norms``; the factory converts every batch norm of a model's transitions), the
average statistics of each chain step, and in every batch norm the average over all steps (used
outside a chain step). Eval-mode sampling then computes at each step what that step computed in
training, and an image never depends on the rest of its batch.
"""

from __future__ import annotations

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from gibbsnet_plugin.architectures.norms import ChainBatchNorm
from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.utils import seeded


def calibrate_batchnorm(model: ChainModel, chains: int = 200, steps: int = 30, seed: int = 0) -> bool:
    """Recompute the statistics of the encoder's and decoder's batch-norm layers over ``steps``
    steps of ``chains`` unclamped chains run with batch statistics (``model.burn``: every network
    sees ``steps`` batches): per chain step in ``ChainBatchNorm`` layers, and their average over
    all steps as the running statistics.

    Deterministic for a given ``seed`` and leaves the global random state untouched; the modules'
    modes and momenta are restored. Returns False (and does nothing) when there is no batch norm.
    """
    norms = [m for net in (model.encoder, model.decoder) for m in net.modules()
             if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms or steps < 1:
        return False
    modes = {m: m.training for m in model.modules()}
    momenta = [m.momentum for m in norms]
    stepped = [m for m in norms if isinstance(m, ChainBatchNorm)]
    try:
        with seeded(seed, model.device), torch.no_grad():
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over all calibration batches
            for m in stepped:
                m.start_measuring()
            model.encoder.train()
            model.decoder.train()
            model.burn(chains, steps)
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


__all__ = ["calibrate_batchnorm"]
