"""The metric ``critic``: what the trained discriminator still sees, its held-out AUC of data
against chain states.

D is asked to tell clamped pairs of held-out data, ``(x, enc(x))`` (a deep GibbsNet's or HALI's
whole clamped tuple), from unclamped chain states ``(x_t, z_(t-1))`` after t steps. The score is
the area under the ROC curve of D's logits with data as the positive class (for a model of a
known corruption f, D compares measurements: f(x) on both sides, as in training): 0.5 = D cannot tell
them apart (the chain's states look like data to it), 1.0 = it separates them perfectly. A
long-run state that scores *lower* than the training state is one that D has never been shown.
Every network is in eval mode (no dropout), so the score depends only on the weights and the
seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from gibbsnet_plugin.chains import ChainModel, corrected_states
from gibbsnet_plugin.data.base import batch_to_x
from gibbsnet_plugin.metrics.base import Context, Metric, Result, register
from gibbsnet_plugin.metrics.data import Progress, in_order
from gibbsnet_plugin.utils import seeded

CRITIC_STEPS = (100, 1000)
"""Chain lengths scored besides the model's ``chain_steps`` (what D was trained against)."""
CRITIC_ITEMS = 1000
"""Test items (and chains) the metric uses unless ``num_samples`` says otherwise."""
BATCH = 500


def critic_steps(chain_steps: int) -> list[int]:
    """The chain lengths ``critic_auc`` scores for a model trained with ``chain_steps``."""
    return sorted({chain_steps, *CRITIC_STEPS})


def critic_auc(model: ChainModel, test: Dataset, steps: Sequence[int], seed: int = 0,
               progress: Progress | None = None, independent: float = 0.0,
               restart: bool = False) -> dict[int, float]:
    """D's AUC of held-out data against ``len(test)`` chains after each of ``steps`` steps
    (rounded down to whole packs when D judges packs of ``model.pack``). Returns step -> AUC.
    ``independent`` > 0 judges chains corrected by D itself (``chains.corrected_states``), which
    move toward the states D scores highest, so their AUC is lower by construction (``restart``:
    the control that accepts every proposal)."""
    pack = getattr(model, "pack", 1)
    n = len(test) // pack * pack  # type: ignore[arg-type]
    if n < 2 * pack:
        raise ValueError(f"the test split has {len(test)} items; the critic AUC needs at least "  # type: ignore[arg-type]
                         f"{2 * pack}")
    batch = max(pack, BATCH // pack * pack)
    wanted = sorted(set(steps))
    real: list[torch.Tensor] = []
    fake: dict[int, list[torch.Tensor]] = {t: [] for t in wanted}
    done, total = 0, n
    with seeded(seed, model.device), torch.no_grad():
        for items in in_order(torch.utils.data.Subset(test, range(n)), batch):
            x = batch_to_x(items, model.device)
            real.append(model.judge(model.clamped(model.observe(x))).float().cpu())
            chains = corrected_states(model, x.shape[0], wanted, independent, restart=restart)
            for t, state in zip(wanted, chains.states, strict=True):
                state = (model.observe(state[0]), *state[1:])
                fake[t].append(model.judge(state).float().cpu())
            done += x.shape[0]
            if progress is not None:
                progress("critic AUC", done, total)
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415  (scikit-learn is slow to import)

    scores_real = torch.cat(real)
    labels = [1] * len(scores_real) + [0] * len(scores_real)
    return {t: float(roc_auc_score(labels, torch.cat([scores_real, torch.cat(fake[t])]).numpy()))
            for t in wanted}


@register("critic")
class Critic(Metric):
    """``critic_auc`` (after the model's ``chain_steps``), ``critic_auc_100`` and
    ``critic_auc_1000`` on ``num_samples`` test items (default 1,000)."""

    summary = "D's held-out AUC of test data against chain states after N, 100 and 1000 steps"
    needs_truth = True

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return ["critic_auc", *(f"critic_auc_{t}" for t in CRITIC_STEPS)]

    def label(self, score: str) -> str:
        steps = f"{score[len('critic_auc_'):]} steps" if score.startswith("critic_auc_") else "chain_steps"
        return f"critic AUC, data vs chain at {steps}"

    def cell(self, score: str, value: float) -> str:
        return f"{value:.3f}"

    def run(self, ctx: Context) -> Result:
        s = ctx.settings
        steps = s.chain_steps or ctx.model.chain_steps
        test = torch.utils.data.Subset(ctx.data.test, range(min(len(ctx.data.test),  # type: ignore[arg-type]
                                                                s.num_samples or CRITIC_ITEMS)))
        auc = critic_auc(ctx.model, test, [steps, *CRITIC_STEPS], s.seed, ctx.progress)
        scores = {"critic_auc": auc[steps], **{f"critic_auc_{t}": auc[t] for t in CRITIC_STEPS}}
        return Result(scores, {"critic": {"steps": steps, "items": len(test), "auc": auc}})


__all__ = ["CRITIC_ITEMS", "CRITIC_STEPS", "Critic", "critic_auc", "critic_steps"]
