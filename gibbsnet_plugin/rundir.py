"""The run directory: its layout, the records of ``metrics.jsonl``, and their writers and readers.

::

    runs/<name>/
      recipe.yaml        the resolved recipe that produced the run
      run.json           one record per training session (command, versions, device)
      train.log          timestamped plain lines
      metrics.jsonl      one JSON object per logged step (see ``training_record``) or evaluation
                         (``evaluation_record``: scores under ``eval/<name>``)
      checkpoints/       last.pt, step_XXXXXXX.pt and, with eval.best, best.pt
      samples/           step_XXXXXXX.png sample grids
      tensorboard/       event files, with train.loggers: [tensorboard]

Every other module names these files through ``RunDir`` and writes or reads ``metrics.jsonl``
through the functions here.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gibbsnet_plugin.utils import write_text_atomic

RECIPE_FILE = "recipe.yaml"
RECORD_FILE = "run.json"
LOG_FILE = "train.log"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
SAMPLE_DIR = "samples"
TENSORBOARD_DIR = "tensorboard"
MLFLOW_DIR = "mlruns"
WANDB_DIR = "wandb"
LAST = "last.pt"
BEST = "best.pt"
STEP_PATTERN = "step_{:07d}"
STEP_CHECKPOINTS = "step_{global_step:07d}.{ext}"
"""``STEP_PATTERN`` as the ``filename_pattern`` of ignite's ``Checkpoint``."""
EVAL_PREFIX = "eval/"
"""Prefix of the evaluation scores in ``metrics.jsonl``."""
NOT_CURVES = ("iteration", "epoch", "it_per_s", "elapsed_s")
"""Keys of a training record that are not training values."""
ATOMIC_TEMPORARY = re.compile(r"\..+\.\d+\.tmp")
"""The temporary files of ``utils.atomic_output`` (``.NAME.PID.tmp``), left behind when a process
is killed while writing."""
SAVER_TEMPORARY = re.compile(r"tmp[a-z0-9_]{8}")
"""The temporary files of Ignite's ``DiskSaver`` in ``checkpoints/`` (``tempfile`` names)."""
_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class RunDir:
    """The paths of the run directory ``root``."""

    root: Path

    @property
    def recipe(self) -> Path:
        return self.root / RECIPE_FILE

    @property
    def record(self) -> Path:
        return self.root / RECORD_FILE

    @property
    def log(self) -> Path:
        return self.root / LOG_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINT_DIR

    @property
    def samples(self) -> Path:
        return self.root / SAMPLE_DIR

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD_DIR

    @property
    def mlflow(self) -> Path:
        return self.root / MLFLOW_DIR

    @property
    def wandb(self) -> Path:
        return self.root / WANDB_DIR

    @property
    def last(self) -> Path:
        return self.checkpoints / LAST

    @property
    def best(self) -> Path:
        return self.checkpoints / BEST

    def step_checkpoint(self, iteration: int) -> Path:
        return self.checkpoints / f"{STEP_PATTERN.format(iteration)}.pt"

    def step_checkpoints(self) -> list[tuple[int, Path]]:
        """The ``step_XXXXXXX.pt`` files as (iteration, path), by iteration."""
        return numbered(self.checkpoints, ".pt", "step_")

    def sample_grid(self, iteration: int) -> Path:
        return self.samples / f"{STEP_PATTERN.format(iteration)}.png"

    def sample_grids(self) -> list[tuple[int, Path]]:
        """The PNG files of ``samples/`` as (iteration, path), by iteration: the iteration is the
        last number in the file name; files without one are left out."""
        return numbered(self.samples, ".png")

    def holds_run(self) -> bool:
        return self.recipe.exists() or self.checkpoints.exists()

    def is_run(self) -> bool:
        """Whether ``root`` has any of ``metrics.jsonl``, ``recipe.yaml`` or ``checkpoints/last.pt``."""
        return any(p.is_file() for p in (self.metrics, self.recipe, self.last))

    def clear(self) -> None:
        """Delete the run's files (recipe, checkpoints, samples, metrics, logs, run record,
        the trackers' TensorBoard events, MLflow file store and offline W&B runs); other files
        stay."""
        for folder in (self.checkpoints, self.samples, self.tensorboard, self.mlflow, self.wandb):
            shutil.rmtree(folder, ignore_errors=True)
        for path in (self.recipe, self.metrics, self.log, self.record):
            path.unlink(missing_ok=True)

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete the temporary files that killed runs left (at the top level, in
        ``checkpoints/`` and ``samples/``); returns them. Call it before this run writes."""
        removed = []
        for folder, patterns in ((self.root, [ATOMIC_TEMPORARY]), (self.samples, [ATOMIC_TEMPORARY]),
                                 (self.checkpoints, [ATOMIC_TEMPORARY, SAVER_TEMPORARY])):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.is_file() and any(p.fullmatch(path.name) for p in patterns):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        return removed


def in_checkpoint_dir(path: Path) -> bool:
    """Whether ``path`` is a file in a run's ``checkpoints/``."""
    return path.parent.name == CHECKPOINT_DIR and bool(path.parent.parent.name)


def numbered(directory: Path, suffix: str, prefix: str = "") -> list[tuple[int, Path]]:
    """The files ``prefix*suffix`` of ``directory`` whose names hold a number, as (last number,
    path) sorted by it."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        numbers = _NUMBER.findall(path.stem)
        if (path.suffix.lower() == suffix and path.name.startswith(prefix) and numbers
                and path.is_file() and not path.name.startswith(".")):
            found.append((int(numbers[-1]), path))
    return sorted(found)


# -- metrics.jsonl --------------------------------------------------------------------------------

def training_record(iteration: int, epoch: int, values: dict[str, float], it_per_s: float,
                    elapsed_s: float) -> dict[str, Any]:
    """One logged training step: the step's ``values`` (losses, D outputs), the rate since the
    previous record and the seconds since the session started."""
    return {"iteration": iteration, "epoch": epoch, **values, "it_per_s": it_per_s,
            "elapsed_s": elapsed_s}


def evaluation_record(iteration: int, epoch: int, scores: dict[str, float]) -> dict[str, Any]:
    """One evaluation during training: each score under ``eval/<name>``."""
    return {"iteration": iteration, "epoch": epoch, **{f"{EVAL_PREFIX}{k}": v for k, v in scores.items()}}


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one record to a ``metrics.jsonl`` file."""
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def truncate_records(path: Path, iteration: int) -> None:
    """Drop the records logged after ``iteration`` (a resumed run logs those iterations again)."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line).get("iteration", 0) <= iteration]
    if len(kept) != len(lines):
        write_text_atomic(path, "".join(kept))


Points = list[tuple[int, float]]
"""A curve: (iteration, value) pairs in the order they were logged."""


@dataclass
class Metrics:
    """A run's ``metrics.jsonl``: the ``training`` values (``d_loss``, ``g_loss``, ``d_real``,
    ``d_fake``, ...) and the ``evaluation`` scores (without the ``eval/`` prefix), each a curve by
    name, and the numbers of the lines that could not be read (``skipped``, 1-based)."""

    training: dict[str, Points] = field(default_factory=dict)
    evaluation: dict[str, Points] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)

    @property
    def last_iteration(self) -> int | None:
        """The last iteration logged (training or evaluation), or None for an empty log."""
        ends = [curve[-1][0] for curve in (*self.training.values(), *self.evaluation.values())]
        return max(ends, default=None)


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_metrics(path: str | Path) -> Metrics:
    """The curves of a ``metrics.jsonl`` file: lines with an integer ``iteration`` and numeric
    values; a line that is not such a JSON object (e.g. cut short when a run was killed) is
    skipped and counted."""
    metrics = Metrics()
    with Path(path).open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            iteration = record.get("iteration") if isinstance(record, dict) else None
            if not isinstance(iteration, int) or isinstance(iteration, bool):
                metrics.skipped.append(number)
                continue
            for key, raw in record.items():
                value = _number(raw)
                if value is None or key in NOT_CURVES:
                    continue
                if key.startswith(EVAL_PREFIX):
                    metrics.evaluation.setdefault(key[len(EVAL_PREFIX):], []).append((iteration, value))
                else:
                    metrics.training.setdefault(key, []).append((iteration, value))
    return metrics


__all__ = ["BEST", "CHECKPOINT_DIR", "EVAL_PREFIX", "LAST", "LOG_FILE", "METRICS_FILE", "MLFLOW_DIR",
           "RECIPE_FILE", "RECORD_FILE", "SAMPLE_DIR", "TENSORBOARD_DIR", "WANDB_DIR", "Metrics",
           "Points", "RunDir", "append_record", "evaluation_record", "in_checkpoint_dir", "numbered",
           "read_metrics", "training_record", "truncate_records"]
