"""``gibbsnet report``: one self-contained HTML page for one or more runs, side by side."""

from __future__ import annotations

import click

import gibbsnet_plugin as gn
from gibbsnet_cli.ui import (
    device_option,
    force_option,
    json_option,
    note,
    num_option,
    print_json,
    scale_option,
    seed_option,
    task_progress,
    wrote,
)
from gibbsnet_plugin.limits import MAX_STEPS


@click.command()
@click.argument("runs", metavar="RUN...", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(), default="report.html", show_default=True, metavar="FILE.html",
              help="The page: everything embedded, it opens without a network.")
@force_option("Replace --out if it exists.")
@click.option("--steps", type=click.IntRange(1, MAX_STEPS), default=1000, show_default=True,
              help="Length of the chains whose trajectory is shown (at 1, 2, 5, 10, ... steps).")
@num_option(8, "Chains in the trajectory, and test images inpainted and reconstructed.")
@click.option("--mask", "masks", multiple=True, metavar="NAME|FILE.png",
              help="Inpainting masks (repeatable; default: the first two of each recipe's "
                   "eval.masks).")
@click.option("--missing", default=None, metavar="PROCESS",
              help="Also score the calibration of imputations (the coverage metric) on the test "
                   "entries this mask process hides, e.g. random-20 (table rows take random-PCT), "
                   "and show its PIT histogram.")
@scale_option(None, "Enlarge the chain and inpainting figures by this integer factor "
                    "(default: images about 48 pixels wide).")
@json_option("Print {\"report\": FILE, \"runs\": [...]} as one JSON object on stdout.")
@seed_option("Seed of the chains, the inpainting and random-PCT masks.")
@device_option()
def report(runs: tuple[str, ...], out: str, force: bool, steps: int, num: int,
           masks: tuple[str, ...], missing: str | None, scale: int | None, as_json: bool, seed: int,
           device: str | None) -> None:
    """Write an HTML report of one or more run directories, one column per run: recipe facts,
    loss and D-output curves, evaluation scores logged during training, sample grids, a chain
    trajectory, inpainting rows and a table of scores (with --missing: the coverage scores and
    PIT histogram of imputations)."""
    with task_progress("") as progress:
        page = gn.write_report(runs, out, force=force, device=device, steps=steps, num=num,
                               masks=list(masks) or None, scale=scale, seed=seed, missing=missing,
                               progress=progress)
    for text in dict.fromkeys(f"{run['label']}: {text}" for run in page.runs for text in run["notes"]):
        note(text)
    kib = len(page.html.encode("utf-8")) / 1024
    wrote(page.path, detail=f" ({len(page.runs)} run{'s' * (len(page.runs) > 1)}, {kib:,.0f} KiB)")
    if as_json:
        print_json({"report": str(page.path), "runs": page.runs})
