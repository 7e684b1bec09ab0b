"""Filling the holes of a table with a run trained on the ``table`` data set.

Each row's observed cells clamp a partially clamped chain (``ChainModel.inpaint``): the missing
cells start from noise and ``steps`` chain steps fill them. ``draws`` independent chains give
that many imputations (multiple imputation); ``reduce`` turns them into one point estimate (the
mean or median of a numeric cell, the most frequent category of a categorical one), an estimate
of the conditional mean that beats any single draw in squared error. With ``mean`` and a model
that draws categories from a softmax, a categorical cell is the category most probable under the
mean over draws of the probabilities the decoder gives it at each chain's last state (a
Rao-Blackwellised estimate: no draw noise on top of the chains'). Values come back in the
table's own units (the run's ``TableCodec``); observed cells are never changed.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from gibbsnet_plugin.architectures.base import shown_cells
from gibbsnet_plugin.architectures.wrappers import categorical_head
from gibbsnet_plugin.chains import ChainModel, corrected_states
from gibbsnet_plugin.data.table_files import TextFormat, read_table, sniff_format
from gibbsnet_plugin.data.tables import TableCodec
from gibbsnet_plugin.data.units import table_codec_of
from gibbsnet_plugin.errors import OutputError, TableError
from gibbsnet_plugin.limits import MAX_COUNT, MAX_STEPS
from gibbsnet_plugin.testtime import Run, check_independent, load_run
from gibbsnet_plugin.utils import atomic_output, seeded, write_text_atomic

Reduce = Literal["mean", "median"]
REDUCTIONS = ("mean", "median")
DRAW_COLUMN = ".imp"
ID_COLUMN = ".id"
"""The second column of a long file of several draws: the row's number, 1..n (the first,
``DRAW_COLUMN``, is the draw's: 0 for the table as given, 1..K for the draws)."""
OUTPUT_SUFFIXES = (".csv", ".tsv", ".npy")


@dataclass
class Imputation:
    """The imputations of one table.

    ``draws``: K filled tables (the input's columns, order and index; observed cells are the
    input's own objects); ``point``: the ``reduce`` of the draws (None without one); ``missing``:
    (rows, columns) bool, the cells that were filled; ``steps``, ``seconds``: chain steps per
    draw and the wall time of the chains; ``acceptance``: the share of independent proposals
    accepted (None when none were made).
    """

    draws: list[pd.DataFrame]
    point: pd.DataFrame | None
    missing: np.ndarray
    steps: int
    seconds: float
    acceptance: float | None = None

    @property
    def filled(self) -> pd.DataFrame:
        """The table a user wants back: the point estimate, or the single draw."""
        return self.point if self.point is not None else self.draws[0]

    def long(self) -> pd.DataFrame:
        """The long format of multiple imputation that R's ``mice::as.mids`` reads: the table as
        given (its holes empty) and then every draw, stacked, with ``.imp`` (0 for the table as
        given, 1..K for the draws) and ``.id`` (the row, 1..n) first."""
        given = self.draws[0].mask(pd.DataFrame(self.missing, index=self.draws[0].index,
                                                columns=self.draws[0].columns))
        return long_format([given, *self.draws])


def long_format(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """``tables`` (the table as given, then K draws, all of one shape) stacked with ``.imp``
    (0..K) and ``.id`` (1..n) columns first: R's ``mice::as.mids`` long format.

    Raises:
        TableError: the tables already have a ``.imp`` or ``.id`` column (a long file given back).
    """
    taken = [c for c in (DRAW_COLUMN, ID_COLUMN) if c in tables[0].columns]
    if taken:
        raise TableError(f"the table has {' and '.join(taken)} columns, which the long format of "
                         "several draws adds; drop or rename them, or write one point estimate "
                         "(reduce)")
    rows = len(tables[0])
    stacked = pd.concat(tables, ignore_index=True)
    stacked.insert(0, ID_COLUMN, np.tile(np.arange(1, rows + 1), len(tables)))
    stacked.insert(0, DRAW_COLUMN, np.repeat(np.arange(len(tables)), rows))
    return stacked


def table_codec(run: Run) -> TableCodec:
    """The codec of a run trained on the ``table`` data set.

    Raises:
        TableError: the run was trained on other data (images, a plugin's data set).
    """
    codec = table_codec_of(run.units)
    if codec is None:
        raise TableError(f"{run.checkpoint}: this run was trained on '{run.recipe.data.dataset}', "
                         "not on a table; impute tables with a run of the table data set "
                         "(recipes/table.yaml)")
    return codec


def as_frame(table: pd.DataFrame | np.ndarray | str | Path, codec: TableCodec) -> pd.DataFrame:
    """``table`` as a DataFrame: a file is read with ``read_table`` (and the options the run's
    table was read with); a 2-D array gets the run's column names, in order."""
    if isinstance(table, (str, Path)):
        return read_table(table, **codec.reading, hint=_reading_hint(codec.reading))
    if isinstance(table, np.ndarray):
        if table.ndim != 2 or table.shape[1] != len(codec.order):
            raise TableError(f"an array of shape {table.shape}: the model imputes tables of "
                             f"{len(codec.order)} columns ({', '.join(codec.order)})")
        return pd.DataFrame(table, columns=codec.order)
    if not isinstance(table, pd.DataFrame):
        raise TableError(f"`table` must be a DataFrame, a 2-D NumPy array or a file, not "
                         f"{type(table).__name__}")
    if len(table) == 0:
        raise TableError("the table has no rows")
    return table.rename(columns=str)


def _reading_hint(reading: dict[str, Any]) -> str:
    """The advice for a file to impute that cannot be read or decoded: the run reads it as it read its own
    table (``reading``: the options the run's table was read with)."""
    named = [f"{k} {v!r}" for k, v in reading.items() if k in ("sep", "decimal", "encoding")]
    if named:
        return f"the run reads tables with {', '.join(named)}, as it read its own; save this one so"
    return ("the run sniffs the separator, decimal mark and encoding, as it did for its own table; "
            "save this one as a comma-separated UTF-8 file")


def impute(
    run: Run | str | Path,
    table: pd.DataFrame | np.ndarray | str | Path,
    draws: int = 1,
    reduce: Reduce | None = None,
    steps: int = 20,
    seed: int | None = 0,
    batch_size: int = 1000,
    independent: float = 0.0,
) -> Imputation:
    """Fill the missing cells (NaN, or empty in a file) of ``table`` with ``draws`` chains of
    ``steps`` steps each of the run's model, and optionally ``reduce`` them to a point estimate.

    ``run``: a ``Run`` (``load_run``) or its path. Draws are reproducible for a ``seed``.
    ``independent``: the probability, per chain and step, of proposing a fresh partially clamped
    chain of the trained length that D accepts or rejects (``chains.corrected_states``); 0 is the
    plain chain. When D judges packs of m rows, the rows are chained in packs of m (the last
    batch padded with copies of its last row, which are dropped).

    Raises:
        TableError: a run not trained on a table; a table that lacks a column the run models,
            text in a numeric column, or an unknown category. Columns the run does not model (its
            ignored and label ones, and any it was not trained on) are handed back as given.
        ValueError: ``draws``, ``steps`` or ``batch_size`` out of range, an unknown ``reduce``.
        GibbsnetError: ``independent`` outside [0, 1], or above 0 for a model whose D cannot judge.
    """
    if not 1 <= draws <= MAX_COUNT:
        raise ValueError(f"`draws` must be between 1 and {MAX_COUNT:,}, got {draws}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"`steps` must be between 1 and {MAX_STEPS:,}, got {steps}")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be at least 1, got {batch_size}")
    if reduce is not None and reduce not in REDUCTIONS:
        raise ValueError(f"`reduce` '{reduce}': expected one of {', '.join(REDUCTIONS)}")
    run = run if isinstance(run, Run) else load_run(run)
    check_independent(run.model, run.model.pack, independent)  # the rows are padded to whole packs
    codec = table_codec(run)
    frame = as_frame(table, codec)
    source = str(table) if isinstance(table, (str, Path)) else "the table"
    x, mask = codec.encode(frame, source)
    start = time.perf_counter()
    draws_coded, expected, acceptance = _chains(run.model, x, mask, draws, steps, seed, batch_size,
                                                independent, probabilities=reduce == "mean")
    coded = [codec.decode(v) for v in draws_coded]
    seconds = time.perf_counter() - start
    modelled = {c.name for c in codec.columns}  # the others pass through, empty cells and all
    missing = frame.isna().to_numpy() & np.array([c in modelled for c in frame.columns])
    filled = [_fill(frame, d, missing) for d in coded]
    point = None
    if reduce is not None:
        likely = None if expected is None else codec.decode(np.mean(expected, axis=0))
        point = _fill(frame, _reduce(coded, codec, reduce, likely), missing)
    return Imputation(filled, point, missing, steps, seconds, acceptance)


def _chains(model: ChainModel, x: np.ndarray, mask: np.ndarray, draws: int, steps: int,
            seed: int | None, batch_size: int, independent: float, probabilities: bool = False,
            ) -> tuple[list[np.ndarray], np.ndarray | None, float | None]:
    """``draws`` imputations of the coded rows ``x`` (NaN where ``mask`` is 0), each (rows, width);
    with ``probabilities``, for a model that draws categories, the probabilities of the categories
    that the next x update of each draw's last state would draw from (draws, rows, width; only
    the categorical blocks are meant to be read), else None; and the share of independent proposals
    accepted (None when none were made)."""
    observed = torch.from_numpy(mask)
    values = torch.from_numpy(np.nan_to_num(x, nan=0.0))  # the hidden cells are never read
    head = categorical_head(model) if probabilities else None
    pack = model.pack if independent else 1
    batch_size = max(pack, batch_size // pack * pack)
    out, expected, proposals, accepted = [], [], 0, 0
    with seeded(seed, model.device):
        for _ in range(draws):
            parts, likely = [], []
            for i in range(0, len(values), batch_size):
                rows = torch.arange(i, min(i + batch_size, len(values)))
                padded = torch.cat([rows, rows[-1:].repeat(-len(rows) % pack)])
                chains = corrected_states(model, len(padded), [steps], independent,
                                          x_observed=values[padded], mask=observed[padded])
                last = chains.states[0][0][:len(rows)]
                parts.append(last.cpu())
                proposals, accepted = proposals + chains.proposals[0], accepted + chains.accepted[0]
                if head is not None:
                    devices = [model.device] if model.device.type == "cuda" else []
                    with (torch.random.fork_rng(devices=devices), torch.no_grad(),
                          head.logits() as logits,  # the draws stay those of any `reduce`
                          shown_cells(values[rows], observed[rows])):
                        model.x_update(last)
                    likely.append(head.probabilities(logits[-1].detach()).cpu())
            out.append(torch.cat(parts).numpy().astype(np.float64))
            if head is not None:
                expected.append(torch.cat(likely).numpy().astype(np.float64))
    return (out, np.stack(expected) if head is not None else None,
            accepted / proposals if proposals else None)


def _fill(frame: pd.DataFrame, values: pd.DataFrame, missing: np.ndarray) -> pd.DataFrame:
    """``frame`` with its ``missing`` cells taken from ``values`` (same rows, coded columns)."""
    out = frame.copy()
    for j, name in enumerate(frame.columns):
        rows = missing[:, j]
        if rows.any():
            numeric = pd.api.types.is_numeric_dtype(values[name])
            column = out[name].astype(float) if numeric else out[name].astype(object)
            column[rows] = values[name].to_numpy()[rows]
            out[name] = column
    return out


def _reduce(coded: list[pd.DataFrame], codec: TableCodec, reduce: Reduce,
            likely: pd.DataFrame | None = None) -> pd.DataFrame:
    """The cell-wise mean or median of numeric columns over the draws; for categorical ones the
    category of ``likely`` (the most probable under the draws' mean category probabilities) when
    given, else the most frequent category of the draws."""
    out = {}
    for c in codec.columns:
        stacked = np.stack([d[c.name].to_numpy() for d in coded], axis=1)
        if c.kind == "numeric":
            stacked = stacked.astype(np.float64)
            out[c.name] = c.restrict(stacked.mean(axis=1) if reduce == "mean" else np.median(stacked, axis=1))
        elif likely is not None:
            out[c.name] = likely[c.name].to_numpy()
        else:
            out[c.name] = pd.DataFrame(stacked).mode(axis=1)[0].to_numpy()
    return pd.DataFrame(out)


def format_number(value: float, decimal: str = ".") -> str:
    """An imputed number as a table cell: 7 significant digits (float32's precision), with the
    ``decimal`` mark."""
    return f"{value:.7g}".replace(".", decimal)


def impute_file(
    run: Run | str | Path,
    path: str | Path,
    out: str | Path,
    draws: int = 1,
    reduce: Reduce | None = None,
    steps: int = 20,
    seed: int | None = 0,
    force: bool = False,
    independent: float = 0.0,
) -> tuple[Imputation, Path]:
    """Impute the table file ``path`` (see ``impute``) and write the result to ``out``: the
    point estimate (``reduce``) or the single draw, or with ``draws`` > 1 and no ``reduce`` every
    draw in one long file (``long_format``: ``.imp`` 0 the cells as in the file, 1..K the draws).

    ``out`` ending in ``.csv``/``.tsv``: every observed cell is written exactly as it was in the
    input file (a CSV input: the same text), imputed numbers with 7 significant digits, with the
    input's separator (``.tsv``: a tab; ``.csv``: a comma for a tab-separated input) and decimal
    mark; ``.npy``:
    a float array (rows, columns), or (draws, rows, columns), for tables without text columns.
    Nothing is written unless everything succeeded. ``independent``: as in ``impute``.

    Raises:
        OutputError: ``out`` exists (without ``force``), is the input, or has another suffix.
        TableError, ValueError, GibbsnetError: as ``impute``.
    """
    path, out = Path(path).expanduser(), Path(out).expanduser()
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputError(f"{out}: write the filled table to a {', '.join(OUTPUT_SUFFIXES)} file")
    if out.exists() and out.resolve() == path.resolve():
        raise OutputError(f"{out}: the input itself; write the filled table to another file")
    if out.is_dir() or (out.exists() and not force):
        raise OutputError(f"{out}: already exists; pass `force` to replace it or choose another name")
    run = run if isinstance(run, Run) else load_run(run)
    result = impute(run, path, draws, reduce, steps, seed, independent=independent)
    reading = table_codec(run).reading
    tables = [result.filled] if reduce is not None or draws == 1 else result.draws
    if out.suffix.lower() == ".npy":
        try:
            arrays = np.stack([t.to_numpy(dtype=np.float64) for t in tables])
        except (TypeError, ValueError):
            raise OutputError(f"{out}: the table has text columns; write it to a .csv file") from None
        _write_npy(out, arrays[0] if len(tables) == 1 else arrays)
        return result, out
    raw = _raw_cells(path, result.missing.shape, reading)
    style = (TextFormat(",", ".", "utf-8") if path.suffix.lower() in (".npy", ".npz", ".parquet")
             else sniff_format(path, **{k: v for k, v in reading.items() if k != "missing"}))
    texts = []
    for table in tables:
        cells = raw.copy()
        for j, name in enumerate(cells.columns):
            rows = result.missing[:, j]
            if rows.any():
                values = table.iloc[:, j].to_numpy()[rows]
                column = cells[name].to_numpy(dtype=object)
                column[rows] = [v if isinstance(v, str) else format_number(float(v), style.decimal)
                                for v in values]
                cells[name] = column
        texts.append(cells)
    frame = long_format([raw, *texts]).astype(str) if len(texts) > 1 else texts[0]
    text = io.StringIO()
    sep = "\t" if out.suffix.lower() == ".tsv" else "," if style.sep == "\t" else style.sep
    frame.to_csv(text, index=False, sep=sep)
    write_text_atomic(out, text.getvalue())
    return result, out


def _raw_cells(path: Path, shape: tuple[int, int], reading: dict[str, Any]) -> pd.DataFrame:
    """The cells of ``path`` as the text they are in the file (numbers of a NumPy file as
    ``str``), with the header as it is; ``reading``: ``read_table``'s options."""
    raw = read_table(path, **reading, text=True, hint=_reading_hint(reading))
    if raw.shape != shape:
        raise TableError(f"{path}: read as {raw.shape[0]} × {raw.shape[1]} cells of text but "
                         f"{shape[0]} × {shape[1]} of values; are some rows ragged?")
    return raw


def _write_npy(out: Path, array: np.ndarray) -> None:
    with atomic_output(out) as tmp, tmp.open("wb") as f:
        np.save(f, array)
