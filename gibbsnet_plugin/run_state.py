"""What a training run saves in its checkpoints and resumes from: the random-number states
(``RNGStates``), the ``meta`` entry (``RunMeta``: the resolved recipe, the data shape and the
checksums of the other entries), and the check of a run directory before training starts
(``check_run_dir``), which reads the checkpoint a resumed run continues from (``ResumePoint``).

Reading, loading and exporting checkpoints is ``checkpoint``'s; the handlers that write them
during training are ``engines.checkpoints``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gibbsnet_plugin.checkpoint import FORMAT_VERSION, read_checkpoint, tensors_digest
from gibbsnet_plugin.errors import RunDirectoryError
from gibbsnet_plugin.recipe import Recipe, recipe_differences
from gibbsnet_plugin.rundir import RunDir
from gibbsnet_plugin.utils import unwritable

RESUMABLE_KEYS = {"train.iterations", "train.device", "train.loggers"}
"""Recipe keys that ``--resume`` may change; any other difference is refused."""


class RNGStates:
    """The torch (CPU and CUDA), Python and NumPy generators as a checkpointable object."""

    def state_dict(self) -> dict[str, Any]:
        np_state = np.random.get_state(legacy=False)
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(),
            "numpy": {
                "bit_generator": np_state["bit_generator"],
                "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                "pos": int(np_state["state"]["pos"]),
                "has_gauss": int(np_state["has_gauss"]),
                "gauss": float(np_state["gauss"]),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        n = state["numpy"]
        np.random.set_state({
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"], "gauss": n["gauss"],
        })


class RunMeta:
    """The resolved recipe, the data shape and, for data that are not images, their ``units``
    (``data.units.data_units``: a table's columns and scaling), stored in every checkpoint under
    ``meta``, with the SHA-256 of the tensors of every other entry saved with it (``parts``:
    checkpoint entry -> object with a ``state_dict``), which ``read_checkpoint`` verifies."""

    def __init__(self, recipe: Recipe, x_shape: tuple[int, ...],
                 parts: dict[str, Any] | None = None, units: dict[str, Any] | None = None) -> None:
        self.recipe = recipe
        self.x_shape = tuple(x_shape)
        self.parts = parts if parts is not None else {}
        self.units = units

    def state_dict(self) -> dict[str, Any]:
        state = {"format": FORMAT_VERSION, "recipe": self.recipe.to_dict(), "x_shape": list(self.x_shape),
                 "sha256": {name: tensors_digest(part.state_dict())
                            for name, part in self.parts.items() if part is not self}}
        return state if self.units is None else {**state, "units": self.units}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise TypeError("RunMeta is written, not loaded: read it with read_checkpoint")


@dataclass
class ResumePoint:
    """The checkpoint a resumed run continues from: its ``path`` and its contents as
    ``read_checkpoint`` gives them (tensors on the CPU)."""

    path: Path
    checkpoint: dict[str, Any]

    @property
    def iteration(self) -> int:
        return int(self.checkpoint["trainer"]["iteration"])


def check_run_dir(out: Path, recipe: Recipe, resume: bool, force: bool) -> ResumePoint | None:
    """Check ``out`` against what was asked, changing nothing (``force`` is applied later by
    ``clear_run_dir``, once everything else has been checked).

    Returns the checkpoint to resume from, read once (``resume=True``), else None.

    Raises:
        RunDirectoryError: ``out`` is a file; holds a run and neither ``resume`` nor ``force`` was
            given; ``resume`` without a checkpoint; a recipe change that resume cannot take; or a
            run that already reached ``train.iterations``.
    """
    run = RunDir(out)
    problem = unwritable(run.checkpoints)
    if problem:
        raise RunDirectoryError(f"{out}: cannot be written: {problem}; choose another `out`")
    if resume:
        last = run.last
        if not last.exists():
            start = ("`force` to start it again" if run.holds_run()
                     else "train without `resume` to start this run")
            raise RunDirectoryError(f"{out}: no {last.relative_to(out)} to resume from; {start}")
        point = ResumePoint(last, read_checkpoint(last))
        changed = [line for line in recipe_differences(point.checkpoint["recipe"], recipe)
                   if line.split(":")[0] not in RESUMABLE_KEYS]
        if changed:
            raise RunDirectoryError(
                f"{out}: `resume` may only change train.iterations (and train.device, train.loggers); "
                f"this recipe also changes {'; '.join(changed)}"
            )
        done = point.iteration
        if done >= recipe.train.iterations:
            raise RunDirectoryError(
                f"{out}: the run already reached iteration {done}; set train.iterations above "
                f"{done} (e.g. `overrides` train.iterations={done + recipe.train.iterations}) to train longer"
            )
        return point
    if run.holds_run() and not force:
        raise RunDirectoryError(
            f"{out}: already holds a run; pass `resume` to continue it, `force` to replace it, "
            "or `out` to write elsewhere"
        )
    return None
