"""Terminal helpers shared by the commands: the options several commands declare, the stderr
console, progress bars, one-line notes and JSON on stdout."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

import gibbsnet_plugin as gn
from gibbsnet_plugin.errors import with_flags
from gibbsnet_plugin.limits import MAX_COUNT

if TYPE_CHECKING:
    from gibbsnet_plugin import RunSummary, TrainingStatus

console = Console(stderr=True, highlight=False)
"""Messages, notes, warnings and progress go to stderr."""
results = Console(highlight=False)
"""Results (score lines and tables) go to stdout, so that ``> file`` and ``| grep`` get them; with
--json, stdout carries only the JSON."""

PROGRESS_MIN_STEPS = 100
"""Chains at least this long show a progress bar (on stderr; it disappears when done)."""


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
"""What puts an option on a click command."""

DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps (default: CUDA when available)."
"""The help of ``--device`` for the commands that use a trained model."""


def seed_option(help: str) -> Decorator:
    """``--seed``: the seed of what a command draws, 0 unless given."""
    return click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
                        help=help)


def device_option(help: str = DEVICE_HELP) -> Decorator:
    """``--device``: where the model runs (None: the library's default)."""
    return click.option("--device", default=None, help=help)


def force_option(help: str) -> Decorator:
    """``--force``: replace what a command would otherwise refuse to overwrite."""
    return click.option("--force", is_flag=True, help=help)


def json_option(help: str) -> Decorator:
    """``--json`` (the parameter ``as_json``): the result as one JSON object on stdout."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def num_option(default: int, help: str) -> Decorator:
    """``--num``: how many chains or images, from 1 to ``MAX_COUNT``."""
    return click.option("--num", type=click.IntRange(1, MAX_COUNT), default=default, show_default=True,
                        help=help)


def scale_option(default: int | None, help: str) -> Decorator:
    """``--scale``: the integer factor (1 to 64) that figures are enlarged by (None: the command
    chooses)."""
    return click.option("--scale", type=click.IntRange(1, 64), default=default,
                        show_default=default is not None, help=help)


FLAGS = {"out": "--out", "force": "--force", "resume": "--resume", "overrides": "--set",
         "clamp": "--clamp", "mode": "--mode", "impotent": "--impotent", "num": "--num",
         "level": "--level", "chain_steps": "--chain", "labels": "--labels", "dims": "--dims",
         "inception_weights": "--inception-weights", "device": "--device", "nproc": "--nproc",
         "save_stats": "--save-stats", "figure": "--out-dir", "missing": "--missing",
         "steps": "--steps", "seed": "--seed", "trajectory": "--trajectory", "gif": "--gif",
         "metrics": "--metric", "weights": "--weights", "draws": "--draws", "reduce": "--reduce",
         "independent": "--independent",
         "categorical": "data.options.categorical", "label": "data.options.label"}
"""The library's parameter names (backticked in its messages) and the flags that set them."""


def flagged(message: object) -> str:
    """A library message with the flags of this command line where it names parameters."""
    return with_flags(str(message), FLAGS)


def show_warning(message: Any, category: type, *_: Any, **__: Any) -> None:
    """A ``warnings.showwarning`` that prints one yellow line on the console."""
    console.print(f"[yellow]warning:[/] {escape(flagged(message))}", soft_wrap=True)


def wrote(*paths: Any, detail: str = "") -> None:
    console.print(f"[green]wrote[/] {escape(', '.join(map(str, paths)))}{escape(detail)}",
                  soft_wrap=True)


def note(text: str) -> None:
    console.print(f"[yellow]note:[/] {escape(flagged(text))}", soft_wrap=True)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, in nested dicts and
    lists, so that it is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def print_json(record: dict[str, Any]) -> None:
    """``record`` as one line of JSON on stdout (non-finite numbers as null)."""
    click.echo(json.dumps(finite(record)))


@contextmanager
def chain_progress(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A step callback driving a progress bar for chains of ``total`` steps (None when short)."""
    if total < PROGRESS_MIN_STEPS:
        yield None
        return
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("steps"), TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(label, total=total)
        yield lambda t: progress.update(task, completed=t)


@contextmanager
def task_progress(prefix: str) -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(task, done, total)`` callback drawing one bar per task, each labelled
    ``prefix + task`` (on stderr; the bars disappear when done)."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        bars: dict[str, TaskID] = {}

        def report(task: str, done: int, total: int) -> None:
            if task not in bars:
                bars[task] = progress.add_task(prefix + task, total=total)
            progress.update(bars[task], completed=done, total=total)

        yield report


PLAIN_EVERY_S = 60.0
"""Without a terminal, a plain progress line at least every this many seconds (and at each tenth
of the run)."""


class TrainingBar:
    """A training progress callback (``gn.TrainingStatus``): a one-line banner when training
    starts, then a progress bar with live losses and iterations/s on stderr, and under it a bar
    for each batch-norm calibration's chain steps; when stderr is not a terminal (a log file, a
    pipe), plain lines instead: one per tenth of the run and at least one a minute, and one when a
    calibration starts and ends.

    It holds nothing but plain values until training starts, so it pickles: a multi-process run
    sends it to the process that reports."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._calibration: TaskID | None = None
        self._plain_at = (0.0, -1)

    def __getstate__(self) -> dict[str, Any]:
        return {"_progress": None, "_task": None, "_calibration": None, "_plain_at": (0.0, -1)}

    def _plain(self, status: TrainingStatus) -> None:
        now, tenth = time.monotonic(), 10 * status.iteration // max(status.total, 1)
        if status.event == "calibrating" and status.chain is not None:
            done, total = status.chain
            if done in (0, total) or now - self._plain_at[0] >= PLAIN_EVERY_S:
                self._plain_at = (now, self._plain_at[1])
                console.print(escape(status.line()), soft_wrap=True)
        elif status.event == "started":
            self._plain_at = (now, tenth)
        elif status.event == "step" and (tenth > self._plain_at[1]
                                         or now - self._plain_at[0] >= PLAIN_EVERY_S):
            self._plain_at = (now, tenth)
            console.print(escape(status.line()), soft_wrap=True)

    def __call__(self, status: TrainingStatus) -> None:
        if status.event == "stopping":
            console.print("[yellow]stopping[/] after this iteration and saving a checkpoint "
                          "(Ctrl-C again stops at once, without one)...", soft_wrap=True)
            return
        if status.event == "started" and status.summary is not None:
            console.print(banner(status.summary), soft_wrap=True)
        if not console.is_terminal:
            self._plain(status)
            return
        if status.event == "started":
            self._progress = Progress(
                TextColumn("[bold]{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>12}"), TimeRemainingColumn(),
                TextColumn("{task.fields[losses]}"), console=console, transient=False,
            )
            self._task = self._progress.add_task("train", total=status.total, rate="- it/s", losses="",
                                                 completed=status.iteration)
            self._progress.start()
        elif status.event == "calibrating" and self._progress is not None and status.chain:
            self._calibrating(status.chain)
        elif self._progress is not None and self._task is not None:
            losses = "  ".join(f"{k} {v:.3f}" for k, v in status.values.items())
            fields = {"rate": f"{status.rate:.1f} it/s", "losses": losses} if status.event == "step" else {}
            self._progress.update(self._task, completed=status.iteration, **fields)
            if status.event == "ended":
                self._progress.stop()
                self._progress = None
                self._calibration = None

    def _calibrating(self, chain: tuple[int, int]) -> None:
        """A second bar, under the training bar, for the chain steps of a calibration."""
        assert self._progress is not None
        done, total = chain
        if self._calibration is None or done == 0:
            if self._calibration is not None:
                self._progress.remove_task(self._calibration)
            self._calibration = self._progress.add_task(
                "calibrate", total=total, rate="", losses="batch-norm statistics, chain steps")
        self._progress.update(self._calibration, completed=done, total=total)


def banner(s: RunSummary) -> str:
    """The line printed when training starts, from a ``gn.RunSummary`` (its name in bold)."""
    return f"[bold]{escape(s.name)}[/]{escape(s.text()[len(s.name):])}"


def load_run(run: str, device: str | None) -> gn.Run:
    """``gn.load_run`` for a test-time command: when the checkpoint was saved before training
    ended, a note and a progress bar while its batch-norm statistics are measured first."""
    with task_progress("") as report:
        def progress(done: int, total: int) -> None:
            if done == 0:
                note(f"{run}: saved before training ended; measuring its batch-norm statistics over "
                     f"{total} chain steps first")
            report("batch-norm statistics", done, total)

        return gn.load_run(run, device, progress=progress)
