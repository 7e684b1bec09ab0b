"""2-D Gaussian mixtures of the mode-collapse literature (VEEGAN, PacGAN): ``grid25`` and ``ring8``.

Points are in the papers' units (not rescaled to [-1, 1]): train them with a decoder whose output
is unbounded, e.g. ``mlp`` with ``output: linear``. Each data set exposes its ``centres`` and
``std``, which the ``modes`` metric scores samples against.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

from gibbsnet_plugin.data.base import SPLIT_SEED
from gibbsnet_plugin.registry import DATASETS

SPLIT_SEEDS = {True: SPLIT_SEED, False: SPLIT_SEED + 1}
"""Seeds of the train and test draws (not the global RNG): changing them changes published numbers."""


class GaussianMixture(Dataset):
    """``size`` points drawn from equal-weight isotropic Gaussians N(centres[k], std² I).

    Items are ``(x, y)``: x a float32 tensor of shape (D,), y the int index of its component.
    Attributes: ``centres`` (K, D) float32, ``std`` (float), ``x`` (size, D), ``y`` (size,).
    """

    def __init__(self, centres: torch.Tensor, std: float, size: int, seed: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.centres = centres.to(torch.float32)
        self.std = float(std)
        generator = torch.Generator().manual_seed(seed)
        self.y = torch.randint(len(centres), (size,), generator=generator)
        noise = torch.randn(size, centres.shape[1], generator=generator, dtype=torch.float64)
        self.x = (self.centres.double()[self.y] + self.std * noise).to(torch.float32)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.x[index], int(self.y[index])


@DATASETS.register("grid25")
def build_grid25(root: str, train: bool, size: int = 100_000, std: float | None = None,
                 spacing: float = 2.0) -> GaussianMixture:
    """PacGAN's / VEEGAN's grid: 25 Gaussians with means (-2s + s i, -2s + s j), i, j in 0..4
    (s = ``spacing``, 2: means -4 ... 4), std ``std`` (default 0.05, i.e. PacGAN's variance
    0.0025). Component k = 5 i + j. ``root`` is unused."""
    if not spacing > 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    ticks = spacing * (torch.arange(5, dtype=torch.float64) - 2)
    centres = torch.cartesian_prod(ticks, ticks)
    return GaussianMixture(centres, 0.05 if std is None else std, size, SPLIT_SEEDS[bool(train)])


@DATASETS.register("ring8")
def build_ring8(root: str, train: bool, size: int = 100_000, std: float | None = None,
                radius: float = 1.0) -> GaussianMixture:
    """PacGAN's / VEEGAN's ring: 8 Gaussians with means radius·(cos 2πk/8, sin 2πk/8), k = 0..7,
    std ``std`` (default 0.01, i.e. PacGAN's variance 1e-4). ``root`` is unused."""
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(centres, 0.01 if std is None else std, size, SPLIT_SEEDS[bool(train)])
