"""The resumable shuffling sampler (gibbsnet_plugin/data/sampler.py)."""

from __future__ import annotations

import torch

from gibbsnet_plugin.data.sampler import ResumableSampler

DATA = list(range(20))


def order(epoch: int, seed: int = 3, replicas: int = 1, rank: int = 0) -> list[int]:
    sampler = ResumableSampler(DATA, replicas, rank, seed)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_the_order_depends_only_on_seed_and_epoch_and_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    first = order(0)
    assert torch.equal(torch.rand(2), expected)
    assert sorted(first) == DATA and first != DATA
    assert order(0) == first and order(1) != first and order(0, seed=4) != first


def test_resuming_skips_the_items_already_seen_once():
    sampler = ResumableSampler(DATA, 1, 0, seed=3)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.start_index = 8
    assert list(sampler) == full[8:]
    assert list(sampler) == full  # the next pass of the epoch is whole again


def test_ranks_get_disjoint_shards_that_cover_the_data():
    shards = [order(1, replicas=4, rank=r) for r in range(4)]
    assert all(len(shard) == 5 for shard in shards)
    assert sorted(i for shard in shards for i in shard) == DATA
