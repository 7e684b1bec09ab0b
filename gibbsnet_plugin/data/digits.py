"""scikit-learn's handwritten digits: 1797 images of 1×8×8, shipped inside scikit-learn."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from gibbsnet_plugin.data.base import SPLIT_SEED
from gibbsnet_plugin.registry import DATASETS


@DATASETS.register("digits")
def build(root: str, train: bool, test_fraction: float = 0.2) -> TensorDataset:
    """Digits as (x, y): x of shape (1, 8, 8) in [-1, 1], y in 0..9.

    ``root`` is unused (the data ship with scikit-learn). The split is a fixed seeded permutation:
    the last ``test_fraction`` of it is the test set.
    """
    from sklearn.datasets import load_digits

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = round(len(x) * test_fraction)
    index = order[:-n_test] if train else order[-n_test:]
    return TensorDataset(x[index], y[index])
