"""What a data set's x means when its items are not images: its ``units`` (a table's columns and
scaling, JSON-able, stored in every checkpoint) and the table codec they describe."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gibbsnet_plugin.data.tables import TableCodec


def data_units(dataset: object) -> dict | None:
    """What ``dataset``'s x means when its items are not images: the JSON-able description its
    ``units()`` method gives (a table's columns and scaling), looking through wrappers that keep
    the wrapped data set as ``.dataset``; None when it has none."""
    while dataset is not None:
        units = getattr(dataset, "units", None)
        if callable(units):
            return units()
        dataset = getattr(dataset, "dataset", None)
    return None


def table_codec_of(units: object) -> TableCodec | None:
    """The codec of a table from its ``units`` (``data_units``, or a run's), None when ``units``
    do not describe a table (images, a plugin's data set)."""
    if not isinstance(units, dict) or units.get("kind") != "table":
        return None
    from gibbsnet_plugin.data.tables import TableCodec  # pandas: only for tables

    return TableCodec.from_dict(units)
