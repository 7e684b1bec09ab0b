"""The recipe's schema: typed dataclasses, one per section, and the names its fields take.

The README's "Recipes" section documents every key; ``loading`` reads YAML and ``--set``
overrides into these classes, ``checks`` validates the values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

Loss = Literal["bce", "lsgan"]
"""The adversarial losses: non-saturating ``bce`` (ALI) and least-squares ``lsgan`` (the
GibbsNet authors' code)."""
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
class ModelConfig:
    """The networks and the chain. ``chain_steps`` N = 1 is ALI. A list ``z_dim`` (bottom layer
    first) makes a latent hierarchy; ``kind`` names the chain (built in: gibbsnet, hali)."""

    architecture: str = "conv8"
    z_dim: int | list[int] = 32
    kind: str = "gibbsnet"
    clamped_steps: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    chain_steps: int = 3
    backprop_steps: int = 1
    loss: Loss = "bce"
    z_consistency: float = 0.0
    instance_noise: float = 0.0
    critic_states: int = 1
    pack: int = 1
    persistent: float = 0.0
    random_steps: bool = False
    r1: float = 0.0
    spectral_norm: bool = False
    standardize: bool = False
    decoder_noise: int = 0


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
    calibration_chains: int = 200
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
    """A whole training recipe; see the README's "Recipes" key reference."""

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
