"""What every evaluation metric is: an object in a registry that names its scores and runs on a
model and data, never on a recipe.

A metric is a subclass of ``Metric`` registered by name, built in with ``@register("name")``
or from another package through the ``gibbsnet.metrics`` entry-point group (the entry point
names the class). ``evaluate``, the recipe's ``eval.metrics`` and ``eval.best``, and the command
line all read the registry, so adding a metric touches one file::

    from gibbsnet_plugin.metrics import Context, Metric, Result, register

    @register("mean_brightness")
    class MeanBrightness(Metric):
        summary = "mean pixel value of chain samples"

        def score_names(self, masks, levels):
            return ["mean_brightness"]

        def run(self, ctx: Context) -> Result:
            x = ctx.model.sample(100, ctx.settings.chain_steps)
            return Result({"mean_brightness": float(x.mean())}, {"mean_brightness": {"num": 100}})
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from torch.utils.data import Dataset

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.registry import METRICS

Progress = Callable[[str, int, int], None]
"""``progress(task, done, total)``, called as a long evaluation advances: ``task`` names the work
(e.g. ``FID samples``), ``done`` of ``total`` units (batches, or draws of the probe) are done."""


@dataclass
class Settings:
    """How to evaluate (the recipe's ``eval`` section with the caller's overrides), as plain
    values. ``None`` lets a metric use its own default."""

    seed: int = 0
    num_samples: int | None = None
    chain_steps: int | None = None
    labels: int = 1000
    draws: int = 10
    masks: list[str] = field(default_factory=lambda: ["left-half"])
    inpaint_steps: int = 20
    inception_weights: str | Path | None = None
    download: bool = False
    fid_split: str = "train"
    fid_samples: int = 10_000
    """FID's samples when ``num_samples`` is None (the recipe's ``eval.num_samples``)."""
    fid_dims: int = 2048
    fid_cache: Path | None = None
    figure: str | Path | None = None
    title: str = ""
    missing: str | None = None
    """The mask process whose hidden entries ``imputation`` scores (None: nothing to impute)."""
    mask_seed: int = 0
    """The seed the masks of ``missing`` are drawn with (the recipe's)."""
    data_key: dict[str, Any] = field(default_factory=dict)
    """What identifies the data (name, root, options): the key of cached statistics."""


class Data:
    """The data sets of an evaluation, each built on first use and then reused: ``train``,
    ``test``, and ``corruption`` (the recipe's known corruption f, or None)."""

    def __init__(self, build: Callable[[bool], Dataset],
                 corruption: Callable[[], Any] | None = None) -> None:
        self._build = build
        self._corruption = corruption
        self._splits: dict[bool, Dataset] = {}
        self._f: Any = None

    @property
    def train(self) -> Dataset:
        if True not in self._splits:
            self._splits[True] = self._build(True)
        return self._splits[True]

    @property
    def test(self) -> Dataset:
        if False not in self._splits:
            self._splits[False] = self._build(False)
        return self._splits[False]

    @property
    def corruption(self) -> Any:
        if self._f is None and self._corruption is not None:
            self._f = self._corruption()
        return self._f


@dataclass
class Context:
    """What a metric runs on: the ``model`` (in eval mode), its ``data``, the ``settings``, a
    ``progress`` callback, whether the caller named this metric (``asked``: a metric that
    cannot run then raises, instead of being skipped with a note) and ``shared`` work."""

    model: ChainModel
    data: Data
    settings: Settings
    progress: Progress | None = None
    asked: bool = True
    shared: dict[str, Any] = field(default_factory=dict)
    """Work that several metrics of one evaluation reuse (e.g. the samples' Inception features)."""


@dataclass
class Result:
    """A metric's ``scores`` (name -> float, the names of ``score_names``), ``details`` (name ->
    what the scores depend on, for ``--json``; usually one entry under the metric's name) and
    ``notes`` for the user."""

    scores: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Metric:
    """Base class of the metrics; see the module docstring. Class attributes:

    - ``summary``: one line for ``gibbsnet plugins`` and the docs;
    - ``default``: part of what ``evaluate`` runs when no metric is named;
    - ``during_training``: may run in training (``eval.every``; a figure-only metric may not);
    - ``needs_truth``: compares with the truth, so it needs test items without masks of their own.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    default: ClassVar[bool] = False
    during_training: ClassVar[bool] = True
    needs_truth: ClassVar[bool] = False

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        """The scores this metric reports for the inpainting ``masks`` and a model of ``levels``
        latent layers (what ``eval.best`` may name)."""
        raise NotImplementedError

    def owns(self, score: str) -> bool:
        """Whether ``score`` is one of this metric's, whatever the masks and layers."""
        return score in self.score_names((), 1)

    def lower_is_better(self, score: str) -> bool:
        """The direction of ``score`` (for ``best.pt`` and the worst seed): True for errors and
        distances."""
        return True

    def skip_reason(self, ctx: Context) -> str | None:
        """Why this metric cannot run in ``ctx`` (None: it can). When the caller did not name
        it, ``evaluate`` then skips it with this note (an empty note: silently)."""
        return None

    def run(self, ctx: Context) -> Result:
        raise NotImplementedError

    def label(self, score: str) -> str:
        """A table row's title for ``score``."""
        return score.replace("_", " ")

    def cell(self, score: str, value: float) -> str:
        """``value`` of ``score`` as a table shows it."""
        return f"{value:.4g}"


def register(name: str) -> Callable[[type[Metric]], type[Metric]]:
    """Class decorator: register a built-in ``Metric`` subclass as ``name``."""
    def decorator(cls: type[Metric]) -> type[Metric]:
        cls.name = name
        return METRICS.register(name)(cls)
    return decorator


def get(name: str) -> Metric:
    """The metric registered as ``name`` (built in or from a plugin)."""
    cls = METRICS.get(name)
    metric = cls()
    if not isinstance(metric, Metric):
        raise TypeError(f"metric '{name}' is {type(metric).__name__}, not a gibbsnet Metric")
    metric.name = name
    return metric


def names() -> list[str]:
    return METRICS.names()


def owner(score: str, metrics: Sequence[str] | None = None) -> Metric | None:
    """The metric (among ``metrics``, default all) that reports ``score``, or None."""
    for name in metrics if metrics is not None else names():
        metric = get(name)
        if metric.owns(score):
            return metric
    return None


def lower_is_better(score: str, metrics: Sequence[str] | None = None) -> bool:
    """The direction of ``score``, as its metric says (errors and distances when none owns it)."""
    metric = owner(score, metrics)
    return True if metric is None else metric.lower_is_better(score)


__all__ = ["Context", "Data", "Metric", "Result", "Settings", "get", "lower_is_better", "names",
           "owner", "register"]
