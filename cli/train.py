"""``gibbsnet train`` and ``gibbsnet plugins``: training a recipe, and what it can be built from."""

from __future__ import annotations

import os

import click
from rich.markup import escape
from rich.table import Table

import gibbsnet_plugin as gn
from gibbsnet_cli.ui import TrainingBar, console
from gibbsnet_plugin.errors import TrainingInterrupted


@click.command()
@click.argument("recipe_path", metavar="RECIPE", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", metavar="KEY=VALUE", multiple=True,
              help="Override a recipe key, e.g. --set model.chain_steps=5 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default: runs/<recipe name>).")
@click.option("--device", default=None,
              help="auto, cpu, cuda, cuda:N or mps (overrides train.device).")
@click.option("--resume", is_flag=True, help="Continue the run in the output directory.")
@click.option("--force", is_flag=True, help="Replace a run already in the output directory.")
@click.option("--nproc", type=click.IntRange(1), default=1, show_default=True,
              help="Train in N processes on this machine (one GPU each, or CPU with gloo); "
                   "under torchrun, leave it at 1.")
def train(recipe_path: str, overrides: tuple[str, ...], out: str | None, device: str | None,
          resume: bool, force: bool, nproc: int) -> None:
    """Train the model that RECIPE (a YAML file) describes."""
    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    overrides = overrides + ((f"train.device={device}",) if device else ())
    recipe = gn.load_recipe(recipe_path, overrides=list(overrides))
    try:
        path = gn.train(recipe, out=out, resume=resume, force=force, progress=TrainingBar(),
                        nproc=nproc)
    except TrainingInterrupted as exc:
        again = f"gibbsnet train {recipe_path} --out {out or gn.default_run_dir(recipe)} --resume"
        raise TrainingInterrupted(f"{exc}: {again}") from None
    if os.environ.get("RANK", "0") == "0":  # under torchrun, every process runs this command
        console.print(f"[green]done:[/] {escape(str(path))} (checkpoints/last.pt, samples/, "
                      "metrics.jsonl)", soft_wrap=True)


@click.command()
def plugins() -> None:
    """List architectures, data sets and corruptions: built-in, from plugins, and broken plugins."""
    table = Table(title="gibbsnet plugins")
    for column in ("name", "kind", "source", "status"):
        table.add_column(column)
    for entry in [*gn.architectures.entries(), *gn.datasets.entries(), *gn.corruptions.entries()]:
        status = "[green]ok[/]" if entry.error is None else f"[red]{escape(entry.error)}[/]"
        table.add_row(escape(entry.name), entry.kind, escape(entry.source), status)
    console.print(table)
