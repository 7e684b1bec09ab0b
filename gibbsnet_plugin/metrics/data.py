"""Feeding a data split to an evaluator in order, without touching the global random state, and
reporting an evaluator's progress."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from gibbsnet_plugin.metrics.base import Progress

if TYPE_CHECKING:
    from ignite.engine import Engine


def world() -> tuple[int, int]:
    """``(world size, rank)`` of this process: Ignite's distributed context when there is one
    (ignite is imported only then: it takes about a second)."""
    if "ignite.distributed" not in sys.modules and not (
            torch.distributed.is_available() and torch.distributed.is_initialized()):
        return 1, 0
    import ignite.distributed as idist

    return idist.get_world_size(), idist.get_rank()


def no_progress(task: str, done: int, total: int) -> None:
    """The ``Progress`` that reports nothing."""


def in_order(data: Dataset, batch_size: int) -> DataLoader:
    """The items of ``data`` in order, in batches. The loader gets a generator of its own:
    a DataLoader otherwise draws its base seed from torch's global generator, which would shift
    the seeded noise of the model that is being scored."""
    return DataLoader(data, batch_size=batch_size, generator=torch.Generator().manual_seed(0))


def shard_in_order(data: Dataset, batch_size: int) -> DataLoader:
    """``in_order`` over this process's share of ``data`` (every world_size-th item from its
    rank): for metrics whose sums Ignite all-reduces across processes, so that a multi-process
    evaluation covers each item once and equals the single-process result."""
    size, rank = world()
    if size > 1:
        data = Subset(data, range(rank, len(data), size))  # type: ignore[arg-type]
    return in_order(data, batch_size)


def local_share(total: int) -> int:
    """How many of ``total`` generated samples this process makes (they add up to ``total``)."""
    size, rank = world()
    return total // size + (1 if rank < total % size else 0)


def track(engine: Engine, progress: Progress | None, task: str) -> None:
    """Report the batches of ``engine`` (an evaluator that runs one epoch) to ``progress`` under
    the name ``task``: ``(task, 0, total)`` when it starts and ``(task, i, total)`` after batch i."""
    if progress is None:
        return
    from ignite.engine import Events

    def report(engine: Engine) -> None:
        progress(task, engine.state.iteration, engine.state.epoch_length or 0)

    engine.add_event_handler(Events.STARTED, report)
    engine.add_event_handler(Events.ITERATION_COMPLETED, report)
