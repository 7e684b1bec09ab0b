"""``evaluate``: score a trained model with the registered metrics (``gibbsnet_plugin.metrics``).

The Python API behind ``gibbsnet evaluate`` and the recipe's ``eval:`` section during training.
The recipe is read here, once: it gives the metrics their data (``Data``, each split built on
first use and reused by every metric) and their ``Settings``; metrics never see the recipe.
Every metric is seeded (``seed``) and leaves the caller's random state alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.data.missing import check_process, split_item
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.factory import build_corruption, build_dataset, data_root, data_shape
from gibbsnet_plugin.figures import check_output
from gibbsnet_plugin.metrics import Context, Data, Settings, get, names, owner
from gibbsnet_plugin.metrics.data import Progress
from gibbsnet_plugin.recipe import Recipe
from gibbsnet_plugin.registry import did_you_mean
from gibbsnet_plugin.rundir import in_checkpoint_dir
from gibbsnet_plugin.testtime import load_run


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
    """The data of ``recipe`` for metrics: its splits, built on first use, and its corruption."""
    corruption = None
    if recipe.data.corruption.name is not None:
        def corruption() -> Any:
            return build_corruption(recipe, data_shape(build_dataset(recipe, train=False)))
    return Data(lambda train: build_dataset(recipe, train), corruption)


def recipe_settings(recipe: Recipe, seed: int = 0, **overrides: Any) -> Settings:
    """The ``Settings`` of ``recipe``'s ``eval`` section, with ``overrides`` (None: the recipe's)."""
    e = recipe.eval
    values: dict[str, Any] = dict(
        seed=seed, labels=e.labels, draws=e.draws, masks=list(e.masks), inpaint_steps=e.inpaint_steps,
        inception_weights=e.inception_weights, fid_split=e.fid_split, fid_samples=e.num_samples,
        title=recipe.name, missing=recipe.data.missing, mask_seed=recipe.seed,
        data_key={"dataset": recipe.data.dataset, "root": data_root(recipe),
                  "options": recipe.data.options})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)


def check_truth(test: Any, metrics: Sequence[str]) -> None:
    """Raise ``GibbsnetError`` when ``metrics`` name one that compares with the truth but the test
    split ``test`` carries masks of its own (its missing values are unknown)."""
    if split_item(test[0])[2] is None:
        return
    for name in metrics:
        if get(name).needs_truth:
            raise GibbsnetError(f"{name} compares with the truth, but the test split's items "
                                "carry masks of their own (their missing values are unknown)")


def run_metrics(model: ChainModel, metrics: Sequence[str], data: Data, settings: Settings,
                progress: Progress | None = None, asked: bool = True) -> dict[str, Any]:
    """Run the ``metrics`` on ``model`` (put in eval mode, its mode restored afterwards).

    ``asked``: the caller named these metrics, so one that cannot run raises; otherwise it is
    skipped with a note. Returns ``scores`` (flat name -> float), ``details`` (per metric) and
    ``notes``.
    """
    scores: dict[str, float] = {}
    details: dict[str, Any] = {}
    notes: list[str] = []
    ctx = Context(model, data, settings, progress, asked)
    was_training = model.training
    model.eval()
    try:
        for name in metrics:
            metric = get(name)
            if metric.needs_truth and split_item(data.test[0])[2] is not None:
                if asked:
                    check_truth(data.test, [name])
                notes.append(f"{name} skipped: the test split's items carry masks, so the truth is unknown")
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
    num_samples: int | None = None, chain_steps: int | None = None, labels: int | None = None,
    draws: int | None = None, masks: Sequence[str] | None = None,
    inpaint_steps: int | None = None, inception_weights: str | Path | None = None,
    fid_split: str | None = None, fid_dims: int = 2048, figure: str | Path | None = None,
    seed: int = 0, fid_cache: Path | None = None, progress: Progress | None = None,
    missing: str | None = None, force: bool = True, data: Data | None = None,
) -> dict[str, Any]:
    """Score ``model`` (trained with ``recipe``) on the recipe's data.

    ``labels``, ``draws``, ``masks``, ``inpaint_steps``, ``inception_weights`` and ``fid_split``
    left at None take the recipe's ``eval`` section.

    Args:
        metrics: registered metric names; None = the recipe's ``eval.metrics`` when it names
            some, else ``default_metrics()`` (each skipped with a note when it cannot run: the
            probe for data without labels, FID without the Inception weights, ...).
        num_samples: samples of the metrics that sample; None: each metric's default (FID
            10,000, modes 2,500, critic 1,000).
        chain_steps: unclamped-chain steps of the metrics that sample (default: the model's).
        fid_dims: Inception feature size; 2048 (the final pool) is the standard FID.
        figure: PNG path of the latent map (``tsne``); an existing file is replaced only with
            ``force`` (else ``OutputError`` before any metric runs).
        missing: the mask process of ``imputation`` (e.g. ``random-80``; default: the recipe's
            ``data.missing``); masks of the test split are drawn with the recipe's seed.
        data: the recipe's data, already built (default: built here, each split once).
        progress: called as ``progress(task, done, total)`` while the metrics run.
    Returns:
        ``scores`` (flat name -> float), ``details`` (per metric: everything the score depends
        on, e.g. FID's weights hash and sample count) and ``notes`` (metrics skipped and why).
    """
    asked = metrics is not None or bool(recipe.eval.metrics)
    chosen = list(metrics) if metrics is not None else list(recipe.eval.metrics) or default_metrics()
    check_metrics(chosen)
    if "tsne" in chosen and figure is not None:
        check_output(figure, (".png",), "figure", force)
    if missing is not None:
        check_process(missing, model.x_shape)
        if "imputation" not in chosen:
            raise GibbsnetError("a mask process (`missing`) is for the imputation metric; add it to "
                                "`metrics`")
    settings = recipe_settings(
        recipe, seed, num_samples=num_samples, chain_steps=chain_steps, labels=labels, draws=draws,
        masks=list(masks) if masks else None, inpaint_steps=inpaint_steps,
        inception_weights=inception_weights, fid_split=fid_split, fid_dims=fid_dims, figure=figure,
        fid_cache=fid_cache, missing=missing, download=asked)
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
    file; the result also names the ``run``, its ``checkpoint``, ``name`` and ``chain_steps``.
    The latent map (``tsne``) goes to ``figure``, by default ``tsne-<run_label(run)>.png``."""
    if metrics is not None:
        check_metrics(metrics)
    loaded = load_run(run, device)
    options.setdefault("figure", f"tsne-{run_label(run)}.png")
    result = evaluate_model(loaded.model, loaded.recipe, metrics, **options)
    return {"run": str(run), "checkpoint": str(loaded.checkpoint), "name": loaded.recipe.name,
            "chain_steps": loaded.model.chain_steps, **result}


__all__ = ["check_metrics", "check_truth", "default_metrics", "evaluate", "evaluate_model",
           "recipe_data", "recipe_settings", "run_label", "run_metrics", "score_label", "score_text"]
