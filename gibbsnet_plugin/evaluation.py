"""``evaluate``: score a trained model with the registered metrics (``gibbsnet_plugin.metrics``).

The Python API behind ``gibbsnet evaluate`` and the recipe's ``eval:`` section during training.
The recipe is read here, once: it gives the metrics their data (``Data``, each split built on
first use and reused by every metric) and their ``Settings``, the recipe's values of the metrics'
options among them (``recipe_options``, the one place where recipe keys meet option names);
metrics never see the recipe, and nothing here knows any metric by name. Every metric is seeded
(``seed``) and leaves the caller's random state alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.data.missing import split_item
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.factory import build_corruption, build_dataset, data_root, data_shape
from gibbsnet_plugin.metrics import Context, Data, Settings, check_options, get, names, owner
from gibbsnet_plugin.metrics.data import Progress
from gibbsnet_plugin.recipe import Recipe
from gibbsnet_plugin.registry import did_you_mean
from gibbsnet_plugin.rundir import in_checkpoint_dir
from gibbsnet_plugin.testtime import load_run

_COMMON = tuple(f.name for f in fields(Settings) if f.name != "options")
"""The ``Settings`` that every metric may use; every other keyword is one metric's option."""


def check_metrics(metrics: Sequence[str]) -> None:
    """Raise ``GibbsnetError`` for a metric name that is not registered."""
    known = names()
    for name in metrics:
        if name not in known:
            raise GibbsnetError(f"unknown metric '{name}' (expected one of {', '.join(known)})"
                                f"{did_you_mean(name, known)}")


def default_metrics() -> list[str]:
    """What ``evaluate`` runs when neither the caller nor the recipe names a metric: the metrics
    marked ``default`` (each skipped with a note when it cannot run)."""
    return [name for name in names() if get(name).default]


def recipe_data(recipe: Recipe) -> Data:
    """The data of ``recipe`` for metrics: its splits, built on first use, its corruption, and
    its key (data set, root and options)."""
    corruption = None
    if recipe.data.corruption.name is not None:
        def corruption() -> Any:
            return build_corruption(recipe, data_shape(build_dataset(recipe, train=False)))
    key = {"dataset": recipe.data.dataset, "root": data_root(recipe), "options": recipe.data.options}
    return Data(lambda train: build_dataset(recipe, train), corruption, key)


def recipe_options(recipe: Recipe) -> dict[str, Any]:
    """The metrics' options that ``recipe`` sets, by option name: its ``eval`` section, its
    ``data.missing`` and its seed (the seed of the masks of ``data.missing``)."""
    e = recipe.eval
    return {"labels": e.labels, "draws": e.draws, "masks": list(e.masks),
            "inpaint_steps": e.inpaint_steps, "inception_weights": e.inception_weights,
            "fid_split": e.fid_split, "fid_samples": e.num_samples,
            "missing": recipe.data.missing, "mask_seed": recipe.seed}


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without those left at None or empty (which take the recipe's)."""
    return {k: v for k, v in values.items()
            if v is not None and not (isinstance(v, (list, tuple)) and not v)}


def recipe_settings(recipe: Recipe, seed: int = 0, **overrides: Any) -> Settings:
    """The ``Settings`` of an evaluation of a model of ``recipe``: ``seed``, the run's name as
    ``title``, and the metrics' options of ``recipe_options``; ``overrides`` (``Settings`` fields
    or options; None: the recipe's) go over them."""
    values = _given(overrides)
    common = {k: v for k, v in values.items() if k in _COMMON}
    options = {k: v for k, v in values.items() if k not in _COMMON}
    return Settings(**{"seed": seed, "title": recipe.name, **common},
                    options={**recipe_options(recipe), **options})


def check_truth(test: Any, metrics: Sequence[str]) -> None:
    """Raise ``GibbsnetError`` when ``metrics`` name one that compares with the truth but the test
    split ``test`` carries masks of its own (its missing values are unknown)."""
    if split_item(test[0])[2] is None:
        return
    for name in metrics:
        if get(name).needs_truth:
            raise GibbsnetError(f"{name} compares with the truth, but the test split's items "
                                "carry masks of their own (their missing values are unknown)")


def prepare_metrics(recipe: Recipe) -> None:
    """Let every metric of the recipe's ``eval.metrics`` fetch what it needs before training
    (``Metric.prepare``), so that what is missing fails before the first iteration."""
    options = recipe_settings(recipe).options
    for name in recipe.eval.metrics:
        metric = get(name)
        metric.prepare(metric.options_from(options))


def run_metrics(model: ChainModel, metrics: Sequence[str], data: Data, settings: Settings,
                progress: Progress | None = None, asked: bool = True) -> dict[str, Any]:
    """Run the ``metrics`` on ``model`` (put in eval mode, its mode restored afterwards), each
    with its own options of ``settings.options``, checked (``Metric.check``) before any runs.

    ``asked``: the caller named these metrics, so one that cannot run raises; otherwise it is
    skipped with a note. Returns ``scores`` (flat name -> float), ``details`` (per metric) and
    ``notes``.
    """
    scores: dict[str, float] = {}
    details: dict[str, Any] = {}
    notes: list[str] = []
    results: dict[Any, Any] = {}  # of the work the metrics share (Context.share)
    chosen = [get(name) for name in metrics]
    contexts = [Context(model, data, settings, metric.options_from(settings.options), progress, asked,
                        results) for metric in chosen]
    for metric, ctx in zip(chosen, contexts, strict=True):
        metric.check(ctx)
    was_training = model.training
    model.eval()
    try:
        for metric, ctx in zip(chosen, contexts, strict=True):
            if (metric.needs_truth and not metric.truth_known(ctx)
                    and split_item(data.test[0])[2] is not None):
                if asked:
                    check_truth(data.test, [metric.name])
                notes.append(f"{metric.name} skipped: the test split's items carry masks, so the "
                             "truth is unknown")
                continue
            reason = None if asked else metric.skip_reason(ctx)
            if reason is not None:
                if reason:
                    notes.append(reason)
                continue
            result = metric.run(ctx)
            scores.update(result.scores)
            details.update(result.details)
            notes += result.notes
    finally:
        model.train(was_training)
    return {"scores": scores, "details": details, "notes": notes}


def evaluate_model(
    model: ChainModel, recipe: Recipe, metrics: Sequence[str] | None = None, *,
    seed: int = 0, num_samples: int | None = None, chain_steps: int | None = None,
    run_label: str = "", force: bool = True, progress: Progress | None = None,
    data: Data | None = None, **options: Any,
) -> dict[str, Any]:
    """Score ``model`` (trained with ``recipe``) on the recipe's data.

    Args:
        metrics: registered metric names; None = the recipe's ``eval.metrics`` when it names
            some, else ``default_metrics()`` (each skipped with a note when it cannot run: the
            probe for data without labels, FID without the Inception weights, ...).
        num_samples: samples of the metrics that sample; None: each metric's default (FID
            10,000, modes 2,500, critic 1,000).
        chain_steps: unclamped-chain steps of the metrics that sample (default: the model's).
        run_label: a short name of the run, for the files metrics write (the latent map's
            ``tsne-<run_label>.png``).
        force: replace files that metrics write (else ``OutputError`` before any metric runs).
        data: the recipe's data, already built (default: built here, each split once).
        progress: called as ``progress(task, done, total)`` while the metrics run.
        options: the metrics' options by name (each metric's ``Options``, listed in
            docs/evaluation.md; e.g. ``labels``, ``masks``, ``missing``, ``fid_split``,
            ``figure``) over the recipe's (None, or an empty list: the recipe's). Options of
            metrics that do not run are ignored, unless an option needs its metric; an option of
            no metric is a ``TypeError``.
    Returns:
        ``scores`` (flat name -> float), ``details`` (per metric: everything the score depends
        on, e.g. FID's weights hash and sample count) and ``notes`` (metrics skipped and why).
    """
    asked = metrics is not None or bool(recipe.eval.metrics)
    chosen = list(metrics) if metrics is not None else list(recipe.eval.metrics) or default_metrics()
    check_metrics(chosen)
    check_options(chosen, _given(options))
    settings = recipe_settings(recipe, seed, num_samples=num_samples, chain_steps=chain_steps,
                               run_label=run_label, force=force, **options)
    return run_metrics(model, chosen, data or recipe_data(recipe), settings, progress, asked)


def score_label(score: str) -> str:
    """A table row's title for ``score``, as its metric words it."""
    metric = owner(score)
    return metric.label(score) if metric is not None else score.replace("_", " ")


def score_text(score: str, value: float) -> str:
    """``value`` of ``score`` as its metric shows it in a table."""
    metric = owner(score)
    return metric.cell(score, value) if metric is not None else f"{value:.4g}"


def run_label(run: str | Path) -> str:
    """A short name for a run directory or checkpoint file, distinct for the checkpoints of
    different runs: ``runs/a`` -> ``a``, ``runs/a/checkpoints/last.pt`` -> ``a-last``,
    ``model.pt`` -> ``model``."""
    path = Path(os.path.expanduser(run))
    if path.is_dir():
        return path.resolve().name
    if in_checkpoint_dir(path):
        return f"{path.parent.parent.resolve().name}-{path.stem}"
    return path.stem


def evaluate(
    run: str | Path, metrics: Sequence[str] | None = None, device: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """``evaluate_model`` on the model of a run directory (its last checkpoint) or a checkpoint
    file, with ``options`` (its keywords); the result also names the ``run``, its ``checkpoint``,
    ``name`` and ``chain_steps``. Files that metrics write are named after ``run_label(run)``
    unless ``run_label`` is given (the latent map: ``tsne-<run_label>.png``)."""
    if metrics is not None:
        check_metrics(metrics)
    loaded = load_run(run, device)
    options.setdefault("run_label", run_label(run))
    result = evaluate_model(loaded.model, loaded.recipe, metrics, **options)
    return {"run": str(run), "checkpoint": str(loaded.checkpoint), "name": loaded.recipe.name,
            "chain_steps": loaded.model.chain_steps, **result}


__all__ = ["check_metrics", "check_truth", "default_metrics", "evaluate", "evaluate_model",
           "prepare_metrics", "recipe_data", "recipe_options", "recipe_settings", "run_label",
           "run_metrics", "score_label", "score_text"]
