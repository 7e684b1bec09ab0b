"""``train(recipe)``: recipe -> data and networks -> GibbsNet -> Ignite engine -> run directory."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver, EMAHandler
from rich.console import Console
from rich.markup import escape
from torch import nn
from torch.optim import Optimizer
from torch.utils.data import Dataset

from gibbsnet_plugin.architectures import Architecture
from gibbsnet_plugin.architectures.wrappers import stabilise
from gibbsnet_plugin.checkpoint import (
    CHECKPOINT_DIR,
    LAST,
    METRICS_FILE,
    RECIPE_FILE,
    SAMPLE_DIR,
    RNGStates,
    RunMeta,
    check_run_dir,
    clear_run_dir,
    read_checkpoint,
)
from gibbsnet_plugin.data.sampler import ResumableSampler
from gibbsnet_plugin.distributed import (
    backend_for,
    launched_by_torchrun,
    quiet_ignite,
    run_parallel,
)
from gibbsnet_plugin.engines.handlers import (
    Calibrate,
    Interrupt,
    MetricsLog,
    NanGuard,
    RichProgress,
    SampleGrid,
)
from gibbsnet_plugin.engines.trainer import Amp, create_trainer
from gibbsnet_plugin.errors import GibbsnetError, RecipeError, RunDirectoryError, TrainingDiverged
from gibbsnet_plugin.metrics import lower_is_better
from gibbsnet_plugin.model import GibbsNet, check_architecture, instance_noise_std
from gibbsnet_plugin.recipe import Recipe
from gibbsnet_plugin.registry import ARCHITECTURES, DATASETS

GRID_SAMPLES = 100
BEST = "best.pt"


class TrainingInterrupted(GibbsnetError):
    """Ctrl-C stopped training; the message says where the checkpoint is and how to resume."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; otherwise the named device, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError(f"train.device: '{name}' asked for but CUDA is not available here; use cpu or auto")
    return device


def build_dataset(recipe: Recipe, train: bool) -> Dataset:
    """The recipe's data set (train or test split); factory ``ValueError``s name ``data.options``."""
    d = recipe.data
    try:
        return DATASETS.build(d.dataset, str(Path(d.root).expanduser()), train, **d.options)
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"data.options: dataset '{d.dataset}' refused its options: {exc}") from None


def data_shape(dataset: Dataset) -> tuple[int, ...]:
    """Shape of one item's x; raises ``GibbsnetError`` for an empty or malformed data set."""
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise GibbsnetError("the data set is empty")
    item = dataset[0]
    x = item[0] if isinstance(item, (list, tuple)) else item
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise GibbsnetError(f"data set items must be float tensors (or (x, y) pairs), got {type(x).__name__}")
    return tuple(x.shape)


def build_model(recipe: Recipe, x_shape: tuple[int, ...]) -> GibbsNet:
    """The GibbsNet of ``recipe`` for data of shape ``x_shape``, architecture checked."""
    m = recipe.model
    try:
        arch = ARCHITECTURES.build(m.architecture, tuple(x_shape), m.z_dim, **m.options)
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"model.options: architecture '{m.architecture}' refused: {exc}") from None
    check_architecture(arch, tuple(x_shape), m.z_dim, m.architecture)
    try:
        arch = stabilise(arch, m.z_dim, spectral=m.spectral_norm, standardize=m.standardize,
                         decoder_noise=m.decoder_noise)
    except ValueError as exc:
        raise RecipeError(f"model.{exc}") from None
    return GibbsNet(arch, x_shape, m.z_dim, m.chain_steps, m.backprop_steps, m.loss, m.z_consistency,
                    critic_states=m.critic_states, persistent=m.persistent,
                    random_steps=m.random_steps, r1=m.r1)


def build_optimizers(model: GibbsNet, recipe: Recipe) -> tuple[Optimizer, Optimizer]:
    """(D's optimizer, the encoder-and-decoder optimizer), as the recipe says."""
    t = recipe.train
    gen_params = [*model.encoder.parameters(), *model.decoder.parameters()]

    def make(params: Any, lr: float) -> Optimizer:
        if t.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr, betas=t.betas)
        return torch.optim.RMSprop(params, lr=lr)

    lr_d = t.lr if t.lr_d is None else t.lr_d
    return (idist.auto_optim(make(model.discriminator.parameters(), lr_d)),
            idist.auto_optim(make(gen_params, t.lr)))


def seed_everything(seed: int) -> None:
    """Seed torch, Python and NumPy; each rank gets its own stream (its own chain noise)."""
    seed = seed + idist.get_rank()
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def default_run_dir(recipe: Recipe) -> Path:
    return Path("runs") / recipe.name


def train(
    recipe: Recipe, out: str | Path | None = None, resume: bool = False, force: bool = False,
    progress: bool = True, console: Console | None = None, nproc: int = 1,
) -> Path:
    """Train ``recipe`` and return its run directory (``runs/<name>`` unless ``out``).

    ``resume`` continues from ``checkpoints/last.pt`` (only ``train.iterations`` and
    ``train.device`` may differ); ``force`` replaces a run already in ``out``. ``nproc`` > 1
    trains in that many processes on this machine (``gloo`` on CPU, ``nccl`` on GPUs, one GPU
    each); inside processes started by ``torchrun`` they join its process group instead.
    ``data.batch_size`` is the global batch, split over the processes.

    Raises:
        RecipeError, RunDirectoryError: before anything is written.
        TrainingDiverged: a loss became NaN or infinite; the last good checkpoint is kept.
        TrainingInterrupted: Ctrl-C; a resumable ``last.pt`` was written first.
        DistributedError: a training process failed or died (the others are stopped).
    """
    out = Path(out) if out is not None else default_run_dir(recipe)
    device = resolve_device(recipe.train.device)
    resume_from = _check_before_training(recipe, out, resume, force)
    args = (recipe, str(out), None if resume_from is None else str(resume_from), force, progress)
    if nproc < 1:
        raise RecipeError(f"--nproc must be at least 1, got {nproc}")
    if nproc > 1 or launched_by_torchrun():
        if device.type == "cuda" and nproc > torch.cuda.device_count():
            raise RecipeError(f"--nproc {nproc} needs {nproc} GPUs; {torch.cuda.device_count()} found")
        world = nproc if nproc > 1 else int(os.environ["WORLD_SIZE"])
        if recipe.data.batch_size % world:
            raise RecipeError(f"data.batch_size ({recipe.data.batch_size}) must divide evenly "
                              f"over {world} processes")
        with _parent_ignores_ctrl_c():
            run_parallel(_train_process, *args, nproc=nproc, backend=backend_for(device))
        return out
    _train_process(0, *args, console)
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


def _check_before_training(recipe: Recipe, out: Path, resume: bool, force: bool) -> Path | None:
    """Everything that can be checked before the data and networks are built; writes nothing."""
    resume_from = check_run_dir(out, recipe, resume=resume, force=force)
    if resume_from is not None:
        done = read_checkpoint(resume_from)["trainer"]["iteration"]
        if done >= recipe.train.iterations:
            raise RunDirectoryError(
                f"{out}: the run already reached iteration {done}; set train.iterations above "
                f"{done} (e.g. --set train.iterations={done + recipe.train.iterations}) to train longer"
            )
    if "fid" in recipe.eval.metrics and recipe.eval.every:
        from gibbsnet_plugin.metrics.inception import find_weights  # noqa: PLC0415

        find_weights(recipe.eval.inception_weights)
    return resume_from


def _train_process(local_rank: int, recipe: Recipe, out_dir: str, resume_from: str | None,
                   force: bool, progress: bool, console: Console | None = None) -> None:
    """The training run of one process (the only one, or one rank of a distributed run), after
    ``_check_before_training``; ``resume_from`` is the checkpoint to continue, if any."""
    console = console or Console(stderr=True)
    out = Path(out_dir)
    distributed = idist.get_world_size() > 1
    device = resolve_device(recipe.train.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", idist.get_local_rank())
    if distributed and device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # Processes sharing the cores: more threads than cores slows everything down.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // idist.get_nproc_per_node()))
    dataset = build_dataset(recipe, train=True)
    x_shape = data_shape(dataset)
    seed_everything(recipe.seed)
    model = build_model(recipe, x_shape).to(device)
    if recipe.train.channels_last:
        model.to(memory_format=torch.channels_last)
    opt_d, opt_g = build_optimizers(model, recipe)
    if recipe.train.compile:
        for net in (model.encoder, model.decoder, model.discriminator):
            net.compile()  # in place: the state-dict keys stay those of the plain modules
    amp = Amp(recipe.train.precision, device)

    sampler = ResumableSampler(dataset, idist.get_world_size(), idist.get_rank(), recipe.seed)
    with quiet_ignite():
        loader = idist.auto_dataloader(
            dataset, batch_size=recipe.data.batch_size, sampler=sampler, drop_last=True,
            num_workers=recipe.data.num_workers, generator=torch.Generator().manual_seed(recipe.seed),
        )
    if len(loader) == 0:
        raise RecipeError(
            f"data.batch_size: {recipe.data.batch_size} is larger than the data set "
            f"({len(dataset)} items); lower it"
        )

    iterations = recipe.train.iterations
    if progress and idist.get_rank() == 0:
        m = recipe.model
        n_params = sum(p.numel() for p in model.parameters())
        console.print(
            f"[bold]{escape(recipe.name)}[/]: {m.architecture} ({n_params:,} parameters) on "
            f"{recipe.data.dataset} ({len(dataset):,} items of shape {'×'.join(map(str, x_shape))}), "
            f"chain_steps={m.chain_steps}{' (ALI)' if m.chain_steps == 1 else ''}, "
            f"{iterations:,} iterations on {device}"
            f"{f' in {idist.get_world_size()} processes' if distributed else ''} -> {escape(str(out))}"
            f"{' (resuming)' if resume_from else ''}",
            soft_wrap=True,
        )
    trainer = create_trainer(
        model, opt_d, opt_g, device,
        noise_std=lambda it: instance_noise_std(recipe.model.instance_noise, it, iterations),
        amp=amp, channels_last=recipe.train.channels_last,
    )
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda e: sampler.set_epoch(e.state.epoch))

    if force and idist.get_rank() == 0:
        clear_run_dir(out)
    to_save = {"model": model, "optimizer_d": opt_d, "optimizer_g": opt_g, "trainer": trainer,
               "rng": RNGStates(), "meta": RunMeta(recipe, x_shape)}
    if amp.scaler is not None:
        to_save["grad_scaler"] = amp.scaler
    if model.chains is not None:
        to_save["chains"] = model.chains
    guard, interrupt = NanGuard(), Interrupt()
    guard.attach(trainer)
    interrupt.attach(trainer)
    t = recipe.train
    if idist.get_rank() == 0:
        MetricsLog(out / METRICS_FILE, t.log_every).attach(trainer)
    shown = _attach_ema(trainer, model, t.ema, to_save) if t.ema else model
    Calibrate(shown, t.calibration_chains, t.calibration_steps, recipe.seed,
              [t.checkpoint_every, t.sample_every, recipe.eval.every], guard).attach(trainer)
    ckpt_dir = out / CHECKPOINT_DIR
    step_ckpt, last_ckpt = _checkpointers(to_save, ckpt_dir, t.keep_checkpoints)
    best_ckpt = _attach_evaluation(trainer, shown, recipe, to_save, out, guard)

    def save_last(engine: Engine) -> None:
        if guard.bad is None:
            last_ckpt(engine)

    def save_step(engine: Engine) -> None:
        if guard.bad is None:
            step_ckpt(engine)

    trainer.add_event_handler(Events.ITERATION_COMPLETED(every=t.checkpoint_every), save_step)
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED(every=t.checkpoint_every) | Events.COMPLETED, save_last
    )
    if idist.get_rank() == 0:
        SampleGrid(shown, out / SAMPLE_DIR, t.sample_every, GRID_SAMPLES, recipe.seed).attach(trainer)
        if progress:
            RichProgress(console, iterations).attach(trainer)

    if resume_from is not None:
        ckpt = torch.load(resume_from, map_location=device, weights_only=True)
        Checkpoint.load_objects({k: v for k, v in to_save.items() if k != "meta"}, ckpt)
        if distributed:
            # The checkpoint holds rank 0's generators: give each rank its own stream again.
            seed_everything(recipe.seed + 1_000_003 * trainer.state.iteration)
        sampler.start_index = (trainer.state.iteration % len(loader)) * loader.batch_size
        step_ckpt.load_state_dict({"_saved": _existing_steps(ckpt_dir, trainer.state.iteration)})
        if best_ckpt is not None:
            best_ckpt.load_state_dict(
                {"_saved": _best_so_far(recipe, out, trainer.state.iteration)})

    if idist.get_rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / RECIPE_FILE).write_text(recipe.to_yaml())
    with interrupt:
        trainer.run(loader, max_iters=iterations)

    last = ckpt_dir / LAST
    if idist.get_rank() != 0:
        return  # rank 0 reports how the run ended
    if guard.bad is not None:
        it, values = guard.bad
        shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written"
        raise TrainingDiverged(f"training diverged at iteration {it} ({shown}); {kept}; "
                               "lower train.lr or try model.loss: lsgan")
    if interrupt.requested:
        raise TrainingInterrupted(
            f"interrupted at iteration {trainer.state.iteration}; checkpoint saved to {last}; "
            f"continue with --resume"
        )


def _attach_ema(trainer: Engine, model: GibbsNet, momentum: float, to_save: dict[str, Any]) -> GibbsNet:
    """Keep an exponential moving average of the encoder and decoder (ignite's ``EMAHandler``),
    saved in checkpoints as ``ema``; returns the GibbsNet that samples with the averaged networks
    (and the live discriminator), for grids, calibration and evaluation."""
    ema = EMAHandler(nn.ModuleDict({"encoder": model.encoder, "decoder": model.decoder}),
                     momentum=momentum, handle_buffers="copy")
    ema.attach(trainer, name="ema_momentum", event=Events.ITERATION_COMPLETED)
    to_save["ema"] = ema.ema_model
    averaged = Architecture(ema.ema_model["encoder"], ema.ema_model["decoder"], model.discriminator)
    return GibbsNet(averaged, model.x_shape, model.z_dim, **model.options())


class _ReplacingSaver(DiskSaver):
    """A DiskSaver for ``last.pt``: the new file atomically replaces the old one, which must not
    be deleted first (Checkpoint removes a same-named file before saving)."""

    def remove(self, filename: str) -> None:
        pass


def _checkpointers(to_save: dict[str, Any], directory: Path, keep: int) -> tuple[Checkpoint, Checkpoint]:
    step = Checkpoint(
        to_save, DiskSaver(directory, atomic=True, require_empty=False),
        n_saved=keep or None, filename_pattern="step_{global_step:07d}.{ext}",
        global_step_transform=lambda engine, _: engine.state.iteration,
    )
    last = Checkpoint(
        to_save, _ReplacingSaver(directory, atomic=True, require_empty=False),
        n_saved=1, filename_pattern=LAST.replace(".pt", ".{ext}"),
    )
    return step, last


def _best_priority(recipe: Recipe, value: float) -> float:
    """Checkpoint keeps the highest priority: the best score, negated when lower is better."""
    mode = recipe.eval.best_mode
    lower = lower_is_better(recipe.eval.best) if mode == "auto" else mode == "min"
    return -value if lower else value


def _attach_evaluation(trainer: Engine, model: GibbsNet, recipe: Recipe, to_save: dict[str, Any],
                       out: Path, guard: NanGuard) -> Checkpoint | None:
    """Every ``eval.every`` iterations: evaluate (``evaluate_model``) with ``eval.metrics`` on
    every rank, put the scores in ``trainer.state.metrics``, append them to ``metrics.jsonl``
    (rank 0), and keep ``checkpoints/best.pt`` for the best ``eval.best`` score. Returns the
    best-checkpoint handler (None without ``eval.best``)."""
    from gibbsnet_plugin.evaluation import evaluate_model  # noqa: PLC0415  (imports this module)

    e = recipe.eval
    if not e.every:
        return None
    due = Events.ITERATION_COMPLETED(every=e.every)

    def evaluate(engine: Engine) -> None:
        if guard.bad is not None:
            return
        scores = evaluate_model(model, recipe, e.metrics, seed=recipe.seed)["scores"]
        engine.state.metrics.update(scores)
        if idist.get_rank() == 0:
            record = {"iteration": engine.state.iteration, "epoch": engine.state.epoch,
                      **{f"eval/{k}": v for k, v in scores.items()}}
            with (out / METRICS_FILE).open("a") as f:
                f.write(json.dumps(record) + "\n")

    trainer.add_event_handler(due, evaluate)
    if e.best is None:
        return None
    best = Checkpoint(
        to_save, _ReplacingSaver(out / CHECKPOINT_DIR, atomic=True, require_empty=False),
        n_saved=1, filename_pattern=BEST.replace(".pt", ".{ext}"),
        score_function=lambda engine: _best_priority(recipe, engine.state.metrics[e.best]),
    )

    def save_best(engine: Engine) -> None:
        if guard.bad is None:
            best(engine)

    trainer.add_event_handler(due, save_best)
    return best


def _best_so_far(recipe: Recipe, out: Path, upto: int) -> list[tuple[float, str]]:
    """The ``_saved`` state of the best-checkpoint handler on resume: the best ``eval.best``
    score logged up to iteration ``upto``, when ``best.pt`` exists."""
    key = f"eval/{recipe.eval.best}"
    path = out / METRICS_FILE
    if not (out / CHECKPOINT_DIR / BEST).exists() or not path.exists():
        return []
    priorities = [_best_priority(recipe, record[key])
                  for record in map(json.loads, path.read_text().splitlines())
                  if key in record and record["iteration"] <= upto]
    return [(max(priorities), BEST)] if priorities else []


def _existing_steps(directory: Path, upto: int) -> list[tuple[int, str]]:
    steps = []
    for path in sorted(directory.glob("step_*.pt")):
        number = int(path.stem.split("_")[1])
        if number <= upto:
            steps.append((number, path.name))
    return steps


__all__ = ["TrainingInterrupted", "build_dataset", "build_model", "build_optimizers", "train"]
