"""``gibbsnet``: the command line, a thin shell over ``gibbsnet_plugin``.

The commands live by group: ``train`` (train, plugins), ``testtime`` (sample, inpaint,
reconstruct, interpolate) and ``evaluate``; ``ui`` holds the terminal helpers they share. Human
output (tables, progress bars, errors) goes to stderr; errors the user can fix are one line,
without a traceback, and exit with status 2 (130 after Ctrl-C).
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

import click
from rich.markup import escape

from gibbsnet_cli import evaluate, testtime, train
from gibbsnet_cli.ui import console, show_warning
from gibbsnet_plugin.errors import GibbsnetError, TrainingInterrupted


class _Group(click.Group):
    """Turns library errors into one-line messages and exit codes (2; 130 for Ctrl-C), and shows
    warnings as one line while a command runs."""

    def invoke(self, ctx: click.Context) -> Any:
        with warnings.catch_warnings():  # restores the process's showwarning afterwards
            warnings.showwarning = show_warning
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


for command in (train.train, train.plugins, testtime.sample, testtime.inpaint,
                testtime.reconstruct, testtime.interpolate, evaluate.evaluate):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="gibbsnet")


if __name__ == "__main__":
    main()
