"""What every evaluation metric is: an object in a registry that names its scores and runs on a
model and data, never on a recipe.

A metric is a subclass of ``Metric`` registered by name, built in with ``@register("name")``
or from another package through the ``gibbsnet.metrics`` entry-point group (the entry point
names the class). Its options are a frozen dataclass of its own (``Options``): each field with its
default and ``doc`` (``option``), their checks in ``__post_init__`` (raising ``GibbsnetError``).
``evaluate``, the recipe's ``eval.metrics`` and ``eval.best``, and the command line all read the
registry, so adding a metric, options included, touches one file::

    from dataclasses import dataclass

    from gibbsnet_plugin.errors import GibbsnetError
    from gibbsnet_plugin.metrics import Context, Metric, Result, option, register

    @dataclass(frozen=True)
    class BrightnessOptions:
        brightness_samples: int = option(100, "the chain samples of `brightness`")

        def __post_init__(self) -> None:
            if self.brightness_samples < 1:
                raise GibbsnetError("brightness_samples must be at least 1")

    @register("brightness")
    class Brightness(Metric[BrightnessOptions]):
        summary = "mean pixel value of chain samples"
        Options = BrightnessOptions

        def score_names(self, masks, levels):
            return ["brightness"]

        def run(self, ctx: Context[BrightnessOptions]) -> Result:
            n = ctx.options.brightness_samples
            x = ctx.model.sample(n, ctx.settings.chain_steps)
            return Result({"brightness": float(x.mean())}, {"brightness": {"num": n}})

``gn.evaluate(run, ["brightness"], brightness_samples=500)`` then sets the option; option names
are the keywords of ``evaluate`` and should carry the metric's name as a prefix (``fid_split``),
unless several metrics share one (``inpaint_steps``, equal everywhere it is declared).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar

from torch.utils.data import Dataset

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.registry import METRICS, did_you_mean

OptionsT = TypeVar("OptionsT")
"""A metric's ``Options``."""
T = TypeVar("T")

Progress = Callable[[str, int, int], None]
"""``progress(task, done, total)``, called as a long evaluation advances: ``task`` names the work
(e.g. ``FID samples``), ``done`` of ``total`` units (batches, or draws of the probe) are done."""


def option(default: Any, doc: str, *, needs_metric: bool = False) -> Any:
    """A field of a metric's ``Options``: its ``default`` and what it is (``doc``, a noun phrase
    such as ``"a mask process"``). An option given to ``evaluate`` whose metric does not run is
    ignored (the command line passes every flag), unless ``needs_metric``: then it is an error."""
    return field(default=default, metadata={"doc": doc, "needs_metric": needs_metric})


@dataclass(frozen=True)
class NoOptions:
    """The ``Options`` of a metric that has none."""


@dataclass
class Settings:
    """How to evaluate: what any metric may use (the ``seed`` of every metric, the ``num_samples``
    and unclamped-``chain_steps`` of those that sample, None: each metric's default; the run's
    ``title`` and ``run_label`` for the files metrics write, which they replace only with
    ``force``) and ``options``, every metric's options by name (the recipe's ``eval`` section with
    the caller's over them), of which each metric gets its own as ``ctx.options``."""

    seed: int = 0
    num_samples: int | None = None
    chain_steps: int | None = None
    title: str = ""
    """The run's name (the recipe's), e.g. for figure titles."""
    run_label: str = ""
    """A short name of the evaluated run or checkpoint (``evaluation.run_label``), for file
    names; empty when unknown."""
    force: bool = True
    options: dict[str, Any] = field(default_factory=dict)


class Data:
    """The data sets of an evaluation, each built on first use and then reused: ``train``,
    ``test``, and ``corruption`` (the recipe's known corruption f, or None); ``key`` is what
    identifies the data (``dataset``, ``root``, ``options``), the key of statistics cached
    across evaluations."""

    def __init__(self, build: Callable[[bool], Dataset],
                 corruption: Callable[[], Any] | None = None,
                 key: Mapping[str, Any] | None = None) -> None:
        self._build = build
        self._corruption = corruption
        self.key: dict[str, Any] = dict(key or {})
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
class Context(Generic[OptionsT]):
    """What a metric runs on: the ``model`` (in eval mode), its ``data``, the ``settings``, its own
    ``options`` (its ``Options``), a ``progress`` callback, whether the caller named this metric
    (``asked``: a metric that cannot run then raises, instead of being skipped with a note) and
    the ``results`` of work shared by the metrics of one evaluation (see ``share``)."""

    model: ChainModel
    data: Data
    settings: Settings
    options: OptionsT
    progress: Progress | None = None
    asked: bool = True
    results: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def share(self, work: Callable[[Context[Any]], T]) -> T:
        """``work(self)``, computed by the first metric of the evaluation that asks for it and
        reused by the others. ``work`` is a frozen dataclass whose fields say everything its
        result depends on, so equal work is done once (e.g. the chain samples' Inception
        features that ``fid`` and ``fidelity`` both score) and different work never mixed up."""
        if work not in self.results:
            self.results[work] = work(self)
        return self.results[work]  # type: ignore[no-any-return]


@dataclass
class Result:
    """A metric's ``scores`` (name -> float, the names of ``score_names``), ``details`` (name ->
    what the scores depend on, for ``--json``; usually one entry under the metric's name) and
    ``notes`` for the user."""

    scores: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Metric(Generic[OptionsT]):
    """Base class of the metrics; see the module docstring. Class attributes:

    - ``summary``: one line for ``gibbsnet plugins`` and the docs;
    - ``default``: part of what ``evaluate`` runs when no metric is named;
    - ``during_training``: may run in training (``eval.every``; a figure-only metric may not);
    - ``needs_truth``: compares with the truth, so it needs test items without masks of their own
      (unless ``truth_known``);
    - ``Options``: the frozen dataclass of its options (``option`` fields), ``ctx.options``.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    default: ClassVar[bool] = False
    during_training: ClassVar[bool] = True
    needs_truth: ClassVar[bool] = False
    Options: ClassVar[type[Any]] = NoOptions

    def options_from(self, values: Mapping[str, Any]) -> OptionsT:
        """This metric's ``Options`` from ``values`` (options by name: those of other metrics are
        left out, those not given take their defaults), checked by the dataclass."""
        mine = {f.name for f in fields(self.Options)}
        return self.Options(**{k: v for k, v in values.items() if k in mine})  # type: ignore[no-any-return]

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

    def prepare(self, options: OptionsT) -> None:
        """Fetch what the metric needs before a long job that runs it later (training with
        ``eval.every``), so that anything missing fails before the job starts."""

    def check(self, ctx: Context[OptionsT]) -> None:
        """Raise when the metric would fail in ``ctx`` for a reason known before any metric runs
        (an output that exists, an option that does not fit the model)."""

    def truth_known(self, ctx: Context[OptionsT]) -> bool:
        """Whether, in ``ctx``, a ``needs_truth`` metric scores only entries whose truth test items
        that carry masks of their own still hold (observed entries that a mask process hides)."""
        return False

    def skip_reason(self, ctx: Context[OptionsT]) -> str | None:
        """Why this metric cannot run in ``ctx`` (None: it can). When the caller did not name
        it, ``evaluate`` then skips it with this note (an empty note: silently)."""
        return None

    def run(self, ctx: Context[OptionsT]) -> Result:
        raise NotImplementedError

    def label(self, score: str) -> str:
        """A table row's title for ``score``."""
        return score.replace("_", " ")

    def cell(self, score: str, value: float) -> str:
        """``value`` of ``score`` as a table shows it."""
        return f"{value:.4g}"


def register(name: str) -> Callable[[type[Metric[Any]]], type[Metric[Any]]]:
    """Class decorator: register a built-in ``Metric`` subclass as ``name``."""
    def decorator(cls: type[Metric[Any]]) -> type[Metric[Any]]:
        cls.name = name
        return METRICS.register(name)(cls)
    return decorator


def get(name: str) -> Metric[Any]:
    """The metric registered as ``name`` (built in or from a plugin)."""
    cls = METRICS.get(name)
    metric = cls()
    if not isinstance(metric, Metric):
        raise TypeError(f"metric '{name}' is {type(metric).__name__}, not a gibbsnet Metric")
    metric.name = name
    return metric


def names() -> list[str]:
    return METRICS.names()


def option_fields(metric: Metric[Any]) -> tuple[Field[Any], ...]:
    """The fields of ``metric``'s ``Options``: each option's name, default and ``doc``."""
    return fields(metric.Options)


def check_options(metrics: Sequence[str], given: Mapping[str, Any]) -> None:
    """Refuse the options ``given`` to an evaluation of ``metrics`` that no metric declares, or
    that are ``needs_metric`` options of a metric not among ``metrics``; options of other metrics
    are ignored. Every metric is loaded only when some option is not one of ``metrics``'.

    Raises:
        TypeError: an option no metric declares (as for an unknown keyword argument).
        GibbsnetError: a ``needs_metric`` option without its metric.
    """
    declared = {f.name for name in metrics for f in option_fields(get(name))}
    others = [key for key in given if key not in declared]
    if not others:
        return
    owners = {f.name: (name, f) for name in names() for f in option_fields(get(name))}
    for key in others:
        if key not in owners:
            raise TypeError(f"unknown option '{key}'{did_you_mean(key, list(owners))} (options: "
                            f"{', '.join(sorted(owners))})")
        owner, spec = owners[key]
        if spec.metadata.get("needs_metric"):
            raise GibbsnetError(f"{spec.metadata['doc']} (`{key}`) is for the {owner} metric; add "
                                "it to `metrics`")


def owner(score: str, metrics: Sequence[str] | None = None) -> Metric[Any] | None:
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


__all__ = ["Context", "Data", "Metric", "NoOptions", "Result", "Settings", "check_options", "get",
           "lower_is_better", "names", "option", "option_fields", "owner", "register"]
