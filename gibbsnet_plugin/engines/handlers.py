"""Handlers attached to the trainer: progress reports, metrics log, batch-norm calibration,
sample grids, Ctrl-C and the NaN guard. ``training.attach_handlers`` attaches them in order."""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events

from gibbsnet_plugin.calibration import batch_norms, calibrate_batchnorm
from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.figures import has_image_form, save_grid
from gibbsnet_plugin.rundir import (
    RunDir,
    append_record,
    evaluation_record,
    training_record,
    truncate_records,
)
from gibbsnet_plugin.utils import seeded


@dataclass
class RunSummary:
    """What a training run is about to do, for a banner: recipe ``name``, ``architecture`` and
    its ``parameters``, ``dataset`` with ``items`` of ``x_shape``, ``chain_steps``,
    ``iterations`` (the target), ``device``, ``processes``, the run directory ``out``, whether
    it is ``resuming``, for incomplete or corrupted data how they are trained on
    (``incomplete``, e.g. ``random-80 missing, train.missing chain-ambient (5 steps)``), and for
    a table what its columns were read as (``columns``, ``TableCodec.describe``)."""

    name: str
    architecture: str
    parameters: int
    dataset: str
    items: int
    x_shape: tuple[int, ...]
    chain_steps: int
    iterations: int
    device: str
    processes: int
    out: str
    resuming: bool
    incomplete: str | None = None
    columns: str | None = None

    def text(self) -> str:
        """The summary as one plain line (the command line's banner, ``train.log``)."""
        processes = f" in {self.processes} processes" if self.processes > 1 else ""
        notes = [n for n in (self.incomplete, self.columns) if n]
        data = (f"{self.dataset} ({self.items:,} items of shape {'×'.join(map(str, self.x_shape))})"
                + (f"; {'; '.join(notes)};" if notes else ","))
        ali = " (ALI)" if self.chain_steps == 1 else ""
        return (f"{self.name}: {self.architecture} ({self.parameters:,} parameters) on {data} "
                f"chain_steps={self.chain_steps}{ali}, {self.iterations:,} iterations on "
                f"{self.device}{processes} -> {self.out}{' (resuming)' if self.resuming else ''}")


@dataclass
class TrainingStatus:
    """One report to a ``TrainingProgress`` callback.

    ``event`` is ``started`` (once, before the first iteration, with ``summary``), ``step``
    (every few iterations, with the latest step outputs in ``values`` and iterations per second
    since the previous report in ``rate``), ``calibrating`` (batch-norm statistics being measured
    after an iteration, ``chain`` = (chain steps done, of how many); once with 0 done when it
    starts, then as it advances), ``stopping`` (at once on Ctrl-C: the run stops after the current
    iteration and saves a checkpoint) or ``ended`` (once, when the run stops for any reason).
    ``iteration`` of ``total`` iterations are done (a resumed run starts above 0).
    """

    event: Literal["started", "step", "calibrating", "stopping", "ended"]
    iteration: int
    total: int
    values: dict[str, float] = field(default_factory=dict)
    rate: float | None = None
    summary: RunSummary | None = None
    chain: tuple[int, int] | None = None

    def line(self) -> str:
        """``iteration 150/3000 (5 %), 31.2 it/s: d_loss 0.512, g_loss 3.21, ...``: a ``step``
        report as one plain line; a ``calibrating`` one as ``iteration 3000: measuring batch-norm
        statistics, chain step 250/1000``."""
        if self.event == "calibrating" and self.chain is not None:
            return (f"iteration {self.iteration}: measuring batch-norm statistics, chain step "
                    f"{self.chain[0]}/{self.chain[1]}")
        percent = 100 * self.iteration / max(self.total, 1)
        rate = f", {self.rate:.1f} it/s" if self.rate is not None else ""
        values = ", ".join(f"{k} {v:.4g}" for k, v in self.values.items())
        return f"iteration {self.iteration}/{self.total} ({percent:.0f} %){rate}: {values}"


TrainingProgress = Callable[[TrainingStatus], None]
"""Called with a ``TrainingStatus`` as training advances (on rank 0 only), e.g. to draw a
progress bar. In a multi-process run it is sent to the processes, so it must pickle."""


class ReportProgress:
    """Reports the trainer's iterations to a ``TrainingProgress`` callback every ``every``
    iterations and at the last (``step``), and once when the engine stops (``ended``).
    ``attach`` attaches both; ``training.attach_handlers`` attaches the steps early and the end
    last, so that what other handlers report after the last iteration comes in between."""

    def __init__(self, callback: TrainingProgress, total: int, every: int = 5) -> None:
        self.callback = callback
        self.total = total
        self.every = every
        self._last = (0, 0.0)
        self._ended = True

    def attach(self, engine: Engine) -> None:
        self.attach_steps(engine)
        self.attach_end(engine)

    def attach_steps(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._start)
        engine.add_event_handler(Events.ITERATION_COMPLETED(
            event_filter=lambda e, it: it % self.every == 0 or it == e.state.max_iters), self._step)

    def attach_end(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED | Events.TERMINATE, self._end)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._failed)

    def _start(self, engine: Engine) -> None:
        self._last = (engine.state.iteration, time.perf_counter())
        self._ended = False

    def _step(self, engine: Engine) -> None:
        it, now = engine.state.iteration, time.perf_counter()
        rate = (it - self._last[0]) / max(now - self._last[1], 1e-9)
        self._last = (it, now)
        self.callback(TrainingStatus("step", it, self.total, dict(engine.state.output), rate))

    def _end(self, engine: Engine, *_: Any) -> None:
        if not self._ended:  # a run that terminates early also completes
            self._ended = True
            self.callback(TrainingStatus("ended", engine.state.iteration, self.total))

    def _failed(self, engine: Engine, error: BaseException) -> None:
        # Ignite re-raises an exception only when no EXCEPTION_RAISED handler is attached, so a
        # handler must raise it again: a failed run (a full disk, a bad batch) never ends as done.
        self._end(engine)
        raise error


class SlowRunWarning:
    """For a run on a CPU: once ``measure`` iterations after ``skip`` warm-up iterations are
    timed, a warning when the rest of the run at that speed would take more than ``limit_s``
    (a day), naming the GPU options."""

    def __init__(self, total: int, skip: int = 5, measure: int = 20, limit_s: float = 86_400) -> None:
        self.total = total
        self.skip = skip
        self.measure = measure
        self.limit_s = limit_s
        self._from: tuple[int, float] | None = None
        self._first = 0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._check)

    def _started(self, engine: Engine) -> None:
        self._first = engine.state.iteration
        self._from = None

    def _check(self, engine: Engine) -> None:
        it = engine.state.iteration
        if it == self._first + self.skip:
            self._from = (it, time.perf_counter())
        elif self._from is not None and it == self._from[0] + self.measure:
            rate = self.measure / max(time.perf_counter() - self._from[1], 1e-9)
            hours = (self.total - it) / rate / 3600
            if hours * 3600 > self.limit_s:
                warnings.warn(
                    f"at {rate:.2f} it/s on this CPU the remaining {self.total - it:,} iterations "
                    f"take about {hours:,.0f} hours; train on a GPU (`device` cuda, several with "
                    "`nproc` N) or lower train.iterations", stacklevel=1)


StepListener = Callable[[TrainingStatus], None]
"""Called by ``MetricsLog`` with each logged step (a ``step`` status: outputs and rate)."""


class MetricsLog:
    """Appends one JSON object per ``every`` iterations to ``metrics.jsonl``: the step outputs,
    iteration, epoch, iterations/s since the previous line and seconds since the start; then
    passes the same step, as a ``TrainingStatus`` of ``total`` iterations, to ``listeners``."""

    def __init__(self, path: Path, every: int, total: int = 0,
                 listeners: list[StepListener] | None = None) -> None:
        self.path = path
        self.every = every
        self.total = total
        self.listeners = listeners or []
        self._last = (0, 0.0)
        self._start = 0.0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.every), self._write)

    def _started(self, engine: Engine) -> None:
        self._start = time.perf_counter()
        self._last = (engine.state.iteration, self._start)
        truncate_records(self.path, engine.state.iteration)

    def _write(self, engine: Engine) -> None:
        it, now = engine.state.iteration, time.perf_counter()
        rate = (it - self._last[0]) / max(now - self._last[1], 1e-9)
        self._last = (it, now)
        append_record(self.path, training_record(it, engine.state.epoch, engine.state.output, rate,
                                                 now - self._start))
        for listener in self.listeners:
            listener(TrainingStatus("step", it, self.total, dict(engine.state.output), rate))


class PeriodicEvaluation:
    """Every ``every`` iterations: ``evaluate()`` gives scores (name -> float), which go into
    ``engine.state.metrics`` and, on rank 0, into ``metrics.jsonl`` as ``eval/<name>`` with the
    iteration and epoch. Every rank must run it (the metrics are collectives); it skips a run
    whose loss became NaN (``guard``)."""

    def __init__(self, evaluate: Callable[[], dict[str, float]], every: int, path: Path,
                 guard: NanGuard) -> None:
        self.evaluate = evaluate
        self.every = every
        self.path = path
        self.guard = guard

    def attach(self, engine: Engine) -> None:
        if self.every:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.every), self)

    def __call__(self, engine: Engine) -> None:
        if self.guard.bad is not None:
            return
        scores = self.evaluate()
        engine.state.metrics.update(scores)
        if idist.get_rank() == 0:
            append_record(self.path, evaluation_record(engine.state.iteration, engine.state.epoch, scores))


class Calibrate:
    """Measures the long run's batch-norm statistics on the unclamped chain
    (``calibrate_batchnorm``) when training ends and before each periodic evaluation (``every``),
    so the saved model samples well in eval mode; the steps that training runs are measured as
    it runs them (and kept), so checkpoints and sample grids in between need no calibration. Attach it
    before the evaluation and checkpoint handlers; it skips a run whose loss became NaN
    (``guard``). ``progress`` gets ``calibrating`` reports as it advances, ``log`` one line per
    calibration with its duration."""

    def __init__(self, model: ChainModel, chains: int, steps: int, seed: int, every: int,
                 guard: NanGuard, log: Callable[[str], None] | None = None,
                 progress: TrainingProgress | None = None) -> None:
        self.model = model
        self.chains = chains
        self.steps = steps
        self.seed = seed
        self.every = every
        self.guard = guard
        self.log = log
        self.progress = progress
        self._done_at = -1

    def attach(self, engine: Engine) -> None:
        if not self.steps or not batch_norms(self.model):
            return
        # the last iteration first: its checkpoint is saved at once, and not again on completion
        due = Events.ITERATION_COMPLETED(event_filter=lambda e, it: it == e.state.max_iters or (
            self.every > 0 and it % self.every == 0))
        engine.add_event_handler(due, self)
        # a run stopped early (Ctrl-C) terminates before it completes
        engine.add_event_handler(Events.TERMINATE | Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if self.guard.bad is not None or engine.state.iteration == self._done_at:
            return
        it, total = engine.state.iteration, engine.state.max_iters or engine.state.iteration
        report = self.progress

        def advanced(t: int) -> None:
            if report is not None and (t == self.steps or t % REPORT_CHAIN_EVERY == 0):
                report(TrainingStatus("calibrating", it, total, chain=(t, self.steps)))

        if report is not None:
            report(TrainingStatus("calibrating", it, total, chain=(0, self.steps)))
        started = time.perf_counter()
        if calibrate_batchnorm(self.model, self.chains, self.steps, self.seed, advanced,
                               trained=self.model.trained_steps) and self.log:
            self.log(f"iteration {it}: batch-norm statistics measured over {self.steps} chain "
                     f"steps of {self.chains} chains in {time.perf_counter() - started:.1f} s")
        self._done_at = it


REPORT_CHAIN_EVERY = 10
"""A calibration reports its progress every this many chain steps."""


class SampleGrid:
    """Saves the run's sample grid of each ``every`` iterations (``RunDir.sample_grid``):
    unclamped chains from a fixed z0 and fixed noise (so grids are comparable over training), in
    eval mode, without disturbing the training RNG. Data that are not images (C×H×W with C = 1
    or 3, e.g. 2-D points) get no grids."""

    def __init__(self, model: ChainModel, run: RunDir, every: int, n: int, seed: int,
                 listeners: list[Callable[[int, torch.Tensor], None]] | None = None) -> None:
        self.model = model
        self.run = run
        self.every = every
        self.n = n
        self.seed = seed
        self.listeners = listeners or []

    def attach(self, engine: Engine) -> None:
        if not has_image_form(self.model.x_shape):
            return
        if self.every:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.every), self)
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        was_training = self.model.training
        with seeded(self.seed, self.model.device):
            self.model.eval()
            try:
                x = self.model.sample(self.n)
            finally:
                self.model.train(was_training)
        save_grid(x, self.run.sample_grid(engine.state.iteration))
        for listener in self.listeners:
            listener(engine.state.iteration, x)


class Interrupt:
    """First Ctrl-C: finish the current iteration, then stop cleanly (the checkpoint handlers
    save on COMPLETED), telling ``progress`` at once (a ``stopping`` status); a second Ctrl-C
    raises ``KeyboardInterrupt`` at once."""

    def __init__(self, progress: TrainingProgress | None = None, total: int = 0) -> None:
        self.requested = False
        self.progress = progress
        self.total = total
        self._engine: Engine | None = None
        self._previous: Any = None

    def attach(self, engine: Engine) -> None:
        self._engine = engine
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._check)

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *_: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.progress is not None and self._engine is not None:
            self.progress(TrainingStatus("stopping", self._engine.state.iteration, self.total))

    def _check(self, engine: Engine) -> None:
        if any_rank(self.requested):
            self.requested = True
            engine.terminate()


class NanGuard:
    """Stops the run, without the final checkpoint, when any step output is NaN or infinite, or
    (``parameters_finite``, called before a checkpoint is saved) any parameter or buffer is."""

    def __init__(self) -> None:
        self.bad: tuple[int, dict[str, float]] | None = None
        self._finite_at = -1

    def parameters_finite(self, engine: Engine, modules: list[torch.nn.Module]) -> bool:
        """True when every floating-point parameter and buffer of ``modules`` is finite (on every
        rank); otherwise records the divergence, stops the run and returns False. Checked once
        per iteration (``step_*.pt``, ``last.pt`` and ``best.pt`` may all be saved at one)."""
        if self._finite_at == engine.state.iteration and self.bad is None:
            return True
        finite = all(bool(torch.isfinite(t).all()) for m in modules
                     for t in (*m.parameters(), *m.buffers()) if t.is_floating_point())
        self._finite_at = engine.state.iteration
        if any_rank(not finite):
            self.bad = (engine.state.iteration, {"non-finite parameters": math.nan})
            engine.terminate(skip_completed=True)
            return False
        return True

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._check)

    def _check(self, engine: Engine) -> None:
        output = engine.state.output
        if any_rank(not all(math.isfinite(v) for v in output.values())):
            self.bad = (engine.state.iteration, dict(output))
            engine.terminate(skip_completed=True)


def any_rank(flag: bool) -> bool:
    """``flag`` of any process (all processes must call it together); ``flag`` alone when one
    process runs. Lets every rank stop at the same iteration."""
    if idist.get_world_size() == 1:
        return flag
    return bool(idist.all_reduce(torch.tensor(float(flag)), op="MAX").item())
