"""What a run records about itself besides checkpoints and ``metrics.jsonl``: ``train.log`` (plain,
timestamped lines of what training did), ``run.json`` (how and where each session of the run was
started) and the experiment trackers of ``train.loggers`` (ignite's ``TensorboardLogger``,
``MLflowLogger`` and ``WandBLogger``)."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events

from gibbsnet_plugin.engines.handlers import TrainingStatus
from gibbsnet_plugin.errors import RecipeError
from gibbsnet_plugin.rundir import RunDir
from gibbsnet_plugin.utils import write_text_atomic

PACKAGES = ("gibbsnet", "torch", "torchvision", "pytorch-ignite", "numpy", "pytorch-fid",
            "scikit-learn", "tensorboard")


class TrainLog:
    """``train.log``: plain lines, each starting with the local time, of the run's summary when it
    starts, the logged steps, Ctrl-C, and how the run ended. The file is appended to, so a
    resumed run continues it.

    Call it as a ``TrainingProgress`` callback for ``started`` and ``stopping`` reports, give
    ``step`` to ``MetricsLog`` as a listener for the step lines; ``write`` adds any other line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, status: TrainingStatus) -> None:
        if status.event == "started":
            text = status.summary.text() if status.summary is not None else ""
            self.write(f"{'resumed' if status.iteration else 'started'}: {text}")
        elif status.event == "stopping":
            self.write(f"Ctrl-C at iteration {status.iteration}: stopping after this iteration")

    def step(self, status: TrainingStatus) -> None:
        """A logged step's line (``TrainingStatus.line``)."""
        self.write(status.line())

    def write(self, line: str) -> None:
        """Append ``line`` with the local time in front."""
        with self.path.open("a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def write_run_record(path: Path, recipe_file: Path, device: torch.device, processes: int,
                     resuming: bool) -> None:
    """Append this session to the run record ``path`` (``run.json``: ``{"sessions": [...]}``):
    command line, working directory, the resolved recipe's file, package versions, the git
    commit of the gibbsnet source when it is a git checkout, Python, host, device and thread
    count, start time. A record that cannot be read is started again."""
    try:
        record = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        record = {}
    sessions = record.get("sessions") if isinstance(record, dict) else None
    sessions = sessions if isinstance(sessions, list) else []
    sessions.append({
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "resuming": resuming,
        "command": sys.argv,
        "cwd": str(Path.cwd()),
        "recipe": str(recipe_file),
        "versions": {"python": platform.python_version(), **package_versions()},
        "git_commit": source_commit(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": device_description(device),
        "processes": processes,
        "torch_threads": torch.get_num_threads(),
    })
    write_text_atomic(path, json.dumps({"sessions": sessions}, indent=2) + "\n")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run's results depend on (missing ones left out)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def source_commit() -> str | None:
    """The git commit of the checkout gibbsnet runs from (with ``-dirty`` when it has
    uncommitted changes), or None for an installed copy or without git."""
    source = Path(__file__).resolve().parents[2]
    try:
        top = subprocess.run(["git", "-C", str(source), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=10)
        if top.returncode or Path(top.stdout.strip()).resolve() != source:
            return None  # an installed copy (perhaps inside some other repository)
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10)
        if commit.returncode:
            return None
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def device_description(device: torch.device) -> str:
    """``cpu``, or ``cuda:0 (NVIDIA H200)``."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


TRACKER_PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow-skinny"),
                    "wandb": ("wandb", "wandb")}
"""Each logger of ``train.loggers``: the module it imports and the package (and extra) to install."""


def check_loggers(names: list[str]) -> None:
    """Raise ``RecipeError`` for a logger of ``train.loggers`` (their names are checked with the
    recipe) whose package is not installed, with the command that installs it."""
    for i, name in enumerate(names):
        module, package = TRACKER_PACKAGES[name]
        try:
            __import__(module)
        except ImportError:
            raise RecipeError(f"train.loggers[{i}]: {module} is not installed; pip install "
                              f"'gibbsnet[{name}]' (or {package})") from None


@dataclass
class Trackers:
    """The experiment trackers attached to a run: ``grids`` are called with (iteration, images
    (B, C, H, W) in [-1, 1]) for each sample grid; ``close()`` flushes and closes them."""

    grids: list[Callable[[int, torch.Tensor], None]] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()


def grid_image(x: torch.Tensor) -> torch.Tensor:
    """A sample grid (C, H', W') in [0, 1] of images (B, C, H, W) in [-1, 1]."""
    from torchvision.utils import make_grid  # noqa: PLC0415

    return make_grid(x.detach().float().cpu(), normalize=True, value_range=(-1, 1))


def once_per_iteration(add: Callable[[int, torch.Tensor], None]) -> Callable[[int, torch.Tensor], None]:
    """``add`` for image batches only, once per iteration (the grid at the end may repeat the
    last one)."""
    added: set[int] = set()

    def grid(iteration: int, x: torch.Tensor) -> None:
        if iteration in added or x.dim() != 4:
            return
        added.add(iteration)
        add(iteration, x)

    return grid


def flat_params(recipe: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The recipe as ``section.key`` -> value (lists and None as text), for trackers' params."""
    flat: dict[str, Any] = {}
    for key, value in recipe.items():
        if isinstance(value, dict):
            flat.update(flat_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def attach_loggers(names: list[str], trainer: Engine, run: RunDir, recipe: dict[str, Any],
                   log_every: int, eval_every: int) -> Trackers:
    """Attach the experiment trackers of ``names`` to ``trainer``: the step outputs (losses and
    D's outputs) every ``log_every`` iterations under ``train/``, evaluation scores every
    ``eval_every`` under ``eval/``, and the sample grids.

    - ``tensorboard``: event files in the run's ``tensorboard/``;
    - ``mlflow``: a run named after the run directory in the experiment named after the recipe,
      with the recipe as params, in ``$MLFLOW_TRACKING_URI`` or else the file store ``mlruns/``
      of the run directory;
    - ``wandb``: a run with the recipe as config in the run directory's ``wandb/``, offline unless
      ``WANDB_MODE`` says otherwise (``wandb sync`` uploads it later).
    """
    trackers = Trackers()

    def attach(logger: Any, output_handler: Any) -> None:
        logger.attach(trainer, output_handler(tag="train", output_transform=lambda output: output),
                      Events.ITERATION_COMPLETED(every=log_every))
        if eval_every:
            logger.attach(trainer, output_handler(tag="eval", metric_names="all",
                                                  global_step_transform=_iteration),
                          Events.ITERATION_COMPLETED(every=eval_every))
        trackers.closers.append(logger.close)

    if "tensorboard" in names:
        from ignite.handlers.tensorboard_logger import (  # noqa: PLC0415  (optional package)
            OutputHandler,
            TensorboardLogger,
        )

        board = TensorboardLogger(log_dir=str(run.tensorboard))
        attach(board, OutputHandler)
        trackers.grids.append(once_per_iteration(
            lambda i, x: board.writer.add_image("samples", grid_image(x), i)))
    if "mlflow" in names:
        import mlflow  # noqa: PLC0415  (optional package)
        from ignite.handlers.mlflow_logger import MLflowLogger  # noqa: PLC0415
        from ignite.handlers.mlflow_logger import OutputHandler as MLflowOutput  # noqa: PLC0415

        if not os.environ.get("MLFLOW_TRACKING_URI"):
            # MLflow 3 keeps its file store behind this switch; the store is the run's own
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            mlflow.set_tracking_uri(run.mlflow.resolve().as_uri())
        mlflow.set_experiment(str(recipe.get("name") or "gibbsnet"))
        mlflow.start_run(run_name=run.root.name)
        tracker = MLflowLogger()
        tracker.log_params(flat_params(recipe))
        attach(tracker, MLflowOutput)
        trackers.grids.append(once_per_iteration(lambda i, x: mlflow.log_image(
            grid_image(x).permute(1, 2, 0).numpy(), key="samples", step=i)))
    if "wandb" in names:
        import wandb  # noqa: PLC0415  (optional package)
        from ignite.handlers.wandb_logger import OutputHandler as WandBOutput  # noqa: PLC0415
        from ignite.handlers.wandb_logger import WandBLogger  # noqa: PLC0415

        wandb_logger = WandBLogger(project=str(recipe.get("name") or "gibbsnet"), name=run.root.name,
                                   dir=str(run.root), config=flat_params(recipe),
                                   mode=os.environ.get("WANDB_MODE", "offline"))
        attach(wandb_logger, WandBOutput)
        trackers.grids.append(once_per_iteration(lambda i, x: wandb.log(
            {"samples": wandb.Image(grid_image(x))}, step=i)))
    return trackers


def _iteration(engine: Engine, event: Any) -> int:
    return engine.state.iteration
