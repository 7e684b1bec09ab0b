"""scikit-learn's handwritten digits: 1797 images of 1×8×8, shipped inside scikit-learn."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from gibbsnet_plugin.data.base import SPLIT_SEED, binarized
from gibbsnet_plugin.errors import EnvironmentFailure
from gibbsnet_plugin.registry import DATASETS


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits (1797, 64) in 0..16 and their labels (1797,), read from the file scikit-learn
    ships, as ``sklearn.datasets.load_digits`` reads it, without importing scikit-learn (about a
    second)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise EnvironmentFailure("the digits data set ships with scikit-learn, which is not "
                                 "installed; pip install scikit-learn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


@DATASETS.register("digits")
def build(root: str, train: bool, test_fraction: float = 0.2, binarize: bool = False) -> TensorDataset:
    """Digits as (x, y): x of shape (1, 8, 8) in [-1, 1], y in 0..9; with ``binarize`` in {-1, 1}
    (ink of 9 or more of 16 is 1).

    ``root`` is unused (the data ship with scikit-learn). The split is a fixed seeded permutation:
    the last ``test_fraction`` of it is the test set.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    images, labels = read_digits()
    x = torch.as_tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 8.0 - 1.0
    x = binarized(x, binarize)
    y = torch.as_tensor(labels, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = round(len(x) * test_fraction)
    index = order[:-n_test] if train else order[-n_test:]
    return TensorDataset(x[index], y[index])
