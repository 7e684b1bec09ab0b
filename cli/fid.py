"""``gibbsnet fid``: the Fréchet Inception distance between image folders and saved statistics, the
number ``python -m pytorch_fid`` prints."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

import gibbsnet_plugin as gn
from gibbsnet_cli.ui import (
    console,
    device_option,
    force_option,
    json_option,
    print_json,
    task_progress,
    wrote,
)
from gibbsnet_plugin.limits import MAX_BATCH


def _announce_download(path: Path) -> None:
    console.print(f"downloading Inception weights (91 MB) to {escape(str(path))}", soft_wrap=True)


@click.command()
@click.argument("paths", metavar="PATH PATH", nargs=2)
@click.option("--dims", type=click.Choice(["64", "192", "768", "2048"]), default=None,
              help="Inception features (default: 2048, the standard FID; or the size of the "
                   "statistics in a given .npz).")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH), default=50, show_default=True,
              help="Images per Inception pass (does not change the result).")
@device_option()
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (default: "
                   "$GIBBSNET_INCEPTION_WEIGHTS, then the torch hub cache; downloaded there when "
                   "found nowhere, unless GIBBSNET_NO_DOWNLOAD=1).")
@click.option("--save-stats", is_flag=True,
              help="Save the statistics of the first PATH (a folder) to the second (a .npz) "
                   "instead of computing FID.")
@click.option("--fidelity", is_flag=True,
              help="Also KID, precision/recall and density/coverage of the first folder "
                   "(generated) against the second (real), as torch-fidelity and prdc compute them.")
@force_option("With --save-stats: replace an existing .npz.")
@json_option("Print one JSON object on stdout.")
def fid(paths: tuple[str, str], dims: str | None, batch_size: int, device: str | None,
        inception_weights: str | None, save_stats: bool, fidelity: bool, force: bool,
        as_json: bool) -> None:
    """Fréchet Inception distance between two PATHs, each a folder of images (bmp, jpg, jpeg,
    pgm, png, ppm, tif, tiff, webp) or a .npz of statistics (mu, sigma), as pytorch-fid computes
    it; prints "FID: value" on stdout. With --save-stats: save the statistics of a folder."""
    if force and not save_stats:
        raise click.UsageError("--force only applies to --save-stats")
    if fidelity and save_stats:
        raise click.UsageError("--fidelity compares two folders; it does not apply to --save-stats")
    options = dict(dims=int(dims) if dims else None, batch_size=batch_size, device=device,
                   weights=inception_weights, on_download=_announce_download)
    with task_progress("") as progress:
        if save_stats:
            result = gn.save_fid_statistics(*paths, force=force, progress=progress, **options)
        else:
            result = gn.fid_of_paths(*paths, progress=progress, fidelity=fidelity, **options)
    if as_json:
        print_json(result)
    elif save_stats:
        wrote(result["path"], detail=f" ({result['count']} images, {result['dims']}-d statistics)")
    else:
        click.echo(f"FID: {result['fid']}")
        if fidelity:
            click.echo(f"KID: {result['kid']} ± {result['kid_std']} "
                       f"({result['kid_subset_size']} images per subset)")
            for name in ("precision", "recall", "density", "coverage"):
                click.echo(f"{name}: {result[name]}")
