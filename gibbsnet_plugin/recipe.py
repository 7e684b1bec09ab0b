"""Recipes: typed dataclasses, YAML loading, ``KEY=VALUE`` overrides and validation.

Every problem is reported before any work starts, as a ``RecipeError`` that names the key path
(``model.chain_step: unknown key; did you mean chain_steps?``), the file and line where the key
stands, and the closest valid key or registered name.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from gibbsnet_plugin.errors import GibbsnetError, RecipeError
from gibbsnet_plugin.limits import (
    MAX_BATCH,
    MAX_COUNT,
    MAX_DRAWS,
    MAX_ITERATIONS,
    MAX_LR,
    MAX_PACK,
    MAX_STEPS,
    MAX_WIDTH,
)
from gibbsnet_plugin.metric_names import DEFAULT_MASKS, TRAINING_METRICS, score_names
from gibbsnet_plugin.registry import ARCHITECTURES, CHAINS, CORRUPTIONS, DATASETS, did_you_mean
from gibbsnet_plugin.utils import DEVICE_NAME, DEVICES, SHOWN, short

Loss = Literal["bce", "lsgan"]
"""The adversarial losses: non-saturating ``bce`` (ALI) and least-squares ``lsgan`` (the
GibbsNet authors' code)."""
Precision = Literal["fp32", "bf16", "fp16"]
"""Training precision: float32, or autocast to bfloat16 or float16 (with a GradScaler)."""
Missing = Literal["chain", "chain-ambient", "ambient", "zero-fill"]
"""How training treats missing entries: filled by the partially clamped chain, filled for the
encoder but compared only where observed (chain-ambient), compared only where observed (ambient),
or taken as zeros."""
Logger = Literal["tensorboard"]
"""Experiment trackers for ``train.loggers`` (ignite's loggers; each needs its package)."""
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
    calibration_steps: int = 300
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
        return _plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value




class _Where:
    """Maps key paths to ``file:line`` for messages; overrides map to ``--set``."""

    def __init__(self, source: str, lines: dict[str, int]) -> None:
        self.source = source
        self.lines = lines
        self.overridden: set[str] = set()

    def __call__(self, path: str) -> str:
        path = re.sub(r"\[\d+\]$", "", path)
        if any(key == path or key.startswith(path + ".") for key in self.overridden):
            return "--set "
        while path:
            if path in self.overridden:
                return "--set "
            if path in self.lines:
                return f"{self.source}:{self.lines[path]}: "
            path = path.rpartition(".")[0]
        return f"{self.source}: "


def _key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = f"{prefix}{key.value}"
            lines[path] = key.start_mark.line + 1
            lines.update(_key_lines(value, path + "."))
    return lines


MAX_RECIPE_BYTES = 1 << 20
"""A recipe file larger than this (1 MiB) is refused before it is parsed."""
class _RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases (``*name``): they are the way to a "billion laughs"
    document or a recursive value, and a recipe has no need for them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "recipes may not use YAML aliases (*name); write the value out",
                self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _yaml_problem(exc: yaml.YAMLError) -> tuple[str, str]:
    """(``:line`` or "", the problem) of a PyYAML error."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return (f":{mark.line + 1}" if mark else ""), (exc.problem or exc.context or "invalid YAML")
    return "", (str(exc).splitlines() or ["invalid YAML"])[0]


def parse_override(text: str) -> tuple[str, Any]:
    """``"model.chain_steps=5"`` -> ``("model.chain_steps", 5)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set {short(text)}: expected KEY=VALUE, e.g. model.chain_steps=5")
    if not key.isprintable() or len(key) > 200 or any(c.isspace() for c in key):
        raise RecipeError(f"--set {short(key)}: a key is names joined by dots, without spaces or "
                          "control characters, e.g. model.chain_steps")
    if "\0" in raw:
        raise RecipeError(f"--set {short(key)}: the value contains a NUL character")
    try:
        value = yaml.load(raw, Loader=_RecipeLoader) if raw.strip() else ""
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)[1]
        raise RecipeError(f"--set {short(key)}: the value {short(raw)} is not valid YAML "
                          f"({problem})") from None
    except (ValueError, RecursionError):
        raise RecipeError(f"--set {short(key)}: the value {short(raw)} is too long or too deeply "
                          "nested to read") from None
    return key, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> tuple[dict[str, Any], set[str]]:
    """A copy of ``raw`` with each ``KEY=VALUE`` applied; also the set of key paths overridden."""
    raw = copy.deepcopy(raw)
    touched: set[str] = set()
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                prefix = ".".join(parts[: i + 1])
                raise RecipeError(f"--set {key}: {prefix} is a value, not a section")
            node = child
        node[parts[-1]] = value
        touched.add(key)
    return raw, touched


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(map(str, get_args(tp)))
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in get_args(tp))
    if origin is list:
        return f"a list, each {_type_name(get_args(tp)[0])}"
    if origin in (list, tuple):
        args = get_args(tp)
        return f"a list of {len(args)} numbers" if origin is tuple else "a list"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, str(tp)
    )


def _coerce(value: Any, tp: Any, path: str, where: _Where) -> Any:
    """``value`` checked against the annotation ``tp``; RecipeError naming ``path`` otherwise."""

    def fail(extra: str = "") -> RecipeError:
        return RecipeError(
            f"{where(path)}{path}: expected {_type_name(tp)}, got {short(value)}{extra}"
        )

    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise fail(did_you_mean(str(value), [str(c) for c in choices]))
        return value
    if tp is type(None):
        if value is not None:
            raise fail()
        return None
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _coerce(value, arg, path, where)
            except RecipeError:
                continue
        raise fail()
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise fail()
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(_coerce(v, a, f"{path}[{i}]", where) for i, (v, a) in pairs)
    if origin is list:
        if not isinstance(value, list):
            raise fail()
        (item,) = get_args(tp)
        return [_coerce(v, item, f"{path}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise fail()
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise fail()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        return value
    if tp is float:
        # PyYAML reads 1e-4 (no dot) as a string: accept any string that is a float.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise fail() from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail()
        return value
    raise TypeError(f"unsupported recipe annotation {tp!r} at {path}")


def _build(cls: type, raw: Any, path: str, where: _Where) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{where(path)}{path or 'recipe'}: expected a mapping of keys, got {short(raw)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            name = key if isinstance(key, str) and key.isprintable() and len(key) <= SHOWN else short(key)
            full = f"{path}.{name}" if path else name
            raise RecipeError(
                f"{where(full)}{full}: unknown key{did_you_mean(str(key), list(fields))}"
                f" (valid keys{' of ' + path if path else ''}: {', '.join(fields)})"
            )
    kwargs = {}
    for name, f in fields.items():
        full = f"{path}.{name}" if path else name
        tp = hints[name]
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecipeError(f"{where(path)}{full}: missing required key")
            continue
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, raw[name], full, where)
        else:
            kwargs[name] = _coerce(raw[name], tp, full, where)
    return cls(**kwargs)


def _check_factory_options(
    path: str, kind: str, name: str, factory: Any, args: tuple[Any, ...], options: dict[str, Any],
    where: _Where,
) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args, **options)
    except TypeError:
        accepted = [
            p.name for p in list(signature.parameters.values())[len(args):]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        for key in options:
            if key not in accepted:
                raise RecipeError(
                    f"{where(f'{path}.{key}')}{path}.{key}: unknown option for {kind} '{name}'"
                    f"{did_you_mean(key, accepted)} (accepted: {', '.join(accepted) or 'none'})"
                ) from None
        raise


def _check_values(recipe: Recipe, where: _Where) -> None:
    def need(ok: bool, path: str, what: str) -> None:
        if not ok:
            raise RecipeError(f"{where(path)}{path}: {what}")

    d, m, t = recipe.data, recipe.model, recipe.train
    need(bool(recipe.name.strip()) and "/" not in recipe.name and "\\" not in recipe.name
         and recipe.name.strip() not in (".", "..") and recipe.name.isprintable()
         and len(recipe.name) <= 100, "name",
         f"must be a printable name of at most 100 characters, without '/' or '\\', not '.' or "
         f"'..', got {short(recipe.name)}")
    need(0 <= recipe.seed < 2**63, "seed", f"must be in [0, 2**63), got {short(recipe.seed)}")
    need(1 <= d.batch_size <= MAX_BATCH, "data.batch_size",
         f"must be between 1 and {MAX_BATCH:,}, got {short(d.batch_size)}")
    need(d.num_workers >= 0, "data.num_workers", f"must be >= 0, got {d.num_workers}")
    sizes = m.z_dim if isinstance(m.z_dim, list) else [m.z_dim]
    need(bool(sizes) and all(1 <= d <= MAX_WIDTH for d in sizes), "model.z_dim",
         f"must be a size between 1 and {MAX_WIDTH:,} or a non-empty list of them (bottom layer "
         f"first), got {short(m.z_dim)}")
    if len(sizes) > 1:
        _check_hierarchy(m, need)
    else:
        need(m.kind != "hali", "model.kind",
             "hali needs at least 2 latent layers, e.g. model.z_dim: [32, 16] (with one it is ALI: "
             "model.chain_steps: 1)")
        need(m.clamped_steps is None or m.kind != "gibbsnet", "model.clamped_steps",
             "is for latent hierarchies (one layer's clamped chain is one encoder pass); remove it")
    need(1 <= m.chain_steps <= MAX_STEPS, "model.chain_steps",
         f"must be between 1 (ALI) and {MAX_STEPS:,}, got {short(m.chain_steps)}")
    need(1 <= m.backprop_steps <= m.chain_steps, "model.backprop_steps",
         f"must be between 1 and model.chain_steps ({m.chain_steps}), got {m.backprop_steps}")
    need(0 <= m.z_consistency < math.inf, "model.z_consistency",
         f"must be finite and >= 0, got {m.z_consistency}")
    need(0 <= m.instance_noise < math.inf, "model.instance_noise",
         f"must be finite and >= 0, got {m.instance_noise}")
    need(1 <= m.critic_states <= m.chain_steps, "model.critic_states",
         f"must be between 1 and model.chain_steps ({m.chain_steps}), got {m.critic_states}")
    need(1 <= m.pack <= MAX_PACK, "model.pack",
         f"must be between 1 (off) and {MAX_PACK} (items D judges together), got {short(m.pack)}")
    need(d.batch_size % m.pack == 0, "model.pack",
         f"data.batch_size ({d.batch_size}) must be a multiple of model.pack ({m.pack})")
    need(0.0 <= m.persistent <= 1.0, "model.persistent",
         f"must be in [0, 1] (0 = off; the chance a chain continues), got {m.persistent}")
    need(0 <= m.r1 < math.inf, "model.r1", f"must be finite and >= 0 (0 = off), got {m.r1}")
    need(m.decoder_noise >= 0, "model.decoder_noise", f"must be >= 0 (0 = off), got {m.decoder_noise}")
    need(1 <= t.iterations <= MAX_ITERATIONS, "train.iterations",
         f"must be between 1 and {MAX_ITERATIONS:,}, got {short(t.iterations)}")
    need(0 < t.lr <= MAX_LR, "train.lr", f"must be in (0, {MAX_LR}], got {t.lr}")
    need(t.lr_d is None or 0 < t.lr_d <= MAX_LR, "train.lr_d",
         f"must be in (0, {MAX_LR}] or null, got {t.lr_d}")
    for i, beta in enumerate(t.betas):
        need(0 <= beta < 1, f"train.betas[{i}]",
             f"must be in [0, 1), got {beta} (PyTorch convention: ALI's beta2 is 0.999, not 1e-3)")
    need(bool(DEVICE_NAME.match(t.device)), "train.device",
         f"expected {DEVICES}, got {short(t.device)}")
    need(t.log_every >= 1, "train.log_every", f"must be at least 1, got {t.log_every}")
    need(t.sample_every >= 0, "train.sample_every", f"must be >= 0 (0 = off), got {t.sample_every}")
    need(t.checkpoint_every >= 1, "train.checkpoint_every",
         f"must be at least 1, got {t.checkpoint_every}")
    need(t.keep_checkpoints >= 0, "train.keep_checkpoints",
         f"must be >= 0 (0 = keep all), got {t.keep_checkpoints}")
    need(0 <= t.calibration_steps <= MAX_STEPS, "train.calibration_steps",
         f"must be between 0 (off) and {MAX_STEPS:,}, got {short(t.calibration_steps)}")
    need(0.0 <= t.ema < 1.0, "train.ema",
         f"must be in [0, 1) (0 = off; e.g. 0.001 = weight of the new weights), got {t.ema}")
    need(2 <= t.calibration_chains <= MAX_BATCH, "train.calibration_chains",
         f"must be between 2 (batch statistics) and {MAX_BATCH:,}, got "
         f"{short(t.calibration_chains)}")

    need(1 <= t.missing_steps <= MAX_STEPS, "train.missing_steps",
         f"must be between 1 and {MAX_STEPS:,} (chain steps that fill missing entries), got "
         f"{short(t.missing_steps)}")
    _check_incomplete(recipe, need, where)
    _check_eval(recipe.eval, need, len(sizes))
    need("imputation" not in recipe.eval.metrics or d.missing is not None
         or d.corruption.name is not None, "eval.metrics",
         "imputation needs data.missing or data.corruption (missing entries to score)")

    for path, registry, name in (("data.dataset", DATASETS, d.dataset),
                                 ("model.architecture", ARCHITECTURES, m.architecture),
                                 ("model.kind", CHAINS, m.kind)):
        try:
            factory = registry.get(name)
        except GibbsnetError as exc:
            raise RecipeError(f"{where(path)}{path}: {exc}") from None
        if path == "data.dataset":
            _check_factory_options("data.options", "dataset", name, factory, (d.root, True),
                                   d.options, where)
        elif path == "model.architecture":
            _check_factory_options("model.options", "architecture", name, factory,
                                   ((1,), m.z_dim), m.options, where)


def resolved(recipe: Recipe) -> Recipe:
    """``recipe`` with ``data.options`` and ``model.options`` completed by the defaults their
    factories declare (``factory_defaults``). Training saves this form, so a run's recipe says
    exactly which data and networks it used, whatever a later version's defaults are."""
    out = copy.deepcopy(recipe)
    for config, registry, name in ((out.data, DATASETS, out.data.dataset),
                                   (out.model, ARCHITECTURES, out.model.architecture)):
        config.options = {**factory_defaults(registry.get(name), 2), **config.options}
    return out


def factory_defaults(factory: Any, positional: int) -> dict[str, Any]:
    """The keyword options a factory declares with a default (after its first ``positional``
    parameters), as plain YAML values."""
    try:
        parameters = list(inspect.signature(factory).parameters.values())[positional:]
    except (TypeError, ValueError):
        return {}
    return {p.name: _plain(p.default) for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty}


def _check_incomplete(recipe: Recipe, need: Any, where: _Where) -> None:
    """``data.missing``, ``data.corruption`` and the training methods for them."""
    d = recipe.data
    if d.missing is not None:
        from gibbsnet_plugin.data.missing import check_process  # loads torch: only when used

        try:
            check_process(d.missing)
        except GibbsnetError as exc:
            raise RecipeError(f"{where('data.missing')}data.missing: {exc}") from None
    if d.missing is not None:
        check_masked_x(recipe, need)
    c = d.corruption
    if c.name is None:
        need(not c.options, "data.corruption.options", "needs data.corruption.name")
        return
    need(d.missing is None, "data.corruption",
         "cannot be combined with data.missing; use one of them")
    try:
        factory = CORRUPTIONS.get(c.name)
    except GibbsnetError as exc:
        raise RecipeError(f"{where('data.corruption.name')}data.corruption.name: {exc}") from None
    _check_factory_options("data.corruption.options", "corruption", c.name, factory, ((1, 8, 8),),
                           c.options, where)


def check_masked_x(recipe: Recipe, need: Any) -> None:
    """For incomplete data: the settings that an ambient method, which shows D masked x, refuses."""
    t, m = recipe.train, recipe.model
    need(not t.missing.endswith("ambient") or m.z_consistency == 0, "model.z_consistency",
         f"is not available with train.missing: {t.missing} (D sees masked x); remove it or set "
         "train.missing: chain")


def _check_hierarchy(m: ModelConfig, need: Any) -> None:
    """The model settings a latent hierarchy of a built-in kind takes."""
    if m.kind == "hali":
        need(m.clamped_steps is None, "model.clamped_steps",
             "kind hali has no clamped chain (one pass up); remove it")
        for key, used in (("critic_states", m.critic_states != 1), ("random_steps", m.random_steps)):
            need(not used, f"model.{key}", "kind hali trains on one pass down from the prior, so "
                                           "there is one chain state to show D; remove it")
    need(m.clamped_steps is None or 1 <= m.clamped_steps <= MAX_STEPS, "model.clamped_steps",
         f"must be between 1 and {MAX_STEPS:,} (or null: model.chain_steps), got "
         f"{short(m.clamped_steps)}")


def _check_eval(e: EvalConfig, need: Any, levels: int) -> None:
    for i, metric in enumerate(e.metrics):
        need(metric in TRAINING_METRICS, f"eval.metrics[{i}]",
             f"unknown metric '{metric}'{did_you_mean(str(metric), list(TRAINING_METRICS))} "
             f"(metrics during training: {', '.join(TRAINING_METRICS)})")
    need(e.every >= 0, "eval.every", f"must be >= 0 (0 = off), got {e.every}")
    need(e.every == 0 or bool(e.metrics), "eval.every",
         "evaluation during training needs eval.metrics, e.g. [reconstruction]")
    if e.best is not None:
        names = score_names(e.metrics, e.masks, levels)
        need(e.best in names, "eval.best",
             f"'{e.best}' is not a score of eval.metrics{did_you_mean(e.best, names)} "
             f"(scores: {', '.join(names) or 'none; set eval.metrics'})")
        need(e.every > 0, "eval.best", "needs eval.every > 0 (how often to evaluate)")
    for key, low, high in (("num_samples", 2, MAX_COUNT), ("inpaint_steps", 1, MAX_STEPS),
                           ("labels", 2, MAX_COUNT), ("draws", 1, MAX_DRAWS)):
        value = getattr(e, key)
        need(low <= value <= high, f"eval.{key}",
             f"must be between {low} and {high:,}, got {short(value)}")
    need(bool(e.masks), "eval.masks", "must name at least one mask, e.g. [left-half]")
    from gibbsnet_plugin.data.masks import MASK_NAMES, is_mask_spec  # loads torch: only here

    for i, spec in enumerate(e.masks):
        need(is_mask_spec(spec), f"eval.masks[{i}]",
             f"unknown mask {short(spec)}; expected one of {', '.join(MASK_NAMES)} (e.g. random-50) "
             "or a mask image file (.png)")


def recipe_from_dict(
    raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = (), source: str = "recipe",
    lines: dict[str, int] | None = None, default_name: str | None = None,
) -> Recipe:
    """Validate a raw mapping (plus ``KEY=VALUE`` overrides) into a ``Recipe``."""
    where = _Where(source, lines or {})
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    raw, touched = apply_overrides(raw, list(overrides))
    where.overridden = touched
    if "name" not in raw and default_name:
        raw["name"] = default_name
    recipe = _build(Recipe, raw, "", where)
    _check_values(recipe, where)
    return recipe


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, override and validate a YAML recipe; a missing ``name`` defaults to the file stem.

    Raises:
        RecipeError: missing file, YAML syntax error (with its line), unknown key, wrong type,
            unknown registry name or out-of-range value.
    """
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_RECIPE_BYTES:
            raise RecipeError(f"{path}: {path.stat().st_size:,} bytes; a recipe is a small YAML "
                              f"file (at most {MAX_RECIPE_BYTES:,} bytes)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe file not found") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: is a directory; expected a recipe file (.yaml)") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe ({exc.strerror})") from None
    text = _recipe_text(path, data)
    try:
        raw = yaml.load(text, Loader=_RecipeLoader)
        lines = _key_lines(_RecipeLoader(text).get_single_node())
    except yaml.YAMLError as exc:
        line, problem = _yaml_problem(exc)
        raise RecipeError(f"{path}{line}: invalid YAML: {problem}") from None
    except RecursionError:
        raise RecipeError(f"{path}: invalid YAML: nested too deeply") from None
    except ValueError:  # int() of a number longer than Python reads (4300 digits)
        raise RecipeError(f"{path}: invalid YAML: a number too long to read") from None
    if raw is None:
        raise RecipeError(f"{path}: the recipe is empty")
    return recipe_from_dict(raw, overrides, source=str(path), lines=lines, default_name=path.stem)


def _recipe_text(path: Path, data: bytes) -> str:
    """The text of a recipe file: UTF-8 (a byte-order mark is allowed), no NUL characters."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RecipeError(f"{path}: the recipe is UTF-16 text; save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RecipeError(f"{path}:{line}: not UTF-8 text (byte {exc.start}); a recipe is a YAML "
                          "text file saved as UTF-8") from None
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise RecipeError(f"{path}:{line}: a NUL character; a recipe is a YAML text file, not a "
                          "binary one")
    return text


def recipe_differences(old: Recipe, new: Recipe) -> list[str]:
    """Human-readable ``key: old -> new`` lines for every key that differs, options left out
    counting as their factory's defaults (``resolved``)."""

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict) and v:
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = flat(resolved(old).to_dict()), flat(resolved(new).to_dict())
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
