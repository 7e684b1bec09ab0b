"""Run reports: one self-contained HTML page for one training run, or several side by side.

The library behind ``gibbsnet report``. For each run directory (written by ``gibbsnet train``) the
page shows the recipe's key facts, the training curves and the evaluation scores logged in
``metrics.jsonl`` (inline SVG charts), the sample grids of ``samples/``, and, computed here from
``checkpoints/last.pt``: a chain trajectory, inpainting rows and a table of scores. Several runs
get one column each; charts of the same quantity share their scales. Everything is embedded
(images as base64 ``data:`` URIs, no scripts, no external files), so the page opens without a
network. A run without a checkpoint still gets its curves and grids; a model whose data are not
images gets its curves and scores, with a note instead of the image sections.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from gibbsnet_plugin import __version__, figures
from gibbsnet_plugin.checkpoint import CHECKPOINT_DIR, LAST, METRICS_FILE, RECIPE_FILE, SAMPLE_DIR
from gibbsnet_plugin.data.images import check_pixels
from gibbsnet_plugin.data.masks import resolve_mask
from gibbsnet_plugin.data.missing import split_item
from gibbsnet_plugin.errors import DatasetNotFoundError, ImageReadError, RunDirectoryError
from gibbsnet_plugin.factory import build_dataset
from gibbsnet_plugin.metric_names import lower_is_better
from gibbsnet_plugin.metrics.data import Progress, no_progress
from gibbsnet_plugin.recipe import Recipe, load_recipe
from gibbsnet_plugin.testtime import (
    Run,
    check_chains,
    dataset_images,
    default_record,
    inpaint,
    load_run,
    reconstruct,
    sample,
)
from gibbsnet_plugin.utils import resolve_device, write_text_atomic

MAX_GRIDS = 12
"""Most sample grids shown per run: a longer run shows this many, spaced evenly through training
(the first and the last included)."""
MAX_POINTS = 1000
"""Most points drawn per curve; a longer log is thinned evenly (its last point kept)."""
CELL_PIXELS = 48
"""Default on-page size (pixels) of one image in the chain and inpainting figures: images are
scaled up by the integer factor that comes closest."""
GRID_PIXELS = 240
"""On-page width (pixels) that the sample grids of ``samples/`` are scaled up to, about."""
NOT_TRAINING = ("iteration", "epoch", "it_per_s", "elapsed_s")
"""Keys of a training line of ``metrics.jsonl`` that are not curves."""
EVAL_PREFIX = "eval/"
"""Prefix of the evaluation scores that training logs to ``metrics.jsonl``."""

Points = list[tuple[int, float]]
"""A curve: (iteration, value) pairs in the order they were logged."""


# -- reading a run directory ----------------------------------------------------------------------

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
    """The curves of a ``metrics.jsonl`` file (see ``engines.handlers.MetricsLog`` and
    ``PeriodicEvaluation``): lines with an integer ``iteration`` and numeric values; a line that
    is not such a JSON object (e.g. cut short when a run was killed) is skipped and counted."""
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
                if value is None or key in NOT_TRAINING:
                    continue
                if key.startswith(EVAL_PREFIX):
                    metrics.evaluation.setdefault(key[len(EVAL_PREFIX):], []).append((iteration, value))
                else:
                    metrics.training.setdefault(key, []).append((iteration, value))
    return metrics


SAMPLE_NUMBER = re.compile(r"(\d+)")


def sample_grids(directory: Path) -> list[tuple[int, Path]]:
    """The PNG files of a run's ``samples/`` directory as (iteration, path), by iteration; the
    iteration is the last number in the file name (``step_0000500.png`` -> 500); files without a
    number are left out."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        numbers = SAMPLE_NUMBER.findall(path.stem)
        if path.suffix.lower() == ".png" and path.is_file() and numbers and not path.name.startswith("."):
            found.append((int(numbers[-1]), path))
    return sorted(found)


def spread(items: Sequence[Any], limit: int) -> list[Any]:
    """At most ``limit`` of ``items``, evenly spaced, the first and the last included."""
    if len(items) <= limit:
        return list(items)
    if limit == 1:
        return [items[-1]]
    return [items[round(i * (len(items) - 1) / (limit - 1))] for i in range(limit)]


@dataclass
class _RunData:
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
        if not any((path / name).is_file()
                   for name in (METRICS_FILE, RECIPE_FILE, f"{CHECKPOINT_DIR}/{LAST}")):
            raise RunDirectoryError(f"{path}: not a run directory (no {METRICS_FILE}, {RECIPE_FILE} "
                                    f"or {CHECKPOINT_DIR}/{LAST})")
        paths.append(path)
    return paths


def _labels(paths: Sequence[Path]) -> list[str]:
    """Column titles: each directory's name, with ``-2``, ``-3``, ... on later runs that share one."""
    labels: list[str] = []
    for path in paths:
        label, n = path.resolve().name or str(path), 1
        while label in labels:
            n += 1
            label = f"{path.resolve().name}-{n}"
        labels.append(label)
    return labels


def _open_run(path: Path, label: str, device: torch.device, masks: Sequence[str] | None,
              seed: int) -> _RunData:
    """Read what ``path`` holds and load its model; resolve the inpainting masks for its data
    (``masks``, default: the first two of the recipe's ``eval.masks``)."""
    metrics = read_metrics(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else None
    loaded = load_run(path, device) if (path / CHECKPOINT_DIR / LAST).is_file() else None
    recipe = loaded.recipe if loaded is not None else None
    if recipe is None and (path / RECIPE_FILE).is_file():
        recipe = load_recipe(path / RECIPE_FILE)
    data = _RunData(path, label, metrics, recipe, loaded, sample_grids(path / SAMPLE_DIR))
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
class _Computed:
    """What was computed from a run's checkpoint: the trajectory figure (PNG bytes, None when not
    drawn) and the steps it shows; inpainting figures by mask; ``scores`` by name, of ``images``
    test images; notes."""

    trajectory: bytes | None = None
    images: int = 0
    shown: list[int] = field(default_factory=list)
    inpainting: dict[str, bytes] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _compute(run: _RunData, steps: int, num: int, scale: int | None, seed: int,
             progress: Progress) -> _Computed:
    """The chain trajectory (as ``gibbsnet sample --trajectory``), inpainting rows (as ``gibbsnet
    inpaint``) and the reconstruction and inpainting scores of ``num`` test images."""
    out = _Computed()
    if run.loaded is None or not run.images:
        return out
    model, recipe = run.loaded.model, run.loaded.recipe
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
    if split_item(test[0])[2] is not None:
        out.notes.append("the test split's items carry masks of their own (their hidden values are "
                         "unknown): no inpainting or reconstruction scores")
        return out
    x = dataset_images(recipe, "test", num, model.x_shape)
    out.images = len(x)
    out.scores["reconstruction_mse"] = reconstruct(model, x, seed).mse
    inpaint_steps = recipe.eval.inpaint_steps
    for spec, mask in run.masks.items():
        task = f"{run.label}: inpaint {spec}"
        result = inpaint(model, x, mask, inpaint_steps, seed,
                         lambda t, task=task: progress(task, t, inpaint_steps))
        out.inpainting[spec] = png_bytes(figures.rows_image(
            [figures.masked_view(result.original, result.mask), result.filled, result.original],
            ["masked", "filled", "original"], scale=scale))
        out.scores[f"inpaint_{spec}_mse"] = float(result.scores["mse"])  # type: ignore[arg-type]
        out.scores[f"inpaint_{spec}_psnr"] = float(result.scores["psnr"])  # type: ignore[arg-type]
    return out


def _test_split(recipe: Recipe, notes: list[str]) -> Any:
    """The recipe's test split, or None with a note when the data set is not on this machine."""
    try:
        return build_dataset(recipe, train=False)
    except DatasetNotFoundError as exc:
        notes.append(f"no inpainting or reconstruction scores: {exc}")
        return None


# -- charts ---------------------------------------------------------------------------------------

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
"""Colours of the curves of one chart, in order."""
_WIDTH, _HEIGHT = 460, 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 14, 26, 42


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


PLOTTABLE = 1e100
"""Values beyond ±this are drawn as gaps, like NaN: a chart's range must stay finite."""


def _plottable(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= PLOTTABLE


def _finite(points: Points) -> list[float]:
    return [v for _, v in points if _plottable(v)]


def nice_range(values: Sequence[float], ticks: int = 5) -> tuple[float, float, float]:
    """``(low, high, step)``: a range covering ``values`` whose ends are multiples of a round
    ``step`` (1, 2 or 5 times a power of ten), the one giving the number of intervals closest to
    ``ticks`` (the larger step on a tie); (0, 1, 0.2) for no values; a single value gets a range
    around it."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-12 * max(1.0, abs(high)):
        pad = max(abs(low) * 0.1, 0.5)
        low, high = low - pad, high + pad
    power = 10.0 ** math.floor(math.log10((high - low) / ticks))

    def ends(step: float) -> tuple[int, int]:
        return math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)

    step = min((m * power for m in (10, 5, 2, 1)),
               key=lambda s: abs(ends(s)[1] - ends(s)[0] - ticks))
    first, last = ends(step)
    return first * step, last * step, step


def _tick_label(value: float, step: float) -> str:
    if abs(value) >= 10_000 and step >= 1_000:
        return f"{value / 1000:g}k"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


@dataclass
class Chart:
    """A line chart: ``curves`` (name -> points) drawn in the value range ``y`` and the iteration
    range ``x`` (each ``(low, high, step)`` as from ``nice_range``, shared by the runs shown side
    by side), with axis labels; ``markers`` draws a dot at every point."""

    curves: dict[str, Points]
    x: tuple[float, float, float]
    y: tuple[float, float, float]
    x_label: str
    y_label: str
    markers: bool = False

    def svg(self) -> str:
        """The chart as an inline ``<svg>`` element, ``_WIDTH`` × ``_HEIGHT`` pixels."""
        (x0, x1, dx), (y0, y1, dy) = self.x, self.y
        plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

        def px(x: float) -> float:
            return _LEFT + (x - x0) / (x1 - x0) * plot_w

        def py(y: float) -> float:
            return _TOP + (y1 - y) / (y1 - y0) * plot_h

        parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" '
                 f'height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img">',
                 f"<title>{_esc(self.y_label)} over {_esc(self.x_label)}s: "
                 f"{_esc(', '.join(self.curves))}</title>"]
        for i in range(round((y1 - y0) / dy) + 1):
            y = y0 + i * dy
            parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{py(y):.1f}" '
                         f'y2="{py(y):.1f}"/><text x="{_LEFT - 5}" y="{py(y) + 4:.1f}" '
                         f'text-anchor="end">{_esc(_tick_label(y, dy))}</text>')
        for i in range(round((x1 - x0) / dx) + 1):
            x = x0 + i * dx
            parts.append(f'<line class="tick" x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{_TOP + plot_h}" '
                         f'y2="{_TOP + plot_h + 4}"/><text x="{px(x):.1f}" y="{_TOP + plot_h + 16}" '
                         f'text-anchor="middle">{_esc(_tick_label(x, dx))}</text>')
        parts.append(f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}"/>')
        parts.append(f'<text class="label" x="{_LEFT + plot_w / 2:.1f}" y="{_HEIGHT - 6}" '
                     f'text-anchor="middle">{_esc(self.x_label)}</text>')
        parts.append(f'<text class="label" transform="translate(14 {_TOP + plot_h / 2:.1f}) '
                     f'rotate(-90)" text-anchor="middle">{_esc(self.y_label)}</text>')
        legend_x = _LEFT
        for i, (name, points) in enumerate(self.curves.items()):
            color = PALETTE[i % len(PALETTE)]
            parts.append(self._curve(name, spread(points, MAX_POINTS), color, px, py))
            parts.append(f'<line x1="{legend_x}" x2="{legend_x + 16}" y1="12" y2="12" stroke="{color}" '
                         f'stroke-width="2"/><text x="{legend_x + 20}" y="16">{_esc(name)}</text>')
            legend_x += 30 + 7 * len(name)
        parts.append("</svg>")
        return "".join(parts)

    def _curve(self, name: str, points: Points, color: str, px: Callable[[float], float],
               py: Callable[[float], float]) -> str:
        """One curve as a ``<g>`` of polylines (broken at non-finite values) and, with
        ``markers`` or for a lone point, dots; ``px``/``py`` map an iteration/value to pixels;
        ``data-iterations`` lists the iterations of the points drawn."""
        segments: list[list[str]] = [[]]
        dots = []
        for x, y in points:
            if not _plottable(y):
                segments.append([])
                continue
            segments[-1].append(f"{px(x):.1f},{py(y):.1f}")
            dots.append((px(x), py(y)))
        lines = [f'<polyline points="{" ".join(s)}" fill="none" stroke="{color}" stroke-width="1.5"/>'
                 for s in segments if len(s) > 1]
        if self.markers or len(dots) == 1:
            lines += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in dots]
        iterations = " ".join(str(x) for x, _ in points)
        return (f'<g class="curve" data-name="{_esc(name)}" data-iterations="{iterations}">'
                f"<title>{_esc(name)}</title>{''.join(lines)}</g>")


# -- the page -------------------------------------------------------------------------------------

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;background:#fff;
margin:0;padding:16px 24px 40px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;
border-bottom:1px solid #ddd}h3{font-size:15px;margin:0 0 8px}h4{font-size:13px;margin:10px 0 4px}
.runs{display:grid;grid-template-columns:repeat(var(--runs),minmax(480px,1fr));gap:24px;
overflow-x:auto}
.run{min-width:0}
table{border-collapse:collapse}th,td{padding:2px 10px 2px 0;text-align:left;vertical-align:top;
border-bottom:1px solid #eee}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.group th{padding-top:10px;color:#555;font-weight:600}
.at{color:#777;font-size:12px}
img{image-rendering:pixelated;max-width:100%;height:auto;display:block}
figure{margin:0 0 12px;display:table}figcaption{display:table-caption;caption-side:bottom;color:#555;
font-size:12px;margin-top:2px}
.gallery{display:flex;flex-wrap:wrap;gap:10px 14px;align-items:flex-start}
.note{color:#6b5300;background:#fff6d5;padding:4px 8px;border-radius:4px;margin:4px 0}
svg.chart{display:block;max-width:100%;height:auto}
svg.chart text{font:11px system-ui,sans-serif;fill:#333}
svg.chart .grid{stroke:#eee}svg.chart .tick{stroke:#999}
svg.chart .frame{fill:none;stroke:#999}
footer{margin-top:32px;color:#777;font-size:12px}
"""


def _img(data: bytes, alt: str, width: int, height: int) -> str:
    """An ``<img>`` of PNG ``data`` embedded as a base64 ``data:`` URI, shown ``width`` × ``height``."""
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<img src="{uri}" alt="{_esc(alt)}" width="{width}" height="{height}">'


def _png_img(data: bytes, alt: str) -> str:
    """``_img`` at the PNG's own size."""
    with Image.open(io.BytesIO(data)) as image:
        return _img(data, alt, *image.size)


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _fmt(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _facts(run: _RunData) -> list[tuple[str, str]]:
    """Key facts of a run: its directory, recipe, data, model size and progress."""
    facts = [("directory", str(run.path))]
    recipe = run.recipe
    if recipe is not None:
        m, t = recipe.model, recipe.train
        facts.append(("recipe", recipe.name))
        data = recipe.data.dataset
        if run.loaded is not None:
            data += f", x of shape {'×'.join(map(str, run.loaded.model.x_shape))}"
        if recipe.data.missing:
            data += f", {recipe.data.missing} missing"
        if recipe.data.corruption.name:
            data += f", corrupted by {recipe.data.corruption.name}"
        facts.append(("data", data))
        model = f"{m.kind} on {m.architecture}, z_dim {m.z_dim}"
        if run.loaded is not None:
            model += f", {sum(p.numel() for p in run.loaded.model.parameters()):,} parameters"
        facts.append(("model", model))
        facts.append(("chain", f"chain_steps {m.chain_steps}{' (ALI)' if m.chain_steps == 1 else ''}, "
                               f"loss {m.loss}"))
        lr = f"lr {t.lr:g}" + (f" (D {t.lr_d:g})" if t.lr_d is not None else "")
        facts.append(("training", f"{t.optimizer}, {lr}, batch {recipe.data.batch_size}, seed {recipe.seed}"))
    done = run.metrics.last_iteration if run.metrics is not None else None
    target = f" of {recipe.train.iterations:,}" if recipe is not None else ""
    facts.append(("iterations", f"{done:,}{target} logged" if done is not None else f"none logged{target}"))
    facts.append(("checkpoint", str(run.loaded.checkpoint) if run.loaded is not None else "none"))
    return facts


def _overview(run: _RunData) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in _facts(run))
    return f'<table class="facts">{rows}</table>' + "".join(_note(n) for n in run.notes)


def _iterations(runs: Sequence[_RunData]) -> tuple[float, float, float]:
    """The iteration axis that all runs share: from 0 to the last iteration any run logged."""
    last = [run.metrics.last_iteration for run in runs if run.metrics is not None]
    return nice_range([0.0, float(max([i for i in last if i is not None], default=1))])


def _training_charts(runs: Sequence[_RunData]) -> list[str]:
    """Per run: the loss chart (values named ``*loss``) and the D-output chart (the other
    training values: ``d_real``, ``d_fake``), each with scales shared by all runs."""
    logs = [run.metrics.training if run.metrics is not None else {} for run in runs]
    groups = [("losses", "loss", [{k: v for k, v in log.items() if k.endswith("loss")} for log in logs]),
              ("D outputs", "D output",
               [{k: v for k, v in log.items() if not k.endswith("loss")} for log in logs])]
    x = _iterations(runs)
    cells = ["" for _ in runs]
    for title, y_label, per_run in groups:
        y = nice_range([v for curves in per_run for points in curves.values() for v in _finite(points)])
        for i, curves in enumerate(per_run):
            if not curves:
                cells[i] += _note(f"no {title} logged")
                continue
            chart = Chart(curves, x, y, "iteration", y_label).svg()
            cells[i] += (f"<figure>{chart}<figcaption>{_esc(title)}: {_esc(', '.join(curves))}"
                         "</figcaption></figure>")
    return [f'<div class="gallery">{cell}</div>' for cell in cells]


def _evaluation_charts(runs: Sequence[_RunData]) -> list[str]:
    """Per run: one chart per evaluation score logged during training, each score's value range
    shared by all runs."""
    logs = [run.metrics.evaluation if run.metrics is not None else {} for run in runs]
    names = list(dict.fromkeys(name for log in logs for name in log))
    x = _iterations(runs)
    cells = []
    for log in logs:
        if not log:
            cells.append(_note(f"no evaluation scores in {METRICS_FILE} (training logs them when the "
                               "recipe's eval.every is above 0)"))
            continue
        parts = []
        for name in (name for name in names if name in log):
            y = nice_range([v for other in logs for v in _finite(other.get(name, []))])
            better = "lower" if lower_is_better(name) else "higher"
            chart = Chart({name: log[name]}, x, y, "iteration", name, markers=True).svg()
            parts.append(f"<figure>{chart}<figcaption>{_esc(name)} ({better} is better)"
                         f"</figcaption></figure>")
        missing = [name for name in names if name not in log]
        note = _note(f"not logged by this run: {', '.join(missing)}") if missing else ""
        cells.append(f'<div class="gallery">{"".join(parts)}</div>{note}')
    return cells


def _grid_cell(run: _RunData) -> str:
    """The run's sample grids (at most ``MAX_GRIDS``), each captioned with its iteration."""
    if not run.grids:
        return _note(f"no sample grids in {SAMPLE_DIR}/ (train.sample_every was 0, or this run "
                     "logged none)")
    shown = spread(run.grids, MAX_GRIDS)
    parts = []
    if len(shown) < len(run.grids):
        parts.append(_note(f"{len(shown)} of {len(run.grids)} grids, spaced through training"))
    figures_html = []
    for iteration, path in shown:
        try:
            data = path.read_bytes()
            with Image.open(io.BytesIO(data)) as image:
                size, kind = image.size, image.format
                check_pixels(image, path)
                image.verify()
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError,
                ImageReadError):
            kind = None
        if kind != "PNG":
            parts.append(_note(f"{path.name}: not a readable PNG image; left out"))
            continue
        factor = max(1, round(GRID_PIXELS / size[0]))
        image_html = _img(data, f"samples at iteration {iteration}", size[0] * factor, size[1] * factor)
        figures_html.append(f"<figure>{image_html}<figcaption>iteration {iteration:,}</figcaption></figure>")
    return "".join(parts) + f'<div class="gallery">{"".join(figures_html)}</div>'


def _chain_cell(run: _RunData, computed: _Computed, steps: int, num: int, seed: int) -> str:
    if computed.trajectory is None:
        return _note("not drawn: " + ("no checkpoint" if run.loaded is None else "the data are not images"))
    caption = (f"{num} unclamped chains from the prior (seed {seed}), one per row; columns: the "
               f"state x after {', '.join(map(str, computed.shown))} steps")
    return f"<figure>{_png_img(computed.trajectory, f'chains over {steps} steps')}" \
           f"<figcaption>{_esc(caption)}</figcaption></figure>"


def _inpaint_cell(run: _RunData, computed: _Computed) -> str:
    if not computed.inpainting:
        reason = ("no checkpoint" if run.loaded is None else
                  "the data are not images" if not run.images else "; ".join(computed.notes))
        return _note(f"not drawn: {reason}")
    steps = run.loaded.recipe.eval.inpaint_steps if run.loaded is not None else 0
    parts = []
    for spec, data in computed.inpainting.items():
        mse = computed.scores[f"inpaint_{spec}_mse"]
        psnr = computed.scores[f"inpaint_{spec}_psnr"]
        caption = (f"mask {spec}, {steps} steps of the partially clamped chain; rows: masked input "
                   f"(hidden pixels in blue), filled, original; hidden region MSE {_fmt(mse)}, "
                   f"PSNR {_fmt(psnr)} dB")
        parts.append(f"<figure><h4>{_esc(spec)}</h4>{_png_img(data, f'inpainting, mask {spec}')}"
                     f"<figcaption>{_esc(caption)}</figcaption></figure>")
    return f'<div class="gallery">{"".join(parts)}</div>'


def _score_table(runs: Sequence[_RunData], computed: Sequence[_Computed], seed: int) -> str:
    """Rows of scores, one column per run: the latest evaluation logged during training (with its
    iteration), then the scores computed for the page."""
    head = "".join(f"<th>{_esc(run.label)}</th>" for run in runs)
    logs = [run.metrics.evaluation if run.metrics is not None else {} for run in runs]
    rows = []
    logged = list(dict.fromkeys(name for log in logs for name in log))
    width = len(runs) + 1
    if logged:
        rows.append(f'<tr class="group"><th colspan="{width}">logged during training (latest '
                    "evaluation)</th></tr>")
    for name in logged:
        cells = []
        for log in logs:
            if name in log:
                iteration, value = log[name][-1]
                cells.append(f'<td class="num">{_esc(_fmt(value))} '
                             f'<span class="at">at {iteration:,}</span></td>')
            else:
                cells.append('<td class="num">-</td>')
        rows.append(f"<tr><th>{_esc(name)}</th>{''.join(cells)}</tr>")
    names = list(dict.fromkeys(name for c in computed for name in c.scores))
    if names:
        counts = sorted({c.images for c in computed if c.scores})
        images = " or ".join(f"{n:,}" for n in counts)
        rows.append(f'<tr class="group"><th colspan="{width}">computed for this report ({images} '
                    f"test images, seed {seed})</th></tr>")
    for name in names:
        cells = [f'<td class="num">{_esc(_fmt(c.scores[name]))}</td>' if name in c.scores
                 else '<td class="num">-</td>' for c in computed]
        rows.append(f"<tr><th>{_esc(name)}</th>{''.join(cells)}</tr>")
    if not rows:
        return _note("no scores: nothing was logged by evaluation during training and none could "
                     "be computed")
    return f'<table class="scores"><tr><th>score</th>{head}</tr>{"".join(rows)}</table>'


def _section(anchor: str, title: str, runs: Sequence[_RunData], cells: Sequence[str]) -> str:
    """A section with one column per run, each titled with the run's label."""
    columns = "".join(f'<div class="run" data-run="{_esc(run.label)}"><h3>{_esc(run.label)}</h3>'
                      f"{cell}</div>" for run, cell in zip(runs, cells, strict=True))
    return (f'<section id="{anchor}"><h2>{_esc(title)}</h2>'
            f'<div class="runs" style="--runs:{len(runs)}">{columns}</div></section>')


@dataclass
class Report:
    """A report page: its ``html`` text, one summary per run (``runs``: ``run``, ``label``,
    ``name``, ``checkpoint``, ``iteration`` (last logged), ``images`` (how many ``<img>`` its
    column has), ``logged`` (latest evaluation scores during training: name -> {``iteration``,
    ``value``}), ``scores`` (computed for the page) and ``notes``) and the file it was written
    to (``path``, None until written)."""

    html: str
    runs: list[dict[str, Any]]
    path: Path | None = None


def build_report(
    runs: Sequence[str | Path], device: str | torch.device | None = None, *, steps: int = 1000,
    num: int = 8, masks: Sequence[str] | None = None, scale: int | None = None, seed: int = 0,
    progress: Progress | None = None,
) -> Report:
    """The report page of one or more run directories, side by side.

    Args:
        device: where the models run (``auto`` or None: CUDA when available, else CPU).
        steps: length of the chains whose trajectory is shown, at steps 1, 2, 5, 10, ... and
            ``steps`` (``default_record``).
        num: chains in the trajectory, and test images inpainted and reconstructed.
        masks: inpainting masks (names or mask images; default: the first two of each recipe's
            ``eval.masks``); each runs ``eval.inpaint_steps`` steps.
        scale: integer upscaling of the chain and inpainting figures (default: images about
            ``CELL_PIXELS`` pixels wide).
        seed: seed of the chains, the inpainting and random-PCT masks.
        progress: ``progress(task, done, total)`` as chains advance (tasks named
            ``<label>: chains``, ``<label>: inpaint <mask>``).
    Raises:
        RunDirectoryError: a path that is not a run directory (checked before any work).
        DeviceError, MaskError, GibbsnetError: a device this machine lacks, a mask that does not
            fit a run's data, a checkpoint that cannot be read, chains that cannot run; all before
            any chain runs.
    """
    paths = check_run_dirs(runs)
    device = resolve_device(device)
    progress = progress or no_progress
    data = [_open_run(path, label, device, masks, seed)
            for path, label in zip(paths, _labels(paths), strict=True)]
    for run in data:
        if run.images and run.loaded is not None:
            check_chains(run.loaded.model, num, steps, default_record(steps))
    computed = [_compute(run, steps, num, scale, seed, progress) for run in data]
    for run, result in zip(data, computed, strict=True):
        run.notes += result.notes
    title = "gibbsnet report: " + ", ".join(run.label for run in data)
    sections = [
        ("runs", "Runs", [_overview(run) for run in data]),
        ("training", "Training curves", _training_charts(data)),
        ("evaluation", "Evaluation scores during training", _evaluation_charts(data)),
        ("samples", "Sample grids through training",
         [_grid_cell(run) if run.images or run.loaded is None else
          _note("not drawn: the data are not images") for run in data]),
        ("chains", f"Chains over {steps:,} steps",
         [_chain_cell(run, c, steps, num, seed) for run, c in zip(data, computed, strict=True)]),
        ("inpainting", "Inpainting", [_inpaint_cell(run, c) for run, c in zip(data, computed, strict=True)]),
    ]
    body = [f"<header><h1>{_esc(title)}</h1><p>{len(data)} run{'s' * (len(data) > 1)}; chains of "
            f"{steps:,} steps, {num} chains, up to {num} test images, seed {seed}</p></header>",
            *(_section(anchor, heading, data, cells) for anchor, heading, cells in sections),
            f'<section id="scores"><h2>Scores</h2>{_score_table(data, computed, seed)}</section>',
            f"<footer>written by gibbsnet {_esc(__version__)} (gibbsnet report)</footer>"]
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")
    summaries = []
    for i, (run, result) in enumerate(zip(data, computed, strict=True)):
        logs = run.metrics.evaluation if run.metrics is not None else {}
        summaries.append({
            "run": str(run.path), "label": run.label,
            "name": run.recipe.name if run.recipe is not None else None,
            "checkpoint": str(run.loaded.checkpoint) if run.loaded is not None else None,
            "iteration": run.metrics.last_iteration if run.metrics is not None else None,
            "images": sum(cells[i].count("<img ") for _, _, cells in sections),
            "logged": {k: {"iteration": v[-1][0], "value": v[-1][1]} for k, v in logs.items()},
            "scores": result.scores, "notes": run.notes,
        })
    return Report(page, summaries)


def write_report(runs: Sequence[str | Path], out: str | Path, *, force: bool = False,
                 **options: Any) -> Report:
    """``build_report(runs, **options)`` written to ``out`` (UTF-8), atomically; returns the report
    with its ``path``.

    Raises:
        OutputError: before any work, for an ``out`` that does not end in ``.html``, cannot be
            written, or exists (unless ``force``); see ``figures.check_output``.
    """
    path = figures.check_output(out, (".html",), force=force)
    report = build_report(runs, **options)
    write_text_atomic(path, report.html)
    report.path = path
    return report
