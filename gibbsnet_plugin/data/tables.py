"""``table``: a table with missing cells (CSV, TSV, Parquet, NumPy) as partially observed vectors.

Each row is one item ``(x, mask)`` (or ``(x, y, mask)`` with a ``label`` column): x a float32
vector, mask 1 where the cell was observed. Empty cells and pandas' missing-value markers (``NA``,
``NaN``, ``null``, ...) are missing; x holds NaN there, which training only ever selects away.

A ``TableCodec`` turns rows into x and back. It is learnt from the *observed* cells of the
training split (the categories: of the whole table) and travels inside every checkpoint of the
run, so imputations come back in the table's own units whatever file a user imputes later:

- a numeric column is min-max scaled to [-1, 1] (its observed training minimum -> -1, maximum -> 1;
  a constant column is shifted to 0);
- a categorical column (``categorical: [names]``) becomes one entry per category seen in
  training, +1 for the row's category and -1 for the others; decoding takes the largest entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from gibbsnet_plugin.data.base import SPLIT_SEED
from gibbsnet_plugin.errors import TableError
from gibbsnet_plugin.registry import DATASETS

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".npy", ".npz")
"""File name endings ``read_table`` reads."""


def read_table(path: str | Path) -> pd.DataFrame:
    """The table in ``path``: CSV (``.csv``, ``.txt``), tab-separated (``.tsv``), Parquet, or a
    2-D NumPy array (``.npy``; ``.npz``: its first array), whose columns are named ``0``, ``1``, ...

    Raises:
        TableError: a missing or unreadable file, another suffix, or an empty table.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise TableError(f"{path}: tables are read from {', '.join(TABLE_SUFFIXES)} files, not "
                         f"'{suffix or path.name}'")
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in (".npy", ".npz"):
            array = np.load(path, allow_pickle=False)
            if suffix == ".npz":
                array = array[array.files[0]] if array.files else np.empty((0, 0))
            if array.ndim != 2:
                raise TableError(f"{path}: a table needs a 2-D array (rows × columns), this one "
                                 f"has shape {array.shape}")
            frame = pd.DataFrame(array, columns=[str(i) for i in range(array.shape[1])])
        else:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", skipinitialspace=True)
    except TableError:
        raise
    except ImportError as exc:
        raise TableError(f"{path}: reading Parquet needs pyarrow ({exc}); pip install pyarrow, or "
                         "save the table as CSV") from None
    except Exception as exc:  # pandas and NumPy raise many types for a damaged file
        raise TableError(f"{path}: not a readable table ({type(exc).__name__}: {exc})") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise TableError(f"{path}: the table is empty ({frame.shape[0]} rows × {frame.shape[1]} columns)")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def numeric_column(values: pd.Series, name: str, source: str) -> np.ndarray:
    """The column ``values`` as float64 with NaN where missing.

    Raises:
        TableError: a cell that is neither missing nor a number (naming its row and value).
    """
    parsed = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(parsed) & values.notna().to_numpy())
    if len(bad):
        row = int(bad[0])
        raise TableError(f"{source}: column '{name}' holds text ({values.iloc[row]!r} in row "
                         f"{row + 1}); numbers only, or declare it in `categorical`")
    if np.isinf(parsed).any():
        row = int(np.flatnonzero(np.isinf(parsed))[0])
        raise TableError(f"{source}: column '{name}' holds an infinite value in row {row + 1}; "
                         "replace it by a finite number or leave the cell empty")
    return parsed


@dataclass
class ColumnCodec:
    """One column: ``kind`` ``numeric`` (``lo``, ``hi``: observed training range) or ``categorical``
    (``categories``, as text, in the order of their entries of x)."""

    name: str
    kind: str
    lo: float = 0.0
    hi: float = 0.0
    categories: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        """Entries of x this column takes."""
        return 1 if self.kind == "numeric" else len(self.categories)

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """A numeric column's values -> [-1, 1] over the observed training range (a constant
        column: shifted to 0)."""
        if self.hi > self.lo:
            return (values - self.lo) / ((self.hi - self.lo) / 2) - 1
        return values - self.lo

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """The inverse of ``to_unit``."""
        if self.hi > self.lo:
            return (unit + 1) * ((self.hi - self.lo) / 2) + self.lo
        return unit + self.lo


@dataclass
class TableCodec:
    """Rows of a table <-> vectors x in [-1, 1]; see the module docstring.

    ``columns``: the coded columns in the file's order; ``label``: a column that is passed
    through (the items' y), not coded; ``order``: every column of the file, in its order.
    """

    columns: list[ColumnCodec]
    order: list[str]
    label: str | None = None

    @classmethod
    def fit(cls, frame: pd.DataFrame, categorical: Sequence[str] = (), label: str | None = None,
            source: str = "the table", vocabulary: pd.DataFrame | None = None) -> TableCodec:
        """The codec of ``frame``'s observed cells (a training split); the categories of
        categorical columns are those seen in ``vocabulary`` (default: ``frame``; the whole table,
        so that a category seen only in the test split still has its entry).

        Raises:
            TableError: an unknown name in ``categorical`` or ``label``, no numeric column, a
                column without one observed cell, or text in a numeric column.
        """
        order = list(frame.columns)
        if len(set(order)) != len(order):
            twice = sorted({c for c in order if order.count(c) > 1})
            raise TableError(f"{source}: column names must be unique; {', '.join(map(repr, twice))} "
                             "appear more than once")
        for key, names in (("categorical", list(categorical)), ("label", [label] if label else [])):
            unknown = [n for n in names if n not in order]
            if unknown:
                raise TableError(f"{source}: `{key}` names {', '.join(map(repr, unknown))}, which the "
                                 f"table does not have (its columns: {', '.join(order)})")
        columns = []
        for name in order:
            if name == label:
                continue
            values = frame[name]
            if not values.notna().any():
                raise TableError(f"{source}: column '{name}' has no observed value; drop it from "
                                 "the table")
            if name in categorical:
                every = (vocabulary if vocabulary is not None else frame)[name]
                seen = sorted({str(v) for v in every[every.notna()]})
                columns.append(ColumnCodec(name, "categorical", categories=seen))
            else:
                parsed = numeric_column(values, name, source)
                columns.append(ColumnCodec(name, "numeric", float(np.nanmin(parsed)),
                                           float(np.nanmax(parsed))))
        if not any(c.kind == "numeric" for c in columns):
            raise TableError(f"{source}: no numeric column (a table of text only?); check the "
                             "separator and the header line")
        return cls(columns, order, label)

    @property
    def width(self) -> int:
        """Length of x."""
        return sum(c.width for c in self.columns)

    def check_columns(self, frame: pd.DataFrame, source: str) -> None:
        """Raise ``TableError`` unless ``frame`` has exactly the columns the codec was fitted on
        (in any order)."""
        got = [str(c) for c in frame.columns]
        missing = [c for c in self.order if c not in got]
        extra = [c for c in got if c not in self.order]
        if missing or extra:
            parts = ([f"lacks {', '.join(map(repr, missing))}"] if missing else []) + \
                    ([f"has {', '.join(map(repr, extra))} too"] if extra else [])
            raise TableError(f"{source}: the model was trained on the columns {', '.join(self.order)}; "
                             f"this table {' and '.join(parts)}")

    def encode(self, frame: pd.DataFrame, source: str = "the table") -> tuple[np.ndarray, np.ndarray]:
        """``(x, mask)``, float32 arrays (rows, width): x scaled, NaN where a cell is missing;
        mask 1 where observed.

        Raises:
            TableError: other columns than the codec's, text in a numeric column, or a category
                not seen in training.
        """
        self.check_columns(frame, source)
        parts = []
        for c in self.columns:
            values = frame[c.name]
            if c.kind == "numeric":
                parts.append(c.to_unit(numeric_column(values, c.name, source))[:, None])
                continue
            text = values.astype(str).where(values.notna(), None)
            unseen = sorted({v for v in text.dropna() if v not in c.categories})
            if unseen:
                raise TableError(f"{source}: column '{c.name}' holds {unseen[0]!r}, a category the "
                                 f"model never saw (it knows {', '.join(map(repr, c.categories))})")
            onehot = np.full((len(frame), c.width), -1.0)
            for k, category in enumerate(c.categories):
                onehot[(text == category).to_numpy(), k] = 1.0
            onehot[text.isna().to_numpy()] = np.nan
            parts.append(onehot)
        x = np.concatenate(parts, axis=1).astype(np.float32)
        return x, (~np.isnan(x)).astype(np.float32)

    def decode(self, x: np.ndarray) -> pd.DataFrame:
        """The coded columns of vectors ``x`` (rows, width) in the table's units: numbers as
        float64, categories as text."""
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
        return {"kind": "table", "order": self.order, "label": self.label,
                "columns": [{"name": c.name, "kind": c.kind, "lo": c.lo, "hi": c.hi,
                             "categories": c.categories} for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableCodec:
        return cls([ColumnCodec(**c) for c in data["columns"]], list(data["order"]), data.get("label"))


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
          label: str | None = None, test_fraction: float = 0.2) -> Table:
    """The table in ``path`` (see ``read_table``; relative to the working directory) as a
    ``Table``: its rows split by a fixed seeded permutation, ``test_fraction`` of them for the
    test split; the codec is fitted on the training rows. ``categorical``: text columns, one-hot
    coded; ``label``: a column that is not modelled but given as the items' y (its values
    numbered in sorted order; rows without a label get -1). ``root`` is unused."""
    if not path:
        raise ValueError("the table data set needs `path`: data.options.path, the file to learn from")
    if isinstance(categorical, str):
        categorical = [categorical]
    frame = read_table(path)
    source = str(path)
    train_rows, test_rows = split_rows(len(frame), test_fraction)
    codec = TableCodec.fit(frame.iloc[train_rows], categorical, label, source, vocabulary=frame)
    labels = None
    if label is not None:
        values = frame[label].astype(str).where(frame[label].notna(), None)
        names = sorted(values.dropna().unique())
        labels = np.array([names.index(v) if v is not None else -1 for v in values], dtype=np.int64)
    rows = train_rows if train else test_rows
    if len(rows) == 0:
        raise ValueError(f"the test split of {source} is empty: raise test_fraction above 0")
    return Table(frame, codec, rows, source, labels)
