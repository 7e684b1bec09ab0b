"""``gibbsnet report``: one self-contained HTML page for one or more runs, side by side."""

from __future__ import annotations

import click

import gibbsnet_plugin as gn
from gibbsnet_cli.ui import note, print_json, task_progress, wrote
from gibbsnet_plugin.limits import MAX_COUNT, MAX_STEPS


@click.command()
@click.argument("runs", metavar="RUN...", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(), default="report.html", show_default=True, metavar="FILE.html",
              help="The page: everything embedded, it opens without a network.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--steps", type=click.IntRange(1, MAX_STEPS), default=1000, show_default=True,
              help="Length of the chains whose trajectory is shown (at 1, 2, 5, 10, ... steps).")
@click.option("--num", type=click.IntRange(1, MAX_COUNT), default=8, show_default=True,
              help="Chains in the trajectory, and test images inpainted and reconstructed.")
@click.option("--mask", "masks", multiple=True, metavar="NAME|FILE.png",
              help="Inpainting masks (repeatable; default: the first two of each recipe's "
                   "eval.masks).")
@click.option("--scale", type=click.IntRange(1, 64), default=None,
              help="Enlarge the chain and inpainting figures by this integer factor "
                   "(default: images about 48 pixels wide).")
@click.option("--json", "as_json", is_flag=True,
              help="Print {\"report\": FILE, \"runs\": [...]} as one JSON object on stdout.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="Seed of the chains, the inpainting and random-PCT masks.")
@click.option("--device", default=None,
              help="auto, cpu, cuda, cuda:N or mps (default: CUDA when available).")
def report(runs: tuple[str, ...], out: str, force: bool, steps: int, num: int,
           masks: tuple[str, ...], scale: int | None, as_json: bool, seed: int,
           device: str | None) -> None:
    """Write an HTML report of one or more run directories, one column per run: recipe facts,
    loss and D-output curves, evaluation scores logged during training, sample grids, a chain
    trajectory, inpainting rows and a table of scores."""
    with task_progress("") as progress:
        page = gn.write_report(runs, out, force=force, device=device, steps=steps, num=num,
                               masks=list(masks) or None, scale=scale, seed=seed,
                               progress=progress)
    for text in dict.fromkeys(f"{run['label']}: {text}" for run in page.runs for text in run["notes"]):
        note(text)
    kib = len(page.html.encode("utf-8")) / 1024
    wrote(page.path, detail=f" ({len(page.runs)} run{'s' * (len(page.runs) > 1)}, {kib:,.0f} KiB)")
    if as_json:
        print_json({"report": str(page.path), "runs": page.runs})
