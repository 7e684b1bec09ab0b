"""The training ``Engine``: one step updates D, then the encoder and decoder.

``update`` holds the arithmetic of one step so that the Ignite engine and the bare-loop benchmark
run exactly the same updates; ``create_trainer`` wraps it in an ``Engine`` whose step returns a
dict of floats.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from ignite.engine import Engine
from torch.optim import Optimizer

from gibbsnet_plugin.model import GibbsNet

OUTPUT_KEYS = ("d_loss", "g_loss", "d_real", "d_fake")


def update(
    model: GibbsNet, opt_d: Optimizer, opt_g: Optimizer, x: torch.Tensor, noise_std: float = 0.0
) -> torch.Tensor:
    """One adversarial step on the batch ``x``: D first, then encoder and decoder against the
    updated D (never against D outputs computed before D's update).

    Returns a tensor of the four ``OUTPUT_KEYS`` values: both losses and D's mean output on the
    clamped (real) and unclamped (fake) pairs, measured in the D step.
    """
    real = model.clamped(x)
    fake = model.unclamped(x.shape[0])

    d = model.discriminator_loss(real, fake, noise_std)
    opt_d.zero_grad(set_to_none=True)
    d.loss.backward()
    opt_d.step()

    model.discriminator.requires_grad_(False)
    try:
        g = model.generator_loss(real, fake, noise_std)
    finally:
        model.discriminator.requires_grad_(True)
    opt_g.zero_grad(set_to_none=True)
    g.loss.backward()
    opt_g.step()
    return torch.stack([d.loss.detach(), g.loss.detach(), d.d_real, d.d_fake])


def batch_to_x(batch: object, device: torch.device) -> torch.Tensor:
    """The data tensor of a batch that is ``x`` or ``(x, y)``, moved to ``device``."""
    x = batch[0] if isinstance(batch, (list, tuple)) else batch
    return x.to(device, non_blocking=True)


def create_trainer(
    model: GibbsNet, opt_d: Optimizer, opt_g: Optimizer, device: torch.device,
    noise_std: Callable[[int], float] = lambda iteration: 0.0,
) -> Engine:
    """An Engine whose ``train_step`` returns ``{d_loss, g_loss, d_real, d_fake}`` as floats.

    ``noise_std(iteration)`` gives the instance-noise std for that iteration.
    """

    def train_step(engine: Engine, batch: object) -> dict[str, float]:
        model.train()
        x = batch_to_x(batch, device)
        values = update(model, opt_d, opt_g, x, noise_std(engine.state.iteration))
        return dict(zip(OUTPUT_KEYS, values.tolist()))

    return Engine(train_step)
