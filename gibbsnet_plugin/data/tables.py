"""``table``: a table with missing cells (CSV, TSV, Parquet, NumPy) as partially observed vectors.

Each row is one item ``(x, mask)`` (or ``(x, y, mask)`` with a ``label`` column): x a float32
vector, mask 1 where the cell was observed. Empty cells, pandas' missing-value markers (``NA``,
``N/A``, ``NaN``, ``null``, ``None``, ...) and ``?`` (UCI files' marker) are missing; x holds NaN
there, which training only ever selects away.

The file is read by ``table_files.read_table``: a text file's separator (comma, semicolon, tab or
pipe), decimal mark and encoding are sniffed; the data set's options ``sep``, ``decimal`` and
``encoding`` override them.

A ``TableCodec`` turns rows into x and back. Column types are detected from the observed cells of
the whole file, the scaling from those of the training split; the codec travels inside every
checkpoint of the run, so imputations come back in the table's own units whatever file a user
imputes later:

- a numeric column (every observed cell a number) is min-max scaled to [-1, 1] (its observed
  training minimum -> -1, maximum -> 1; a constant column is shifted to 0), or with
  ``scale="quantile"`` mapped through its empirical distribution (a value -> 2q − 1, q its
  quantile among the observed training values, at most ``KNOTS`` knots; tied values -> the middle
  of their block), so a skewed column's tail is spread over [-1, 1] as its bulk is. Decoding keeps
  values inside that observed range (a constant column decodes to its one value), and rounds them
  when every observed value is a whole number (counts, 0/1 flags);
- a categorical column (text, or named in ``categorical``) becomes one entry per category seen in
  the file, +1 for the row's category and -1 for the others; decoding takes the largest entry;
- an ignored column (named in ``ignore``, named like an identifier, or text with too many distinct
  values to learn, see ``IDENTIFIER`` and ``MAX_CATEGORIES``) is not modelled; imputation passes
  it through untouched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from gibbsnet_plugin.data.base import SPLIT_SEED
from gibbsnet_plugin.data.table_files import READING_HINT, missing_markers, read_table
from gibbsnet_plugin.errors import TableError
from gibbsnet_plugin.registry import DATASETS

IDENTIFIER = re.compile(r"id|index|unnamed: 0|.*[ _.-]id", re.IGNORECASE)
"""Column names that are not modelled unless named in ``categorical``: ``id``, ``*_id``, ``index``
and pandas' name for a written index, ``Unnamed: 0``."""
MAX_CATEGORIES = 50
"""A text column with more distinct values than this, and than half its observed cells (names,
dates, free text, identifiers), is not modelled unless named in ``categorical``."""
SHOWN = 5
"""Bad cells (or unseen categories) one message names before "and N more"."""
SCALES = ("range", "quantile")
KNOTS = 1000
"""Most knots of a numeric column's empirical quantile map (``scale="quantile"``)."""


def _listed(items: Sequence[str]) -> str:
    """The first ``SHOWN`` of ``items`` joined by commas, then "and N more"."""
    shown = ", ".join(items[:SHOWN])
    return f"{shown} and {len(items) - SHOWN} more" if len(items) > SHOWN else shown


def _parsed(values: pd.Series) -> tuple[np.ndarray, list[str], list[str]]:
    """``values`` as float64 with NaN where missing or not a number, and the cells that are text
    and those that are infinite, as ``'value' in row N`` (N counted from 1, by position)."""
    observed = values.notna().to_numpy()
    parsed = pd.to_numeric(values.astype(object).where(observed, np.nan), errors="coerce")
    parsed = parsed.to_numpy(dtype=np.float64)
    text = [f"{values.iloc[r]!r} in row {r + 1}" for r in np.flatnonzero(np.isnan(parsed) & observed)]
    infinite = [f"row {r + 1}" for r in np.flatnonzero(np.isinf(parsed))]
    return parsed, text, infinite


def _number_problems(name: str, text: list[str], infinite: list[str]) -> list[str]:
    """What is wrong with numeric column ``name`` (see ``_parsed``), one clause per kind."""
    return ([f"column '{name}' holds text ({_listed(text)})"] if text else []) + \
           ([f"column '{name}' holds an infinite value in {_listed(infinite)}"] if infinite else [])


def numeric_column(values: pd.Series, name: str, source: str) -> np.ndarray:
    """The column ``values`` as float64 with NaN where missing.

    Raises:
        TableError: cells that are neither missing nor a finite number, each named with its row
            (a few, then how many more).
    """
    parsed, text, infinite = _parsed(values)
    problems = _number_problems(name, text, infinite)
    if problems:
        advice = ("fix or empty those cells, or name the column in data.options.categorical (or "
                  "data.options.ignore)" if text else "replace it by a finite number or leave the "
                  "cell empty")
        raise TableError(f"{source}: {'; '.join(problems)}; {advice}")
    return parsed


def _category(value: Any) -> str:
    """A cell of a categorical column as its category's text (a whole float as ``3``, not ``3.0``,
    so a column of numbers reads the same with and without empty cells)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _detected(values: pd.Series, name: str, source: str) -> str:
    """The kind of a column from its observed cells ``values`` (all of them, in the file's row
    order): ``numeric`` (every one a number), ``categorical`` (text in at least half of them), or
    ``ignored`` (such text with more than ``MAX_CATEGORIES`` distinct values that are more than
    half the observed cells).

    Raises:
        TableError: a column of mostly numbers with some text (a typo, a unit, a marker), naming
            the text cells; an infinite number.
    """
    _, text, _ = _parsed(values)
    observed = int(values.notna().sum())
    if not text or len(text) * 2 < observed:
        numeric_column(values, name, source)  # refuses text among numbers, and infinite values
        return "numeric"
    distinct = values.dropna().map(_category).nunique()
    return "ignored" if distinct > MAX_CATEGORIES and distinct * 2 > observed else "categorical"


@dataclass
class ColumnCodec:
    """One column: ``kind`` ``numeric`` (``lo``, ``hi``: observed training range; ``integer``:
    every observed value whole; ``bounded``: decoded values kept in [lo, hi]) or
    ``categorical`` (``categories``, as text, in the order of their entries of x). ``knots``:
    a numeric column's observed training values at evenly spaced quantiles, when it is scaled
    by its empirical distribution instead of its range."""

    name: str
    kind: str
    lo: float = 0.0
    hi: float = 0.0
    categories: list[str] = field(default_factory=list)
    integer: bool = False
    bounded: bool = False
    knots: list[float] = field(default_factory=list)

    @property
    def width(self) -> int:
        """Entries of x this column takes."""
        return 1 if self.kind == "numeric" else len(self.categories)

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """A numeric column's values -> [-1, 1] over the observed training range (a constant
        column: shifted to 0), or by their quantile among the ``knots`` (the middle of a block of
        tied knots; values outside the knots -> -1 or 1)."""
        if self.knots:
            knots = np.asarray(self.knots)
            ranks = np.linspace(0.0, 1.0, len(knots))
            quantile = 0.5 * (np.interp(values, knots, ranks)
                              - np.interp(-values, -knots[::-1], -ranks[::-1]))
            return 2 * quantile - 1
        if self.hi > self.lo:
            return (values - self.lo) / ((self.hi - self.lo) / 2) - 1
        return values - self.lo

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """The inverse of ``to_unit``, then ``restrict``."""
        if self.knots:
            ranks = np.linspace(0.0, 1.0, len(self.knots))
            return self.restrict(np.interp((np.asarray(unit) + 1) / 2, ranks, self.knots))
        values = (unit + 1) * ((self.hi - self.lo) / 2) + self.lo if self.hi > self.lo else unit + self.lo
        return self.restrict(values)

    def restrict(self, values: np.ndarray) -> np.ndarray:
        """A numeric column's values (float64, any shape) as it can hold them: inside [lo, hi]
        when ``bounded`` (a constant column: its one value), whole numbers when ``integer``. The
        mean or median of several draws needs it again."""
        if self.bounded:
            values = np.clip(values, self.lo, self.hi)
        return np.round(values) if self.integer else values


@dataclass
class TableCodec:
    """Rows of a table <-> vectors x in [-1, 1]; see the module docstring.

    ``columns``: the coded columns in the file's order; ``order``: every column of the file, in
    its order; ``label``: a column that is passed through (the items' y), not coded; ``ignored``:
    the columns that are not modelled (imputation passes them through, and a table to impute may
    lack them); ``reading``: the ``read_table`` options the table was read with (``sep``,
    ``decimal``, ``encoding``, ``missing``; only those given), for reading tables to impute alike.
    """

    columns: list[ColumnCodec]
    order: list[str]
    label: str | None = None
    ignored: list[str] = field(default_factory=list)
    reading: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, categorical: Sequence[str] = (), label: str | None = None,
            source: str = "the table", vocabulary: pd.DataFrame | None = None,
            ignore: Sequence[str] = (), scale: str = "range") -> TableCodec:
        """The codec of ``frame``'s observed cells (a training split). Column kinds, whole
        numbers and categories come from ``vocabulary`` (default: ``frame``; the whole table, so
        that a category seen only in the test split still has its entry); the scaling from
        ``frame``, by each numeric column's range or (``scale="quantile"``) its empirical
        distribution. ``categorical`` and ``ignore`` name columns whose kind is not detected.

        Raises:
            TableError: an unknown name in ``categorical``, ``ignore`` or ``label``, or a name in
                two of them; no numeric column; a modelled column without one observed cell;
                text among the numbers of a mostly numeric column; an infinite value.
        """
        if scale not in SCALES:
            raise TableError(f"data.options.scale must be one of {', '.join(SCALES)}, got '{scale}'")
        order = list(frame.columns)
        if len(set(order)) != len(order):
            twice = sorted({c for c in order if order.count(c) > 1})
            raise TableError(f"{source}: column names must be unique; {', '.join(map(repr, twice))} "
                             "appear more than once")
        named = {"categorical": list(categorical), "ignore": list(ignore),
                 "label": [label] if label else []}
        for key, names in named.items():
            unknown = [n for n in names if n not in order]
            if unknown:
                raise TableError(f"{source}: data.options.{key} names {', '.join(map(repr, unknown))}, "
                                 f"which the table does not have (its columns: {', '.join(order)})")
        for a, b in (("categorical", "ignore"), ("categorical", "label"), ("ignore", "label")):
            both = [n for n in named[a] if n in named[b]]
            if both:
                raise TableError(f"{source}: {', '.join(map(repr, both))} is named in both "
                                 f"data.options.{a} and data.options.{b}; keep one")
        whole = vocabulary if vocabulary is not None else frame
        columns, ignored = [], []
        for name in order:
            if name == label:
                continue
            if name in ignore or (name not in categorical and IDENTIFIER.fullmatch(name)):
                ignored.append(name)
                continue
            values = frame[name]
            if not values.notna().any():
                raise TableError(f"{source}: column '{name}' has no observed value; drop it from "
                                 "the table or name it in data.options.ignore")
            kind = "categorical" if name in categorical else _detected(whole[name], name, source)
            if kind == "ignored":
                ignored.append(name)
            elif kind == "categorical":
                every = whole[name]
                seen = sorted({_category(v) for v in every[every.notna()]})
                columns.append(ColumnCodec(name, "categorical", categories=seen))
            else:
                parsed = numeric_column(values, name, source)
                every = numeric_column(whole[name], name, source)
                every = every[~np.isnan(every)]
                seen = parsed[~np.isnan(parsed)]
                knots = (np.quantile(seen, np.linspace(0.0, 1.0, min(KNOTS, len(seen)))).tolist()
                         if scale == "quantile" and seen.max() > seen.min() else [])
                columns.append(ColumnCodec(name, "numeric", float(seen.min()), float(seen.max()),
                                           integer=bool(np.all(every == np.round(every))),
                                           bounded=True, knots=knots))
        if not any(c.kind == "numeric" for c in columns):
            raise TableError(f"{source}: no numeric column (a table of text only?); check the "
                             f"header line; {READING_HINT}")
        return cls(columns, order, label, ignored)

    @property
    def width(self) -> int:
        """Length of x."""
        return sum(c.width for c in self.columns)

    def describe(self) -> str:
        """The columns as a training banner names them, e.g. ``columns: 4 numeric (3 whole),
        3 text (species, island, sex), not modelled: rownames``."""
        numbers = [c for c in self.columns if c.kind == "numeric"]
        texts = [c.name for c in self.columns if c.kind == "categorical"]
        whole = sum(c.integer for c in numbers)
        parts = [f"{len(numbers)} numeric" + (f" ({whole} whole)" if whole else "")]
        if texts:
            parts.append(f"{len(texts)} text ({_listed(texts)})")
        if self.ignored:
            parts.append(f"not modelled: {_listed(self.ignored)}")
        if self.label:
            parts.append(f"label: {self.label}")
        return "columns: " + ", ".join(parts)

    @property
    def categorical_blocks(self) -> list[tuple[int, int]]:
        """``(start, width)`` in x of each categorical column's one-hot entries, in order."""
        blocks, start = [], 0
        for c in self.columns:
            if c.kind == "categorical":
                blocks.append((start, c.width))
            start += c.width
        return blocks

    def check_columns(self, frame: pd.DataFrame, source: str) -> None:
        """Raise ``TableError`` unless ``frame`` has the columns the codec models, in any order
        (the ``ignored`` and ``label`` ones may be left out, and others are not read)."""
        got = [str(c) for c in frame.columns]
        unread = [*self.ignored, *([self.label] if self.label else [])]
        needed = [c for c in self.order if c not in unread]
        missing = [c for c in needed if c not in got]
        if missing:
            extra = [c for c in got if c not in self.order]
            others = f" (it has {', '.join(map(repr, extra))}, which the model does not read)" \
                if extra else ""
            passed = f" (and passes {', '.join(unread)} through)" if unread else ""
            raise TableError(f"{source}: the model was trained on the columns {', '.join(needed)}"
                             f"{passed}; this table lacks {', '.join(map(repr, missing))}{others}")

    def encode(self, frame: pd.DataFrame, source: str = "the table") -> tuple[np.ndarray, np.ndarray]:
        """``(x, mask)``, float32 arrays (rows, width): x scaled, NaN where a cell is missing;
        mask 1 where observed. The ``ignored`` and ``label`` columns are not read.

        Raises:
            TableError: a column of the codec's missing; text or infinite values in numeric
                columns and categories not seen in training, every one named in one message (a
                few per column, then how many more).
        """
        self.check_columns(frame, source)
        parts, problems = [], []
        for c in self.columns:
            values = frame[c.name]
            if c.kind == "numeric":
                parsed, text, infinite = _parsed(values)
                problems += _number_problems(c.name, text, infinite)
                parts.append(c.to_unit(parsed)[:, None])
                continue
            observed = values.notna().to_numpy()
            text = np.array([_category(v) if o else "" for v, o in zip(values, observed, strict=True)],
                            dtype=object)
            unseen = sorted({v for v in text[observed] if v not in c.categories})
            if unseen:
                what = "a category" if len(unseen) == 1 else "categories"
                known = _listed([repr(k) for k in c.categories])
                problems.append(f"column '{c.name}' holds {_listed([repr(u) for u in unseen])}, "
                                f"{what} the model never saw (it knows {known})")
            onehot = np.full((len(frame), c.width), -1.0)
            for k, name in enumerate(c.categories):
                onehot[observed & (text == name), k] = 1.0
            onehot[~observed] = np.nan
            parts.append(onehot)
        if problems:
            raise TableError(f"{source}: {'; '.join(problems)}; fix those cells, or empty them to "
                             "have them imputed")
        x = np.concatenate(parts, axis=1).astype(np.float32)
        return x, (~np.isnan(x)).astype(np.float32)

    def decode(self, x: np.ndarray) -> pd.DataFrame:
        """The coded columns of vectors ``x`` (rows, width) in the table's units: numbers as
        float64 (kept in each column's observed range, whole in an integer column), categories as
        text."""
        x = np.asarray(x, dtype=np.float64)
        out, start = {}, 0
        for c in self.columns:
            block = x[:, start:start + c.width]
            start += c.width
            if c.kind == "numeric":
                out[c.name] = c.from_unit(block[:, 0])
            else:
                out[c.name] = np.asarray(c.categories, dtype=object)[block.argmax(axis=1)]
        return pd.DataFrame(out)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (``from_dict`` reads it)."""
        return {"kind": "table", "order": self.order, "label": self.label, "ignored": self.ignored,
                "reading": self.reading, "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableCodec:
        """The codec of ``to_dict``'s form; a form written before ``ignored``, ``reading``,
        ``integer``, ``bounded`` and ``knots`` existed decodes as it did then (nothing ignored, numbers
        neither rounded nor clipped)."""
        return cls([ColumnCodec(**c) for c in data["columns"]], list(data["order"]), data.get("label"),
                   list(data.get("ignored", [])), dict(data.get("reading", {})))


def split_rows(n: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The (train, test) row indices of a table of ``n`` rows: a fixed seeded permutation, the
    last ``test_fraction`` of it for the test split (at least one row each when n >= 2)."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED)).numpy()
    n_test = min(n - 1, max(1 if test_fraction > 0 and n >= 2 else 0, math.floor(n * test_fraction)))
    return np.sort(order[:n - n_test]), np.sort(order[n - n_test:])


class Table(Dataset):
    """Rows of a table as items ``(x, mask)``, or ``(x, y, mask)`` with a label column.

    Attributes: ``codec`` (the training split's ``TableCodec``), ``x`` (rows, width) float32 with
    NaN where missing, ``mask`` (rows, width), ``y`` (rows,) int64 or None, ``rows`` (the indices of
    these rows in the file).
    """

    def __init__(self, frame: pd.DataFrame, codec: TableCodec, rows: np.ndarray, source: str,
                 labels: np.ndarray | None = None) -> None:
        x, mask = codec.encode(frame.iloc[rows], source)
        self.codec, self.rows = codec, rows
        self.x, self.mask = torch.from_numpy(x), torch.from_numpy(mask)
        self.y = None if labels is None else torch.from_numpy(labels[rows])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple:
        if self.y is None:
            return self.x[index], self.mask[index]
        return self.x[index], int(self.y[index]), self.mask[index]

    def units(self) -> dict[str, Any]:
        """What x means, stored in the run's checkpoints (``TableCodec.to_dict``)."""
        return self.codec.to_dict()


@DATASETS.register("table")
def build(root: str, train: bool, path: str | None = None, categorical: Sequence[str] = (),
          label: str | None = None, test_fraction: float = 0.2, ignore: Sequence[str] = (),
          sep: str | None = None, decimal: str | None = None, encoding: str | None = None,
          missing: Sequence[str] | None = None, scale: str = "range") -> Table:
    """The table in ``path`` (see ``read_table``; relative to the working directory) as a
    ``Table``: its rows split by a fixed seeded permutation, ``test_fraction`` of them for the
    test split; the codec is fitted on the training rows. Column kinds are detected (see the
    module docstring); ``categorical``: columns coded one-hot even if they hold numbers;
    ``ignore``: columns not modelled; ``label``: a column that is not modelled but given as the
    items' y (its values numbered in sorted order; rows without a label get -1). ``sep``,
    ``decimal``, ``encoding``: how to read a text file where sniffing guesses wrong; ``missing``:
    the texts that mark a missing cell besides an empty one, instead of pandas' markers and ``?``
    (all kept in the codec, so tables to impute are read alike). ``scale``: numeric columns
    scaled by their range (``range``) or their empirical distribution (``quantile``; see the
    module docstring). ``root`` is unused."""
    if not path:
        raise ValueError("the table data set needs `path`: data.options.path, the file to learn from")
    categorical = [categorical] if isinstance(categorical, str) else list(categorical)
    ignore = [ignore] if isinstance(ignore, str) else list(ignore)
    reading = {k: v for k, v in (("sep", sep), ("decimal", decimal), ("encoding", encoding),
                                 ("missing", None if missing is None else list(missing_markers(missing)[1:])))
               if v is not None}
    frame = read_table(path, **reading)
    source = str(path)
    train_rows, test_rows = split_rows(len(frame), test_fraction)
    codec = TableCodec.fit(frame.iloc[train_rows], categorical, label, source, vocabulary=frame,
                           ignore=ignore, scale=scale)
    codec.reading = reading
    labels = None
    if label is not None:
        values = frame[label].astype(str).where(frame[label].notna(), None)
        names = sorted(values.dropna().unique())
        labels = np.array([names.index(v) if v is not None else -1 for v in values], dtype=np.int64)
    rows = train_rows if train else test_rows
    if len(rows) == 0:
        raise ValueError(f"the test split of {source} is empty: raise test_fraction above 0")
    return Table(frame, codec, rows, source, labels)
