"""``gibbsnet sample|inpaint|reconstruct|interpolate|export``: using a trained model."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource
from rich.markup import escape

import gibbsnet_plugin as gn
from gibbsnet_cli.ui import (
    chain_progress,
    device_option,
    force_option,
    json_option,
    load_run,
    note,
    num_option,
    print_json,
    results,
    scale_option,
    seed_option,
    wrote,
)
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.limits import MAX_COUNT, MAX_STEPS

if TYPE_CHECKING:
    import torch


def _steps_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        steps = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1 or max(steps) > MAX_STEPS:
        raise click.BadParameter(f"expected chain steps between 1 and {MAX_STEPS:,} separated by "
                                 f"commas, e.g. 1,2,5,10; got '{value[:60]}'")
    return steps


def _probability(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """--independent's value, a probability; anything else is a one-line error."""
    try:
        p = float(value)
    except ValueError:
        p = math.nan
    if not 0.0 <= p <= 1.0:
        raise GibbsnetError(f"--independent {value[:60]}: expected a probability between 0 and 1 "
                            "(0: the plain chain)")
    return p


def _independent_option(chain: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--independent P (the parameter ``independent``) for a command that runs ``chain``."""
    return click.option(
        "--independent", default="0", metavar="P", callback=_probability, show_default=True,
        help=f"Correct the {chain} with the discriminator: at each step, with probability P, "
             "a chain proposes the state of a fresh chain of the trained length and D's density "
             "ratio accepts or rejects it (Metropolis-Hastings); otherwise it takes an ordinary "
             "step. Each proposal costs that many chain steps and a D call; 0 is the plain chain.")


def _acceptance(independent: float, acceptance: float | None) -> str:
    """The message's words on the independent proposals of a corrected chain."""
    if acceptance is None:
        return f"no independent proposal made (P = {independent:g})"
    return f"{100 * acceptance:.1f} % of independent proposals accepted (P = {independent:g})"


def _test_time_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--seed, --scale, --device and --force, shared by the test-time commands."""
    for option in reversed([
        seed_option("Seed of the chain's randomness (and of random-PCT masks)."),
        scale_option(1, "Enlarge figures by this integer factor (nearest-neighbour)."),
        device_option(),
        force_option("Replace output files that already exist."),
    ]):
        command = option(command)
    return command


def _images_options(default_num: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--num, --split and --input: which images a command works on."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed([
            num_option(default_num, "How many images."),
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


def _images(run: gn.Run, input_path: str | None, split: str, num: int) -> tuple[Any, str]:
    """(images, where they came from) for a test-time command."""
    shape = run.model.x_shape
    if input_path is None:
        source = f"{run.recipe.data.dataset} {split}"
        return gn.dataset_images(run.recipe, split, num, shape), source
    return _read_images(input_path, shape, num), input_path


def _read_images(path: str, shape: tuple[int, ...], num: int) -> Any:
    """Up to ``num`` images from a file or directory, with a note when some had to be resized."""
    images = gn.load_images(path, shape, limit=num)
    if images.resized:
        note(f"resized {len(images.resized)} of {len(images.paths)} images to "
             f"{'×'.join(map(str, shape[1:]))} (the model's image size)")
    return images.x


@dataclass
class _Drawn:
    """What a chain of ``gibbsnet sample`` produced, as the one flow that writes it takes it:
    ``final`` (num, *x_shape), x after the chain's steps; ``frames`` (num, len(record), *x_shape),
    x at the ``record``ed steps (None when none were asked for); ``start``, the images shown before
    the chains (None: none); ``layers``, the states of latent layers at the recorded steps, each
    drawn in a trajectory figure of its own (path -> states); ``note``, a line to show before the
    files written; ``facts``, what the JSON record adds; ``rate``, whether the message gives the
    steps per second."""

    final: torch.Tensor
    frames: torch.Tensor | None
    record: list[int]
    start: torch.Tensor | None = None
    layers: dict[Path, torch.Tensor] = field(default_factory=dict)
    note: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    rate: bool = True

    def at(self, steps: list[int], states: torch.Tensor | None = None) -> torch.Tensor:
        """x (or ``states``, recorded like ``frames``) at ``steps``, all of them recorded."""
        recorded = self.frames if states is None else states
        assert recorded is not None
        return recorded[:, [self.record.index(t) for t in steps]]


_Chain = Callable[[list[int], Callable[[int], None] | None], _Drawn]
"""Runs the chains of ``gibbsnet sample``, recording x at the given steps and reporting each step
done to the progress callback."""


@click.command()
@click.argument("run", metavar="RUN", type=click.Path())
@num_option(64, "How many chains (with --from-images: at most this many images).")
@click.option("--steps", type=click.IntRange(1, MAX_STEPS), default=None,
              help="Chain length (default: the recipe's chain_steps; 1 = one decoder pass).")
@click.option("--out", type=click.Path(), default="sample.png", show_default=True,
              metavar="FILE.png|FILE.npy",
              help="A grid of the final states, or their raw values as an array (num, *x_shape).")
@click.option("--trajectory", "trajectory_path", type=click.Path(), default=None, metavar="FILE.png",
              help="Also write a figure with one row per chain and one column per step of --at.")
@click.option("--at", callback=_steps_list, default=None, metavar="STEPS",
              help="Steps that --trajectory shows, e.g. 1,2,5,10,100,1000 "
                   "(default: 1, 2, 5, 10, 20, 50, ... and --steps).")
@json_option("Print what was written (files, chains, steps, seconds) as JSON on stdout.")
@click.option("--gif", "gif_path", type=click.Path(), default=None, metavar="FILE.gif",
              help="Also write an animation of the chains (every step, or 100 frames spaced "
                   "geometrically for longer chains).")
@click.option("--from-images", "from_images", type=click.Path(), default=None,
              metavar="FILE_OR_DIR",
              help="Start the chains from the encodings of these images instead of the prior (with "
                   "--mode or --clamp: the images that clamped layers take their values from).")
@click.option("--mode", default=None, metavar="NAME",
              help="Latent hierarchies: a mode of being, dreaming, ready-to-hand (top layer "
                   "clamped), daydreaming (x clamped and impotent) or present-at-hand (x clamped, "
                   "top free and impotent); clamped layers take the images' values (--from-images, "
                   "else the first --num test images).")
@click.option("--clamp", "clamps", multiple=True, metavar="LAYER[=FILE.npy]",
              help="Latent hierarchies: hold a layer (x, z1, z2, ...) at the images' value or "
                   "encoding, or at the values in FILE.npy, shape (d) or (num, d) (repeatable).")
@click.option("--impotent", "impotents", multiple=True, metavar="LAYER",
              help="Latent hierarchies: a layer its neighbours do not read (they read a "
                   "free-running copy of it instead) (repeatable).")
@_independent_option("unclamped chain (with --mode: dreaming only)")
@_test_time_options
def sample(run: str, num: int, steps: int | None, out: str, trajectory_path: str | None,
           at: list[int] | None, as_json: bool, gif_path: str | None, from_images: str | None,
           mode: str | None, clamps: tuple[str, ...], impotents: tuple[str, ...],
           independent: float, seed: int, scale: int, device: str | None, force: bool) -> None:
    """Run the unclamped chain of the model in RUN (a run directory or a checkpoint file), or, for
    a latent hierarchy, a chain in a mode of being (--mode, --clamp, --impotent)."""
    figures = gn.figures
    if at and not trajectory_path:
        raise click.UsageError("--at chooses the columns of --trajectory; "
                               "give --trajectory FILE.png too")
    gn.resolve_checkpoint(run)  # a missing run is named before an output clash
    out_path, trajectory, gif = figures.check_outputs(
        [(out, (".png", ".npy"), "out"), (trajectory_path, (".png",), "trajectory"),
         (gif_path, (".gif",), "gif")], force)
    assert out_path is not None
    if out_path.suffix.lower() == ".npy" and not (trajectory_path or gif_path) and \
            click.get_current_context().get_parameter_source("scale") is ParameterSource.COMMANDLINE:
        raise gn.errors.OutputError("--scale enlarges figures, and FILE.npy holds the raw values: "
                                    "remove --scale, or write a .png")
    loaded = load_run(run, device)
    model = loaded.model
    if out_path.suffix.lower() == ".png" or trajectory or gif:
        figures.check_image_shape(model.x_shape)
    steps = steps or model.chain_steps
    if mode or clamps or impotents:
        chain = _mode_chain(loaded, num, steps, trajectory, from_images, mode, clamps, impotents,
                            seed, force, independent)
    else:
        chain = _unclamped_chain(loaded, num, steps, from_images, seed, independent)
    _write_samples(loaded, chain, steps, out_path, trajectory, gif, at, seed, scale, as_json)


def _unclamped_chain(loaded: gn.Run, num: int, steps: int, from_images: str | None,
                     seed: int, independent: float) -> _Chain:
    """The unclamped chains of ``gibbsnet sample``, from the prior or, with --from-images, from
    the encodings of the images (read now), which the figures then show first; with
    ``independent`` > 0 corrected by D, the acceptance rate said and in the JSON record."""
    model = loaded.model
    start = None if from_images is None else _read_images(from_images, model.x_shape, num)

    def run(record: list[int], progress: Callable[[int], None] | None) -> _Drawn:
        chains = gn.sample(model, num if start is None else len(start), steps, seed, record, start,
                           progress, independent)
        if not independent:
            return _Drawn(chains.x, chains.frames, chains.record, start)
        return _Drawn(chains.x, chains.frames, chains.record, start,
                      note=_acceptance(independent, chains.acceptance),
                      facts={"independent": independent, "acceptance": chains.acceptance})

    return run


def _mode_chain(loaded: gn.Run, num: int, steps: int, trajectory: Path | None,
                from_images: str | None, mode: str | None, clamps: tuple[str, ...],
                impotents: tuple[str, ...], seed: int, force: bool, independent: float) -> _Chain:
    """The chains of ``gibbsnet sample`` in a mode of being; the figures show x, or, when x is
    impotent (its shown value is the clamped images), x decoded from z1: what the latents imagine.
    With --trajectory, latent layers that have an image form get a figure each
    (``<name>-z1.png``, checked now, as the other outputs were); the images that clamped layers
    take their values from are read now too."""
    figures, model = gn.figures, loaded.model
    layer_figures = {}
    if trajectory:
        for layer, name in enumerate(model.layer_names()[1:], start=1):
            if figures.has_image_form(model.latent_shapes[layer - 1]):
                path = trajectory.with_name(f"{trajectory.stem}-{name}{trajectory.suffix}")
                layer_figures[layer] = figures.check_output(path, (".png",), "trajectory", force)
    images = None
    if from_images is not None:
        images = _read_images(from_images, model.x_shape, num)
    elif gn.modes_need_images(model, mode, clamps):
        images = gn.dataset_images(loaded.recipe, "test", num, model.x_shape)

    def run(record: list[int], progress: Callable[[int], None] | None) -> _Drawn:
        chains = gn.modes(model, num if images is None else len(images), steps, mode, clamps,
                          impotents, images, seed, record, progress, independent)
        states = chains.states
        x = gn.imagined(model, states, seed)
        what = "what the latents imagine, x decoded from z1" if 0 in states.copies else "x"
        note = (f"{mode or 'custom mode'}: clamped {', '.join(chains.clamped) or 'nothing'}, "
                f"impotent {', '.join(chains.impotent) or 'nothing'}; the figures show {what}")
        facts = {"mode": mode, "clamped": chains.clamped, "impotent": chains.impotent}
        if independent:
            note += f"; {_acceptance(independent, chains.acceptance)}"
            facts |= {"independent": independent, "acceptance": chains.acceptance}
        return _Drawn(x[:, states.steps.index(steps)], x, states.steps,
                      layers={path: states.layers[layer] for layer, path in layer_figures.items()},
                      note=note, facts=facts, rate=False)

    return run


def _write_samples(loaded: gn.Run, chain: _Chain, steps: int, out_path: Path,
                   trajectory: Path | None, gif: Path | None, at: list[int] | None, seed: int,
                   scale: int, as_json: bool) -> None:
    """Run ``chain`` for ``steps`` (with a progress bar when long), recording the steps that
    --trajectory (--at) and --gif show, and write what ``gibbsnet sample`` writes: the final
    states (a grid or an array), the trajectory figures, the animation, a message and the JSON."""
    figures = gn.figures
    columns = at or gn.default_record(steps)
    frames = gn.gif_steps(steps) if gif else []
    record = (columns if trajectory else []) + frames
    total = max([steps, *record])
    began = time.perf_counter()
    with chain_progress("sample", total) as progress:
        drawn = chain(record, progress)
    seconds = time.perf_counter() - began

    if out_path.suffix.lower() == ".npy":
        figures.save_array(drawn.final, out_path)
    elif drawn.start is None:
        figures.save_grid(drawn.final, out_path, scale=scale)
    else:
        figures.save_png(figures.rows_image([drawn.start, drawn.final], ["input", f"step {steps}"],
                                            scale=scale), out_path)
    written = [out_path]
    if trajectory:
        shown = sorted(set(columns))
        figures.save_png(figures.trajectory_image(drawn.at(shown), shown, drawn.start, scale),
                         trajectory)
        written.append(trajectory)
        for path, states in drawn.layers.items():
            cells = figures.to_display_range(drawn.at(shown, states))
            figures.save_png(figures.trajectory_image(cells, shown, None, scale), path)
            written.append(path)
    if gif:
        figures.save_chain_gif(drawn.at(frames), frames, gif, scale)
        written.append(gif)
    if drawn.note is not None:
        note(drawn.note)
    num = len(drawn.final)
    rate = f", {total / max(seconds, 1e-9):.0f} steps/s" if drawn.rate else ""
    wrote(*written, detail=f" ({num} chains × {total} steps in {seconds:.1f} s{rate})")
    if as_json:
        print_json({"run": str(loaded.checkpoint), "num": num, "steps": total, "seed": seed,
                    "seconds": seconds, **drawn.facts, "files": [str(p) for p in written]})


@click.command()
@click.argument("run", metavar="RUN", type=click.Path())
@click.option("--mask", "mask_spec", required=True, metavar="NAME|FILE.png",
              help="The region to hide and fill in: left-half, right-half, top-half, bottom-half, "
                   "center, random-PCT (e.g. random-50), or a mask image (white = observed, "
                   "black = fill) of the data's size.")
@_images_options(default_num=16)
@click.option("--steps", type=click.IntRange(1, MAX_STEPS), default=20, show_default=True,
              help="Steps of the partially clamped chain.")
@click.option("--out", type=click.Path(), default="inpaint.png", show_default=True, metavar="FILE.png",
              help="Grid with rows: masked input, result, original.")
@json_option("Print the scores as one JSON object on stdout.")
@_independent_option("partially clamped chain (proposals keep the observed pixels)")
@_test_time_options
def inpaint(run: str, mask_spec: str, num: int, split: str, input_path: str | None, steps: int,
            out: str, as_json: bool, independent: float, seed: int, scale: int,
            device: str | None, force: bool) -> None:
    """Hide part of each image, fill it in with the partially clamped chain, and score the result
    (MSE and PSNR on the hidden region, against the original)."""
    figures = gn.figures
    gn.resolve_checkpoint(run)  # a missing run is named before an output clash
    out_path = figures.check_output(out, (".png",), force=force)
    loaded = load_run(run, device)
    shape = loaded.model.x_shape
    figures.check_image_shape(shape)
    mask = gn.resolve_mask(mask_spec, shape, seed)
    x, source = _images(loaded, input_path, split, num)
    with chain_progress("inpaint", steps) as progress:
        result = gn.inpaint(loaded.model, x, mask, steps, seed, progress, independent)
    figures.save_png(figures.rows_image(
        [figures.masked_view(result.original, result.mask), result.filled, result.original],
        ["masked", "filled", "original"], scale=scale), out_path)
    scores = result.scores
    corrected = {"independent": independent, "acceptance": result.acceptance} if independent else {}
    wrote(out_path)
    if as_json:
        print_json({"run": str(loaded.checkpoint), "images": source, "num": len(x),
                     "mask": mask_spec, "steps": steps, "seed": seed, **corrected, **scores,
                     "out": str(out_path)})
    else:
        proposals = f"; {_acceptance(independent, result.acceptance)}" if independent else ""
        results.print(
            f"{len(x)} images from {escape(source)}, mask {escape(mask_spec)} "
            f"({100 * scores['hidden_fraction']:.1f} % hidden), {steps} steps: "
            f"MSE {scores['mse']:.4f}, PSNR {scores['psnr']:.2f} dB on the hidden region"
            f"{proposals}", soft_wrap=True)


@click.command()
@click.argument("run", metavar="RUN", type=click.Path())
@_images_options(default_num=16)
@click.option("--out", type=click.Path(), default="reconstruct.png", show_default=True, metavar="FILE.png",
              help="Grid with rows: original, reconstruction.")
@json_option("Print the MSE as one JSON object on stdout.")
@click.option("--level", type=click.IntRange(1), default=1, show_default=True,
              help="Latent hierarchies: the layer (1 = z1, ...) to work from.")
@_test_time_options
def reconstruct(run: str, num: int, split: str, input_path: str | None, out: str, as_json: bool,
                level: int, seed: int, scale: int, device: str | None, force: bool) -> None:
    """Encode and decode images (x -> z -> x') and report the mean squared error."""
    figures = gn.figures
    gn.resolve_checkpoint(run)  # a missing run is named before an output clash
    out_path = figures.check_output(out, (".png",), force=force)
    loaded = load_run(run, device)
    figures.check_image_shape(loaded.model.x_shape)
    x, source = _images(loaded, input_path, split, num)
    result = gn.reconstruct(loaded.model, x, seed, level)
    figures.save_png(figures.rows_image([result.original, result.reconstruction],
                                        ["original", "reconstruction"], scale=scale), out_path)
    wrote(out_path)
    if as_json:
        print_json({"run": str(loaded.checkpoint), "images": source, "num": len(x), "seed": seed,
                     "mse": result.mse, "mse_per_image": result.mse_per_image,
                     "out": str(out_path)})
    else:
        results.print(f"{len(x)} images from {escape(source)}: reconstruction MSE {result.mse:.4f}",
                      soft_wrap=True)


@click.command()
@click.argument("run", metavar="RUN", type=click.Path())
@click.option("--pairs", type=click.IntRange(1, MAX_COUNT), default=4, show_default=True,
              help="How many pairs of images (images 1 and 2, 3 and 4, ...).")
@click.option("--points", type=click.IntRange(2, 10_000), default=8, show_default=True,
              help="Points on the line between the two latents, ends included.")
@click.option("--chain", "chain_steps", type=click.IntRange(0, MAX_STEPS), default=0, show_default=True,
              help="Also show, under each line, where this many chain steps take each point.")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True,
              help="Split of the recipe's data set to take images from.")
@click.option("--input", "input_path", type=click.Path(), default=None, metavar="FILE_OR_DIR",
              help="A directory of your own images (sorted by name) instead of the data set.")
@click.option("--out", type=click.Path(), default="interpolate.png", show_default=True, metavar="FILE.png",
              help="One row per pair: first image, the decoded line, second image.")
@click.option("--level", type=click.IntRange(1), default=1, show_default=True,
              help="Latent hierarchies: the layer (1 = z1, ...) to work from.")
@json_option("Print what was written (file, pairs, points) as JSON on stdout.")
@_test_time_options
def interpolate(run: str, pairs: int, points: int, chain_steps: int, split: str, level: int,
                input_path: str | None, out: str, as_json: bool, seed: int, scale: int,
                device: str | None, force: bool) -> None:
    """Decode the straight line between the latents of two images (and, with --chain, the chain
    from each point of it)."""
    figures = gn.figures
    gn.resolve_checkpoint(run)  # a missing run is named before an output clash
    out_path = figures.check_output(out, (".png",), force=force)
    loaded = load_run(run, device)
    figures.check_image_shape(loaded.model.x_shape)
    x, source = _images(loaded, input_path, split, 2 * pairs)
    if len(x) < 2:
        raise GibbsnetError(f"{source}: interpolation needs at least 2 images, found {len(x)}")
    n = len(x) // 2
    result = gn.interpolate(loaded.model, x[0:2 * n:2], x[1:2 * n:2], points, chain_steps,
                            seed, level)
    figures.save_png(figures.interpolation_image(result.x_a, result.x_b, result.line,
                                                 result.chained, f"chain {chain_steps}", scale),
                     out_path)
    wrote(out_path, detail=f" ({n} pairs of images from {source}, {points} points)")
    if as_json:
        print_json({"run": str(loaded.checkpoint), "images": source, "pairs": n,
                    "points": points, "chain_steps": chain_steps, "seed": seed,
                    "out": str(out_path)})


@click.command()
@click.argument("run", type=click.Path())
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Directory to write model.safetensors, recipe.yaml and README.md (a model card) into.")
@click.option("--weights", type=click.Choice(["auto", "ema", "raw"]), default="auto", show_default=True,
              help="ema: the moving averages (train.ema); raw: the trained weights; auto: ema "
                   "when the run has them, as sampling uses.")
@force_option("Replace the files of an existing export.")
@json_option("Print one JSON object on stdout.")
def export(run: str, out: str, weights: str, force: bool, as_json: bool) -> None:
    """Export the model of RUN (a run directory or checkpoint file) as safetensors weights with
    its recipe and a model card; every test-time command reads the directory as it reads RUN."""
    result = gn.export_model(run, out, weights=weights, force=force)
    if as_json:
        print_json(result)
    else:
        wrote(*result["files"], detail=f" ({result['weights']} weights of {result['source']})")


@click.command()
@click.argument("run", metavar="RUN", type=click.Path())
@click.argument("table", metavar="TABLE", type=click.Path())
@click.option("--out", type=click.Path(), required=True, metavar="FILE.csv",
              help="The filled table (.csv, .tsv, or .npy for tables without text columns).")
@click.option("--draws", type=click.IntRange(1, MAX_COUNT), default=None,
              help="Independent chains per row [default: 1, or 20 with --reduce]. Without --reduce, "
                   "K > 1 draws go into one long file in R mice's as.mids format: the table "
                   "as given (.imp 0), then the draws (.imp 1..K), with the row number .id.")
@click.option("--reduce", type=click.Choice(["mean", "median"]), default=None,
              help="Write one point estimate of the draws: their mean or median (text columns: "
                   "the most frequent category; with mean and softmax categories the most "
                   "probable under the draws' mean probabilities).")
@click.option("--steps", type=click.IntRange(1, MAX_STEPS), default=20, show_default=True,
              help="Steps of each partially clamped chain.")
@_independent_option("partially clamped chain of each row (proposals keep the observed cells)")
@seed_option("Seed of the chains' randomness (the same seed gives the same draws).")
@device_option()
@force_option("Replace the output file if it exists.")
@json_option("Print a summary as one JSON object on stdout.")
def impute(run: str, table: str, out: str, draws: int | None, reduce: str | None, steps: int,
           independent: float, seed: int, device: str | None, force: bool, as_json: bool) -> None:
    """Fill the missing cells of TABLE (a CSV, TSV, Parquet or NumPy file with the columns the
    run models, in any order; empty or NA cells are missing) with a run of the table data set.
    Observed cells, and columns the run does not model, are written exactly as they are in TABLE."""
    gn.resolve_checkpoint(run)  # a missing run is named before anything else
    loaded = load_run(run, device)
    draws = draws if draws is not None else (20 if reduce else 1)
    result, out_path = gn.impute_file(loaded, table, out, draws, reduce, steps, seed, force,
                                      independent)
    cells = int(result.missing.sum())
    rows = len(result.draws[0])
    what = f"the {reduce} of {draws} draws" if reduce else (f"{draws} draws" if draws > 1 else "one draw")
    proposals = f"; {_acceptance(independent, result.acceptance)}" if independent else ""
    wrote(out_path, detail=f" ({cells:,} cells of {rows:,} rows filled with {what}, "
                           f"{steps} steps, in {result.seconds:.1f} s{proposals})")
    if as_json:
        corrected = {"independent": independent, "acceptance": result.acceptance} if independent else {}
        print_json({"run": str(loaded.checkpoint), "table": table, "out": str(out_path),
                    "rows": rows, "columns": result.missing.shape[1], "imputed_cells": cells,
                    "draws": draws, "reduce": reduce, "steps": steps, "seed": seed, **corrected,
                    "seconds": result.seconds})
