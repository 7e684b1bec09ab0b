"""The training ``Engine``: one step updates D, then the encoder and decoder.

``update`` holds the arithmetic of one step so that the Ignite engine and the bare-loop benchmark
run exactly the same updates; ``create_trainer`` wraps it in an ``Engine`` whose step returns a
dict of floats.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import NamedTuple

import ignite.distributed as idist
import torch
from ignite.engine import Engine
from torch import nn
from torch.optim import Optimizer

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.data.missing import check_mask_batch, split_item
from gibbsnet_plugin.incomplete import training_pairs
from gibbsnet_plugin.recipe import Missing, Precision

OUTPUT_KEYS = ("d_loss", "g_loss", "d_real", "d_fake")


class _PairsStep(nn.Module):
    """The clamped and unclamped pairs in one forward pass over the encoder and decoder
    (``incomplete.training_pairs``: with a mask, missing entries are treated by ``method``)."""

    def __init__(self, model: ChainModel, method: Missing = "chain-ambient", fill_steps: int = 5) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.decoder = model.decoder
        self._model = (model,)  # a tuple, so D's parameters are not registered here
        self.method = method
        self.fill_steps = fill_steps

    def forward(self, x: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[tuple[torch.Tensor, ...], ...]:
        return training_pairs(self._model[0], x, mask, self.method, self.fill_steps)


class _CriticStep(nn.Module):
    """D's loss on (detached) pairs in one forward pass over the discriminator."""

    def __init__(self, model: ChainModel) -> None:
        super().__init__()
        self.discriminator = model.discriminator
        self._model = (model,)

    def forward(self, real: tuple[torch.Tensor, torch.Tensor], fake: tuple[torch.Tensor, torch.Tensor],
                noise_std: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self._model[0].discriminator_loss(real, fake, noise_std)
        return out.loss, out.d_real, out.d_fake


class Steps(NamedTuple):
    """The two differentiable passes of a training step. In a multi-process run each is wrapped
    in DistributedDataParallel (one forward per backward, as DDP requires), so gradients are
    averaged across processes; D's frozen use in the encoder/decoder step stays unwrapped."""

    pairs: nn.Module
    critic: nn.Module


def make_steps(model: ChainModel, missing: Missing = "chain-ambient", fill_steps: int = 5) -> Steps:
    """``Steps`` for ``model`` (``missing`` and ``fill_steps``: how batches with masks are
    treated, see ``incomplete``): wrapped in DistributedDataParallel (``idist.auto_model``) when
    more than one process runs; a CPU model on a GPU machine is wrapped as it is."""
    steps = Steps(_PairsStep(model, missing, fill_steps), _CriticStep(model))
    if idist.get_world_size() > 1:
        if model.device.type == idist.device().type:
            steps = Steps(*(idist.auto_model(step) for step in steps))
        else:
            steps = Steps(*(nn.parallel.DistributedDataParallel(step) for step in steps))
    return steps


class Amp:
    """Mixed precision of a training step: forward passes autocast to bfloat16 or float16, and
    for float16 a GradScaler (one for both optimizers, updated once per step)."""

    def __init__(self, precision: Precision, device: torch.device) -> None:
        self.device_type = device.type
        self.dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def step(self, loss: torch.Tensor, optimizer: Optimizer) -> None:
        """Backward pass and optimizer step (scaled for float16)."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)

    def end(self) -> None:
        if self.scaler is not None:
            self.scaler.update()


FP32 = Amp("fp32", torch.device("cpu"))


def update(
    model: ChainModel, opt_d: Optimizer, opt_g: Optimizer, x: torch.Tensor, noise_std: float = 0.0,
    steps: Steps | None = None, amp: Amp = FP32, mask: torch.Tensor | None = None,
    fill_steps: int = 5,
) -> torch.Tensor:
    """One adversarial step on the batch ``x`` (with ``mask``, 1 = observed, when it is
    incomplete): D first, then encoder and decoder against the updated D (never against D
    outputs computed before D's update). ``steps`` defaults to ``make_steps(model)``;
    ``fill_steps``: chain steps of the partially clamped chain of ``x_consistency``.

    Returns a tensor of the four ``OUTPUT_KEYS`` values: both losses and D's mean output on the
    clamped (real) and unclamped (fake) pairs, measured in the D step.
    """
    steps = steps or make_steps(model)
    with amp.autocast():
        real, fake = steps.pairs(x) if mask is None else steps.pairs(x, mask)
        d_loss, d_real, d_fake = steps.critic(
            tuple(t.detach() for t in real), tuple(t.detach() for t in fake), noise_std)
    amp.step(d_loss, opt_d)

    model.discriminator.requires_grad_(False)
    try:
        with amp.autocast():
            g_loss = model.generator_loss(real, fake, noise_std, x, mask, fill_steps).loss
    finally:
        model.discriminator.requires_grad_(True)
    amp.step(g_loss, opt_g)
    amp.end()
    return torch.stack([d_loss.detach(), g_loss.detach(), d_real, d_fake]).float()


def create_trainer(
    model: ChainModel, opt_d: Optimizer, opt_g: Optimizer, device: torch.device,
    noise_std: Callable[[int], float] = lambda iteration: 0.0, amp: Amp = FP32,
    channels_last: bool = False, missing: Missing = "chain-ambient", fill_steps: int = 5,
) -> Engine:
    """An Engine whose ``train_step`` returns ``{d_loss, g_loss, d_real, d_fake}`` as floats.

    ``noise_std(iteration)`` gives the instance-noise std for that iteration; ``amp`` the
    precision; ``channels_last`` converts 4-d batches to that memory format. Batches that carry
    masks (``(x, mask)`` or ``(x, y, mask)``) are checked and trained on with ``missing``.
    """
    steps = make_steps(model, missing, fill_steps)

    def train_step(engine: Engine, batch: object) -> dict[str, float]:
        model.train()
        x, _, mask = split_item(batch)
        if mask is not None:
            check_mask_batch(x, mask, "the training data")
            mask = mask.to(device, torch.float32, non_blocking=True)
        x = x.to(device, non_blocking=True)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        values = update(model, opt_d, opt_g, x, noise_std(engine.state.iteration), steps, amp, mask,
                        fill_steps)
        return dict(zip(OUTPUT_KEYS, values.tolist(), strict=True))

    return Engine(train_step)
