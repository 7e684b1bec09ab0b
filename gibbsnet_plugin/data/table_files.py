"""Reading a table file (CSV, TSV, text, Parquet, NumPy) as a DataFrame: ``read_table``.

A text file's separator (comma, semicolon, tab or pipe), decimal mark and encoding are sniffed
(``sniff_format``), or named (``sep``, ``decimal``, ``encoding``: the ``table`` data set's options
of the same names). Empty cells, pandas' missing-value markers and ``?`` (UCI files') are missing.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gibbsnet_plugin.errors import TableError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".npy", ".npz")
"""File name endings ``read_table`` reads."""
SEPARATORS = (",", ";", "\t", "|")
"""The separators ``sniff_format`` chooses from, preferred in this order on a tie."""
MISSING_MARKERS = ("", "?", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "null", "NULL", "None",
                   "<NA>", "#N/A", "#N/A N/A", "#NA", "1.#IND", "-1.#IND", "1.#QNAN", "-1.#QNAN")
"""The text of a missing cell (surrounding spaces aside): pandas' markers and ``?``, UCI files'."""
SNIFF_ROWS = 200
"""Rows of a text file that ``sniff_format`` looks at (at most its first ``SNIFF_CHARS``)."""
SNIFF_CHARS = 1 << 20
"""Characters of a text file that ``sniff_format`` looks at, at most."""
_COMMA_NUMBER = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
_POINT_NUMBER = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
_SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
READING_HINT = ("data.options.sep, data.options.decimal or data.options.encoding say how to read it "
            "(sniffed: comma, semicolon, tab or pipe; UTF-8, UTF-16 or Latin-1)")


@dataclass(frozen=True)
class TextFormat:
    """How a text table is written: its separator ``sep``, decimal mark ``decimal`` (``.`` or
    ``,``) and ``encoding`` (a Python codec name)."""

    sep: str
    decimal: str
    encoding: str


def _check_reading(sep: str | None, decimal: str | None, encoding: str | None) -> str | None:
    """``sep`` as one character (``tab``, ``\\t``, ``comma``, ... spelled out are accepted).

    Raises:
        TableError: a ``sep`` of several characters, a ``decimal`` other than ``.`` or ``,``, an
            unknown ``encoding``.
    """
    if sep is not None:
        sep = _SEPARATOR_NAMES.get(str(sep).lower(), str(sep))
        if len(sep) != 1:
            raise TableError(f"data.options.sep {sep!r}: one character, such as ',', ';', '|' or "
                             "'tab'")
    if decimal is not None and decimal not in (".", ","):
        raise TableError(f"data.options.decimal {decimal!r}: '.' or ','")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise TableError(f"data.options.encoding {encoding!r}: not an encoding Python knows; "
                             "try 'utf-8', 'utf-16', 'cp1252' or 'latin-1'") from None
    return sep


def _decoded(path: Path, encoding: str | None, hint: str | None = None) -> tuple[str, str]:
    """The text of ``path`` and its encoding: ``encoding``, else UTF-8 or UTF-16 by their byte
    order mark, else UTF-8, else Windows-1252, else Latin-1 (which decodes any bytes). ``hint``:
    the advice when ``encoding`` does not decode it (by default, to fix or drop
    ``data.options.encoding``)."""
    data = path.read_bytes()
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            advice = hint or "fix data.options.encoding, or leave it out to have it sniffed"
            raise TableError(f"{path}: not {encoding} text ({exc.reason} at byte {exc.start}); "
                             f"{advice}") from None
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    for name in ("utf-8", "cp1252"):
        try:
            return data.decode(name), name
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _rows(text: str, sep: str) -> list[list[str]]:
    """The first ``SNIFF_ROWS`` non-empty rows of ``text`` split at ``sep`` (quotes respected)."""
    return [r for r in itertools.islice(csv.reader(io.StringIO(text), delimiter=sep), SNIFF_ROWS) if r]


def _sniffed(text: str, sep: str | None, decimal: str | None) -> tuple[str, str]:
    """``(sep, decimal)`` of a table's ``text`` where not given. The separator is the one of
    ``SEPARATORS`` that splits the header into several fields and the most of the first
    ``SNIFF_ROWS`` rows into as many (then: into more fields); the decimal mark is ``,`` when the
    separator is not a comma and more cells look like ``1,5`` than like ``1.5``."""
    head = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS:
        head = head[:head.rfind("\n") + 1]  # whole lines only
    if sep is None:
        best, sep = (0, 0, 0), ","
        for rank, candidate in enumerate(reversed(SEPARATORS)):
            rows = _rows(head, candidate)
            fields = len(rows[0]) if rows else 0
            score = (sum(len(r) == fields for r in rows), fields, rank)
            if fields > 1 and score > best:
                best, sep = score, candidate
    if decimal is None:
        decimal = "."
        if sep != ",":
            cells = [c.strip() for r in _rows(head, sep) for c in r]
            commas = sum(bool(_COMMA_NUMBER.fullmatch(c)) for c in cells)
            points = sum(bool(_POINT_NUMBER.fullmatch(c)) for c in cells)
            decimal = "," if commas > points else "."
    return sep, decimal


def sniff_format(path: str | Path, sep: str | None = None, decimal: str | None = None,
                 encoding: str | None = None) -> TextFormat:
    """How the text table in ``path`` is written (see ``read_table``); the given parts are kept.

    Raises:
        TableError: a bad ``sep``, ``decimal`` or ``encoding``, or a file that is not text in
            the given ``encoding``.
    """
    path = Path(path).expanduser()
    sep = _check_reading(sep, decimal, encoding)
    text, encoding = _decoded(path, encoding)
    return TextFormat(*_sniffed(text, sep, decimal), encoding)


def missing_markers(missing: Sequence[str] | str | None) -> tuple[str, ...]:
    """The texts of a missing cell: ``MISSING_MARKERS`` when ``missing`` is None, else the empty
    cell and ``missing`` (one marker or several; e.g. ``["-999", "."]``, or ``[]`` so that
    ``NA`` and ``None`` are values).

    Raises:
        TableError: ``missing`` is not a text or a list of texts.
    """
    if missing is None:
        return MISSING_MARKERS
    given = [missing] if isinstance(missing, str) else missing
    if not isinstance(given, (list, tuple)) or not all(isinstance(m, (str, int, float)) for m in given):
        raise TableError(f"data.options.missing must be a list of the texts that mark a missing cell "
                         f"(e.g. ['-999', '.']), got {missing!r}")
    return ("", *(str(m).strip() for m in given))


def _tidy(column: pd.Series, decimal: str, markers: tuple[str, ...]) -> pd.Series:
    """A text (or true/false) column of a table read from a file: cells stripped of spaces,
    ``markers`` missing, ``1,5`` as ``1.5`` when the decimal mark is a comma; numbers if every
    observed cell is then one. True and false stay text (``True``, ``False``): categories."""
    values = column.astype(object)
    text = values.map(lambda v: v.strip() if isinstance(v, str) else str(v) if isinstance(v, bool) else v)
    text = text.where(~text.isin(markers), np.nan)
    if decimal == ",":
        text = text.map(lambda v: v.replace(",", ".")
                        if isinstance(v, str) and _COMMA_NUMBER.fullmatch(v) else v)
    numbers = pd.to_numeric(text, errors="coerce")
    return numbers if numbers.notna().sum() == text.notna().sum() else text


def read_table(path: str | Path, sep: str | None = None, decimal: str | None = None,
               encoding: str | None = None, text: bool = False,
               missing: Sequence[str] | str | None = None, hint: str | None = None) -> pd.DataFrame:
    """The table in ``path``: text (``.csv``, ``.tsv``, ``.txt``), Parquet, or a 2-D NumPy array
    (``.npy``; ``.npz``: its first array), whose columns are named ``0``, ``1``, ...

    A text file's separator, decimal mark and encoding are ``sniff_format``'s unless given
    (``sep`` one character or ``tab``; ``decimal`` ``.`` or ``,``; ``encoding`` a Python codec
    name). Column names and text cells are stripped of surrounding spaces; empty cells, pandas'
    missing markers and ``?`` are missing (NaN), or empty cells and the texts in ``missing``
    (``missing_markers``); a column whose observed cells are all numbers is float or int.
    ``text``: every cell as the text it is in the file instead ("" where empty; a NumPy or Parquet
    file's values as ``str``), with the header as it is. ``hint``: the advice that ends the
    error of a text file that cannot be read or decoded (by default, which ``data.options`` say how
    to read it).

    Raises:
        TableError: a missing or unreadable file, another suffix, a bad ``sep``, ``decimal`` or
            ``encoding``, or an empty table.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise TableError(f"{path}: tables are read from {', '.join(TABLE_SUFFIXES)} files, not "
                         f"'{suffix or path.name}'")
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    sep = _check_reading(sep, decimal, encoding)
    markers = missing_markers(missing)
    tidy = None
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
            content, encoding = _decoded(path, encoding, hint)
            sep, decimal = _sniffed(content, sep, decimal)
            if text:
                return _nonempty(pd.read_csv(io.StringIO(content), sep=sep, dtype=str,
                                             keep_default_na=False), path)
            frame = pd.read_csv(io.StringIO(content), sep=sep, decimal=decimal,
                                skipinitialspace=True, na_values=list(markers), keep_default_na=False)
            tidy = decimal
    except TableError:
        raise
    except ImportError as exc:
        raise TableError(f"{path}: reading Parquet needs pyarrow ({exc}); pip install pyarrow, or "
                         "save the table as CSV") from None
    except Exception as exc:  # pandas and NumPy raise many types for a damaged file
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        advice = f"; {hint or READING_HINT}" if suffix in (".csv", ".tsv", ".txt") else ""
        raise TableError(f"{path}: not a readable table ({detail}){advice}") from None
    if text:
        return _nonempty(frame.map(lambda v: "" if isinstance(v, float) and math.isnan(v) else str(v)),
                         path)
    frame = _nonempty(frame, path)
    frame.columns = [str(c).strip().lstrip("\ufeff").strip() for c in frame.columns]
    if tidy is not None:
        for name in frame.columns[[pd.api.types.is_bool_dtype(t) or not pd.api.types.is_numeric_dtype(t)
                                   for t in frame.dtypes]]:
            frame[name] = _tidy(frame[name], tidy, markers)
    return frame


def _nonempty(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``frame``, unless it has no row or no column (``TableError``)."""
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise TableError(f"{path}: the table is empty ({frame.shape[0]} rows × {frame.shape[1]} columns)")
    return frame
