"""The metric ``probe``, ALI's semi-supervised protocol: a linear SVM on encoder features of K
class-balanced labelled training images, its error on the test split, over R draws of the
labelled set.

The features are the encoder's output z (the architectures are opaque to the library, so hidden
layers are not available; the GibbsNet authors' code also probes z).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine
from torch.utils.data import Dataset

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.data.missing import split_item
from gibbsnet_plugin.errors import ProbeError
from gibbsnet_plugin.metrics.base import Context, Metric, Result, option, register
from gibbsnet_plugin.metrics.data import Progress, in_order, no_progress
from gibbsnet_plugin.utils import seeded

FILL_STEPS = 20
"""Chain steps that fill the missing entries of items with masks before they are encoded."""


def encode_dataset(model: ChainModel, data: Dataset, batch_size: int = 100,
                   seed: int | None = 0, level: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(z, y)``: encodings of latent layer ``level`` (n, d_level; see ``model.features``) and
    integer labels (n,) of a labelled data set, computed by an Ignite evaluator in batches. Items
    that carry masks are encoded after ``FILL_STEPS`` steps of the partially clamped chain fill
    their missing entries."""
    features: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []

    def step(engine: Engine, batch: Any) -> None:
        x, y, mask = split_item(batch)
        if y is None:
            raise ProbeError("the linear probe needs a labelled data set (items (x, y))")
        x = x.to(model.device)
        if mask is not None:
            x = model.inpaint(x, mask, FILL_STEPS)
        features.append(model.features(x, level).cpu())
        labels.append(torch.as_tensor(y))

    with seeded(seed, model.device), torch.no_grad():
        Engine(step).run(in_order(data, batch_size))
    return torch.cat(features).double().numpy(), torch.cat(labels).numpy()


def balanced_draw(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` examples, ``k // classes`` of each class (the remainder spread over the
    first classes), drawn without replacement."""
    classes = np.unique(y)
    per_class = [k // len(classes) + (i < k % len(classes)) for i in range(len(classes))]
    chosen = []
    for c, count in zip(classes, per_class, strict=True):
        members = np.flatnonzero(y == c)
        if count > len(members):
            raise ProbeError(f"{k} class-balanced labels need {count} images of class {c}, the "
                             f"training split has {len(members)}; lower `labels` (eval.labels)")
        chosen.append(rng.choice(members, count, replace=False))
    return np.concatenate(chosen)


def linear_probe(
    model: ChainModel, train: Dataset, test: Dataset, labels: int = 1000, draws: int = 10,
    seed: int = 0, c: float = 1.0, progress: Progress | None = None, level: int = 1,
) -> dict[str, Any]:
    """Test error of ``sklearn.svm.LinearSVC(C=c)`` (an L2-SVM, as in ALI) trained on the
    encodings of ``labels`` class-balanced training images, for ``draws`` seeded draws of them.

    Features are standardised with the labelled set's mean and std. Returns ``error_mean`` and
    ``error_std`` (fractions, 0 ... 1), ``errors`` (one per draw), ``labels`` and ``draws``. The
    draws are reported to ``progress`` as ``linear probe`` (``linear probe z<level>`` above
    level 1). ``level`` chooses the latent layer of a hierarchy (``model.features``).
    """
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415  (scikit-learn is slow to import)
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415
    from sklearn.svm import LinearSVC  # noqa: PLC0415

    if labels < 2 or draws < 1:
        raise ProbeError(f"the probe needs at least 2 labels and 1 draw, got {labels} and {draws}")
    z_train, y_train = encode_dataset(model, train, seed=seed, level=level)
    z_test, y_test = encode_dataset(model, test, seed=seed, level=level)
    rng = np.random.default_rng(seed)
    report = progress or no_progress
    errors: list[float] = []
    task = "linear probe" if level == 1 else f"linear probe z{level}"
    report(task, 0, draws)
    for _ in range(draws):
        index = balanced_draw(y_train, labels, rng)
        svm = make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=10_000))
        svm.fit(z_train[index], y_train[index])
        errors.append(float(np.mean(svm.predict(z_test) != y_test)))
        report(task, len(errors), draws)
    return {"error_mean": float(np.mean(errors)), "error_std": float(np.std(errors)),
            "errors": errors, "labels": labels, "draws": draws}


@dataclass(frozen=True)
class ProbeOptions:
    """The options of ``probe`` (``eval.labels``, ``eval.draws``); a count out of range is the
    probe's own error (``linear_probe``), skipped with a note when the probe was not asked for."""

    labels: int = option(1000, "the class-balanced labelled training images")
    draws: int = option(10, "the draws of the labelled set")


@register("probe")
class Probe(Metric[ProbeOptions]):
    """``probe_error`` and ``probe_error_std`` (fractions) of each latent layer (``probe_z<l>_...``
    above z1), with ``labels`` labelled images drawn ``draws`` times."""

    summary = "linear SVM on the encodings of a few labelled images: test error per layer"
    default = True
    Options = ProbeOptions

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        names = []
        for i in range(1, levels + 1):
            infix = "" if i == 1 else f"_z{i}"
            names += [f"probe{infix}_error", f"probe{infix}_error_std"]
        return names

    def owns(self, score: str) -> bool:
        return score.startswith("probe") and score.endswith(("_error", "_error_std"))

    def label(self, score: str) -> str:
        return score.replace("_error_std", " error std (%)").replace("_error", " error (%)").replace("_", " ")

    def cell(self, score: str, value: float) -> str:
        return f"{100 * value:.2f}"

    def run(self, ctx: Context[ProbeOptions]) -> Result:
        o, scores, details, notes = ctx.options, {}, {}, []
        for level in range(1, ctx.model.levels + 1):
            try:
                result = linear_probe(ctx.model, ctx.data.train, ctx.data.test, o.labels, o.draws,
                                      ctx.settings.seed, progress=ctx.progress, level=level)
            except ProbeError as exc:
                if ctx.asked:
                    raise
                notes.append(f"linear probe skipped: {exc}")
                break
            infix = "" if level == 1 else f"_z{level}"
            details[f"probe{infix}"] = result
            scores[f"probe{infix}_error"] = result["error_mean"]
            scores[f"probe{infix}_error_std"] = result["error_std"]
        return Result(scores, details, notes)
