"""``gibbsnet``: the command line, a thin shell over ``gibbsnet_plugin``.

Human output (tables, progress bars, errors) goes to stderr; errors the user can fix are one line,
without a traceback, and exit with status 2.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
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
def train(recipe_path: str, overrides: tuple[str, ...], out: str | None, device: str | None,
          resume: bool, force: bool) -> None:
    """Train the model that RECIPE (a YAML file) describes."""
    import gibbsnet_plugin as gn  # noqa: PLC0415  (keeps `gibbsnet --help` fast)

    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    overrides = overrides + ((f"train.device={device}",) if device else ())
    recipe = gn.load_recipe(recipe_path, overrides=list(overrides))
    path = gn.train(recipe, out=out, resume=resume, force=force, console=console)
    console.print(f"[green]done:[/] {escape(str(path))} (checkpoints/last.pt, samples/, metrics.jsonl)",
                  soft_wrap=True)


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


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="gibbsnet")


if __name__ == "__main__":
    main()
