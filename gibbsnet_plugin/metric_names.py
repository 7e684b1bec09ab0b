"""The names of the evaluation metrics and of the scores they produce.

The recipe validates ``eval:`` against these names without importing any metric; the metrics
themselves live in ``gibbsnet_plugin.metrics``, one module each.
"""

from __future__ import annotations

from collections.abc import Sequence

METRICS = ("reconstruction", "inpainting", "imputation", "probe", "fid", "modes", "critic", "tsne")
"""Names accepted by ``gibbsnet evaluate --metric`` and the recipe's ``eval.metrics``."""
TRAINING_METRICS = METRICS[:7]
"""Metrics that may run during training (``tsne`` draws a figure and gives no score)."""
DEFAULT_MASKS = ("left-half", "bottom-half", "center", "random-50")
MODE_SCORES = ("modes", "modes_high_quality", "modes_reverse_kl")
"""Scores of ``modes``: covered modes, fraction of high-quality samples, reverse KL (nats)."""
CRITIC_SCORES = ("critic_auc", "critic_auc_100", "critic_auc_1000")
"""Scores of ``critic``: D's held-out AUC of data against chain states after the model's
``chain_steps``, 100 and 1000 steps (0.5 = D cannot tell them apart)."""
HIGHER_IS_BETTER = ("modes", "modes_high_quality")


def score_names(metrics: Sequence[str], masks: Sequence[str] = DEFAULT_MASKS,
                levels: int = 1) -> list[str]:
    """The scalar scores that ``metrics`` produce for a model with ``levels`` latent layers, e.g.
    ``reconstruction_mse``, ``inpaint_left-half_psnr``, ``probe_error``, ``fid``, ``modes``, and
    per layer l above z1 ``reconstruction_z<l>_mse`` and ``probe_z<l>_error``; one of them can
    pick ``best.pt``; ``imputation`` gives ``imputation_rmse``, ``critic`` ``critic_auc``,
    ``critic_auc_100`` and ``critic_auc_1000``."""
    names = []
    for metric in metrics:
        if metric == "reconstruction":
            names += ["reconstruction_mse", *(f"reconstruction_z{i}_mse" for i in range(2, levels + 1))]
        elif metric == "inpainting":
            names += [f"inpaint_{m}_{s}" for m in masks for s in ("mse", "psnr")]
        elif metric == "imputation":
            names.append("imputation_rmse")
        elif metric == "probe":
            for i in range(1, levels + 1):
                infix = "" if i == 1 else f"_z{i}"
                names += [f"probe{infix}_error", f"probe{infix}_error_std"]
        elif metric == "fid":
            names.append("fid")
        elif metric == "modes":
            names += MODE_SCORES
        elif metric == "critic":
            names += CRITIC_SCORES
    return names


def lower_is_better(score: str) -> bool:
    """True for errors and distances (MSE, probe error, FID, reverse KL), False for PSNR, covered
    modes and the fraction of high-quality samples."""
    return not (score.endswith("psnr") or score in HIGHER_IS_BETTER)

