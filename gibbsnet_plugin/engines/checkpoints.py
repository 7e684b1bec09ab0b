"""The checkpoint handlers of a training run: ``step_XXXXXXX.pt``, ``last.pt`` and ``best.pt``,
each an ignite ``Checkpoint`` written atomically, and the priority that picks ``best.pt``."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ignite.handlers import Checkpoint, DiskSaver

from gibbsnet_plugin.metrics import lower_is_better
from gibbsnet_plugin.rundir import BEST, LAST, STEP_CHECKPOINTS, RunDir, read_metrics


class _AtomicSaver(DiskSaver):
    """Ignite's atomic DiskSaver (a temporary file in the same directory, then a rename) that
    leaves no temporary file on any failure and reports a failed write as ``OSError``: on a full
    disk ``torch.save`` raises ``RuntimeError`` ("unexpected pos ...") and closing the file can
    fail after it."""

    def __init__(self, dirname: Path) -> None:
        super().__init__(dirname, atomic=True, require_empty=False)

    def _save_func(self, checkpoint: Mapping, path: Path, func: Callable) -> None:
        tmp = tempfile.NamedTemporaryFile(delete=False, dir=self.dirname)
        try:
            try:
                func(checkpoint, tmp.file, **self.kwargs)
            finally:
                tmp.close()
            os.replace(tmp.name, path)
        except BaseException as exc:
            full = shutil.disk_usage(self.dirname).free < FULL_BYTES  # before freeing tmp's space
            with contextlib.suppress(OSError):
                os.remove(tmp.name)
            if isinstance(exc, RuntimeError):
                raise OSError(errno.ENOSPC if full else errno.EIO,
                              "No space left on device" if full else
                              f"writing the checkpoint failed ({str(exc).splitlines()[0][:80]})",
                              str(path)) from exc
            raise
        os.chmod(path, os.stat(path).st_mode | stat.S_IRGRP | stat.S_IROTH)


FULL_BYTES = 1 << 20
"""Free space below which a failed checkpoint write is reported as a full disk."""


class _ReplacingSaver(_AtomicSaver):
    """The saver of ``last.pt`` and ``best.pt``: the new file atomically replaces the old one,
    which must not be deleted first (Checkpoint removes a same-named file before saving)."""

    def remove(self, filename: str) -> None:
        pass


def best_priority(score: str, mode: str, value: float) -> float:
    """The priority of a ``best.pt`` candidate (ignite's Checkpoint keeps the highest): ``value``
    of ``score``, negated when lower is better (``mode`` ``min``, or ``auto`` for errors and
    distances, as the score's metric says: ``metrics.lower_is_better``)."""
    lower = lower_is_better(score) if mode == "auto" else mode == "min"
    return -value if lower else value


class Checkpointers:
    """The checkpoint handlers of a run directory ``out``, each an ignite ``Checkpoint`` of
    ``to_save`` written atomically:

    - ``step``: ``step_XXXXXXX.pt``, the newest ``keep`` of them (0 keeps all);
    - ``last``: ``last.pt``, replaced in place;
    - ``best``: ``best.pt`` for the best ``best_score`` in ``engine.state.metrics`` (``best_mode``
      as in ``best_priority``); None without ``best_score``.
    """

    def __init__(self, to_save: dict[str, Any], out: Path, keep: int, best_score: str | None = None,
                 best_mode: str = "auto") -> None:
        self.run = RunDir(out)
        self.directory = self.run.checkpoints
        self.best_score, self.best_mode = best_score, best_mode
        self.step = Checkpoint(
            to_save, _AtomicSaver(self.directory),
            n_saved=keep or None, filename_pattern=STEP_CHECKPOINTS,
            global_step_transform=lambda engine, _: engine.state.iteration,
        )
        self.last = Checkpoint(
            to_save, _ReplacingSaver(self.directory),
            n_saved=1, filename_pattern=LAST.replace(".pt", ".{ext}"),
        )
        self.best: Checkpoint | None = None
        if best_score is not None:
            self.best = Checkpoint(
                to_save, _ReplacingSaver(self.directory),
                n_saved=1, filename_pattern=BEST.replace(".pt", ".{ext}"),
                score_function=lambda engine: best_priority(
                    best_score, best_mode, engine.state.metrics[best_score]),
            )

    def resume(self, iteration: int) -> None:
        """Tell the handlers what a run resumed at ``iteration`` already wrote: the step files up
        to it (so ``keep`` counts them), and the best score logged up to it (so ``best.pt`` is
        only replaced by a better one)."""
        steps = [(number, path.name) for number, path in self.run.step_checkpoints() if number <= iteration]
        self.step.load_state_dict({"_saved": steps})
        if self.best is not None:
            self.best.load_state_dict({"_saved": self._best_so_far(iteration)})

    def _best_so_far(self, upto: int) -> list[tuple[float, str]]:
        if not self.run.best.exists() or not self.run.metrics.exists():
            return []
        curve = read_metrics(self.run.metrics).evaluation.get(self.best_score or "", [])
        priorities = [best_priority(self.best_score, self.best_mode, value)  # type: ignore[arg-type]
                      for iteration, value in curve if iteration <= upto]
        return [(max(priorities), BEST)] if priorities else []
