"""``gibbsnet``: the command line, a thin shell over ``gibbsnet_plugin``.

The commands live by group: ``train`` (train, plugins), ``testtime`` (sample, inpaint, export,
reconstruct, interpolate), ``evaluate``, ``fid`` and ``report``; ``ui`` holds the terminal helpers
they share. Results (score lines, tables, JSON) go to stdout; progress bars, messages and errors
to stderr. Every error is one line without a traceback: status 2 for input the user can fix
(``GibbsnetError``), 1 for the environment (a full disk, a missing permission, memory) and for
anything unexpected (``GIBBSNET_TRACEBACK=1`` shows its traceback), 130 after Ctrl-C.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import warnings
from typing import Any

import click
from rich.markup import escape

from gibbsnet_cli import evaluate, fid, report, testtime, train
from gibbsnet_cli.ui import console, flagged, show_warning
from gibbsnet_plugin.errors import GibbsnetError, TrainingInterrupted

TRACEBACK_ENV = "GIBBSNET_TRACEBACK"
"""Set to 1 to see the traceback of an unexpected error instead of its one-line message."""
MESSAGE_LIMIT = 600
"""Characters of an error message shown; a longer one (e.g. echoing a huge value) is cut."""


def _line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _user_message(exc: GibbsnetError) -> str:
    """``exc``'s message; for an error raised in a DataLoader worker process, whose message torch
    replaces with the worker's traceback, the original message (the traceback's last line)."""
    text = str(exc)
    if text.startswith("Caught ") and "\nOriginal Traceback" in text:
        last = text.rstrip().splitlines()[-1]  # "gibbsnet_plugin.errors.<class>: <message>"
        text = last.split(": ", 1)[-1]
    return text


def _out_of_memory(exc: BaseException) -> bool:
    """True for Python's MemoryError and torch's failed allocations (CPU or GPU)."""
    text = str(exc)
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()))


def _environment_message(exc: BaseException) -> str:
    if _out_of_memory(exc):
        return "out of memory; lower data.batch_size, the network sizes or --num"
    assert isinstance(exc, OSError)
    name = getattr(exc, "filename", None)
    name = getattr(name, "name", name)  # an open file object names its path
    where = f": {name}" if name else ""
    reason = exc.strerror or type(exc).__name__
    hint = {errno.ENOSPC: "; free some space or write elsewhere (--out)",
            errno.EACCES: "; check the permissions or write elsewhere (--out)",
            errno.EROFS: "; write elsewhere (--out)"}.get(exc.errno or 0, "")
    return f"{reason}{where}{hint}"


class _Group(click.Group):
    """Turns every error into a one-line message and an exit status (2 for the user's input, 1 for
    the environment or an unexpected error, 130 for Ctrl-C), and shows warnings as one line
    while a command runs."""

    def invoke(self, ctx: click.Context) -> Any:
        with warnings.catch_warnings():  # restores the process's showwarning afterwards
            warnings.showwarning = show_warning
            try:
                return super().invoke(ctx)
            except TrainingInterrupted as exc:
                console.print(f"[yellow]stopped:[/] {escape(_line(flagged(exc)))}", soft_wrap=True)
                ctx.exit(130)
            except GibbsnetError as exc:
                console.print(f"[red]error:[/] {escape(_line(flagged(_user_message(exc))))}",
                              soft_wrap=True)
                ctx.exit(exc.exit_status)
            except (click.exceptions.Exit, click.ClickException, click.Abort):
                raise
            except KeyboardInterrupt:
                console.print("[yellow]stopped[/] (Ctrl-C)", soft_wrap=True)
                ctx.exit(130)
            except Exception as exc:
                if isinstance(exc, ValueError) and "embedded null byte" in str(exc):
                    # the operating system's refusal of a path, wherever it was given
                    console.print("[red]error:[/] a path contains a NUL character (\\0); remove it",
                                  soft_wrap=True)
                    ctx.exit(2)
                if isinstance(exc, OSError) or _out_of_memory(exc):
                    console.print(f"[red]error:[/] {escape(_line(_environment_message(exc)))}",
                                  soft_wrap=True)
                    ctx.exit(1)
                if os.environ.get(TRACEBACK_ENV, "").strip() not in ("", "0"):
                    raise
                message = _line(f"{type(exc).__name__}: {exc}")
                console.print(f"[red]internal error:[/] {escape(message)} (a bug in gibbsnet or a "
                              f"plugin; {TRACEBACK_ENV}=1 shows the traceback)", soft_wrap=True)
                ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gibbsnet", prog_name="gibbsnet")
def cli() -> None:
    """Train and use GibbsNet and ALI models."""
    logging.getLogger("ignite").setLevel(logging.CRITICAL)  # errors are reported as one line here


for command in (train.train, train.plugins, testtime.sample, testtime.inpaint,
                testtime.reconstruct, testtime.interpolate, testtime.impute, testtime.export,
                evaluate.evaluate, fid.fid, report.report):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: click's own handling, except that Ctrl-C anywhere (also before
    a command starts) exits with status 130."""
    try:
        code = cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="gibbsnet",
                        standalone_mode=False)
    except (click.Abort, KeyboardInterrupt):
        console.print("[yellow]stopped[/] (Ctrl-C)", soft_wrap=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
