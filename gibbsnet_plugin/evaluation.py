"""``evaluate``: score a trained model with the metrics of ``gibbsnet_plugin.metrics``.

The Python API behind ``gibbsnet evaluate`` and the recipe's ``eval:`` section during training.
Every metric is seeded (``seed``) and leaves the caller's random state alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.data.missing import Masked, check_process, split_item
from gibbsnet_plugin.errors import GibbsnetError, InceptionWeightsError, ProbeError
from gibbsnet_plugin.factory import build_corruption, build_dataset, data_shape
from gibbsnet_plugin.figures import check_output
from gibbsnet_plugin.metric_names import METRICS, MODE_SCORES
from gibbsnet_plugin.metrics import inception
from gibbsnet_plugin.metrics.critic import CRITIC_STEPS, critic_auc
from gibbsnet_plugin.metrics.data import Progress, no_progress
from gibbsnet_plugin.metrics.fid import fid
from gibbsnet_plugin.metrics.latent_maps import latent_map
from gibbsnet_plugin.metrics.modes import DEFAULT_SAMPLES, mode_coverage
from gibbsnet_plugin.metrics.probe import linear_probe
from gibbsnet_plugin.metrics.scores import (
    imputation_rmse,
    inpainting_scores,
    reconstruction_mse,
    restoration_rmse,
)
from gibbsnet_plugin.recipe import Recipe
from gibbsnet_plugin.registry import did_you_mean
from gibbsnet_plugin.rundir import in_checkpoint_dir
from gibbsnet_plugin.testtime import load_run

DEFAULT_METRICS = ("reconstruction", "inpainting", "imputation", "probe", "fid")
"""What ``evaluate`` runs when neither the caller nor the recipe's ``eval.metrics`` names a metric
(imputation for incomplete or corrupted data, FID and the probe only when possible)."""
CRITIC_ITEMS = 1000
"""Test items (and chains) the ``critic`` AUC uses unless ``num_samples`` says otherwise."""
NEEDS_COMPLETE_TEST_DATA = ("reconstruction", "inpainting", "imputation", "fid", "modes", "critic")
"""Metrics that compare with the truth, so they need test items without masks of their own."""


def check_truth(test: Any, metrics: Sequence[str]) -> None:
    """Raise ``GibbsnetError`` when ``metrics`` name one that compares with the truth but the test
    split ``test`` carries masks of its own (its missing values are unknown)."""
    if split_item(test[0])[2] is None:
        return
    for name in metrics:
        if name in NEEDS_COMPLETE_TEST_DATA:
            raise GibbsnetError(f"{name} compares with the truth, but the test split's items "
                                "carry masks of their own (their missing values are unknown)")


def check_metrics(metrics: Sequence[str]) -> None:
    """Raise ``GibbsnetError`` for a metric name that is not one of ``METRICS``."""
    for name in metrics:
        if name not in METRICS:
            raise GibbsnetError(f"unknown metric '{name}' (expected one of {', '.join(METRICS)})"
                                f"{did_you_mean(name, list(METRICS))}")


def evaluate_model(
    model: ChainModel, recipe: Recipe, metrics: Sequence[str] | None = None, *,
    num_samples: int | None = None, chain_steps: int | None = None, labels: int | None = None,
    draws: int | None = None, masks: Sequence[str] | None = None,
    inpaint_steps: int | None = None, inception_weights: str | Path | None = None,
    fid_split: str | None = None, fid_dims: int = 2048, figure: str | Path | None = None,
    seed: int = 0, fid_cache: Path | None = None, progress: Progress | None = None,
    missing: str | None = None, force: bool = True,
) -> dict[str, Any]:
    """Score ``model`` (trained with ``recipe``) on the recipe's data; the model is put in eval
    mode for the evaluation and its mode restored afterwards.

    Args:
        metrics: names from ``METRICS``; None = the recipe's ``eval.metrics`` when it names some,
            else reconstruction, inpainting, probe (when the data have labels) and fid (when the
            Inception weights are found; else a note says how to enable it).
        num_samples, labels, draws, masks, inpaint_steps, inception_weights, fid_split: None takes
            the recipe's ``eval`` section; except that ``modes`` scores ``num_samples`` or else
            2,500 samples and ``critic`` that many test items and chains, or else 1,000
            (``eval.num_samples`` is FID's).
        chain_steps: unclamped-chain steps for FID samples, mode coverage and latent maps
            (default: the model's).
        fid_dims: Inception feature size; 2048 (the final pool) is the standard FID.
        figure: PNG path of the latent map (``tsne``); an existing file is replaced only with
            ``force`` (else ``OutputError`` before any metric runs).
        missing: the mask process of ``imputation`` (e.g. ``random-80``; default: the recipe's
            ``data.missing``); masks of the test split are drawn with the recipe's seed. For a
            recipe with ``data.corruption`` and no ``missing``, ``imputation`` scores the
            restoration ``dec(enc(f(x)))`` of corrupted test images instead.
        progress: called as ``progress(task, done, total)`` while the metrics run (see
            ``metrics.data.Progress``), e.g. to draw progress bars.
    Returns:
        ``scores`` (flat name -> float, see ``metric_names.score_names``), ``details`` (per metric:
        everything the score depends on, e.g. FID's weights hash and sample count) and ``notes``
        (metrics skipped and why).
    """
    e = recipe.eval
    levels = model.levels
    if metrics is None and e.metrics:
        metrics = list(e.metrics)
    chosen = list(metrics) if metrics is not None else list(DEFAULT_METRICS)
    check_metrics(chosen)
    if "tsne" in chosen and figure is not None:
        check_output(figure, (".png",), "--out-dir", force)
    notes: list[str] = []
    weights = None
    if "fid" in chosen:
        try:
            weights = inception.find_weights(inception_weights or e.inception_weights,
                                             download=metrics is not None,
                                             on_download=inception.announce_download)
        except InceptionWeightsError as exc:
            if metrics is not None:
                raise
            chosen.remove("fid")
            notes.append(f"FID skipped: {exc}")
    test = build_dataset(recipe, train=False)
    if missing is not None:
        check_process(missing, model.x_shape)
        if "imputation" not in chosen:
            raise GibbsnetError("a mask process (--missing) is for the imputation metric; add it "
                                "(--metric imputation)")
    imputing = missing or recipe.data.missing
    if "imputation" in chosen and imputing is None and recipe.data.corruption.name is None:
        if metrics is not None:
            raise GibbsnetError("imputation needs missing entries: give a mask process (--missing "
                                "random-80) or a run trained with data.missing or data.corruption")
        chosen.remove("imputation")
    if metrics is not None:
        check_truth(test, chosen)
    elif split_item(test[0])[2] is not None:
        for name in [m for m in chosen if m in NEEDS_COMPLETE_TEST_DATA]:
            chosen.remove(name)
            notes.append(f"{name} skipped: the test split's items carry masks, so the truth is unknown")
    scores: dict[str, float] = {}
    details: dict[str, Any] = {}
    was_training = model.training
    model.eval()
    try:
        if "reconstruction" in chosen:
            scores["reconstruction_mse"] = reconstruction_mse(
                model, test, seed=seed, progress=progress)
            for level in range(2, levels + 1):
                scores[f"reconstruction_z{level}_mse"] = reconstruction_mse(
                    model, test, seed=seed, progress=progress, level=level)
        if "inpainting" in chosen:
            details["inpainting"] = inpainting_scores(
                model, test, list(masks or e.masks),
                inpaint_steps if inpaint_steps is not None else e.inpaint_steps, seed=seed,
                progress=progress)
            for mask, values in details["inpainting"].items():
                scores[f"inpaint_{mask}_mse"] = values["mse"]
                scores[f"inpaint_{mask}_psnr"] = values["psnr"]
        if "imputation" in chosen:
            if imputing is not None:
                scores["imputation_rmse"] = imputation_rmse(
                    model, Masked(test, imputing, model.x_shape, recipe.seed, train=False, hide=False),
                    inpaint_steps if inpaint_steps is not None else e.inpaint_steps, seed=seed,
                    progress=progress)
            else:
                corruption = build_corruption(recipe, data_shape(test))
                assert corruption is not None
                scores["imputation_rmse"] = restoration_rmse(model, test, corruption, seed=seed,
                                                             progress=progress)
        if "probe" in chosen:
            for level in range(1, levels + 1):
                if not _probe(model, recipe, test, labels or e.labels, draws or e.draws, seed,
                              metrics, scores, details, notes, progress, level):
                    break
        if "fid" in chosen:
            details["fid"] = fid(model, recipe, weights, num_samples or e.num_samples,
                                 chain_steps, fid_split or e.fid_split, fid_dims, seed=seed,
                                 cache=fid_cache, progress=progress)
            scores["fid"] = details["fid"]["fid"]
        if "modes" in chosen:
            details["modes"] = mode_coverage(model, build_dataset(recipe, train=True),
                                             num_samples or DEFAULT_SAMPLES, chain_steps, seed,
                                             progress)
            scores.update({name: float(details["modes"][name]) for name in MODE_SCORES})
        if "critic" in chosen:
            steps = chain_steps or model.chain_steps
            test_items = torch.utils.data.Subset(test, range(min(len(test), num_samples or CRITIC_ITEMS)))
            auc = critic_auc(model, test_items, [steps, *CRITIC_STEPS], seed, progress)
            details["critic"] = {"steps": steps, "items": len(test_items), "auc": auc}
            scores["critic_auc"] = auc[steps]
            scores.update({f"critic_auc_{t}": auc[t] for t in CRITIC_STEPS})
        if "tsne" in chosen:
            report = progress or no_progress
            report("t-SNE latent map", 0, 1)
            details["tsne"] = latent_map(model, test, figure or f"tsne-{recipe.name}.png",
                                         steps=chain_steps, seed=seed, title=recipe.name)
            report("t-SNE latent map", 1, 1)
    finally:
        model.train(was_training)
    return {"scores": scores, "details": details, "notes": notes}


def _probe(model: ChainModel, recipe: Recipe, test: Any, labels: int, draws: int, seed: int,
           asked: Sequence[str] | None, scores: dict[str, float], details: dict[str, Any],
           notes: list[str], progress: Progress | None, level: int) -> bool:
    """The probe on latent layer ``level``: ``probe_error`` (z1) or ``probe_z<level>_error``;
    False (with a note) when it was skipped, e.g. for data without labels."""
    try:
        result = linear_probe(model, build_dataset(recipe, train=True), test, labels, draws, seed,
                              progress=progress, level=level)
    except ProbeError as exc:
        if asked is not None:
            raise
        notes.append(f"linear probe skipped: {exc}")
        return False
    infix = "" if level == 1 else f"_z{level}"
    details[f"probe{infix}"] = result
    scores[f"probe{infix}_error"] = result["error_mean"]
    scores[f"probe{infix}_error_std"] = result["error_std"]
    return True


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
