"""The ``table`` data set (gibbsnet_plugin/data/tables.py): reading files, the codec's scaling
round trip, masks from missing cells, the split, and one-line errors for bad tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gibbsnet_plugin as gn
from gibbsnet_plugin.data.tables import TableCodec, read_table, split_rows
from gibbsnet_plugin.errors import TableError


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "height": [1.0, 2.0, np.nan, 4.0, 5.0, 3.0],
        "colour": ["red", np.nan, "blue", "red", "green", "blue"],
        "weight": [10.0, 30.0, 20.0, np.nan, 50.0, 40.0],
    })


def test_codec_scales_observed_cells_to_unit_range_and_back():
    codec = TableCodec.fit(frame(), categorical=["colour"])
    assert [c.name for c in codec.columns] == ["height", "colour", "weight"]
    assert codec.width == 1 + 3 + 1
    x, mask = codec.encode(frame())
    assert x.dtype == np.float32 and x.shape == (6, 5)
    np.testing.assert_allclose(x[:, 0], [-1, -0.5, np.nan, 0.5, 1, 0])   # 1..5 -> -1..1
    np.testing.assert_allclose(x[:, 4], [-1, 0, -0.5, np.nan, 1, 0.5])   # 10..50 -> -1..1
    np.testing.assert_array_equal(x[0, 1:4], [-1, -1, 1])               # 'red' of blue, green, red
    assert np.isnan(x[1, 1:4]).all()
    np.testing.assert_array_equal(mask, ~np.isnan(x))
    back = codec.decode(np.nan_to_num(x))
    observed = frame().notna()
    for name in ("height", "weight"):
        np.testing.assert_allclose(back[name][observed[name]], frame()[name][observed[name]], rtol=1e-6)
    assert list(back["colour"][observed["colour"]]) == list(frame()["colour"].dropna())


def test_codec_round_trips_through_its_dict_and_keeps_constant_columns_finite():
    data = pd.DataFrame({"a": [3.0, 3.0, np.nan], "b": [0.0, 1.0, 2.0]})
    codec = TableCodec.from_dict(TableCodec.fit(data).to_dict())
    x, _ = codec.encode(data)
    assert x[0, 0] == 0.0 and x[1, 0] == 0.0
    assert codec.decode(np.array([[0.25, 1.0]])).iloc[0].tolist() == [3.25, 2.0]


@pytest.mark.parametrize("data, kwargs, message", [
    (pd.DataFrame({"a": ["x", "y"], "b": ["u", "v"]}), {}, r"column 'a' holds text \('x' in row 1\)"),
    (pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, np.nan]}), {}, r"column 'b' has no observed value"),
    (pd.DataFrame({"a": ["x", "y"]}), {"categorical": ["a"]}, "no numeric column"),
    (pd.DataFrame({"a": [1.0, 2.0]}), {"categorical": ["nope"]}, r"`categorical` names 'nope'"),
    (pd.DataFrame({"a": [1.0, np.inf]}), {}, "infinite value in row 2"),
])
def test_bad_tables_are_refused_in_one_line(data, kwargs, message):
    with pytest.raises(TableError, match=message) as info:
        TableCodec.fit(data, **kwargs)
    assert "\n" not in str(info.value)


def test_encode_refuses_other_columns_and_unknown_categories():
    codec = TableCodec.fit(frame(), categorical=["colour"])
    with pytest.raises(TableError, match=r"lacks 'weight' and has 'mass' too"):
        codec.encode(frame().rename(columns={"weight": "mass"}))
    with pytest.raises(TableError, match=r"'purple', a category the model never saw"):
        codec.encode(frame().assign(colour=["purple"] * 6))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".npy", ".npz"])
def test_read_table_reads_each_format_with_empty_cells_missing(tmp_path, suffix):
    values = np.array([[1.0, np.nan], [3.5, 4.0]])
    path = tmp_path / f"t{suffix}"
    if suffix == ".npy":
        np.save(path, values)
    elif suffix == ".npz":
        np.savez(path, values)
    else:
        path.write_text("a,b\n1,\n3.5,4\n".replace(",", "\t" if suffix == ".tsv" else ","))
    table = read_table(path)
    assert table.shape == (2, 2)
    np.testing.assert_array_equal(table.to_numpy(dtype=float), values)


def test_read_table_errors_name_the_file(tmp_path):
    with pytest.raises(TableError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(TableError, match="not '.xlsx'"):
        read_table(tmp_path / "t.xlsx")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(TableError, match="empty"):
        read_table(tmp_path / "empty.csv")


def test_split_is_fixed_and_disjoint():
    train, test = split_rows(50, 0.2)
    assert len(test) == 10 and not set(train) & set(test) and len(train) + len(test) == 50
    np.testing.assert_array_equal(split_rows(50, 0.2)[1], test)
    assert len(split_rows(50, 0.0)[1]) == 0


def test_table_data_set_items_carry_masks_and_labels(tmp_path):
    path = tmp_path / "t.csv"
    data = frame().assign(kind=["a", "b", "a", "b", "a", "b"])
    data.to_csv(path, index=False)
    train = gn.datasets.build("table", "", True, path=str(path), categorical=["colour"], label="kind",
                              test_fraction=0.34)
    test = gn.datasets.build("table", "", False, path=str(path), categorical=["colour"], label="kind",
                             test_fraction=0.34)
    assert len(train) + len(test) == 6 and len(test) == 2
    x, y, mask = train[0]
    assert x.shape == (5,) and mask.shape == (5,) and y in (0, 1)
    assert bool(((mask == 0) == x.isnan()).all())
    # the codec (scaling) comes from the training rows only, in both splits
    assert train.units() == test.units()
    rows = data.iloc[train.rows]
    assert train.codec.columns[0].hi == rows["height"].max()
