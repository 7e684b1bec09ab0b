"""Multi-process training through ``ignite.distributed``: spawn N local processes, or join the
processes that ``torchrun`` started (one or several machines).

Backend ``nccl`` on GPUs, ``gloo`` on CPU. A process that dies makes torch.multiprocessing stop the
others, and collectives time out after ``timeout_s`` instead of hanging for ever. A
``GibbsnetError`` raised in a process is raised again, with its class and message, in the
launching process.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from torch.multiprocessing import ProcessExitedException, ProcessRaisedException

from gibbsnet_plugin import errors
from gibbsnet_plugin.errors import DistributedError, GibbsnetError

DEFAULT_TIMEOUT_S = 600.0


@contextmanager
def quiet_ignite() -> Iterator[None]:
    """Silence INFO logs of ignite.distributed (it logs its arguments on loggers of its own)."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


def launched_by_torchrun() -> bool:
    """True inside a process that torchrun (or another launcher setting the env vars) started."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "LOCAL_RANK" in os.environ


def _quietly(local_rank: int, done_dir: str, fn: Callable[..., Any], *args: Any) -> None:
    with quiet_ignite():
        try:
            fn(local_rank, *args)
        except GibbsnetError as exc:
            # The parent sees only a traceback string: leave it the error's class and message.
            error = {"type": type(exc).__name__, "message": str(exc),
                     "resumable": getattr(exc, "resumable", False)}
            Path(done_dir, f"error-{idist.get_rank()}.json").write_text(json.dumps(error))
            raise
        idist.barrier()  # tear the process group down together
        Path(done_dir, f"rank-{idist.get_rank()}").touch()


def _free_port() -> int:
    """A TCP port free right now, so that two runs on one machine do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def run_parallel(fn: Callable[..., Any], *args: Any, nproc: int, backend: str,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Run ``fn(local_rank, *args)`` in ``nproc`` spawned processes, or in this process as one
    rank of a torchrun launch (``nproc`` is then ignored).

    Raises:
        DistributedError: a process raised (the message is the last line of its error) or died.
        TrainingInterrupted: the processes stopped on Ctrl-C.
    """
    options: dict[str, Any] = {"timeout": timedelta(seconds=timeout_s)}
    if not launched_by_torchrun():
        options.update(nproc_per_node=nproc, master_port=_free_port())
    with tempfile.TemporaryDirectory(prefix="gibbsnet-ranks-") as done_dir:
        try:
            with quiet_ignite(), idist.Parallel(backend=backend, **options) as parallel:
                parallel.run(_quietly, done_dir, fn, *args)
        except ProcessRaisedException as exc:
            _raise_from(exc, Path(done_dir))
        except ProcessExitedException as exc:
            # Every rank had finished its work: a crash while the process group shuts down (seen
            # now and then with gloo on CPU) does not undo a completed run.
            if len(list(Path(done_dir).glob("rank-*"))) == nproc:
                return
            raise DistributedError(
                f"training process {exc.error_index} died ({exc}); the other processes were "
                "stopped; the last checkpoint can be resumed with `resume`"
            ) from None


def _raise_from(exc: ProcessRaisedException, done_dir: Path) -> None:
    """Raise the ``GibbsnetError`` that the failed process recorded (same class and message), or
    a ``DistributedError`` quoting the last line of its traceback."""
    recorded = sorted(done_dir.glob("error-*.json"))
    if recorded:
        error = json.loads(recorded[0].read_text())
        kind = getattr(errors, error["type"], None)
        if not (isinstance(kind, type) and issubclass(kind, GibbsnetError)):
            kind = DistributedError
        if kind is errors.TrainingInterrupted:
            raise errors.TrainingInterrupted(error["message"], error["resumable"]) from None
        raise kind(error["message"]) from None
    last = [line for line in str(exc).strip().splitlines() if line.strip()][-1]
    raise DistributedError(f"a training process failed: {last}") from None
