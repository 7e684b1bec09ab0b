"""Checking a recipe's values, all in one place: ranges, combinations, registry names and the
options the data set, architecture and corruption factories accept; resolving options to their
factories' defaults; and the differences between two recipes.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
from collections.abc import Callable
from typing import Any

from gibbsnet_plugin.errors import GibbsnetError, RecipeError
from gibbsnet_plugin.limits import (
    MAX_BATCH,
    MAX_COUNT,
    MAX_DRAWS,
    MAX_ITERATIONS,
    MAX_LR,
    MAX_STEPS,
    MAX_WIDTH,
)
from gibbsnet_plugin.recipe.schema import EvalConfig, ModelConfig, Recipe, plain
from gibbsnet_plugin.registry import ARCHITECTURES, CHAINS, CORRUPTIONS, DATASETS, METRICS, did_you_mean
from gibbsnet_plugin.utils import DEVICE_NAME, DEVICES, short

Where = Callable[[str], str]
"""Maps a key path to the ``file:line: `` (or ``--set ``) prefix of its messages."""


def _check_factory_options(
    path: str, kind: str, name: str, factory: Any, args: tuple[Any, ...], options: dict[str, Any],
    where: Where,
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


def check_values(recipe: Recipe, where: Where) -> None:
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
    for key, problem in m.problems().items():  # the chain settings' ranges (ChainSettings)
        need(False, f"model.{key}", problem)
    need(0 <= m.instance_noise < math.inf, "model.instance_noise",
         f"must be finite and >= 0, got {m.instance_noise}")
    need(d.batch_size % m.pack == 0, "model.pack",
         f"data.batch_size ({d.batch_size}) must be a multiple of model.pack ({m.pack})")
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


def same_resolved(saved: Recipe, recipe: Recipe) -> bool:
    """True when a run's ``saved`` recipe and ``recipe`` describe the same training once both
    are ``resolved``: options added since the run was saved take their defaults."""
    return resolved(saved) == resolved(recipe)


def factory_defaults(factory: Any, positional: int) -> dict[str, Any]:
    """The keyword options a factory declares with a default (after its first ``positional``
    parameters), as plain YAML values."""
    try:
        parameters = list(inspect.signature(factory).parameters.values())[positional:]
    except (TypeError, ValueError):
        return {}
    return {p.name: plain(p.default) for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty}


def _check_incomplete(recipe: Recipe, need: Any, where: Where) -> None:
    """``data.missing``, ``data.corruption`` and the training methods for them."""
    d = recipe.data
    complete = d.missing is None and d.corruption.name is None and d.dataset != "table"
    need(recipe.model.stationarity == 0 or complete, "model.stationarity",
         "runs chains from data items, so it needs complete, uncorrupted data; set it to 0 here")
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
    metrics = []
    for i, name in enumerate(e.metrics):
        try:
            metric = METRICS.get(name)()
        except GibbsnetError as exc:
            need(False, f"eval.metrics[{i}]", str(exc))
        need(metric.during_training or e.every == 0, f"eval.metrics[{i}]",
             f"metric '{name}' gives no score to log during training; remove it or set eval.every: 0")
        metrics.append(metric)
    need(e.every >= 0, "eval.every", f"must be >= 0 (0 = off), got {e.every}")
    need(e.every == 0 or bool(e.metrics), "eval.every",
         "evaluation during training needs eval.metrics, e.g. [reconstruction]")
    if e.best is not None:
        names = [score for metric in metrics for score in metric.score_names(e.masks, levels)]
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
        if re.fullmatch(r"random-[\d.]+", spec):
            need(is_mask_spec(spec), f"eval.masks[{i}]",
                 f"{short(spec)} would hide nothing or everything; random-PCT needs 0 < PCT < 100 "
                 "(e.g. random-50)")
        need(is_mask_spec(spec), f"eval.masks[{i}]",
             f"unknown mask {short(spec)}; expected one of {', '.join(MASK_NAMES)} (e.g. random-50) "
             "or a mask image file (.png)")


def recipe_differences(old: Recipe, new: Recipe) -> list[str]:
    """Human-readable ``key: old -> new`` lines for every key that differs, options left out
    counting as their factory's defaults (``resolved``)."""

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict):  # an empty section or options: no keys, nothing to compare
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    def shown(values: dict[str, Any], key: str) -> str:
        return repr(values[key]) if key in values else "(not set)"

    a, b = flat(resolved(old).to_dict()), flat(resolved(new).to_dict())
    return [f"{k}: {shown(a, k)} -> {shown(b, k)}" for k in sorted(set(a) | set(b))
            if shown(a, k) != shown(b, k)]
