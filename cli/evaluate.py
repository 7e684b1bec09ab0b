"""``gibbsnet evaluate``: scores of one or more runs, side by side."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

import gibbsnet_plugin as gn
from gibbsnet_cli.ui import (
    device_option,
    force_option,
    json_option,
    note,
    print_json,
    seed_option,
    task_progress,
    wrote,
)
from gibbsnet_cli.ui import results as results_console
from gibbsnet_plugin.limits import MAX_COUNT, MAX_DRAWS, MAX_STEPS


@click.command()
@click.argument("runs", metavar="RUN...", nargs=-1, required=True, type=click.Path())
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="A registered metric, e.g. reconstruction, inpainting, imputation, probe, fid, "
                   "modes, critic or tsne (`gibbsnet plugins` lists them all; repeatable; default: "
                   "the recipe's eval.metrics, else the default metrics, "
                   "imputation only for incomplete or corrupted data, FID only when the "
                   "Inception weights are found).")
@click.option("--num-samples", type=click.IntRange(2, MAX_COUNT), default=None,
              help="FID: samples and real images (default: the recipe's eval.num_samples, "
                   "10000; at most the reference split's size). modes: samples (default 2500). "
                   "critic: test images and chains (default 1000).")
@click.option("--steps", type=click.IntRange(1, MAX_STEPS), default=None,
              help="Chain steps of the FID and modes samples and of the t-SNE chain states "
                   "(default: each run's chain_steps).")
@click.option("--mask", "masks", multiple=True, metavar="NAME|FILE.png",
              help="Inpainting masks (repeatable; default: the recipe's eval.masks: left-half, "
                   "bottom-half, center, random-50).")
@click.option("--inpaint-steps", type=click.IntRange(1, MAX_STEPS), default=None,
              help="Steps of the partially clamped chain (default: eval.inpaint_steps, 20).")
@click.option("--missing", default=None, metavar="PROCESS",
              help="imputation and coverage: the mask process of the test split, e.g. random-80 "
                   "or window-4; table rows take random-PCT (default: the recipe's data.missing).")
@click.option("--labels", type=click.IntRange(2, MAX_COUNT), default=None,
              help="Linear probe: class-balanced labelled images (default: eval.labels, 1000).")
@click.option("--draws", type=click.IntRange(1, MAX_DRAWS), default=None,
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
              help="Where --metric tsne writes tsne-<run>.png (for a checkpoint file: "
                   "tsne-<run>-<checkpoint>.png).")
@json_option("Print one JSON object {\"runs\": [...]} on stdout.")
@seed_option("Seed of every metric.")
@force_option("Replace t-SNE figures that already exist.")
@device_option()
def evaluate(runs: tuple[str, ...], metrics: tuple[str, ...], num_samples: int | None,
             steps: int | None, masks: tuple[str, ...], inpaint_steps: int | None,
             missing: str | None, labels: int | None, draws: int | None, inception_weights: str | None,
             fid_split: str | None, fid_dims: str, out_dir: str, as_json: bool, seed: int,
             force: bool, device: str | None) -> None:
    """Score one or more runs (run directories or checkpoint files), side by side: reconstruction
    MSE, inpainting MSE/PSNR on the hidden region, imputation RMSE on missing entries,
    linear-probe error, FID, mode coverage of a 2-D mixture (grid25, ring8), t-SNE latent maps."""
    gn.check_metrics(metrics)
    results = []
    figures = tsne_figures(runs, Path(out_dir))
    if "tsne" in metrics:  # all at once, before any run (a recipe's own tsne: before that run)
        for figure in figures:
            gn.figures.check_output(figure, (".png",), "figure", force)
    for run, figure in zip(runs, figures, strict=True):
        prefix = f"{gn.run_label(run)}: " if len(runs) > 1 else ""
        with task_progress(prefix) as progress:
            results.append(gn.evaluate(
                run, list(metrics) or None, device, num_samples=num_samples, chain_steps=steps,
                labels=labels, draws=draws, masks=list(masks) or None,
                inpaint_steps=inpaint_steps, missing=missing, inception_weights=inception_weights,
                fid_split=fid_split, fid_dims=int(fid_dims), figure=figure, seed=seed,
                progress=progress, force=force))
    for text in dict.fromkeys(text for result in results for text in result["notes"]):
        note(text)
    for result in results:
        if "tsne" in result["details"]:
            wrote(result["details"]["tsne"]["path"])
    if as_json:
        print_json({"runs": results})
        return
    names = list(dict.fromkeys(k for r in results for k in r["scores"]))
    if not names:  # e.g. only tsne: its figures are all there is
        return
    table = Table(title="gibbsnet evaluate")
    table.add_column("score", no_wrap=True)
    for result in results:
        steps_note = " (ALI)" if result["chain_steps"] == 1 else ""
        header = f"{escape(result['run'])}\nchain_steps {result['chain_steps']}{steps_note}"
        table.add_column(header, justify="right")
    for score in names:
        table.add_row(escape(gn.score_label(score)), *[
            gn.score_text(score, r["scores"][score]) if score in r["scores"] else "-"
            for r in results])
    results_console.print(table)
    fid = next((r["details"]["fid"] for r in results if "fid" in r["details"]), None)
    if fid is not None:
        results_console.print(f"FID: {escape(fid['implementation'])}, {fid['dims']}-d features, weights "
                      f"sha256 {fid['weights_sha256'][:12]}, {fid['num_samples']} samples against "
                      f"the {fid['reference']['split']} split", soft_wrap=True)


def tsne_figures(runs: tuple[str, ...], out_dir: Path) -> list[Path]:
    """``out_dir/tsne-<label>.png`` for each run (``gn.run_label``), one file per run: a label
    that two runs share gets ``-2``, ``-3``, ... on its later runs."""
    paths: list[Path] = []
    for run in runs:
        label = gn.run_label(run)
        path, n = out_dir / f"tsne-{label}.png", 1
        while path in paths:
            n += 1
            path = out_dir / f"tsne-{label}-{n}.png"
        paths.append(path)
    return paths
