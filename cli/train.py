"""``gibbsnet train`` and ``gibbsnet plugins``: training a recipe, and what it can be built from."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

import gibbsnet_plugin as gn
from gibbsnet_cli.ui import (
    TrainingBar,
    console,
    device_option,
    force_option,
    json_option,
    print_json,
    results,
)
from gibbsnet_plugin.errors import TrainingInterrupted


@click.command()
@click.argument("recipe_path", metavar="[RECIPE]", required=False,
                type=click.Path(dir_okay=False))
@click.option("--set", "overrides", metavar="KEY=VALUE", multiple=True,
              help="Override a recipe key, e.g. --set model.chain_steps=5 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default: runs/<recipe name>).")
@device_option("auto, cpu, cuda, cuda:N or mps (overrides train.device).")
@click.option("--resume", "resume_dir", is_flag=False, flag_value="", default=None,
              metavar="[RUN_DIR]", type=click.Path(file_okay=False),
              help="Continue a run: --resume RUN_DIR continues it with its own recipe.yaml (no "
                   "RECIPE needed); RECIPE --resume continues the run in --out.")
@force_option("Replace a run already in the output directory.")
@json_option("When done, print the run directory and its checkpoint as JSON on stdout.")
@click.option("--nproc", type=click.IntRange(1), default=1, show_default=True,
              help="Train in N processes on this machine (one GPU each, or CPU with gloo); "
                   "under torchrun, leave it at 1.")
def train(recipe_path: str | None, overrides: tuple[str, ...], out: str | None,
          device: str | None, resume_dir: str | None, force: bool, as_json: bool,
          nproc: int) -> None:
    """Train the model that RECIPE (a YAML file) describes, or continue a run (--resume)."""
    resume = resume_dir is not None
    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    if resume_dir:
        if out is not None and Path(out) != Path(resume_dir):
            raise click.UsageError("--resume RUN_DIR continues RUN_DIR; leave out --out")
        out = resume_dir
        if recipe_path is None:
            recipe_path = str(Path(resume_dir) / gn.RECIPE_FILE)
            if not Path(recipe_path).is_file():
                where = "no such directory" if not Path(resume_dir).is_dir() else f"no {gn.RECIPE_FILE} there"
                raise gn.errors.RunDirectoryError(f"--resume {resume_dir}: {where}; give the run "
                                                  "directory that training wrote")
    if recipe_path is None:
        raise click.UsageError("missing RECIPE (a YAML file, e.g. recipes/digits.yaml), or "
                               "--resume RUN_DIR to continue a run")
    overrides = overrides + ((f"train.device={device}",) if device else ())
    recipe = gn.load_recipe(recipe_path, overrides=list(overrides))
    run_dir = out or gn.default_run_dir(recipe)
    try:
        path = gn.train(recipe, out=out, resume=resume, force=force, progress=TrainingBar(),
                        nproc=nproc)
    except TrainingInterrupted as exc:
        if not exc.resumable:
            raise
        again = shlex.join(["gibbsnet", "train", "--resume", str(run_dir)])
        raise TrainingInterrupted(f"{exc}; continue with: {again}", resumable=True) from None
    if os.environ.get("RANK", "0") == "0":  # under torchrun, every process runs this command
        console.print(f"[green]done:[/] {escape(str(path))} (checkpoints/last.pt, samples/, "
                      "metrics.jsonl, train.log)", soft_wrap=True)
        if as_json:
            print_json({"run": str(path), "checkpoint": str(path / "checkpoints" / "last.pt"),
                        "iterations": recipe.train.iterations})


@click.command()
@json_option("Print the entries as one JSON object {\"plugins\": [...]} on stdout.")
def plugins(as_json: bool) -> None:
    """List architectures, data sets, corruptions, chain kinds and metrics: built-in, from plugins,
    and broken plugins."""
    entries = gn.plugin_entries()
    if as_json:
        print_json({"plugins": [{"name": e.name, "kind": e.kind, "source": e.source,
                                 "error": e.error} for e in entries]})
        return
    table = Table(title="gibbsnet plugins")
    for column in ("name", "kind", "source", "status"):
        table.add_column(column)
    for entry in entries:
        status = "[green]ok[/]" if entry.error is None else f"[red]{escape(entry.error)}[/]"
        table.add_row(escape(entry.name), entry.kind, escape(entry.source), status)
    results.print(table)
