"""``train(recipe)``: recipe -> data and networks -> ChainModel -> Ignite engine -> run directory.

A training process runs in three parts: ``setup`` builds everything the recipe describes (data,
model, optimizers, trainer), ``attach_handlers`` attaches every handler in the one order that
works, and ``_train_process`` restores a resumed run, runs the engine and reports how it ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, EMAHandler
from torch import nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader, Dataset

from gibbsnet_plugin.architectures.base import annealed
from gibbsnet_plugin.calibration import end_calibration_steps
from gibbsnet_plugin.chains import ChainModel, instance_noise_std
from gibbsnet_plugin.data.missing import split_item
from gibbsnet_plugin.data.sampler import ResumableSampler
from gibbsnet_plugin.data.units import data_units, table_codec_of
from gibbsnet_plugin.distributed import backend_for, launched_by_torchrun, quiet_ignite, run_parallel
from gibbsnet_plugin.engines.checkpoints import Checkpointers
from gibbsnet_plugin.engines.handlers import (
    Calibrate,
    Interrupt,
    MetricsLog,
    NanGuard,
    PeriodicEvaluation,
    ReportProgress,
    RunSummary,
    SampleGrid,
    SlowRunWarning,
    TrainingProgress,
    TrainingStatus,
)
from gibbsnet_plugin.engines.logs import (
    Trackers,
    TrainLog,
    attach_loggers,
    check_loggers,
    write_run_record,
)
from gibbsnet_plugin.engines.trainer import Amp, create_trainer
from gibbsnet_plugin.errors import (
    DeviceError,
    EnvironmentFailure,
    GibbsnetError,
    RecipeError,
    TrainingDiverged,
    TrainingInterrupted,
)
from gibbsnet_plugin.evaluation import (
    check_truth,
    prepare_metrics,
    recipe_data,
    recipe_settings,
    run_metrics,
)
from gibbsnet_plugin.factory import (
    build_model,
    build_optimizers,
    build_training_data,
    data_shape,
)
from gibbsnet_plugin.metrics import Data
from gibbsnet_plugin.recipe import Recipe, check_masked_x, resolved
from gibbsnet_plugin.run_state import ResumePoint, RNGStates, RunMeta, check_run_dir
from gibbsnet_plugin.rundir import RunDir
from gibbsnet_plugin.utils import resolve_device, seed_everything, write_text_atomic

GRID_SAMPLES = 100
RESEED_STRIDE = 1_000_003
"""A resumed multi-process run reseeds rank r at iteration i with seed + r + RESEED_STRIDE * i."""


def default_run_dir(recipe: Recipe) -> Path:
    """``runs/<recipe name>``: where ``train`` writes when no ``out`` is given."""
    return Path("runs") / recipe.name


def train(
    recipe: Recipe, out: str | Path | None = None, resume: bool = False, force: bool = False,
    progress: TrainingProgress | None = None, nproc: int = 1,
) -> Path:
    """Train ``recipe`` and return its run directory (``runs/<name>`` unless ``out``).

    ``resume`` continues from ``checkpoints/last.pt`` (only ``train.iterations`` and
    ``train.device`` may differ); ``force`` replaces a run already in ``out``. ``progress`` is
    called with a ``TrainingStatus`` as training advances (see ``engines.handlers``). ``nproc`` > 1
    trains in that many processes on this machine (``gloo`` on CPU, ``nccl`` on GPUs, one GPU
    each); inside processes started by ``torchrun`` they join its process group instead.
    ``data.batch_size`` is the global batch, split over the processes.

    Raises:
        RecipeError, RunDirectoryError, DeviceError: before anything is written.
        TrainingDiverged: a loss became NaN or infinite; the last good checkpoint is kept.
        TrainingInterrupted: Ctrl-C; a resumable ``last.pt`` was written first.
        EnvironmentFailure: the system failed a read or write (a full disk); the last complete
            checkpoint is kept.
        DistributedError: a training process failed or died (the others are stopped).
    """
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    recipe = resolved(recipe)  # saved with every option its data set and networks were built with
    out = Path(out) if out is not None else default_run_dir(recipe)
    device = resolve_device(recipe.train.device, "train.device")
    point = check_run_dir(out, recipe, resume=resume, force=force)
    check_loggers(recipe.train.loggers)
    if recipe.eval.every:
        prepare_metrics(recipe)
    if nproc > 1 or launched_by_torchrun():
        if device.type == "cuda" and nproc > torch.cuda.device_count():
            raise DeviceError(f"`nproc` {nproc} needs {nproc} GPUs; {torch.cuda.device_count()} found")
        world = nproc if nproc > 1 else int(os.environ["WORLD_SIZE"])
        if recipe.data.batch_size % world:
            raise RecipeError(f"data.batch_size ({recipe.data.batch_size}) must divide evenly "
                              f"over {world} processes")
        resume_from = None if point is None else str(point.path)  # each process reads it
        point = None
        with _parent_ignores_ctrl_c():
            run_parallel(_train_process, recipe, str(out), resume_from, force, progress,
                         nproc=nproc, backend=backend_for(device))
        return out
    _train_process(0, recipe, str(out), point, force, progress)
    return out


@contextmanager
def _parent_ignores_ctrl_c() -> Iterator[None]:
    """Ctrl-C reaches every training process, which stop together at an iteration boundary; the
    launching process must not die first."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class Setup:
    """Everything a training process builds from its recipe. ``shown`` is the model that
    samples for grids, calibration and evaluation: with ``train.ema`` the moving averages that
    ``ema`` keeps (attached by ``attach_handlers``), else ``model``. ``to_save`` holds the objects
    every checkpoint holds; ``eval_data`` the data of periodic evaluation, each split built once."""

    device: torch.device
    dataset: Dataset
    x_shape: tuple[int, ...]
    model: ChainModel
    shown: ChainModel
    optimizers: tuple[Optimizer, Optimizer]
    sampler: ResumableSampler
    loader: DataLoader
    trainer: Engine
    to_save: dict[str, Any]
    ema: EMAHandler | None
    eval_data: Data


def setup(recipe: Recipe) -> Setup:
    """Build the data, model, optimizers and trainer of ``recipe`` for this process (one rank of
    a multi-process run gets its own device, threads and data shard)."""
    distributed = idist.get_world_size() > 1
    device = resolve_device(recipe.train.device, "train.device")
    if distributed and device.type == "cuda":
        device = torch.device("cuda", idist.get_local_rank())
    if distributed and device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # Processes sharing the cores: more threads than cores slows everything down.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // idist.get_nproc_per_node()))
    dataset = build_training_data(recipe, train=True)
    if recipe.data.missing is None and split_item(dataset[0])[2] is not None:
        check_masked_x(recipe, _refuse)
    eval_data = recipe_data(recipe)
    if recipe.eval.every:
        try:
            check_truth(eval_data.test, recipe.eval.metrics)
        except GibbsnetError as exc:
            raise RecipeError(f"eval.metrics: {exc}") from None
    x_shape = data_shape(dataset)
    seed_everything(recipe.seed + idist.get_rank())  # each rank its own chain noise
    model = build_model(recipe, x_shape, units=data_units(dataset)).to(device)
    t = recipe.train
    if t.channels_last:
        model.to(memory_format=torch.channels_last)
    opt_d, opt_g = build_optimizers(model, recipe)
    if t.compile:
        for net in (model.encoder, model.decoder, model.discriminator):
            # in place: the state-dict keys stay those of the plain modules; a hierarchy's lists
            # are never called themselves, so their networks are compiled one by one
            for part in net if isinstance(net, nn.ModuleList) else [net]:
                part.compile()
    amp = Amp(t.precision, device)

    sampler = ResumableSampler(dataset, idist.get_world_size(), idist.get_rank(), recipe.seed)
    with quiet_ignite():
        loader = idist.auto_dataloader(
            dataset, batch_size=recipe.data.batch_size, sampler=sampler, drop_last=True,
            num_workers=recipe.data.num_workers, generator=torch.Generator().manual_seed(recipe.seed),
        )
    if len(loader) == 0:
        raise RecipeError(
            f"data.batch_size: {recipe.data.batch_size} is larger than the data set "
            f"({len(dataset)} items); lower it to {len(dataset)} or less"
        )
    trainer = create_trainer(
        model, opt_d, opt_g, device,
        noise_std=lambda it: instance_noise_std(recipe.model.instance_noise, it, t.iterations),
        amp=amp, channels_last=t.channels_last, missing=t.missing, fill_steps=t.missing_steps,
    )
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda e: sampler.set_epoch(e.state.epoch))
    schedules = annealed(model)
    if schedules:
        def anneal(engine: Engine) -> None:
            for part in schedules:
                part.anneal((engine.state.iteration - 1) / t.iterations)

        trainer.add_event_handler(Events.ITERATION_STARTED, anneal)
    to_save = {"model": model, "optimizer_d": opt_d, "optimizer_g": opt_g, "trainer": trainer,
               "rng": RNGStates()}
    # its checksums cover every entry
    to_save["meta"] = RunMeta(recipe, x_shape, to_save, data_units(dataset))
    if amp.scaler is not None:
        to_save["grad_scaler"] = amp.scaler
    if model.chains is not None:
        to_save["chains"] = model.chains
    ema, shown = _moving_average(model, t.ema) if t.ema else (None, model)
    if ema is not None:
        to_save["ema"] = ema.ema_model
    return Setup(device, dataset, x_shape, model, shown, (opt_d, opt_g), sampler, loader, trainer,
                 to_save, ema, eval_data)


def _warm_up_average(engine: Engine, momentum: float) -> None:
    """The weight of the new weights in the moving average at this iteration: falling linearly
    from 1 to ``momentum`` over the first 1 / ``momentum`` iterations, so that the average holds
    trained weights rather than the initial ones in a short run. It depends on the iteration
    alone, so a resumed run averages as an uninterrupted one."""
    warmup = max(1.0, 1 / momentum - 1)
    progress = min(1.0, (engine.state.iteration - 1) / warmup)
    engine.state.ema_momentum = 1.0 - (1.0 - momentum) * progress


def _refuse(ok: bool, path: str, what: str) -> None:
    if not ok:
        raise RecipeError(f"{path}: {what} (the data set's items carry masks)")


def _moving_average(model: ChainModel, momentum: float) -> tuple[EMAHandler, ChainModel]:
    """Ignite's ``EMAHandler`` over the encoder and decoder, and the model that samples with
    the averaged networks (and the live discriminator); ``_warm_up_average`` sets the weight of
    new values at each iteration."""
    ema = EMAHandler(nn.ModuleDict({"encoder": model.encoder, "decoder": model.decoder}),
                     momentum=momentum, handle_buffers="copy")
    return ema, model.with_networks(ema.ema_model["encoder"], ema.ema_model["decoder"])


@dataclass
class Handlers:
    """The handlers whose state ``_train_process`` needs after attaching them."""

    guard: NanGuard
    interrupt: Interrupt
    checkpoints: Checkpointers
    trackers: Trackers


def attach_handlers(s: Setup, recipe: Recipe, out: Path, progress: TrainingProgress | None,
                    log: TrainLog | None = None) -> Handlers:
    """Attach every handler to ``s.trainer``. Ignite runs the handlers of one event in the order
    they were attached, and this order is the one that works:

    1. the NaN guard and Ctrl-C check, first: every later handler can see that the run stops;
    2. the metrics log, and its steps in ``log`` (``train.log``), and the iterations reported to
       ``progress`` (rank 0);
    3. the moving average of the encoder and decoder (``train.ema``), before anything uses it;
    4. batch-norm calibration of the long run, at the end and before each periodic evaluation,
       before anything evaluates or saves the model (timed in ``log``, reported to ``progress``);
    5. evaluation (every rank: its metrics are collectives), before ``best.pt`` is chosen;
    6. checkpoints: step files, ``last.pt`` (also at the end), ``best.pt`` (all skipped once a
       loss, a parameter or a buffer is NaN or infinite, so the last good checkpoint stays);
    7. experiment trackers (train.loggers), sample grids and the end of the progress reports,
       after everything else that runs when training stops (rank 0).
    """
    trainer, t, e = s.trainer, recipe.train, recipe.eval
    run = RunDir(out)
    rank0 = idist.get_rank() == 0
    guard, interrupt = NanGuard(), Interrupt(progress if rank0 else None, t.iterations)
    guard.attach(trainer)
    interrupt.attach(trainer)
    reporter = ReportProgress(progress, t.iterations) if rank0 and progress is not None else None
    if rank0:
        MetricsLog(run.metrics, t.log_every, t.iterations,
                   [log.step] if log is not None else None).attach(trainer)
    if reporter is not None:
        reporter.attach_steps(trainer)
        if s.device.type == "cpu":
            SlowRunWarning(t.iterations).attach(trainer)
    if s.ema is not None:  # the warm-up first: it sets the weight the average's update reads
        trainer.add_event_handler(Events.ITERATION_COMPLETED, _warm_up_average, t.ema)
        s.ema.attach(trainer, name="ema_momentum", event=Events.ITERATION_COMPLETED)
    Calibrate(s.shown, t.calibration_chains, end_calibration_steps(recipe, s.shown), recipe.seed,
              e.every, guard, log.write if log is not None else None,
              progress if rank0 else None).attach(trainer)

    settings = recipe_settings(recipe, recipe.seed)

    def scores() -> dict[str, float]:
        return run_metrics(s.shown, e.metrics, s.eval_data, settings)["scores"]

    PeriodicEvaluation(scores, e.every, run.metrics, guard).attach(trainer)

    checkpoints = Checkpointers(s.to_save, out, t.keep_checkpoints,
                                e.best if e.every else None, e.best_mode)

    saved = [m for m in s.to_save.values() if isinstance(m, nn.Module)]

    def unless_diverged(handler: Checkpoint) -> Callable[[Engine], None]:
        def save(engine: Engine) -> None:
            if guard.bad is None and guard.parameters_finite(engine, saved):
                handler(engine)
        return save

    saving = Events.ITERATION_COMPLETED(every=t.checkpoint_every)
    trainer.add_event_handler(saving, unless_diverged(checkpoints.step))
    trainer.add_event_handler(saving | Events.COMPLETED, unless_diverged(checkpoints.last))
    if checkpoints.best is not None:
        trainer.add_event_handler(Events.ITERATION_COMPLETED(every=e.every),
                                  unless_diverged(checkpoints.best))
    trackers = (attach_loggers(t.loggers, trainer, run, recipe.to_dict(), t.log_every, e.every)
                if rank0 else Trackers())
    if rank0:
        SampleGrid(s.shown, run, t.sample_every, GRID_SAMPLES, recipe.seed,
                   trackers.grids).attach(trainer)
    if reporter is not None:
        reporter.attach_end(trainer)
    return Handlers(guard, interrupt, checkpoints, trackers)


def _restore(s: Setup, handlers: Handlers, recipe: Recipe, resume: ResumePoint | str) -> None:
    """Load a checkpoint (already read, or a path each process reads) into everything saved."""
    checkpoint = (resume.checkpoint if isinstance(resume, ResumePoint)
                  else torch.load(resume, map_location=s.device, weights_only=True))
    Checkpoint.load_objects({k: v for k, v in s.to_save.items() if k != "meta"}, checkpoint)
    iteration = s.trainer.state.iteration
    if idist.get_world_size() > 1:
        # The checkpoint holds rank 0's generators: give each rank its own stream again.
        seed_everything(recipe.seed + idist.get_rank() + RESEED_STRIDE * iteration)
    s.sampler.start_index = (iteration % len(s.loader)) * s.loader.batch_size  # type: ignore[operator]
    handlers.checkpoints.resume(iteration)


def _summary(s: Setup, recipe: Recipe, out: Path, resuming: bool) -> RunSummary:
    m = recipe.model
    return RunSummary(
        name=recipe.name, architecture=m.architecture,
        parameters=sum(p.numel() for p in s.model.parameters()), dataset=recipe.data.dataset,
        items=len(s.dataset), x_shape=s.x_shape, chain_steps=m.chain_steps,  # type: ignore[arg-type]
        iterations=recipe.train.iterations, device=str(s.device),
        processes=idist.get_world_size(), out=str(out), resuming=resuming,
        incomplete=_incomplete(s, recipe), columns=_columns(s.dataset))


def _columns(dataset: Dataset) -> str | None:
    """What a table's columns were read as, for the banner; None for other data."""
    codec = table_codec_of(data_units(dataset))
    return None if codec is None else codec.describe()


def _incomplete(s: Setup, recipe: Recipe) -> str | None:
    """How the run treats incomplete or corrupted data, for the banner; None for complete data."""
    d, t = recipe.data, recipe.train
    if d.corruption.name is not None:
        return f"data corrupted by {d.corruption.name}, train.corruption {t.corruption}"
    if split_item(s.dataset[0])[2] is None:
        return None
    source = f"{d.missing} missing" if d.missing else "masks from the data set"
    steps = f" ({t.missing_steps} steps)" if t.missing.startswith("chain") else ""
    return f"{source}, train.missing {t.missing}{steps}"


def _train_process(local_rank: int, recipe: Recipe, out_dir: str, resume: ResumePoint | str | None,
                   force: bool, progress: TrainingProgress | None) -> None:
    """The training run of one process (the only one, or one rank of a distributed run), after
    ``train``'s checks; ``resume`` is the checkpoint to continue, if any. Rank 0 also keeps
    ``train.log`` and ``run.json``."""
    out = Path(out_dir)
    run = RunDir(out)
    s = setup(recipe)
    rank0 = idist.get_rank() == 0
    if force and rank0:
        run.clear()
    if rank0:
        run.remove_stale_temporaries()
    log = TrainLog(run.log) if rank0 else None
    reports = _Reports([log, progress]) if rank0 else None
    handlers = attach_handlers(s, recipe, out, reports, log)
    try:
        if resume is not None:
            _restore(s, handlers, recipe, resume)
        if rank0 and reports is not None:
            write_text_atomic(run.recipe, recipe.to_yaml())
            write_run_record(run.record, run.recipe, s.device,
                             idist.get_world_size(), resume is not None)
            reports(TrainingStatus("started", s.trainer.state.iteration, recipe.train.iterations,
                                   summary=_summary(s, recipe, out, resume is not None)))
        _run(s, handlers, recipe, out, rank0)
    except BaseException as exc:
        if log is not None:
            reason = str(exc) if isinstance(exc, GibbsnetError) else f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(OSError):  # a full disk must not hide why the run stopped
                log.write(f"stopped: {reason}")
        raise
    finally:
        with contextlib.suppress(OSError):
            handlers.trackers.close()
    if log is not None:
        log.write(f"done: {out}")


@dataclass
class _Reports:
    """Sends each ``TrainingStatus`` to every callback that is not None, in order."""

    callbacks: list[TrainingProgress | None]

    def __call__(self, status: TrainingStatus) -> None:
        for callback in self.callbacks:
            if callback is not None:
                callback(status)


def _run(s: Setup, handlers: Handlers, recipe: Recipe, out: Path, rank0: bool) -> None:
    """Run the trainer to ``train.iterations``; raise what stopped it early."""
    run = RunDir(out)
    last = run.last
    try:
        with handlers.interrupt:
            s.trainer.run(s.loader, max_iters=recipe.train.iterations)
    except KeyboardInterrupt:
        kept = (f"the last complete checkpoint is {last}" if last.exists()
                else "no checkpoint was written (`force` starts the run again)")
        raise TrainingInterrupted(f"a second Ctrl-C stopped training at once after iteration "
                                  f"{s.trainer.state.iteration}; {kept}",
                                  resumable=last.exists()) from None
    except OSError as exc:
        name = exc.filename or out
        steps = [path for _, path in run.step_checkpoints()]
        kept = (f"the last complete checkpoint is {last}; continue with `resume` once the cause "
                "is fixed" if last.exists() else
                f"the newest complete checkpoint is {steps[-1]} (copy it to {last} to continue "
                "with `resume`)" if steps else "no checkpoint was written (`force` starts the run again)")
        raise EnvironmentFailure(f"{exc.strerror or exc} ({name}); training stopped at iteration "
                                 f"{s.trainer.state.iteration}; {kept}") from exc

    if not rank0:
        return  # rank 0 reports how the run ended
    guard = handlers.guard
    if guard.bad is not None:
        it, values = guard.bad
        shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written"
        raise TrainingDiverged(f"training diverged at iteration {it} ({shown}); {kept}; "
                               "lower train.lr or try model.loss: lsgan")
    if handlers.interrupt.requested:
        raise TrainingInterrupted(
            f"interrupted at iteration {s.trainer.state.iteration}; checkpoint saved to {last}",
            resumable=True)


__all__ = ["Setup", "attach_handlers", "default_run_dir", "setup", "train"]
