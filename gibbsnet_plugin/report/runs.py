"""Reading run directories for a report, and computing from a run's checkpoint what the page
shows (a chain trajectory, inpainting rows, scores, the calibration of imputations)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gibbsnet_plugin import figures
from gibbsnet_plugin.data.masks import resolve_mask
from gibbsnet_plugin.data.missing import split_item
from gibbsnet_plugin.errors import DatasetNotFoundError, RunDirectoryError, TableError
from gibbsnet_plugin.evaluation import recipe_settings, run_metrics
from gibbsnet_plugin.factory import build_dataset
from gibbsnet_plugin.metrics import Data
from gibbsnet_plugin.metrics.data import Progress
from gibbsnet_plugin.recipe import Recipe, load_recipe
from gibbsnet_plugin.rundir import (
    CHECKPOINT_DIR,
    LAST,
    METRICS_FILE,
    RECIPE_FILE,
    Metrics,
    RunDir,
    read_metrics,
)
from gibbsnet_plugin.testtime import (
    Run,
    dataset_images,
    default_record,
    inpaint,
    load_run,
    sample,
)

MAX_GRIDS = 12
"""Most sample grids shown per run: a longer run shows this many, spaced evenly through training
(the first and the last included)."""
CELL_PIXELS = 48
"""Default on-page size (pixels) of one image in the chain and inpainting figures: images are
scaled up by the integer factor that comes closest."""


def spread(items: Sequence[Any], limit: int) -> list[Any]:
    """At most ``limit`` of ``items``, evenly spaced, the first and the last included."""
    if len(items) <= limit:
        return list(items)
    if limit == 1:
        return [items[-1]]
    return [items[round(i * (len(items) - 1) / (limit - 1))] for i in range(limit)]


@dataclass
class RunData:
    """What a report shows of one run: its directory, ``label`` (its column's title), metrics
    (None without ``metrics.jsonl``), recipe (None without ``recipe.yaml`` and checkpoint), the
    loaded model (None without ``checkpoints/last.pt``), its sample grids, the inpainting masks
    resolved for its data (name -> mask of x_shape) and notes for the page."""

    path: Path
    label: str
    metrics: Metrics | None
    recipe: Recipe | None
    loaded: Run | None
    grids: list[tuple[int, Path]]
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def images(self) -> bool:
        """Whether the model's data are images (C×H×W with C = 1 or 3)."""
        return self.loaded is not None and figures.has_image_form(self.loaded.model.x_shape)


def check_run_dirs(runs: Sequence[str | Path]) -> list[Path]:
    """The run directories as Paths, checked before any work.

    Raises:
        RunDirectoryError: no runs; a path that does not exist or is not a directory; or a
            directory without any of ``metrics.jsonl``, ``recipe.yaml``, ``checkpoints/last.pt``.
    """
    if not runs:
        raise RunDirectoryError("a report needs at least one run directory")
    paths = []
    for run in runs:
        path = Path(os.path.expanduser(run))
        if not path.exists():
            raise RunDirectoryError(f"{path}: no such run directory")
        if not path.is_dir():
            raise RunDirectoryError(f"{path}: not a directory; expected a run directory written "
                                    "by gibbsnet train")
        if not RunDir(path).is_run():
            raise RunDirectoryError(f"{path}: not a run directory (no {METRICS_FILE}, {RECIPE_FILE} "
                                    f"or {CHECKPOINT_DIR}/{LAST})")
        paths.append(path)
    return paths


def labels(paths: Sequence[Path]) -> list[str]:
    """Column titles: each directory's name, with ``-2``, ``-3``, ... on later runs that share one."""
    labels: list[str] = []
    for path in paths:
        label, n = path.resolve().name or str(path), 1
        while label in labels:
            n += 1
            label = f"{path.resolve().name}-{n}"
        labels.append(label)
    return labels


def open_run(path: Path, label: str, device: torch.device, masks: Sequence[str] | None,
              seed: int) -> RunData:
    """Read what ``path`` holds and load its model; resolve the inpainting masks for its data
    (``masks``, default: the first two of the recipe's ``eval.masks``)."""
    run = RunDir(path)
    metrics = read_metrics(run.metrics) if run.metrics.is_file() else None
    loaded = load_run(path, device) if run.last.is_file() else None
    recipe = loaded.recipe if loaded is not None else None
    if recipe is None and run.recipe.is_file():
        recipe = load_recipe(run.recipe)
    data = RunData(path, label, metrics, recipe, loaded, run.sample_grids())
    if metrics is None:
        data.notes.append(f"no {METRICS_FILE}: no training curves")
    elif metrics.skipped:
        data.notes.append(f"{METRICS_FILE}: skipped {len(metrics.skipped)} line(s) that are not "
                          f"metrics records (line {', '.join(map(str, metrics.skipped[:5]))})")
    if loaded is None:
        data.notes.append(f"no {CHECKPOINT_DIR}/{LAST}: no chains, inpainting or computed scores")
    elif data.images:
        for spec in masks or loaded.recipe.eval.masks[:2]:
            data.masks[spec] = resolve_mask(spec, loaded.model.x_shape, seed)
    else:
        shape = "×".join(map(str, loaded.model.x_shape))
        data.notes.append(f"data of shape {shape} are not images (C×H×W with C = 1 or 3): no sample "
                          "grids, chains or inpainting")
    return data


# -- computing from the checkpoint ----------------------------------------------------------------

@dataclass
class Computed:
    """What was computed from a run's checkpoint: the trajectory figure (PNG bytes, None when not
    drawn) and the steps it shows; inpainting figures by mask; ``scores`` by name, of ``images``
    test items; the metrics' ``details`` by metric (``coverage``: its PIT histogram, as
    ``gibbsnet evaluate`` gives it); notes."""

    trajectory: bytes | None = None
    images: int = 0
    shown: list[int] = field(default_factory=list)
    inpainting: dict[str, bytes] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def compute(run: RunData, steps: int, num: int, scale: int | None, seed: int,
            progress: Progress, missing: str | None = None) -> Computed:
    """The chain trajectory (as ``gibbsnet sample --trajectory``), inpainting rows (as ``gibbsnet
    inpaint``) and the reconstruction and inpainting scores of ``num`` test images; with
    ``missing`` (a mask process), for any data, the ``coverage`` metric's scores and details on
    the test entries it hides (as ``gibbsnet evaluate --metric coverage --missing``)."""
    out = Computed()
    if run.loaded is None or not (run.images or missing is not None):
        return out
    model, recipe = run.loaded.model, run.loaded.recipe
    if run.images:
        scale = scale or max(1, round(CELL_PIXELS / max(model.x_shape[1:])))
        columns = default_record(steps)
        task = f"{run.label}: chains"
        chains = sample(model, num, steps, seed, columns, progress=lambda t: progress(task, t, steps))
        shown = sorted(set(columns))
        cells = chains.frames[:, [chains.record.index(t) for t in shown]]
        out.trajectory = png_bytes(figures.trajectory_image(cells, shown, None, scale))
        out.shown = shown
    test = _test_split(recipe, out.notes)
    if test is None:
        return out
    metrics = ["coverage"] if missing is not None else []
    inpaint_steps = recipe.eval.inpaint_steps
    if run.images and split_item(test[0])[2] is not None:
        out.notes.append("the test split's items carry masks of their own (their hidden values are "
                         "unknown): no inpainting or reconstruction scores")
    elif run.images:
        x = dataset_images(recipe, "test", num, model.x_shape)
        for spec, mask in run.masks.items():
            task = f"{run.label}: inpaint {spec}"
            result = inpaint(model, x, mask, inpaint_steps, seed,
                             lambda t, task=task: progress(task, t, inpaint_steps))
            out.inpainting[spec] = png_bytes(figures.rows_image(
                [figures.masked_view(result.original, result.mask), result.filled, result.original],
                ["masked", "filled", "original"], scale=scale))
        metrics = ["reconstruction", "inpainting", *metrics]
    if not metrics:
        return out
    # the scores are the whole test split's, as gibbsnet evaluate gives them
    settings = recipe_settings(recipe, seed, masks=list(run.masks), inpaint_steps=inpaint_steps,
                               missing=missing)
    scored = run_metrics(model, metrics, Data(lambda train: test), settings,
                         lambda task, done, total: progress(f"{run.label}: {task}", done, total))
    out.images = len(test)
    out.scores.update(scored["scores"])
    out.details.update(scored["details"])
    return out


def _test_split(recipe: Recipe, notes: list[str]) -> Any:
    """The recipe's test split, or None with a note when the data set (or table) is not on this
    machine."""
    try:
        return build_dataset(recipe, train=False)
    except (DatasetNotFoundError, TableError) as exc:
        notes.append(f"no scores computed from the test split: {exc}")
        return None
