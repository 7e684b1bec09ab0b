"""``GibbsNetImputer``: the ``table`` data set, ``train`` and ``impute`` as a scikit-learn
transformer.

``fit`` trains a run of a table recipe (``recipes/table.yaml`` by default) on X, as
``gibbsnet train`` does on a file of X's rows, and keeps its checkpoint; ``transform`` fills X's
holes with ``impute``, as ``gibbsnet impute`` does. The estimator follows scikit-learn's
conventions (``get_params``/``set_params``, ``clone``, ``Pipeline``, ``GridSearchCV``,
``set_output``, pickling), so GibbsNet imputation can be cross-validated with what comes after it.
"""

from __future__ import annotations

import numbers
import random
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import Tags, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from gibbsnet_plugin.checkpoint import export_model, resolve_checkpoint
from gibbsnet_plugin.errors import TableError
from gibbsnet_plugin.imputation import Imputation, Reduce, impute
from gibbsnet_plugin.recipe import (
    Recipe,
    load_recipe,
    parse_override,
    recipe_from_dict,
    shipped_recipe,
)
from gibbsnet_plugin.testtime import Run, load_run
from gibbsnet_plugin.training import train
from gibbsnet_plugin.utils import short

READING_OPTIONS = ("sep", "decimal", "encoding", "missing")
"""``data.options`` that say how to read a file; X is not read from one, so they are dropped (only
its NaN and None cells are missing)."""


class GibbsNetImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Fill the missing cells (NaN) of a table with GibbsNet's partially clamped chains.

    ``fit(X)`` trains a run of ``recipe`` (the ``table`` data set) on every row of X, exactly as
    ``gibbsnet train RECIPE --set data.options.path=X.csv --set data.options.test_fraction=0``
    would; ``transform(X)`` is ``gn.impute`` with that run: every row's observed cells clamp
    ``draws`` chains of ``steps`` steps, and the ``reduce`` of the draws fills its holes.
    Observed cells come back unchanged.

    X is a 2-D NumPy array of numbers (NaN where missing) or a pandas DataFrame, whose columns
    may hold text (categories, one-hot coded) as the ``table`` data set detects them; columns it
    does not model (named like an identifier, or text with too many distinct values) are passed
    through with their holes. ``transform`` returns a float array for an array and a DataFrame
    (X's index, the columns of ``get_feature_names_out``: X's names) for a DataFrame;
    ``set_output(transform="pandas")`` turns arrays into DataFrames as well.

    A fitted imputer pickles (``pickle``, ``joblib``) with its trained model, and ``export``
    writes the model as ``gibbsnet export`` does, for ``gibbsnet impute`` and ``gn.impute``.

    Args:
        recipe: a table recipe (a YAML file); None: the shipped ``recipes/table.yaml``.
            Its ``data.options.path``, ``test_fraction``, ``sep``, ``decimal`` and ``encoding``
            do not apply (X is the table), and ``data.batch_size`` is lowered to X's rows.
        iterations: training iterations (``train.iterations``); None: the recipe's.
        overrides: ``KEY=VALUE`` recipe overrides, as ``gibbsnet train --set`` takes them, e.g.
            ``("model.x_consistency=100", "data.options.categorical=[code]")``.
        draws: chains per row in ``transform``, reduced to one value per cell.
        reduce: ``mean`` or ``median`` of the draws' numbers (text columns: with ``mean`` and
            ``model.categories: softmax`` the category most probable under the draws' mean
            category probabilities, else the most frequent category).
        steps: chain steps per draw.
        independent: the probability, per chain and step, of an independence proposal that D
            accepts or rejects (``gn.impute``); 0 is the plain chain.
        random_state: an int: the run's ``seed`` and every ``transform``'s chain seed, so fits
            and transforms are reproducible (and equal to ``gibbsnet train --set seed=S`` and
            ``gibbsnet impute --seed S``); a ``RandomState`` or None (NumPy's global generator):
            a seed drawn from it for each fit and each transform.
        device: where to train and impute (``auto``, ``cpu``, ``cuda``, ``cuda:N``); None: train
            on the recipe's ``train.device`` and impute on ``auto`` (CUDA when available), as
            ``gibbsnet impute`` does.

    Attributes:
        n_features_in_: X's columns in ``fit``.
        feature_names_in_: their names, when X was a DataFrame with text column names.
        checkpoint_: the bytes of the trained run's last checkpoint (what pickling keeps).
        run_: the trained model, its recipe and its table's codec (a ``gn.Run``).
    """

    def __init__(
        self,
        recipe: str | Path | None = None,
        *,
        iterations: int | None = None,
        overrides: Sequence[str] = (),
        draws: int = 20,
        reduce: Reduce = "mean",
        steps: int = 20,
        independent: float = 0.0,
        random_state: int | np.random.RandomState | None = None,
        device: str | None = None,
    ) -> None:
        self.recipe = recipe
        self.iterations = iterations
        self.overrides = overrides
        self.draws = draws
        self.reduce = reduce
        self.steps = steps
        self.independent = independent
        self.random_state = random_state
        self.device = device

    def fit(self, X: Any, y: Any = None) -> GibbsNetImputer:
        """Train a run of ``recipe`` on every row of ``X`` (rows × columns, NaN where missing);
        ``y`` is ignored.

        Raises:
            ValueError: X is not a 2-D table of at least two rows and one column, holds infinite
                values, text among the numbers of a column, or a column without one observed
                cell; an override of a key the estimator sets (``seed``, ``data.options.path``,
                ``data.options.test_fraction``; ``train.iterations`` and ``train.device`` when
                ``iterations`` and ``device`` are given); a recipe of another data set.
            RecipeError: a recipe that does not load or validate.
        """
        frame = self._table(X, reset=True)
        seed = self._seed()
        with tempfile.TemporaryDirectory(prefix="gibbsnet-") as tmp:
            table = Path(tmp) / "X.csv"
            frame.to_csv(table, index=False)
            recipe = self._recipe(table, len(frame), seed)
            with _global_generators_kept():
                try:
                    run_dir = train(recipe, out=Path(tmp) / "run")
                except TableError as exc:
                    raise ValueError(str(exc).replace(str(table), "X")) from None
            self.checkpoint_ = resolve_checkpoint(run_dir).read_bytes()
        self.run_ = self._load()
        return self

    def transform(self, X: Any) -> np.ndarray | pd.DataFrame:
        """``X`` with its missing cells filled: the ``reduce`` of ``draws`` imputations; a float
        array (rows × columns) for an array, a DataFrame like X for a DataFrame.

        Raises:
            NotFittedError: before ``fit``.
            ValueError: other columns than ``fit``'s (a DataFrame's by name, in order), text in
                a numeric column, a category not seen in ``fit``, a column without one observed
                cell.
        """
        return self._output(self._imputation(X, self.draws, self.reduce).filled, X)

    def multiple_imputations(self, X: Any, n: int | None = None) -> list[np.ndarray | pd.DataFrame]:
        """``n`` (default ``draws``) independent imputations of ``X``, each like ``transform``'s
        result but one chain's draw (no ``reduce``): multiple imputation, to analyse each table
        and pool the results (Rubin's rules). Errors as ``transform``."""
        result = self._imputation(X, self.draws if n is None else n, None)
        return [self._output(draw, X) for draw in result.draws]

    def export(self, out: str | Path, force: bool = False) -> Path:
        """Write the trained model to the directory ``out`` as ``gn.export_model`` (``gibbsnet
        export``) does: ``gibbsnet impute OUT TABLE.csv --out FILLED.csv`` and
        ``gn.impute(OUT, table)`` then fill tables with it. Returns ``out``.

        Raises:
            NotFittedError: before ``fit``.
            OutputError: ``out`` is a file, or holds an export and ``force`` is off.
        """
        check_is_fitted(self)
        with self._checkpoint_file() as checkpoint:
            return Path(export_model(checkpoint, out, force=force)["out"])

    def __sklearn_tags__(self) -> Tags:
        """scikit-learn's tags, with NaN allowed in X (the cells to fill)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def __getstate__(self) -> dict[str, Any]:
        """The state to pickle: everything but ``run_``, which unpickling loads from ``checkpoint_``."""
        return {k: v for k, v in super().__getstate__().items() if k != "run_"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle, loading ``run_`` from ``checkpoint_`` (on ``device``) when fitted."""
        super().__setstate__(state)
        if "checkpoint_" in state:
            self.run_ = self._load()

    def _recipe(self, table: Path, rows: int, seed: int) -> Recipe:
        """``recipe`` with ``overrides``, training on every row of the file ``table`` (``rows``
        rows) with ``seed``, ``iterations`` and ``device``."""
        owned = {"seed": "`random_state`", "data.options.path": "`fit`'s X",
                 "data.options.test_fraction": "`fit` (it trains on every row of X)"}
        if self.iterations is not None:
            owned["train.iterations"] = "`iterations`"
        if self.device is not None:
            owned["train.device"] = "`device`"
        for text in self.overrides:
            key = parse_override(text)[0]
            if key in owned:
                raise ValueError(f"`overrides` {key}: set by {owned[key]}; leave it out of `overrides`")
        source = shipped_recipe("table") if self.recipe is None else Path(self.recipe).expanduser()
        recipe = load_recipe(source, list(self.overrides))
        if recipe.data.dataset != "table":
            raise ValueError(f"`recipe` {source}: trains on '{recipe.data.dataset}'; GibbsNetImputer "
                             "needs a recipe of the table data set (recipes/table.yaml)")
        raw = recipe.to_dict()
        options = {k: v for k, v in raw["data"]["options"].items() if k not in READING_OPTIONS}
        raw["data"]["options"] = {**options, "path": str(table), "test_fraction": 0.0, "missing": []}
        raw["data"]["batch_size"] = min(raw["data"]["batch_size"], rows)
        raw["seed"] = seed
        if self.iterations is not None:
            raw["train"]["iterations"] = self.iterations
        if self.device is not None:
            raw["train"]["device"] = self.device
        return recipe_from_dict(raw, source=f"{source} (for GibbsNetImputer)")

    def _seed(self) -> int:
        """``random_state`` as a seed: the integer itself, else a draw from the generator."""
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _table(self, X: Any, reset: bool) -> pd.DataFrame:
        """``X`` checked (and, with ``reset``, its columns learnt) as a DataFrame whose columns
        are named as the run's table: ``feature_names_in_``, else ``0``, ``1``, ..."""
        if isinstance(X, pd.DataFrame):
            if not reset:
                self._check_names(list(X.columns))
            validate_data(self, X, reset=reset, skip_check_array=True)
            frame = X.set_axis(self._columns(), axis=1)
        else:
            array = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan")
            frame = pd.DataFrame(array, columns=self._columns())
        least = 2 if reset else 1  # networks that normalise over the batch refuse batches of one row
        if len(frame) < least:
            raise ValueError(f"X has {len(frame)} sample(s) (rows); {'fit' if reset else 'transform'} "
                             f"needs at least {least}")
        return frame

    def _check_names(self, names: list[Any]) -> None:
        """Refuse, in one line, a DataFrame's column ``names`` (text) that are not
        ``feature_names_in_`` in order (scikit-learn's own message has a line per column)."""
        fitted = list(getattr(self, "feature_names_in_", []))
        if not fitted or not all(isinstance(c, str) for c in names) or names == fitted:
            return
        lacks = [c for c in fitted if c not in names]
        extra = [c for c in names if c not in fitted]
        parts = ([f"lacks {short(lacks)}"] if lacks else []) + \
                ([f"has {short(extra)}, which it was not fitted on"] if extra else [])
        raise ValueError(f"X's columns are not those the imputer was fitted on, in that order "
                         f"({short(fitted)}): X {' and '.join(parts or ['has them in another order'])}")

    def _columns(self) -> list[str]:
        """The names of the run's columns: ``feature_names_in_``, else ``0``, ``1``, ..."""
        if hasattr(self, "feature_names_in_"):
            return [str(c) for c in self.feature_names_in_]
        return [str(i) for i in range(self.n_features_in_)]

    def _imputation(self, X: Any, draws: int, reduce: Reduce | None) -> Imputation:
        """``gn.impute`` of ``X`` with the fitted run, ``draws`` chains per row and ``reduce``."""
        check_is_fitted(self)
        frame = self._table(X, reset=False)
        try:
            return impute(self.run_, frame, draws, reduce, self.steps, self._seed(),
                          independent=self.independent)
        except TableError as exc:
            raise ValueError(str(exc)) from None

    def _output(self, filled: pd.DataFrame, X: Any) -> np.ndarray | pd.DataFrame:
        """``filled`` as ``transform`` returns it for ``X``: for a DataFrame, a DataFrame with
        X's index and the columns ``get_feature_names_out`` names (X's own when fitted on a
        DataFrame with text column names); else a float array."""
        if isinstance(X, pd.DataFrame):
            return filled.set_axis(self.get_feature_names_out(), axis=1)
        return filled.to_numpy(dtype=np.float64)

    @contextmanager
    def _checkpoint_file(self) -> Iterator[Path]:
        """``checkpoint_`` as a file, for as long as the block runs."""
        with tempfile.TemporaryDirectory(prefix="gibbsnet-") as tmp:
            path = Path(tmp) / "checkpoint.pt"
            path.write_bytes(self.checkpoint_)
            yield path

    def _load(self) -> Run:
        """The run of ``checkpoint_`` on ``device`` (None: ``auto``)."""
        with self._checkpoint_file() as checkpoint:
            return load_run(checkpoint, self.device)


@contextmanager
def _global_generators_kept() -> Iterator[None]:
    """Run the block with Python's, NumPy's and torch's global generators restored afterwards:
    training seeds them with the recipe's seed, which must not change the caller's draws."""
    python, numpy = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)
