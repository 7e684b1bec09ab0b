"""Run reports: one self-contained HTML page for one training run, or several side by side.

The library behind ``gibbsnet report``. For each run directory (written by ``gibbsnet train``) the
page shows the recipe's key facts, the training curves and the evaluation scores logged in
``metrics.jsonl`` (inline SVG charts), the sample grids of ``samples/``, and, computed here from
``checkpoints/last.pt``: a chain trajectory, inpainting rows and a table of scores; given a mask
process, the ``coverage`` metric's scores and PIT histogram (of any data, table rows included).
Several runs get one column each; charts of the same quantity share their scales. Everything is
embedded (images as base64 ``data:`` URIs, no scripts, no external files), so the page opens
without a network. A run without a checkpoint still gets its curves and grids; a model whose
data are not images gets its curves and scores, with a note instead of the image sections.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from gibbsnet_plugin import __version__, figures
from gibbsnet_plugin.data.images import check_pixels
from gibbsnet_plugin.data.missing import check_process
from gibbsnet_plugin.errors import ImageReadError
from gibbsnet_plugin.metrics import lower_is_better
from gibbsnet_plugin.metrics.data import Progress, no_progress
from gibbsnet_plugin.report.charts import Chart, Histogram, esc, finite, nice_range
from gibbsnet_plugin.report.runs import (
    MAX_GRIDS,
    Computed,
    RunData,
    check_run_dirs,
    compute,
    labels,
    open_run,
    spread,
)
from gibbsnet_plugin.rundir import (
    METRICS_FILE,
    SAMPLE_DIR,
)
from gibbsnet_plugin.testtime import (
    check_chains,
    default_record,
)
from gibbsnet_plugin.utils import resolve_device, write_text_atomic

GRID_PIXELS = 240
"""On-page width (pixels) that the sample grids of ``samples/`` are scaled up to, about."""


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
    return f'<img src="{uri}" alt="{esc(alt)}" width="{width}" height="{height}">'


def _png_img(data: bytes, alt: str) -> str:
    """``_img`` at the PNG's own size."""
    with Image.open(io.BytesIO(data)) as image:
        return _img(data, alt, *image.size)


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def _fmt(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _facts(run: RunData) -> list[tuple[str, str]]:
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


def _overview(run: RunData) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _facts(run))
    return f'<table class="facts">{rows}</table>' + "".join(_note(n) for n in run.notes)


def _iterations(runs: Sequence[RunData]) -> tuple[float, float, float]:
    """The iteration axis that all runs share: from 0 to the last iteration any run logged."""
    last = [run.metrics.last_iteration for run in runs if run.metrics is not None]
    return nice_range([0.0, float(max([i for i in last if i is not None], default=1))])


def _training_charts(runs: Sequence[RunData]) -> list[str]:
    """Per run: the loss chart (values named ``*loss``) and the D-output chart (the other
    training values: ``d_real``, ``d_fake``), each with scales shared by all runs."""
    logs = [run.metrics.training if run.metrics is not None else {} for run in runs]
    groups = [("losses", "loss", [{k: v for k, v in log.items() if k.endswith("loss")} for log in logs]),
              ("D outputs", "D output",
               [{k: v for k, v in log.items() if not k.endswith("loss")} for log in logs])]
    x = _iterations(runs)
    cells = ["" for _ in runs]
    for title, y_label, per_run in groups:
        y = nice_range([v for curves in per_run for points in curves.values() for v in finite(points)])
        for i, curves in enumerate(per_run):
            if not curves:
                cells[i] += _note(f"no {title} logged")
                continue
            chart = Chart(curves, x, y, "iteration", y_label).svg()
            cells[i] += (f"<figure>{chart}<figcaption>{esc(title)}: {esc(', '.join(curves))}"
                         "</figcaption></figure>")
    return [f'<div class="gallery">{cell}</div>' for cell in cells]


def _evaluation_charts(runs: Sequence[RunData]) -> list[str]:
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
            y = nice_range([v for other in logs for v in finite(other.get(name, []))])
            better = "lower" if lower_is_better(name) else "higher"
            chart = Chart({name: log[name]}, x, y, "iteration", name, markers=True).svg()
            parts.append(f"<figure>{chart}<figcaption>{esc(name)} ({better} is better)"
                         f"</figcaption></figure>")
        missing = [name for name in names if name not in log]
        note = _note(f"not logged by this run: {', '.join(missing)}") if missing else ""
        cells.append(f'<div class="gallery">{"".join(parts)}</div>{note}')
    return cells


def _grid_cell(run: RunData) -> str:
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


def _chain_cell(run: RunData, computed: Computed, steps: int, num: int, seed: int) -> str:
    if computed.trajectory is None:
        return _note("not drawn: " + ("no checkpoint" if run.loaded is None else "the data are not images"))
    caption = (f"{num} unclamped chains from the prior (seed {seed}), one per row; columns: the "
               f"state x after {', '.join(map(str, computed.shown))} steps")
    return f"<figure>{_png_img(computed.trajectory, f'chains over {steps} steps')}" \
           f"<figcaption>{esc(caption)}</figcaption></figure>"


def _inpaint_cell(run: RunData, computed: Computed) -> str:
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
        parts.append(f"<figure><h4>{esc(spec)}</h4>{_png_img(data, f'inpainting, mask {spec}')}"
                     f"<figcaption>{esc(caption)}</figcaption></figure>")
    return f'<div class="gallery">{"".join(parts)}</div>'


def _coverage_cells(runs: Sequence[RunData], computed: Sequence[Computed]) -> list[str]:
    """Per run: the PIT histogram of the ``coverage`` metric computed for the page, as the share
    of the scored entries in each bin, its value range shared by all runs; a note where none was
    computed."""
    found = [c.details.get("coverage") for c in computed]
    shares = [[n / sum(d["pit"]) for n in d["pit"]] if d is not None else [] for d in found]
    y = nice_range([0.0, *(v for s in shares for v in s), *(1 / len(s) for s in shares if s)])
    cells = []
    for run, c, details, share in zip(runs, computed, found, shares, strict=True):
        if details is None:
            cells.append(_note("not computed: " + ("no checkpoint" if run.loaded is None
                                                   else "; ".join(c.notes))))
            continue
        bins = len(share)
        chart = Histogram(share, y, "PIT: rank of the true value among its draws", "share of entries",
                          f"PIT histogram of {run.label}: {details['missing']}").svg()
        caption = (f"{details['entries']:,} observed test entries hidden by {details['missing']}, "
                   f"{details['draws']} draws of {details['steps']} chain steps each, share per "
                   f"PIT bin (dashed: the flat level 1/{bins}): flat = calibrated, U-shape = draws "
                   "too narrow, hump = too wide.")
        cells.append(f"<figure><h4>PIT histogram</h4>{chart}<figcaption>{esc(caption)}"
                     "</figcaption></figure>")
    return cells


def _score_table(runs: Sequence[RunData], computed: Sequence[Computed], seed: int) -> str:
    """Rows of scores, one column per run: the latest evaluation logged during training (with its
    iteration), then the scores computed for the page."""
    head = "".join(f"<th>{esc(run.label)}</th>" for run in runs)
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
                cells.append(f'<td class="num">{esc(_fmt(value))} '
                             f'<span class="at">at {iteration:,}</span></td>')
            else:
                cells.append('<td class="num">-</td>')
        rows.append(f"<tr><th>{esc(name)}</th>{''.join(cells)}</tr>")
    names = list(dict.fromkeys(name for c in computed for name in c.scores))
    if names:
        counts = sorted({c.images for c in computed if c.scores})
        images = " or ".join(f"{n:,}" for n in counts)
        scored = [run for run, c in zip(runs, computed, strict=True) if c.scores]
        items = "images" if all(run.images for run in scored) else "items"
        rows.append(f'<tr class="group"><th colspan="{width}">computed for this report ({images} '
                    f"test {items}, seed {seed})</th></tr>")
    for name in names:
        cells = [f'<td class="num">{esc(_fmt(c.scores[name]))}</td>' if name in c.scores
                 else '<td class="num">-</td>' for c in computed]
        rows.append(f"<tr><th>{esc(name)}</th>{''.join(cells)}</tr>")
    if not rows:
        return _note("no scores: nothing was logged by evaluation during training and none could "
                     "be computed")
    return f'<table class="scores"><tr><th>score</th>{head}</tr>{"".join(rows)}</table>'


def _section(anchor: str, title: str, runs: Sequence[RunData], cells: Sequence[str]) -> str:
    """A section with one column per run, each titled with the run's label."""
    columns = "".join(f'<div class="run" data-run="{esc(run.label)}"><h3>{esc(run.label)}</h3>'
                      f"{cell}</div>" for run, cell in zip(runs, cells, strict=True))
    return (f'<section id="{anchor}"><h2>{esc(title)}</h2>'
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
    missing: str | None = None, progress: Progress | None = None,
) -> Report:
    """The report page of one or more run directories, side by side.

    Args:
        device: where the models run (``auto`` or None: CUDA when available, else CPU).
        steps: length of the chains whose trajectory is shown, at steps 1, 2, 5, 10, ... and
            ``steps`` (``default_record``).
        num: chains in the trajectory, and test images in the inpainting figures (the scores are
            those of the whole test split).
        masks: inpainting masks (names or mask images; default: the first two of each recipe's
            ``eval.masks``); each runs ``eval.inpaint_steps`` steps.
        scale: integer upscaling of the chain and inpainting figures (default: images about
            ``CELL_PIXELS`` pixels wide).
        seed: seed of the chains, the inpainting and random-PCT masks.
        missing: a mask process (e.g. ``random-20``; table rows take only ``random-PCT``): each
            run with a checkpoint also gets the ``coverage`` metric on the test entries it hides
            (as ``gibbsnet evaluate --metric coverage --missing``, with the recipe's seed for the
            masks), its scores in the table and its PIT histogram in a section of its own.
        progress: ``progress(task, done, total)`` as chains advance (tasks named
            ``<label>: chains``, ``<label>: inpaint <mask>``, ``<label>: coverage``).
    Raises:
        RunDirectoryError: a path that is not a run directory (checked before any work).
        DeviceError, MaskError, GibbsnetError: a device this machine lacks, a mask or mask
            process that does not fit a run's data, a checkpoint that cannot be read, chains that
            cannot run; all before any chain runs.
    """
    paths = check_run_dirs(runs)
    device = resolve_device(device)
    progress = progress or no_progress
    data = [open_run(path, label, device, masks, seed)
            for path, label in zip(paths, labels(paths), strict=True)]
    for run in data:
        if run.images and run.loaded is not None:
            check_chains(run.loaded.model, num, steps, default_record(steps))
        if missing is not None and run.loaded is not None:
            check_process(missing, run.loaded.model.x_shape)
    computed = [compute(run, steps, num, scale, seed, progress, missing) for run in data]
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
    if missing is not None:
        sections.append(("coverage", f"Calibration of imputations ({missing})",
                         _coverage_cells(data, computed)))
    body = [f"<header><h1>{esc(title)}</h1><p>{len(data)} run{'s' * (len(data) > 1)}; chains of "
            f"{steps:,} steps, {num} chains, up to {num} test images shown, seed {seed}</p></header>",
            *(_section(anchor, heading, data, cells) for anchor, heading, cells in sections),
            f'<section id="scores"><h2>Scores</h2>{_score_table(data, computed, seed)}</section>',
            f"<footer>written by gibbsnet {esc(__version__)} (gibbsnet report)</footer>"]
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
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
