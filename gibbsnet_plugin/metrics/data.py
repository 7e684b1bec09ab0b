"""Feeding a data split to an evaluator in order, without touching the global random state."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset


def in_order(data: Dataset, batch_size: int) -> DataLoader:
    """The items of ``data`` in order, in batches. The loader gets a generator of its own:
    a DataLoader otherwise draws its base seed from torch's global generator, which would shift
    the seeded noise of the model that is being scored."""
    return DataLoader(data, batch_size=batch_size, generator=torch.Generator().manual_seed(0))
