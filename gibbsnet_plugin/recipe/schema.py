"""The recipe's schema: typed dataclasses, one per section, and the names its fields take.

``KEY_DOCS`` says what every key means (docs/recipes.md is generated from it); ``loading`` reads
YAML and ``--set`` overrides into these classes, ``checks`` validates the values. The model
section's chain settings are ``ChainSettings``' fields (``chains.settings``), with their defaults,
meanings and ranges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from gibbsnet_plugin.architectures.wrappers import CategoryScore
from gibbsnet_plugin.chains.losses import Loss as Loss  # gibbsnet_plugin.recipe.Loss
from gibbsnet_plugin.chains.settings import ChainSettings

Precision = Literal["fp32", "bf16", "fp16"]
"""Training precision: float32, or autocast to bfloat16 or float16 (with a GradScaler)."""
Missing = Literal["chain", "chain-ambient", "ambient", "zero-fill"]
"""How training treats missing entries: filled by the partially clamped chain, filled for the
encoder but compared only where observed (chain-ambient), compared only where observed (ambient),
or taken as zeros."""
Logger = Literal["tensorboard", "mlflow", "wandb"]
"""Experiment trackers for ``train.loggers`` (ignite's loggers; each needs its package)."""
DEFAULT_MASKS = ("left-half", "bottom-half", "center", "random-50")
"""The inpainting masks of ``eval.masks`` by default."""
Matching = Literal["match", "direct"]
"""Training on corrupted data y = f(x): D compares f of the model's x with y (``match``), or the
model learns y itself (``direct``, the baseline)."""


@dataclass
class CorruptionConfig:
    """A known corruption y = f(x) of the training data: a registered name and its options."""

    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Which data set to train on and how to batch it."""

    dataset: str = "digits"
    root: str = "~/.cache/gibbsnet/data"
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 100
    num_workers: int = 0
    missing: str | None = None
    corruption: CorruptionConfig = field(default_factory=CorruptionConfig)


@dataclass
class ArchitectureConfig:
    """The first keys of the model section: the networks (a registered architecture, its options
    and the latent sizes) and the chain kind that joins them."""

    architecture: str = "conv8"
    z_dim: int | list[int] = 32
    kind: str = "gibbsnet"
    clamped_steps: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig(ChainSettings, ArchitectureConfig):
    """The networks and the chain: ``ArchitectureConfig``'s keys, then the chain settings every
    kind takes (``ChainSettings``' fields: ``chain_steps`` N = 1 is ALI), then instance noise and
    the wrappers that stabilise any architecture. A list ``z_dim`` (bottom layer first) makes a
    latent hierarchy; ``kind`` names the chain (built in: gibbsnet, hali)."""

    instance_noise: float = 0.0
    spectral_norm: bool = False
    standardize: bool = False
    decoder_noise: int = 0
    categories: Literal["code", "softmax"] = "code"
    category_score: CategoryScore = "brier"


@dataclass
class TrainConfig:
    """Optimisation, schedule of logs, sample grids and checkpoints (all in iterations)."""

    iterations: int = 3000
    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr: float = 1.0e-4
    lr_d: float | None = None
    betas: tuple[float, float] = (0.5, 0.999)
    device: str = "auto"
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 0
    calibration_steps: int = 1000
    calibration_chains: int = 64
    precision: Precision = "fp32"
    ema: float = 0.0
    channels_last: bool = False
    compile: bool = False
    missing: Missing = "chain-ambient"
    missing_steps: int = 5
    corruption: Matching = "match"
    loggers: list[Logger] = field(default_factory=list)


@dataclass
class EvalConfig:
    """Evaluation: defaults of ``gibbsnet evaluate`` and, with ``every`` > 0, periodic evaluation
    during training, whose ``best`` score keeps ``checkpoints/best.pt``."""

    metrics: list[str] = field(default_factory=list)
    every: int = 0
    best: str | None = None
    best_mode: Literal["auto", "min", "max"] = "auto"
    num_samples: int = 10_000
    fid_split: Literal["train", "test"] = "train"
    masks: list[str] = field(default_factory=lambda: list(DEFAULT_MASKS))
    inpaint_steps: int = 20
    labels: int = 1000
    draws: int = 10
    inception_weights: str | None = None


@dataclass
class Recipe:
    """A whole training recipe; see ``KEY_DOCS`` and docs/recipes.md."""

    name: str
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML- and JSON-safe dict (tuples become lists)."""
        return plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


KEY_DOCS: dict[str, str] = {
    "name": "run name; outputs go to `runs/<name>/` (default: the recipe file's stem)",
    "seed": "seeds data order, initialisation and chain noise (rank r of a multi-process run uses seed + r)",
    "data.dataset": "a registered data set (`gibbsnet plugins` lists them)",
    "data.root": "where data sets that need files live",
    "data.options": "passed to the data set's factory (e.g. `download: true`)",
    "data.batch_size": "batch size (global, across processes)",
    "data.num_workers": "DataLoader worker processes",
    "data.missing": (
        "a mask process imposed on the training data: `random-PCT`, `window-K`, or a region name of "
        "`inpaint` (see [Incomplete and corrupted data](incomplete.md#incomplete-and-corrupted-data))"),
    "data.corruption.name": (
        "a registered corruption f: the model learns x from y = f(x) (`noise`, `blur`, `downsample`, "
        "`drop`, or a plugin's)"),
    "data.corruption.options": "passed to the corruption's factory (e.g. `sigma: 1.0`)",
    "model.architecture": "a registered architecture",
    "model.z_dim": (
        "latent size; a list `[d1, ..., dL]` (bottom first, L >= 2) makes a latent hierarchy (see [Latent"
        " hierarchies](hierarchies.md))"),
    "model.kind": (
        "for a hierarchy: `gibbsnet` (undirected, blocked Gibbs) or `hali` (directed, one pass each way)"),
    "model.clamped_steps": (
        "deep GibbsNet: sweeps of the clamped chain over the latents (null = `chain_steps`)"),
    "model.options": "passed to the architecture's factory (see below)",
    **{f"model.{f.name}": f.metadata["doc"] for f in dataclasses.fields(ChainSettings)},
    "model.instance_noise": "std of Gaussian noise added to x before D, annealed linearly to 0",
    "model.spectral_norm": "spectral normalisation of every linear and convolutional layer of D",
    "model.standardize": (
        "wrap any architecture's encoder: z standardised per batch in training, with running statistics "
        "at inference (the built-ins have this inside, option `standardize`)"),
    "model.decoder_noise": (
        "wrap any architecture's decoder: `decoder(z + W e)` with this many fresh N(0, 1) values e and a "
        "learned W (the built-ins concatenate noise inside, option `decoder_noise`)"),
    "model.categories": (
        "how a table's text columns are drawn: `code`, the decoder regresses their ±1 one-hot codes "
        "and the largest entry wins; `softmax`, its entries of each column are logits and a category "
        "is drawn from their softmax (straight-through Gumbel-softmax), so every draw is one category "
        "and `model.category_score` says how the masked reconstruction scores it"),
    "model.category_score": (
        "with `categories: softmax`, how the masked reconstruction scores a text column: `log`, the "
        "cross-entropy of its logits (the log score of the category probabilities), or `brier`, the "
        "`reconstruction` score of its one-hot draws like any entry (`crps`: twice the Brier score)"),
    "train.iterations": "optimisation steps (each: one D update, then one encoder/decoder update)",
    "train.optimizer": "`adam` or `rmsprop`",
    "train.lr": "learning rate of the encoder and decoder",
    "train.lr_d": "learning rate of D (null = `train.lr`)",
    "train.betas": "Adam betas in PyTorch's convention (ALI's \"beta2 = 1e-3\" means 0.999)",
    "train.device": (
        "`auto`, `cpu`, `cuda`, `cuda:N`, `mps` (Apple silicon); one this machine lacks is refused before"
        " anything is written"),
    "train.log_every": "iterations between lines of `metrics.jsonl`",
    "train.sample_every": "iterations between sample grids (0 = only at the end)",
    "train.checkpoint_every": "iterations between checkpoints",
    "train.keep_checkpoints": "how many `step_*.pt` to keep (0 = all)",
    "train.calibration_steps": (
        "batch-norm statistics are kept per chain step, so that an eval-mode step computes what the "
        "same step computed in training: the `chain_steps` steps of training are measured as training "
        "runs them, and the long run is measured once, when training ends (and before each periodic "
        "evaluation), over this many steps of the unclamped chain, or fewer for a short run (never "
        "more chain states than training computed). A checkpoint saved before that is measured when a "
        "test-time command loads it. 0 = off. Its cost is shown by a progress bar and recorded in "
        "`train.log` ([measured](performance.md#batch-norm-calibration))"),
    "train.calibration_chains": "how many chains that measurement runs",
    "train.precision": "`fp32`, `bf16` (autocast) or `fp16` (autocast and a GradScaler)",
    "train.ema": (
        "exponential moving average of the encoder and decoder (ignite's `EMAHandler`): weight of the new"
        " weights per iteration (e.g. 0.005; 0 = off), warmed up from 1 over its first 1/ema iterations;"
        " when on, grids, evaluation and loaded models use the averaged networks"),
    "train.channels_last": "channels-last memory format for networks and batches",
    "train.compile": "`torch.compile` the three networks",
    "train.missing": (
        "how training treats missing entries: `chain` (the partially clamped chain fills them), `chain-"
        "ambient` (filled for the encoder, D sees only observed entries), `ambient` (D sees both sides "
        "masked) or `zero-fill`"),
    "train.missing_steps": (
        "K, chain steps that fill the missing entries of each batch (`chain`, `chain-ambient`)"),
    "train.corruption": (
        "`match` (D compares f of the model's x with y; the encoder reads y) or `direct` (learn y itself,"
        " the baseline)"),
    "train.loggers": (
        "experiment trackers, any of `tensorboard`, `mlflow`, `wandb` (ignite's loggers; each needs its "
        "extra)"),
    "eval.metrics": (
        "registered metrics run by `gibbsnet evaluate` and, with `every`, during training (`[]`: the "
        "defaults)"),
    "eval.every": (
        "iterations between evaluations during training, scores appended to `metrics.jsonl` as "
        "`eval/<score>` (0 = off)"),
    "eval.best": "a score of `metrics` whose best value keeps `checkpoints/best.pt` (null = no best.pt)",
    "eval.best_mode": "`auto` (the score's own direction), `min` or `max`",
    "eval.num_samples": "samples of FID and the `fidelity` scores (at most the reference split's size)",
    "eval.fid_split": "the real images FID compares with: `train` or `test`",
    "eval.masks": "inpainting masks scored by `inpainting`",
    "eval.inpaint_steps": "partially clamped chain steps of `inpainting` and `imputation`",
    "eval.labels": "labelled training images of the linear probe",
    "eval.draws": "draws of the probe's labelled set (mean ± std over them)",
    "eval.inception_weights": (
        "pytorch-fid's Inception weights file (null: found as `gibbsnet evaluate` finds them)"),
}
"""What each recipe key means, by its path: the recipe reference (``docs/recipes.md``) is generated
from these and the defaults above by ``docs/recipe_reference.py``."""
