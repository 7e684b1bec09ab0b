"""Batch norm whose test form is the trained operator at every chain step.

In training, a batch-norm layer normalises each batch with its own statistics; the unclamped
chain's batches at step 1, 2, 3, ... have different statistics (step 1 decodes the prior, later
steps decode the encoder's codes). A single set of running averages cannot reproduce all of
them, so an eval-mode chain drifts from what training shaped, most at the first steps.

``ChainBatchNorm`` keeps, besides the usual running statistics, one set per chain step: the first
eight steps each their own, later steps one set per doubling of the step (9-16, 17-32, ...).
They are measured on the unclamped chain itself (``calibration.calibrate_batchnorm``); in eval
mode, inside a chain step (``chain_step(t)``, which the chain models set), the layer normalises
with the statistics of that step, so a sample never depends on the rest of its batch and each
step computes what the same step computed in training. Outside a chain step (encoding data,
inpainting, chains started from images), and before any calibration, it is an ordinary batch
norm.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

SLOTS = 16
"""Slots of chain-step statistics: steps 1 ... 8 each their own, then steps 9-16, 17-32, ...,
513-1024 (doubling), and every later step."""
SINGLE = 8
"""The first steps, each with its own slot."""

_STEP: ContextVar[int | None] = ContextVar("gibbsnet_chain_step", default=None)


@contextmanager
def chain_step(t: int | None) -> Iterator[None]:
    """Everything computed inside is step ``t`` (1-based) of an unclamped chain; None: no chain
    step (data, a partially clamped chain)."""
    token = _STEP.set(t)
    try:
        yield
    finally:
        _STEP.reset(token)


def slot(t: int) -> int:
    """The statistics slot of chain step ``t`` (1-based): see ``SLOTS``."""
    if t <= SINGLE:
        return t - 1
    return min(SINGLE + (t - 1).bit_length() - SINGLE.bit_length(), SLOTS - 1)


class ChainBatchNorm(_BatchNorm):
    """A batch norm (1-d or 2-d input, as ``nn.BatchNorm1d``/``2d``) with statistics per chain
    step: ``step_mean`` and ``step_var`` (SLOTS, C), and ``step_count`` (SLOTS,), the batches
    each slot was measured on (0: not measured, the running statistics stand in).

    In training mode a chain step's batch is normalised with its own statistics, as in any batch
    norm, and also updates its slot's statistics as batch norm updates its running statistics
    (one running average per slot): the steps that training runs are measured for free.
    While ``measuring`` (a calibration, ``calibration.calibrate_batchnorm``), the slot's
    statistics are the plain average over the measured batches instead, and the running
    statistics become the average over every measured batch."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.register_buffer("step_mean", torch.zeros(SLOTS, num_features))
        self.register_buffer("step_var", torch.ones(SLOTS, num_features))
        self.register_buffer("step_count", torch.zeros(SLOTS))
        self.measuring = False
        self._measured = [0] * SLOTS

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (2, 3, 4):
            raise ValueError(f"expected 2-d, 3-d or 4-d input, got {input.dim()}-d")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        t = _STEP.get()
        if self.training:
            if t is None or not self.track_running_stats:
                return super().forward(input)
            s = slot(t)
            if self.measuring:
                return self._measure(input, s)
            self._track(input, s)
            return super().forward(input)
        s = None if t is None else self._measured_slot(slot(t))
        if s is not None:
            return F.batch_norm(input, self.step_mean[s], self.step_var[s], self.weight, self.bias,
                                False, 0.0, self.eps)
        return super().forward(input)

    def _measured_slot(self, s: int) -> int | None:
        """``s``, or the latest slot before it that was measured (a chain longer than the
        calibration keeps the statistics of its last measured steps); None when none was."""
        while s >= 0 and self.step_count[s] == 0:
            s -= 1
        return s if s >= 0 else None

    def _track(self, input: torch.Tensor, s: int) -> None:
        """Update slot ``s``'s running statistics with ``input``'s, as batch norm updates its
        running statistics (from mean 0 and variance 1, with the layer's momentum; 0.1 when it is
        None): one native pass, no host sync."""
        with torch.no_grad():
            torch.batch_norm_update_stats(input.detach(), self.step_mean[s], self.step_var[s],
                                          self.momentum if self.momentum is not None else 0.1)
            self.step_count[s] += 1

    def _measure(self, input: torch.Tensor, s: int) -> torch.Tensor:
        """Normalise with the batch's statistics and add them to slot ``s``'s plain average, in
        one pass of the native kernel (momentum 1/k for the k-th batch of the slot)."""
        self._measured[s] += 1
        self.num_batches_tracked.add_(1)
        return F.batch_norm(input, self.step_mean[s], self.step_var[s], self.weight, self.bias,
                            True, 1.0 / self._measured[s], self.eps)

    def start_measuring(self) -> None:
        """Forget the chain-step statistics and measure them anew on train-mode chain steps."""
        self.measuring, self._measured = True, [0] * SLOTS
        self.step_mean.zero_()
        self.step_var.fill_(1.0)
        self.step_count.zero_()

    def stop_measuring(self) -> None:
        """Keep the measured slots' averages, and the average over every measured batch as the
        running statistics (what the layer uses outside a chain step)."""
        counts = torch.tensor(self._measured, dtype=self.step_count.dtype, device=self.step_count.device)
        self.step_count.copy_(counts)
        if counts.sum() > 0:
            weights = (counts / counts.sum()).unsqueeze(1)
            self.running_mean.copy_((weights * self.step_mean).sum(0))
            self.running_var.copy_((weights * self.step_var).sum(0))
        self.measuring, self._measured = False, [0] * SLOTS

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any,
                              **kwargs: Any) -> None:
        # checkpoints of plain batch norm (gibbsnet 0.1) have no chain-step statistics
        for name in ("step_mean", "step_var", "step_count"):
            state_dict.setdefault(prefix + name, getattr(self, name).clone().fill_(name == "step_var"))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


STEP_BUFFERS = ("step_mean", "step_var", "step_count")
"""The buffers ``ChainBatchNorm`` adds to a batch norm's state."""


def chain_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every 1-d and 2-d batch norm inside it (itself included) replaced by a
    ``ChainBatchNorm`` with the same parameters, buffers and settings."""
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and not isinstance(module, ChainBatchNorm):
        new = ChainBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats)
        new.load_state_dict(module.state_dict(), strict=False)
        new.train(module.training)
        return new.to(next(module.buffers(), torch.empty(0)).device)
    for name, child in module.named_children():
        setattr(module, name, chain_batchnorm(child))
    return module


__all__ = ["SLOTS", "STEP_BUFFERS", "ChainBatchNorm", "chain_batchnorm", "chain_step", "slot"]
