"""Known corruptions y = f(x) and the corruption registry (``gibbsnet.corruptions`` entry points).

A corruption factory is ``build(x_shape: tuple[int, ...], **options) -> Callable[[Tensor], Tensor]``;
``options`` are the recipe's ``data.corruption.options``. The function maps a batch x of shape
(B, *x_shape) to its measurements y, differentiably in x; it may draw random numbers from torch's
global generator (noise, dropped pixels). Training on corrupted data needs y shaped like x. The
built-ins are ``functools.partial`` objects, so they pickle (data-loader workers, spawn).

Built-ins, for images (C, H, W) in [-1, 1] (``noise`` works on any shape):

- ``noise``: ``y = x + sigma * e``, e ~ N(0, I);
- ``blur``: a Gaussian blur of std ``sigma`` pixels (kernel ``2 * ceil(3 sigma) + 1`` wide,
  capped at the image, reflected at the borders), then additive noise of std ``noise``;
- ``downsample``: the mean of each ``factor`` × ``factor`` block, repeated back to H×W
  (``keep_shape: false`` returns the small image, which training refuses);
- ``drop``: each pixel (all its channels) replaced by ``value`` with probability ``p``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from gibbsnet_plugin.data.base import image_dims
from gibbsnet_plugin.registry import CORRUPTIONS

Corruption = Callable[[torch.Tensor], torch.Tensor]
"""y = f(x): (B, *x_shape) -> (B, *y_shape), differentiable in x."""

names = CORRUPTIONS.names
get = CORRUPTIONS.get
build = CORRUPTIONS.build
entries = CORRUPTIONS.entries
register = CORRUPTIONS.register


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@register("noise")
def noise(x_shape: tuple[int, ...], sigma: float = 0.1) -> Corruption:
    """Additive Gaussian noise of std ``sigma`` (in the data's units)."""
    _check(isinstance(sigma, (int, float)) and sigma > 0, f"noise sigma must be > 0, got {sigma!r}")
    return partial(_noise, sigma=float(sigma))


def _noise(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return x + sigma * torch.randn_like(x)


@register("blur")
def blur(x_shape: tuple[int, ...], sigma: float = 1.0, noise: float = 0.0) -> Corruption:
    """Gaussian blur of std ``sigma`` pixels, then additive Gaussian noise of std ``noise``."""
    _, h, w = image_dims(x_shape, "the blur corruption", channels=None)
    _check(isinstance(sigma, (int, float)) and sigma > 0, f"blur sigma must be > 0, got {sigma!r}")
    _check(isinstance(noise, (int, float)) and noise >= 0, f"blur noise must be >= 0, got {noise!r}")
    size = min(2 * math.ceil(3 * sigma) + 1, 2 * ((min(h, w) - 1) // 2) + 1)
    return partial(_blur, size=size, sigma=float(sigma), noise=float(noise))


def _blur(x: torch.Tensor, size: int, sigma: float, noise: float) -> torch.Tensor:
    from torchvision.transforms.functional import gaussian_blur  # noqa: PLC0415  (slow to import)

    y = gaussian_blur(x, [size, size], [sigma, sigma]) if size > 1 else x
    return y + noise * torch.randn_like(y) if noise > 0 else y


@register("downsample")
def downsample(x_shape: tuple[int, ...], factor: int = 2, keep_shape: bool = True) -> Corruption:
    """The mean of each ``factor`` × ``factor`` block; with ``keep_shape`` repeated back to H×W."""
    _, h, w = image_dims(x_shape, "the downsample corruption", channels=None)
    _check(isinstance(factor, int) and not isinstance(factor, bool) and factor >= 2,
           f"downsample factor must be an integer >= 2, got {factor!r}")
    _check(h % factor == 0 and w % factor == 0,
           f"downsample factor {factor} must divide the image size {h}×{w}")
    _check(isinstance(keep_shape, bool), f"downsample keep_shape must be true or false, got {keep_shape!r}")
    return partial(_downsample, factor=factor, keep_shape=keep_shape)


def _downsample(x: torch.Tensor, factor: int, keep_shape: bool) -> torch.Tensor:
    y = F.avg_pool2d(x, factor)
    return y.repeat_interleave(factor, -2).repeat_interleave(factor, -1) if keep_shape else y


@register("drop")
def drop(x_shape: tuple[int, ...], p: float = 0.5, value: float = 0.0) -> Corruption:
    """Each pixel replaced by ``value`` with probability ``p`` (drawn anew on every call)."""
    _check(isinstance(p, (int, float)) and 0 < p < 1, f"drop p must be in (0, 1), got {p!r}")
    _check(isinstance(value, (int, float)), f"drop value must be a number, got {value!r}")
    pixel_shape = (1, *x_shape[1:]) if len(x_shape) == 3 else tuple(x_shape)
    return partial(_drop, pixel_shape=pixel_shape, p=float(p), value=float(value))


def _drop(x: torch.Tensor, pixel_shape: tuple[int, ...], p: float, value: float) -> torch.Tensor:
    kept = torch.rand(x.shape[0], *pixel_shape, device=x.device) >= p
    return torch.where(kept, x, torch.full_like(x, value))


__all__ = ["Corruption", "blur", "build", "downsample", "drop", "entries", "get", "names", "noise",
           "register"]
