"""The pairs D compares when the training data are incomplete or corrupted.

With complete data the clamped side is ``model.clamped(x)`` and the unclamped side
``model.unclamped(n)``. With a mask per item (1 = observed) the clamped side depends on the method:

- ``chain``: the partially clamped chain fills the missing entries (observed entries fixed, K
  steps from noise, no gradient), then the clamped pair of the filled x;
- ``ambient``: the clamped pair of x with zeros where missing, against the unclamped pair whose x
  is masked the same way by another item's mask (MisGAN, P-BiGAN: D only sees what a mask lets
  through, on both sides);
- ``chain-ambient``: the encoder reads the chain-filled x as in ``chain``, but D sees x with zeros
  where missing, against masked unclamped pairs as in ``ambient``: no pixel the model filled in is
  shown to D as data;
- ``zero-fill``: the clamped pair of x with zeros where missing, as if the zeros were data.

Missing entries are only ever selected away (``torch.where``), never multiplied, so whatever they
hold (even NaN) never reaches a network, a loss or a gradient.

With a model that has a corruption f, the data are measurements y and the unclamped side shows D
``f(x_N)``, so the decoder learns clean x (AmbientGAN's idea on the GibbsNet pair).
"""

from __future__ import annotations

import torch

from gibbsnet_plugin.chains import ChainModel, State
from gibbsnet_plugin.recipe import Missing


def zero_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x with 0 wherever ``mask`` is 0 (the hidden values are not read)."""
    return torch.where(mask != 0, x, torch.zeros((), dtype=x.dtype, device=x.device))


def chain_fill(model: ChainModel, x: torch.Tensor, mask: torch.Tensor, steps: int) -> torch.Tensor:
    """x with its missing entries filled by ``steps`` steps of the partially clamped chain
    (``model.inpaint``), without autograd; observed entries are exactly x's."""
    with torch.no_grad():
        return model.inpaint(x, mask, steps)


def training_pairs(model: ChainModel, x: torch.Tensor, mask: torch.Tensor | None = None,
                   method: Missing = "chain-ambient", steps: int = 5) -> tuple[State, State]:
    """(clamped, unclamped) states for D, for a batch x (B, *x_shape) with an optional ``mask``
    of x's shape (1 = observed); ``steps`` is K of the ``chain`` method. The clamped side carries
    the encoder's gradient, the unclamped side the chain's (as ``model.unclamped``); with
    ``stationarity`` the unclamped side also holds ``model.chain_pairs`` of the clamped states."""
    if mask is None:
        real = model.clamped(x)
    elif method == "chain":
        real = model.clamped(chain_fill(model, x, mask, steps))
    elif method == "chain-ambient":
        real = tuple(model.clamped(chain_fill(model, x, mask, steps)))
        real = (zero_fill(x, mask), *real[1:])
    else:
        real = model.clamped(zero_fill(x, mask))
    fake = tuple(model.unclamped(x.shape[0]))
    fake = (model.observe(fake[0]), *fake[1:])  # a model of a corruption f: D compares f(x_N)
    if mask is not None and method.endswith("ambient"):
        others = mask[torch.randperm(mask.shape[0], device=mask.device)]
        shown = fake[0].shape[0] // mask.shape[0]  # critic_states > 1 shows several states
        fake = (zero_fill(fake[0], others.repeat(shown, *[1] * (mask.dim() - 1))), *fake[1:])
    if model.stationarity:
        if mask is not None or model.corruption is not None:
            raise ValueError("stationarity runs chains from data items, so it needs complete, "
                             "uncorrupted data; set model.stationarity to 0 for this data set")
        fake = tuple(torch.cat(layers) for layers in zip(fake, model.chain_pairs(real), strict=True))
    return tuple(real), fake
