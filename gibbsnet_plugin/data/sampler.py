"""A shuffling sampler whose order depends only on (seed, epoch), and that can resume mid-epoch."""

from __future__ import annotations

from collections.abc import Iterator, Sized

from torch.utils.data import DistributedSampler


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (one shard per rank, reshuffled by ``set_epoch``) that skips its
    first ``start_index`` indices once, so a resumed run sees exactly the data an uninterrupted
    run would have seen. It never touches the global random number generator."""

    def __init__(self, dataset: Sized, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.start_index = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())[self.start_index:]
        self.start_index = 0
        return iter(indices)
