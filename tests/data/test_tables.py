"""The ``table`` data set (gibbsnet_plugin/data/tables.py): reading files as spreadsheets export
them (separator, decimal mark and encoding sniffed), column kinds detected from the observed
cells, the codec's round trip and the domain of decoded values, masks from missing cells, the
split, one-line errors for bad tables, and a user's own file from training to imputation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gibbsnet_plugin as gn
from gibbsnet_plugin.data.table_files import TextFormat, read_table, sniff_format
from gibbsnet_plugin.data.tables import TableCodec, split_rows
from gibbsnet_plugin.errors import TableError

ROOT = Path(__file__).parents[2]


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
    assert codec == TableCodec.fit(data)
    x, _ = codec.encode(data)
    assert x[0, 0] == 0.0 and x[1, 0] == 0.0
    assert codec.decode(np.array([[0.25, 1.0]])).iloc[0].tolist() == [3.0, 2.0]


def skewed_frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"count": np.where(rng.random(n) < 0.7, 0.0, rng.exponential(3.0, n)).round(1),
                         "level": rng.normal(size=n), "zero": np.zeros(n)})


def test_quantile_scale_spreads_a_skewed_column_evenly_and_decodes_back():
    data = skewed_frame()
    codec = TableCodec.fit(data, scale="quantile")
    x, _ = codec.encode(data)
    share_of_zeros = (data["count"] == 0).mean()
    np.testing.assert_allclose(x[data["count"] == 0, 0], share_of_zeros - 1, atol=1e-3)  # mid-block
    assert np.histogram(x[:, 1], bins=4, range=(-1, 1))[0].tolist() == [100, 100, 100, 100]
    assert (x[:, 2] == 0).all()  # a constant column keeps the range scale: shifted to 0
    back = codec.decode(x)
    np.testing.assert_allclose(back[["count", "level"]], data[["count", "level"]], atol=1e-4)
    drawn = codec.decode(np.random.default_rng(1).uniform(-3, 3, size=(500, 3)))
    assert drawn["count"].between(0, data["count"].max()).all() and (drawn["zero"] == 0).all()
    assert (drawn["count"] == 0).mean() == pytest.approx((1 + share_of_zeros) / 3, abs=0.05)
    assert TableCodec.from_dict(codec.to_dict()) == codec


def test_an_unknown_scale_is_refused_in_one_line(tmp_path):
    with pytest.raises(TableError, match="data.options.scale must be one of range, quantile, got 'log'"):
        TableCodec.fit(skewed_frame(), scale="log")
    path = tmp_path / "t.csv"
    skewed_frame().to_csv(path, index=False)
    data = gn.datasets.build("table", "", True, path=str(path), scale="quantile")
    assert len(data.codec.columns[0].knots) == 320 and data.codec.columns[2].knots == []


@pytest.mark.parametrize("data, kwargs, message", [
    (pd.DataFrame({"a": ["x", "y"], "b": ["u", "v"]}), {}, "no numeric column"),
    (pd.DataFrame({"a": [1.0, 2.0, "x"]}), {}, r"column 'a' holds text \('x' in row 3\)"),
    (pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, np.nan]}), {}, r"column 'b' has no observed value"),
    (pd.DataFrame({"a": ["x", "y"]}), {"categorical": ["a"]}, "no numeric column"),
    (pd.DataFrame({"a": [1.0, 2.0]}), {"categorical": ["nope"]}, r"data.options.categorical names 'nope'"),
    (pd.DataFrame({"a": [1.0, 2.0]}), {"ignore": ["nope"]}, r"data.options.ignore names 'nope'"),
    (pd.DataFrame({"a": [1.0, 2.0], "b": [1, 2]}), {"ignore": ["b"], "categorical": ["b"]},
     r"'b' is named in both data.options.categorical and data.options.ignore"),
    (pd.DataFrame({"a": [1.0, np.inf]}), {}, "infinite value in row 2"),
])
def test_bad_tables_are_refused_in_one_line(data, kwargs, message):
    with pytest.raises(TableError, match=message) as info:
        TableCodec.fit(data, **kwargs)
    assert "\n" not in str(info.value)


def test_encode_refuses_a_missing_column_and_unknown_categories():
    codec = TableCodec.fit(frame(), categorical=["colour"])
    with pytest.raises(TableError, match=r"lacks 'weight' \(it has 'mass', which the model does not read\)"):
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


# A CSV zoo: one table written as spreadsheets and scripts export it.

ZOO_ROWS = [  # id, body mass, colour, count, flag, zero
    ("1", "1.5", "red", "3", "0", "0"),
    ("2", "", "crème", "", "1", "0"),
    ("3", "2.25", " NA ", "5", "?", ""),  # missing markers, spaces around them or not
    ("4", "NA", "blue", "7", "1", "N/A "),
    ("5", "-0.75", "red", "0", "", "0"),
    ("6", "3.0", "", "12", "0", "null"),
]
ZOO_HEADER = ("id", " body mass", "colour", "count", "flag", "zero")  # a space in a name


def zoo_frame() -> pd.DataFrame:
    """The zoo's table as ``read_table`` must give it."""
    return pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "body mass": [1.5, np.nan, 2.25, np.nan, -0.75, 3.0],
        "colour": ["red", "crème", np.nan, "blue", "red", np.nan],
        "count": [3.0, np.nan, 5.0, 7.0, 0.0, 12.0],
        "flag": [0.0, 1.0, np.nan, 1.0, np.nan, 0.0],
        "zero": [0.0, 0.0, np.nan, np.nan, 0.0, np.nan],
    })


ZOO = {  # name: (separator, decimal mark, encoding as written, bytes before the text, as sniffed)
    "comma": (",", ".", "utf-8", b"", "utf-8"),
    "comma-bom": (",", ".", "utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
    "semicolon-decimal-comma": (";", ",", "utf-8", b"", "utf-8"),
    "tab": ("\t", ".", "utf-8", b"", "utf-8"),
    "pipe": ("|", ".", "utf-8", b"", "utf-8"),
    "utf16-tab": ("\t", ".", "utf-16", b"", "utf-16"),  # Excel's "Unicode text"
    "latin1-semicolon": (";", ",", "latin-1", b"", "cp1252"),  # Excel's CSV in a European locale
}


def write_zoo(path, sep: str, decimal: str, encoding: str, prefix: bytes = b"") -> None:
    lines = [sep.join(ZOO_HEADER)] + [sep.join(c.replace(".", decimal) for c in row) for row in ZOO_ROWS]
    path.write_bytes(prefix + ("\r\n".join(lines) + "\r\n").encode(encoding))


@pytest.mark.parametrize("name", ZOO)
def test_read_table_sniffs_separator_decimal_mark_and_encoding(tmp_path, name):
    sep, decimal, encoding, prefix, sniffed = ZOO[name]
    path = tmp_path / f"{name}.csv"
    write_zoo(path, sep, decimal, encoding, prefix)
    assert sniff_format(path) == TextFormat(sep, decimal, sniffed)
    table = read_table(path)
    pd.testing.assert_frame_equal(table, zoo_frame(), check_dtype=False)
    assert list(table.columns) == list(zoo_frame().columns)


def test_reading_options_override_sniffing_and_bad_ones_are_refused(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("a;b\n1,5;x\n2,5;y\n".encode("latin-1"))
    assert read_table(path, sep=",").columns.tolist() == ["a;b"]  # what the user asked for
    table = read_table(path, sep="semicolon", decimal=".", encoding="latin-1")
    assert table["a"].tolist() == ["1,5", "2,5"]
    with pytest.raises(TableError, match="data.options.sep ';;'"):
        read_table(path, sep=";;")
    with pytest.raises(TableError, match="data.options.decimal ':'"):
        read_table(path, decimal=":")
    with pytest.raises(TableError, match="data.options.encoding 'klingon'"):
        read_table(path, encoding="klingon")
    path.write_bytes("a;b\ncafé;1\n".encode("latin-1"))
    with pytest.raises(TableError, match="not utf-8 text"):
        read_table(path, encoding="utf-8")


def test_an_unreadable_file_is_one_line_naming_the_reading_options(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('a,b\n1,2\n3,4,5,6\n"7,8\n')
    with pytest.raises(TableError, match="not a readable table") as info:
        read_table(path)
    assert "\n" not in str(info.value) and "data.options.sep" in str(info.value)


def test_read_table_gives_the_text_of_every_cell(tmp_path):
    path = tmp_path / "t.csv"
    write_zoo(path, ";", ",", "utf-16")
    cells = read_table(path, text=True)
    assert list(cells.columns) == list(ZOO_HEADER)
    assert cells.to_numpy().tolist() == [[c.replace(".", ",") for c in row] for row in ZOO_ROWS]


def test_column_kinds_are_detected_from_the_observed_cells():
    codec = TableCodec.fit(zoo_frame())
    kinds = {c.name: (c.kind, c.integer, c.lo, c.hi) for c in codec.columns}
    assert kinds == {"body mass": ("numeric", False, -0.75, 3.0),
                     "colour": ("categorical", False, 0.0, 0.0),
                     "count": ("numeric", True, 0.0, 12.0),
                     "flag": ("numeric", True, 0.0, 1.0),
                     "zero": ("numeric", True, 0.0, 0.0)}
    assert codec.columns[1].categories == ["blue", "crème", "red"]
    assert codec.ignored == ["id"] and codec.width == 1 + 3 + 3


def test_true_and_false_are_categories_not_numbers(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,smoker\n1.5,TRUE\n2.5,\n3.5,false\n")
    smoker = TableCodec.fit(read_table(path)).columns[1]
    assert (smoker.kind, smoker.categories) == ("categorical", ["False", "True"])


@pytest.mark.parametrize("name", ["ID", "customer_id", "Index", "Unnamed: 0", "row id"])
def test_identifier_columns_are_not_modelled_unless_declared(name):
    data = zoo_frame().rename(columns={"id": name})
    assert TableCodec.fit(data).ignored == [name]
    declared = TableCodec.fit(data, categorical=[name])
    assert declared.ignored == [] and declared.columns[0].categories == ["1", "2", "3", "4", "5", "6"]


def test_declared_columns_win_over_detection():
    data = zoo_frame().assign(size=[1.0, 2.0, np.nan, 2.0, 1.0, 3.0])
    codec = TableCodec.fit(data, categorical=["size"], ignore=["body mass"])
    size = next(c for c in codec.columns if c.name == "size")
    assert size.kind == "categorical" and size.categories == ["1", "2", "3"]  # not '1.0'
    assert codec.ignored == ["id", "body mass"]


def test_text_with_too_many_distinct_values_is_not_modelled():
    rng = np.random.default_rng(0)
    names = [f"person {i}" for i in range(120)]
    data = pd.DataFrame({"x": rng.normal(size=120), "name": names,
                         "city": [f"city {i % 60}" for i in range(120)]})
    codec = TableCodec.fit(data)
    assert codec.ignored == ["name"]  # 120 distinct of 120; the 60 cities repeat: categorical
    assert [c.kind for c in codec.columns] == ["numeric", "categorical"]
    assert TableCodec.fit(data.iloc[:50]).columns[1].kind == "categorical"  # 50 names: learnable


def test_text_among_numbers_is_refused_naming_every_cell():
    values = [str(v) for v in range(20)]
    for row, bad in zip((2, 5, 7, 11, 13, 17, 19), ("12 kg", "-", "n.a.", "?x", "x", "y", "z"), strict=True):
        values[row] = bad
    with pytest.raises(TableError) as info:
        TableCodec.fit(pd.DataFrame({"a": values}))
    message = str(info.value)
    assert "column 'a' holds text ('12 kg' in row 3, '-' in row 6, 'n.a.' in row 8, '?x' in row 12, " \
           "'x' in row 14 and 2 more)" in message
    assert "data.options.categorical" in message and "\n" not in message


def test_encode_names_every_bad_cell_and_every_unseen_category_at_once():
    codec = TableCodec.fit(zoo_frame())
    bad = zoo_frame().astype({"count": object, "colour": object})
    bad.loc[[1, 4], "count"] = ["many", "3 or 4"]
    bad.loc[[0, 3, 4], "colour"] = ["green", "violet", "green"]
    with pytest.raises(TableError) as info:
        codec.encode(bad, "new.csv")
    message = str(info.value)
    assert message == ("new.csv: column 'colour' holds 'green', 'violet', categories the model never "
                       "saw (it knows 'blue', 'crème', 'red'); column 'count' holds text ('many' in "
                       "row 2, '3 or 4' in row 5); fix those cells, or empty them to have them imputed")


def test_columns_may_come_in_any_order_ignored_ones_be_left_out_and_others_added():
    codec = TableCodec.fit(zoo_frame())
    x, _ = codec.encode(zoo_frame())
    reordered = zoo_frame()[["zero", "colour", "id", "flag", "count", "body mass"]]
    np.testing.assert_array_equal(codec.encode(reordered)[0], x)
    np.testing.assert_array_equal(codec.encode(zoo_frame().drop(columns="id"))[0], x)
    np.testing.assert_array_equal(codec.encode(zoo_frame().assign(notes="x"))[0], x)
    with pytest.raises(TableError, match=r"trained on the columns body mass, colour, count, flag, zero "
                                         r"\(and passes id through\); this table lacks 'flag' \(it "
                                         r"has 'notes', which the model does not read\)"):
        codec.encode(zoo_frame().drop(columns="flag").assign(notes="x"))


def test_a_label_column_is_not_read_so_a_table_may_leave_it_out():
    data = frame()
    codec = TableCodec.fit(data, categorical=["colour"], label="weight")
    x, _ = codec.encode(data)
    np.testing.assert_array_equal(codec.encode(data.drop(columns="weight"))[0], x)
    with pytest.raises(TableError, match=r"\(and passes weight through\); this table lacks 'colour'"):
        codec.encode(data.drop(columns="colour"))


@pytest.mark.parametrize("name", ["comma", "latin1-semicolon", "utf16-tab"])
def test_encode_then_decode_gives_back_the_observed_cells(tmp_path, name):
    path = tmp_path / "t.csv"
    write_zoo(path, *ZOO[name][:4])
    table = read_table(path)
    codec = TableCodec.fit(table)
    x, mask = codec.encode(table)
    back = codec.decode(np.nan_to_num(x))
    for c in codec.columns:  # x is float32: exact for whole numbers and categories
        observed = table[c.name].notna().to_numpy()
        got, want = back[c.name][observed].tolist(), table[c.name][observed].tolist()
        assert got == want if c.integer or c.kind == "categorical" else got == pytest.approx(want), c.name


def test_decoded_imputations_stay_in_each_columns_domain():
    codec = TableCodec.fit(zoo_frame())
    unit = np.random.default_rng(0).uniform(-4, 4, size=(500, codec.width))  # anything a chain gives
    back = codec.decode(unit)
    assert (back["count"] == back["count"].round()).all()
    assert back["count"].between(0, 12).all() and back["count"].nunique() == 13
    assert set(back["flag"]) == {0.0, 1.0}
    assert (back["zero"] == 0.0).all()  # a constant column is imputed as its value, exactly
    assert back["body mass"].between(-0.75, 3.0).all() and back["body mass"].nunique() > 100
    assert set(back["colour"]) == {"blue", "crème", "red"}
    rounded = codec.columns[2].restrict(np.array([2.4, 2.6, -1.0, 99.0]))
    np.testing.assert_array_equal(rounded, [2.0, 3.0, 0.0, 12.0])


def test_codecs_stored_before_detection_decode_as_they_did():
    stored = {"kind": "table", "order": ["a", "b"], "label": None, "columns": [
        {"name": "a", "kind": "numeric", "lo": 0.0, "hi": 10.0, "categories": []},
        {"name": "b", "kind": "categorical", "lo": 0.0, "hi": 0.0, "categories": ["u", "v"]}]}
    codec = TableCodec.from_dict(stored)
    assert codec.ignored == [] and codec.reading == {}
    assert codec.decode(np.array([[1.5, 1.0, -1.0]])).iloc[0].tolist() == [12.5, "u"]
    codec.check_columns(pd.DataFrame(columns=["a", "b", "id"]), "t.csv")  # not read
    with pytest.raises(TableError, match=r"lacks 'b' \(it has 'id', which the model does not read\)"):
        codec.check_columns(pd.DataFrame(columns=["a", "id"]), "t.csv")


def test_build_keeps_the_reading_options_and_ignored_columns_in_the_units(tmp_path):
    path = tmp_path / "t.txt"
    write_zoo(path, "|", ",", "latin-1")
    train = gn.datasets.build("table", "", True, path=str(path), sep="pipe", decimal=",",
                              ignore="flag", test_fraction=0.34)
    assert train.codec.reading == {"sep": "pipe", "decimal": ","}  # as given, read alike later
    assert train.codec.ignored == ["id", "flag"] and train.x.shape[1] == 1 + 3 + 1 + 1
    assert TableCodec.from_dict(train.units()) == train.codec


def test_the_shipped_recipe_finds_the_wine_tables_cultivar_on_its_own():
    recipe = gn.load_recipe(ROOT / "recipes" / "table.yaml")
    assert "categorical" not in recipe.data.options
    options = {**recipe.data.options, "path": str(ROOT / recipe.data.options["path"])}
    data = gn.datasets.build("table", "", True, **options)
    cultivar = data.codec.columns[0]
    assert (cultivar.name, cultivar.kind, cultivar.categories) == ("cultivar", "categorical",
                                                                  ["barbera", "barolo", "grignolino"])
    assert data.codec.width == 16 and data.codec.ignored == []
    assert next(c for c in data.codec.columns if c.name == "magnesium").integer  # 127.0, 100.0, ...


def test_your_own_semicolon_table_trains_and_imputes_without_editing_the_recipe(tmp_path):
    """``gibbsnet train recipes/table.yaml --set data.options.path=my.csv`` on a European
    spreadsheet export (semicolons, decimal commas, Latin-1) with an id and an undeclared text
    column, then imputing that file."""
    rng = np.random.default_rng(0)
    n = 80
    mass = rng.normal(3, 1, n)
    table = pd.DataFrame({"Patient_ID": [f"P{i:03d}" for i in range(n)],
                          "mass (kg)": mass.round(2),
                          "visits": rng.poisson(3 * mass.clip(0.1)).astype(float),
                          "smoker": (rng.random(n) < 0.3).astype(float),
                          "ward": rng.choice(["Nord", "Süd", "Öst"], n)})
    holes = table.copy()
    for name in ("mass (kg)", "visits", "smoker", "ward"):
        holes.loc[rng.random(n) < 0.2, name] = np.nan
    path = tmp_path / "my.csv"
    text = holes.to_csv(sep=";", decimal=",", index=False, na_rep="")
    path.write_bytes(text.encode("latin-1"))
    recipe = gn.load_recipe(ROOT / "recipes" / "table.yaml", [
        f"data.options.path={path}", "train.iterations=6", "train.checkpoint_every=6",
        "model.options.hidden=[32]", "train.missing_steps=2"])
    run = gn.train(recipe, out=tmp_path / "run")
    units = gn.load_run(run, "cpu").units
    assert units["ignored"] == ["Patient_ID"]
    assert [(c["name"], c["kind"], c["integer"]) for c in units["columns"]] == [
        ("mass (kg)", "numeric", False), ("visits", "numeric", True), ("smoker", "numeric", True),
        ("ward", "categorical", False)]
    filled = gn.impute(run, path, seed=0).filled
    read = read_table(path)
    assert list(filled.columns) == list(read.columns) and not filled.isna().any().any()
    for name in read.columns:  # observed cells are the file's values
        observed = read[name].notna()
        assert filled[name][observed].tolist() == read[name][observed].tolist(), name
    assert filled["Patient_ID"].tolist() == table["Patient_ID"].tolist()  # passed through
    assert (filled["visits"] == filled["visits"].round()).all() and filled["visits"].min() >= 0
    assert set(filled["smoker"]) <= {0.0, 1.0}
    assert set(filled["ward"]) <= {"Nord", "Süd", "Öst"}


def test_a_codec_describes_whole_numbers_text_and_columns_passed_through():
    data = pd.DataFrame({"id": [1, 2, 3], "n": [1, 2, 2], "x": [0.5, 1.5, 2.5],
                         "colour": ["red", "blue", None]})
    assert TableCodec.fit(data).describe() == \
        "columns: 2 numeric (1 whole), 1 text (colour), not modelled: id"
    assert TableCodec.fit(data[["n", "x"]]).describe() == "columns: 2 numeric (1 whole)"


def test_missing_names_the_markers_of_a_missing_cell_instead_of_pandas_ones(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("region,x\nNA,1\nEU,-999\n,3\n.,4\n")
    default = read_table(path)
    assert default["region"].isna().tolist() == [True, False, True, False]
    assert default["x"].tolist() == [1, -999, 3, 4]
    own = read_table(path, missing=["-999", "."])
    assert own["region"].tolist()[:2] == ["NA", "EU"] and own["region"].isna().tolist()[2:] == [True, True]
    assert own["x"].isna().tolist() == [False, True, False, False]
    with pytest.raises(TableError, match=r"^data.options.missing must be a list of the texts that "
                       r"mark a missing cell \(e.g. \['-999', '.'\]\), got \{'a': 1\}$"):
        read_table(path, missing={"a": 1})


def test_the_table_data_set_keeps_its_missing_markers_for_imputation(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("region,x\n" + "".join(f"{r},{i}\n" for i, r in enumerate(["NA", "EU", "?"] * 4)))
    data = gn.datasets.build("table", "", True, path=str(path), missing=["?"], test_fraction=0.0)
    assert data.codec.columns[0].categories == ["EU", "NA"]
    assert data.codec.reading == {"missing": ["?"]}
    assert int((data.mask[:, :2].sum(1) == 0).sum()) == 4  # the four '?' rows
