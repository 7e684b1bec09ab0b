"""``gibbsnet``: the command line, a thin shell over ``gibbsnet_plugin``.

Human output (tables, progress bars, errors) goes to stderr; errors the user can fix are one line,
without a traceback, and exit with status 2.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from gibbsnet_plugin.errors import GibbsnetError

console = Console(stderr=True, highlight=False)


def _show_warning(message: Any, category: type, *_: Any, **__: Any) -> None:
    console.print(f"[yellow]warning:[/] {escape(str(message))}", soft_wrap=True)


class _Group(click.Group):
    """Turns library errors into one-line messages and exit codes (2; 130 for Ctrl-C)."""

    def invoke(self, ctx: click.Context) -> Any:
        from gibbsnet_plugin.training import TrainingInterrupted  # noqa: PLC0415

        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except TrainingInterrupted as exc:
            console.print(f"[yellow]stopped:[/] {escape(str(exc))}", soft_wrap=True)
            ctx.exit(130)
        except GibbsnetError as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gibbsnet", prog_name="gibbsnet")
def cli() -> None:
    """Train and use GibbsNet and ALI models."""
    logging.getLogger("ignite").setLevel(logging.WARNING)


@cli.command()
@click.argument("recipe_path", metavar="RECIPE", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", metavar="KEY=VALUE", multiple=True,
              help="Override a recipe key, e.g. --set model.chain_steps=5 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default: runs/<recipe name>).")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (overrides train.device).")
@click.option("--resume", is_flag=True, help="Continue the run in the output directory.")
@click.option("--force", is_flag=True, help="Replace a run already in the output directory.")
@click.option("--nproc", type=click.IntRange(1), default=1, show_default=True,
              help="Train in N processes on this machine (one GPU each, or CPU with gloo); "
                   "under torchrun, leave it at 1.")
def train(recipe_path: str, overrides: tuple[str, ...], out: str | None, device: str | None,
          resume: bool, force: bool, nproc: int) -> None:
    """Train the model that RECIPE (a YAML file) describes."""
    import gibbsnet_plugin as gn  # noqa: PLC0415  (keeps `gibbsnet --help` fast)

    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    overrides = overrides + ((f"train.device={device}",) if device else ())
    recipe = gn.load_recipe(recipe_path, overrides=list(overrides))
    from gibbsnet_plugin.training import TrainingInterrupted, default_run_dir  # noqa: PLC0415

    try:
        path = gn.train(recipe, out=out, resume=resume, force=force, console=console, nproc=nproc)
    except TrainingInterrupted as exc:
        again = f"gibbsnet train {recipe_path} --out {out or default_run_dir(recipe)} --resume"
        raise TrainingInterrupted(f"{exc}: {again}") from None
    if os.environ.get("RANK", "0") == "0":  # under torchrun, every process runs this command
        console.print(f"[green]done:[/] {escape(str(path))} (checkpoints/last.pt, samples/, "
                      "metrics.jsonl)", soft_wrap=True)


@cli.command()
def plugins() -> None:
    """List architectures and data sets: built-in, from plugins, and broken plugins."""
    from gibbsnet_plugin import architectures, datasets  # noqa: PLC0415

    table = Table(title="gibbsnet plugins")
    for column in ("name", "kind", "source", "status"):
        table.add_column(column)
    for entry in [*architectures.entries(), *datasets.entries()]:
        status = "[green]ok[/]" if entry.error is None else f"[red]{escape(entry.error)}[/]"
        table.add_row(escape(entry.name), entry.kind, escape(entry.source), status)
    console.print(table)


# -- test time: sample, inpaint, reconstruct, interpolate ------------------------------------------

PROGRESS_MIN_STEPS = 100
"""Chains at least this long show a progress bar (on stderr; it disappears when done)."""


def _steps_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        steps = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1:
        raise click.BadParameter(
            f"expected chain steps >= 1 separated by commas, e.g. 1,2,5,10; got '{value}'")
    return steps


def _test_time_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--seed, --scale and --device, shared by the test-time commands."""
    for option in reversed([
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the chain's randomness (and of random-PCT masks)."),
        click.option("--scale", type=click.IntRange(1, 64), default=1, show_default=True,
                     help="Enlarge figures by this integer factor (nearest-neighbour)."),
        click.option("--device", default=None,
                     help="auto, cpu, cuda or cuda:N (default: CUDA when available)."),
    ]):
        command = option(command)
    return command


def _images_options(default_num: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--num, --split and --input: which images a command works on."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed([
            click.option("--num", type=click.IntRange(1), default=default_num, show_default=True,
                         help="How many images."),
            click.option("--split", type=click.Choice(["test", "train"]), default="test",
                         show_default=True,
                         help="Split of the recipe's data set to take images from."),
            click.option("--input", "input_path", type=click.Path(), default=None,
                         metavar="FILE_OR_DIR", help="Your own image file, or a directory of them "
                         "(sorted by name), instead of the data set."),
        ]):
            command = option(command)
        return command

    return decorate


@contextmanager
def _chain_progress(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A step callback driving a progress bar for chains of ``total`` steps (None when short)."""
    if total < PROGRESS_MIN_STEPS:
        yield None
        return
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("steps"), TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(label, total=total)
        yield lambda t: progress.update(task, completed=t)


@contextmanager
def _task_progress(prefix: str) -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(task, done, total)`` callback drawing one bar per task, each labelled
    ``prefix + task`` (on stderr; the bars disappear when done)."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        bars: dict[str, TaskID] = {}

        def report(task: str, done: int, total: int) -> None:
            if task not in bars:
                bars[task] = progress.add_task(prefix + task, total=total)
            progress.update(bars[task], completed=done, total=total)

        yield report


def _images(run: Any, input_path: str | None, split: str, num: int) -> tuple[Any, str]:
    """(images, where they came from) for a test-time command."""
    from gibbsnet_plugin import testtime  # noqa: PLC0415

    shape = run.model.x_shape
    if input_path is None:
        source = f"{run.recipe.data.dataset} {split}"
        return testtime.dataset_images(run.recipe, split, num, shape), source
    return _read_images(input_path, shape, num), input_path


def _read_images(path: str, shape: tuple[int, ...], num: int) -> Any:
    """Up to ``num`` images from a file or directory, with a note when some had to be resized."""
    from gibbsnet_plugin.data.images import load_images  # noqa: PLC0415

    images = load_images(path, shape, limit=num)
    if images.resized:
        console.print(f"[yellow]note:[/] resized {len(images.resized)} of {len(images.paths)} "
                      f"images to {'×'.join(map(str, shape[1:]))} (the model's image size)",
                      soft_wrap=True)
    return images.x


def _wrote(*paths: Any, detail: str = "") -> None:
    console.print(f"[green]wrote[/] {escape(', '.join(map(str, paths)))}{escape(detail)}",
                  soft_wrap=True)


def _print_json(record: dict[str, Any]) -> None:
    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, list):
            return [finite(v) for v in value]
        return value

    click.echo(json.dumps({k: finite(v) for k, v in record.items()}))


@cli.command()
@click.argument("run", metavar="RUN")
@click.option("--num", type=click.IntRange(1), default=64, show_default=True,
              help="How many chains (with --from-images: at most this many images).")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Chain length (default: the recipe's chain_steps; 1 = one decoder pass).")
@click.option("--out", default="sample.png", show_default=True, metavar="FILE.png|FILE.npy",
              help="A grid of the final states, or their raw values as an array (num, *x_shape).")
@click.option("--trajectory", "trajectory_path", default=None, metavar="FILE.png",
              help="Also write a figure with one row per chain and one column per step of --at.")
@click.option("--at", callback=_steps_list, default=None, metavar="STEPS",
              help="Steps that --trajectory shows, e.g. 1,2,5,10,100,1000 "
                   "(default: 1, 2, 5, 10, 20, 50, ... and --steps).")
@click.option("--gif", "gif_path", default=None, metavar="FILE.gif",
              help="Also write an animation of the chains (every step, or 100 frames spaced "
                   "geometrically for longer chains).")
@click.option("--from-images", "from_images", type=click.Path(), default=None,
              metavar="FILE_OR_DIR",
              help="Start the chains from the encodings of these images instead of the prior.")
@_test_time_options
def sample(run: str, num: int, steps: int | None, out: str, trajectory_path: str | None,
           at: list[int] | None, gif_path: str | None, from_images: str | None, seed: int,
           scale: int, device: str | None) -> None:
    """Run the unclamped chain of the model in RUN (a run directory or a checkpoint file)."""
    from gibbsnet_plugin import figures, testtime  # noqa: PLC0415

    if at and not trajectory_path:
        raise click.UsageError("--at chooses the columns of --trajectory; "
                               "give --trajectory FILE.png too")
    out_path = figures.check_output(out, (".png", ".npy"))
    trajectory = trajectory_path and figures.check_output(trajectory_path, (".png",),
                                                          "--trajectory")
    gif = gif_path and figures.check_output(gif_path, (".gif",), "--gif")
    loaded = testtime.load_run(run, device)
    model = loaded.model
    if out_path.suffix.lower() == ".png" or trajectory or gif:
        figures.check_image_shape(model.x_shape)
    steps = steps or model.chain_steps
    start = None
    if from_images is not None:
        start = _read_images(from_images, model.x_shape, num)
        num = len(start)
    columns = at or testtime.default_record(steps)
    frames = testtime.gif_steps(steps) if gif else []
    record = (columns if trajectory else []) + frames
    began = time.perf_counter()
    with _chain_progress("sample", max([steps, *record])) as progress:
        chains = testtime.sample(model, num, steps, seed, record, start, progress)
    seconds = time.perf_counter() - began

    if out_path.suffix.lower() == ".npy":
        figures.save_array(chains.x, out_path)
    elif start is None:
        figures.save_grid(chains.x, out_path, scale=scale)
    else:
        figures.save_png(figures.rows_image([start, chains.x], ["input", f"step {steps}"],
                                            scale=scale), out_path)
    written = [out_path]
    if trajectory:
        shown = sorted(set(columns))
        cells = chains.frames[:, [chains.record.index(t) for t in shown]]
        figures.save_png(figures.trajectory_image(cells, shown, start, scale), trajectory)
        written.append(trajectory)
    if gif:
        figures.save_chain_gif(chains.frames[:, [chains.record.index(t) for t in frames]], frames,
                               gif, scale)
        written.append(gif)
    total = max([steps, *record])
    _wrote(*written, detail=f" ({num} chains × {total} steps in {seconds:.1f} s, "
                            f"{total / max(seconds, 1e-9):.0f} steps/s)")


@cli.command()
@click.argument("run", metavar="RUN")
@click.option("--mask", "mask_spec", required=True, metavar="NAME|FILE.png",
              help="The region to hide and fill in: left-half, right-half, top-half, bottom-half, "
                   "center, random-PCT (e.g. random-50), or a mask image (white = observed, "
                   "black = fill) of the data's size.")
@_images_options(default_num=16)
@click.option("--steps", type=click.IntRange(1), default=20, show_default=True,
              help="Steps of the partially clamped chain.")
@click.option("--out", default="inpaint.png", show_default=True, metavar="FILE.png",
              help="Grid with rows: masked input, result, original.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the scores as one JSON object on stdout.")
@_test_time_options
def inpaint(run: str, mask_spec: str, num: int, split: str, input_path: str | None, steps: int,
            out: str, as_json: bool, seed: int, scale: int, device: str | None) -> None:
    """Hide part of each image, fill it in with the partially clamped chain, and score the result
    (MSE and PSNR on the hidden region, against the original)."""
    from gibbsnet_plugin import figures, testtime  # noqa: PLC0415
    from gibbsnet_plugin.data.masks import resolve_mask  # noqa: PLC0415

    out_path = figures.check_output(out, (".png",))
    loaded = testtime.load_run(run, device)
    shape = loaded.model.x_shape
    figures.check_image_shape(shape)
    mask = resolve_mask(mask_spec, shape, seed)
    x, source = _images(loaded, input_path, split, num)
    with _chain_progress("inpaint", steps) as progress:
        result = testtime.inpaint(loaded.model, x, mask, steps, seed, progress)
    figures.save_png(figures.rows_image(
        [figures.masked_view(result.original, result.mask), result.filled, result.original],
        ["masked", "filled", "original"], scale=scale), out_path)
    scores = result.scores
    _wrote(out_path)
    if as_json:
        _print_json({"run": str(loaded.checkpoint), "images": source, "num": len(x),
                     "mask": mask_spec, "steps": steps, "seed": seed, **scores,
                     "out": str(out_path)})
    else:
        console.print(
            f"{len(x)} images from {escape(source)}, mask {escape(mask_spec)} "
            f"({100 * scores['hidden_fraction']:.1f} % hidden), {steps} steps: "
            f"MSE {scores['mse']:.4f}, PSNR {scores['psnr']:.2f} dB on the hidden region",
            soft_wrap=True)


@cli.command()
@click.argument("run", metavar="RUN")
@_images_options(default_num=16)
@click.option("--out", default="reconstruct.png", show_default=True, metavar="FILE.png",
              help="Grid with rows: original, reconstruction.")
@click.option("--json", "as_json", is_flag=True, help="Print the MSE as one JSON object on stdout.")
@_test_time_options
def reconstruct(run: str, num: int, split: str, input_path: str | None, out: str, as_json: bool,
                seed: int, scale: int, device: str | None) -> None:
    """Encode and decode images (x -> z -> x') and report the mean squared error."""
    from gibbsnet_plugin import figures, testtime  # noqa: PLC0415

    out_path = figures.check_output(out, (".png",))
    loaded = testtime.load_run(run, device)
    figures.check_image_shape(loaded.model.x_shape)
    x, source = _images(loaded, input_path, split, num)
    result = testtime.reconstruct(loaded.model, x, seed)
    figures.save_png(figures.rows_image([result.original, result.reconstruction],
                                        ["original", "reconstruction"], scale=scale), out_path)
    _wrote(out_path)
    if as_json:
        _print_json({"run": str(loaded.checkpoint), "images": source, "num": len(x), "seed": seed,
                     "mse": result.mse, "mse_per_image": result.mse_per_image,
                     "out": str(out_path)})
    else:
        console.print(f"{len(x)} images from {escape(source)}: reconstruction MSE {result.mse:.4f}",
                      soft_wrap=True)


@cli.command()
@click.argument("run", metavar="RUN")
@click.option("--pairs", type=click.IntRange(1), default=4, show_default=True,
              help="How many pairs of images (images 1 and 2, 3 and 4, ...).")
@click.option("--points", type=click.IntRange(2), default=8, show_default=True,
              help="Points on the line between the two latents, ends included.")
@click.option("--chain", "chain_steps", type=click.IntRange(0), default=0, show_default=True,
              help="Also show, under each line, where this many chain steps take each point.")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True,
              help="Split of the recipe's data set to take images from.")
@click.option("--input", "input_path", type=click.Path(), default=None, metavar="FILE_OR_DIR",
              help="A directory of your own images (sorted by name) instead of the data set.")
@click.option("--out", default="interpolate.png", show_default=True, metavar="FILE.png",
              help="One row per pair: first image, the decoded line, second image.")
@_test_time_options
def interpolate(run: str, pairs: int, points: int, chain_steps: int, split: str,
                input_path: str | None, out: str, seed: int, scale: int,
                device: str | None) -> None:
    """Decode the straight line between the latents of two images (and, with --chain, the chain
    from each point of it)."""
    from gibbsnet_plugin import figures, testtime  # noqa: PLC0415

    out_path = figures.check_output(out, (".png",))
    loaded = testtime.load_run(run, device)
    figures.check_image_shape(loaded.model.x_shape)
    x, source = _images(loaded, input_path, split, 2 * pairs)
    if len(x) < 2:
        raise GibbsnetError(f"{source}: interpolation needs at least 2 images, found {len(x)}")
    n = len(x) // 2
    result = testtime.interpolate(loaded.model, x[0:2 * n:2], x[1:2 * n:2], points, chain_steps,
                                  seed)
    figures.save_png(figures.interpolation_image(result.x_a, result.x_b, result.line,
                                                 result.chained, f"chain {chain_steps}", scale),
                     out_path)
    _wrote(out_path, detail=f" ({n} pairs of images from {source}, {points} points)")


# -- evaluate ----------------------------------------------------------------------------------

def _score_label(name: str) -> str:
    """``inpaint_left-half_psnr`` -> ``inpaint left-half PSNR (dB)`` for the table."""
    label = name.replace("_", " ")
    for short, long in ((" mse", " MSE"), (" psnr", " PSNR (dB)"), ("fid", "FID"),
                        ("probe error std", "probe error std (%)"),
                        ("probe error", "probe error (%)"), ("modes high quality",
                        "modes high-quality samples (%)"), ("modes reverse kl", "modes reverse KL (nats)"),
                        ("modes", "modes covered")):
        if label.endswith(short) or label == short:
            label = label[: len(label) - len(short)] + long
            break
    return label


def _score_cell(name: str, value: float) -> str:
    if name.startswith("probe_error") or name == "modes_high_quality":
        return f"{100 * value:.2f}"
    if name == "modes":
        return f"{value:.0f}"
    if name == "modes_reverse_kl":
        return f"{value:.3f}"
    return f"{value:.4f}" if name.endswith("mse") else f"{value:.2f}"


@cli.command()
@click.argument("runs", metavar="RUN...", nargs=-1, required=True)
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="reconstruction, inpainting, probe, fid, modes or tsne (repeatable; default: "
                   "the recipe's eval.metrics, else all but modes and tsne, FID only when the "
                   "Inception weights are found).")
@click.option("--num-samples", type=click.IntRange(2), default=None,
              help="FID: samples and real images (default: the recipe's eval.num_samples, "
                   "10000; at most the reference split's size). modes: samples (default 2500).")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Chain steps of the FID and modes samples and of the t-SNE chain states "
                   "(default: each run's chain_steps).")
@click.option("--mask", "masks", multiple=True, metavar="NAME|FILE.png",
              help="Inpainting masks (repeatable; default: the recipe's eval.masks: left-half, "
                   "bottom-half, center, random-50).")
@click.option("--inpaint-steps", type=click.IntRange(1), default=None,
              help="Steps of the partially clamped chain (default: eval.inpaint_steps, 20).")
@click.option("--labels", type=click.IntRange(2), default=None,
              help="Linear probe: class-balanced labelled images (default: eval.labels, 1000).")
@click.option("--draws", type=click.IntRange(1), default=None,
              help="Linear probe: draws of the labelled set (default: eval.draws, 10).")
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (default: "
                   "$GIBBSNET_INCEPTION_WEIGHTS, then the torch hub cache).")
@click.option("--fid-split", type=click.Choice(["train", "test"]), default=None,
              help="Real images FID compares against (default: eval.fid_split, train).")
@click.option("--fid-dims", type=click.Choice(["64", "192", "768", "2048"]), default="2048",
              show_default=True,
              help="Inception features for FID; only 2048 (the final pool) is the standard FID.")
@click.option("--out-dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where --metric tsne writes tsne-<run>.png.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object {\"runs\": [...]} on stdout.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every metric.")
@click.option("--device", default=None,
              help="auto, cpu, cuda or cuda:N (default: CUDA when available).")
def evaluate(runs: tuple[str, ...], metrics: tuple[str, ...], num_samples: int | None,
             steps: int | None, masks: tuple[str, ...], inpaint_steps: int | None,
             labels: int | None, draws: int | None, inception_weights: str | None,
             fid_split: str | None, fid_dims: str, out_dir: str, as_json: bool, seed: int,
             device: str | None) -> None:
    """Score one or more runs (run directories or checkpoint files), side by side: reconstruction
    MSE, inpainting MSE/PSNR on the hidden region, linear-probe error, FID, mode coverage of a 2-D
    mixture (grid25, ring8), t-SNE latent maps."""
    from pathlib import Path  # noqa: PLC0415

    from gibbsnet_plugin.evaluation import check_metrics  # noqa: PLC0415
    from gibbsnet_plugin.evaluation import evaluate as evaluate_run

    check_metrics(metrics)
    results = []
    for run in runs:
        name = Path(run).name if Path(run).is_dir() else Path(run).stem
        with _task_progress(f"{name}: " if len(runs) > 1 else "") as progress:
            results.append(evaluate_run(
                run, list(metrics) or None, device, num_samples=num_samples, chain_steps=steps,
                labels=labels, draws=draws, masks=list(masks) or None,
                inpaint_steps=inpaint_steps, inception_weights=inception_weights,
                fid_split=fid_split, fid_dims=int(fid_dims),
                figure=Path(out_dir) / f"tsne-{name}.png", seed=seed, progress=progress))
    for note in dict.fromkeys(note for result in results for note in result["notes"]):
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    for result in results:
        if "tsne" in result["details"]:
            _wrote(result["details"]["tsne"]["path"])
    if as_json:
        def finite(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: finite(v) for k, v in value.items()}
            if isinstance(value, list):
                return [finite(v) for v in value]
            return value

        click.echo(json.dumps(finite({"runs": results})))
        return
    table = Table(title="gibbsnet evaluate")
    table.add_column("score", no_wrap=True)
    for result in results:
        steps_note = " (ALI)" if result["chain_steps"] == 1 else ""
        header = f"{escape(result['run'])}\nchain_steps {result['chain_steps']}{steps_note}"
        table.add_column(header, justify="right")
    names = list(dict.fromkeys(k for r in results for k in r["scores"]))
    for score in names:
        table.add_row(escape(_score_label(score)), *[
            _score_cell(score, r["scores"][score]) if score in r["scores"] else "-"
            for r in results])
    console.print(table)
    fid = next((r["details"]["fid"] for r in results if "fid" in r["details"]), None)
    if fid is not None:
        console.print(f"FID: {escape(fid['implementation'])}, {fid['dims']}-d features, weights "
                      f"sha256 {fid['weights_sha256'][:12]}, {fid['num_samples']} samples against "
                      f"the {fid['reference']['split']} split", soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="gibbsnet")


if __name__ == "__main__":
    main()
