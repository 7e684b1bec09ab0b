"""Imputing tables (gibbsnet_plugin/imputation.py) with a run of the ``table`` data set: values in
the table's units, observed cells untouched, hidden cells never read in training, reproducible
draws, point estimates, the units kept in checkpoints and exports, and one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import Dataset

import gibbsnet_plugin as gn
from conftest import FixedRow, tiny_recipe
from gibbsnet_plugin.architectures.base import _SHOWN, WithShownCells
from gibbsnet_plugin.architectures.wrappers import categorical_head
from gibbsnet_plugin.data.missing import split_item
from gibbsnet_plugin.errors import RecipeError, TableError
from gibbsnet_plugin.utils import seeded


def table(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """Two correlated numeric columns, a third on another scale, a category; 20 % of cells empty."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    data = pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=rows),
                         "c": 1000 + 50 * rng.normal(size=rows),
                         "kind": np.where(a > 0, "up", "down")})
    return data.mask(rng.random(data.shape) < 0.2)


def table_recipe(path, **train) -> gn.Recipe:
    return tiny_recipe(
        data={"dataset": "table", "batch_size": 16,
              "options": {"path": str(path), "categorical": ["kind"]}},
        model={"architecture": "mlp", "z_dim": 4, "options": {"hidden": [32], "norm": "layer"},
               "chain_steps": 2},
        train={"iterations": 20, "sample_every": 0, "checkpoint_every": 20, "missing_steps": 2,
               **train})


@pytest.fixture(scope="module")
def csv(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("table") / "t.csv"
    table().to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def table_run(csv, tmp_path_factory):
    return gn.train(table_recipe(csv), out=tmp_path_factory.mktemp("run") / "run")


def test_the_run_keeps_the_codec_of_its_training_rows(table_run, csv):
    run = gn.load_run(table_run, "cpu")
    train = gn.datasets.build("table", "", True, path=csv, categorical=["kind"])
    assert run.units == train.units()
    assert run.units["columns"][2]["lo"] == pytest.approx(float(pd.read_csv(csv)["c"].iloc[train.rows].min()))


def test_imputation_fills_only_missing_cells_in_the_tables_units(table_run, csv):
    data = pd.read_csv(csv)
    result = gn.impute(table_run, data, seed=0)
    filled = result.filled
    assert list(filled.columns) == list(data.columns) and len(filled) == len(data)
    assert not filled.isna().any().any()
    hidden = data.isna()
    np.testing.assert_array_equal(result.missing, hidden.to_numpy())
    for name in data.columns:  # observed cells are the input's values exactly
        assert filled[name][~hidden[name]].tolist() == data[name][~hidden[name]].tolist()
    # a tanh decoder fills numbers inside each column's observed training range
    run = gn.load_run(table_run, "cpu")
    for column in run.units["columns"]:
        if column["kind"] == "numeric":
            values = filled[column["name"]][hidden[column["name"]]]
            assert values.between(column["lo"] - 1e-6, column["hi"] + 1e-6).all()
    assert set(filled["kind"]) <= {"up", "down"}


def test_a_quantile_scaled_run_imputes_in_the_tables_units(tmp_path):
    data = table().assign(c=lambda t: np.exp(t["c"] / 50 - 20))  # one skewed column
    path = tmp_path / "t.csv"
    data.to_csv(path, index=False)
    recipe = table_recipe(path)
    recipe.data.options["scale"] = "quantile"
    run = gn.train(recipe, out=tmp_path / "run")
    columns = {c["name"]: c for c in gn.load_run(run, "cpu").units["columns"]}
    knots = columns["c"]["knots"]
    assert (knots[0], knots[-1]) == (columns["c"]["lo"], columns["c"]["hi"]) and knots == sorted(knots)
    filled = gn.impute(run, data, seed=0).filled
    hidden = data["c"].isna()
    assert filled["c"][~hidden].tolist() == data["c"][~hidden].tolist()
    assert filled["c"][hidden].between(columns["c"]["lo"], columns["c"]["hi"]).all()
    assert filled["c"][hidden].nunique() > hidden.sum() // 2


def test_a_run_whose_decoder_reads_the_shown_cells_imputes_every_batch(tmp_path, monkeypatch):
    """A ``shown_cells`` decoder is handed each batch's observed cells, the last batch's too
    (50 rows in batches of 32), for the draws and for the categories' probabilities."""
    data = table(rows=50)
    path = tmp_path / "t.csv"
    data.to_csv(path, index=False)
    recipe = table_recipe(path, iterations=10)
    recipe.model.options["shown_cells"] = True
    recipe.model.x_consistency, recipe.model.categories = 10.0, "softmax"
    run = gn.load_run(gn.train(recipe, out=tmp_path / "run"), "cpu")
    given = []
    forward = WithShownCells.forward

    def spy(self, h):
        given.append(_SHOWN.get() is not None)
        return forward(self, h)

    monkeypatch.setattr(WithShownCells, "forward", spy)
    result = gn.impute(run, data, draws=3, reduce="mean", seed=0, batch_size=32)
    assert given and all(given)
    for column in data:
        hidden = data[column].isna()
        assert result.point[column][~hidden].tolist() == data[column][~hidden].tolist()
        assert result.point[column][hidden].notna().all()
    assert set(result.point["kind"]) == {"up", "down"}


def test_draws_are_reproducible_for_a_seed_and_reduce_to_their_mean(table_run, csv):
    data = pd.read_csv(csv)
    first = gn.impute(table_run, data, draws=4, reduce="mean", seed=3)
    again = gn.impute(table_run, data, draws=4, reduce="mean", seed=3)
    other = gn.impute(table_run, data, draws=4, seed=4)
    for a, b in zip(first.draws, again.draws, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert not first.draws[0].equals(other.draws[0])
    assert not first.draws[0].equals(first.draws[1])
    mean = np.mean([d["c"].to_numpy(dtype=float) for d in first.draws], axis=0)
    np.testing.assert_allclose(first.point["c"].to_numpy(dtype=float), mean)
    long = first.long()  # R's mice::as.mids long format: the table as given, then the draws
    assert list(long.columns[:2]) == [".imp", ".id"]
    assert long[".imp"].tolist() == [k for k in range(5) for _ in range(len(data))]
    assert long[".id"].tolist() == list(range(1, len(data) + 1)) * 5
    pd.testing.assert_frame_equal(long[long[".imp"] == 0].iloc[:, 2:].reset_index(drop=True),
                                  data.reset_index(drop=True), check_dtype=False)


def test_numpy_arrays_impute_like_frames(tmp_path):
    data = table().drop(columns="kind")
    path = tmp_path / "n.npy"
    np.save(path, data.to_numpy())
    recipe = tiny_recipe(data={"dataset": "table", "batch_size": 16, "options": {"path": str(path)}},
                         model={"architecture": "mlp", "z_dim": 4, "options": {"hidden": [32]}},
                         train={"iterations": 4, "sample_every": 0, "checkpoint_every": 4,
                                "missing_steps": 1})
    run = gn.train(recipe, out=tmp_path / "run")
    array = data.to_numpy()
    filled = gn.impute(run, array, seed=0).filled.to_numpy(dtype=float)
    observed = ~np.isnan(array)
    np.testing.assert_array_equal(filled[observed], array[observed])
    assert not np.isnan(filled).any()


class PoisonedTable(Dataset):
    """The table's training rows with ``value`` in every hidden cell instead of NaN."""

    def __init__(self, inner: Dataset, value: float) -> None:
        self.inner, self.value = inner, value

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int):
        x, y, mask = split_item(self.inner[index])
        x = torch.where(mask != 0, x, torch.full_like(x, self.value))
        return (x, mask) if y is None else (x, y, mask)

    def units(self):
        return self.inner.units()


@gn.datasets.register("test_poisoned_table")
def build_poisoned_table(root: str, train: bool, path: str = "", poison: float = math.nan):
    return PoisonedTable(gn.datasets.build("table", root, train, path=path, categorical=["kind"]), poison)


@pytest.mark.parametrize("method", ["chain-ambient", "chain"])
def test_hidden_cells_are_never_read_in_training(tmp_path, csv, method):
    weights = []
    for poison in (math.nan, 123.0):
        recipe = table_recipe(csv, missing=method, iterations=6, checkpoint_every=6)
        recipe.data.dataset = "test_poisoned_table"
        recipe.data.options = {"path": csv, "poison": poison}
        recipe.model.x_consistency = 1.0
        run = gn.train(recipe, out=tmp_path / f"{method}-{poison}")
        weights.append(gn.load_run(run, "cpu").model.state_dict())
    for key, value in weights[0].items():
        assert torch.isfinite(value).all() if value.is_floating_point() else True
        assert torch.equal(value, weights[1][key]), key


def test_x_consistency_trains_the_decoder_towards_observed_cells(tmp_path, csv):
    """The masked reconstruction term lowers the error of predicting observed cells the encoder
    was not shown."""
    errors = []
    for weight in (0.0, 100.0):
        recipe = table_recipe(csv, iterations=150, checkpoint_every=150, lr=1e-3)
        recipe.model.x_consistency = weight
        model = gn.load_run(gn.train(recipe, out=tmp_path / f"w{weight}"), "cpu").model
        data = gn.datasets.build("table", "", True, path=csv, categorical=["kind"])
        with torch.no_grad(), seeded(0):
            errors.append(float(model.reconstruction_error(data.x, data.mask, steps=2)))
    assert errors[1] < 0.5 * errors[0], errors


@pytest.mark.parametrize("change, message", [
    (lambda d: d.rename(columns={"c": "mass"}),
     r"trained on the columns a, b, c, kind; this table lacks 'c' \(it has 'mass', which the "
     r"model does not read\)"),
    (lambda d: d.assign(c=d["c"].astype(object).where(d.index != 3, "12 kg")),
     r"column 'c' holds text \('12 kg' in row 4\)"),
    (lambda d: d.assign(kind="sideways"), r"'sideways', a category the model never saw"),
])
def test_bad_tables_are_refused_in_one_line(table_run, csv, change, message):
    with pytest.raises(TableError, match=message) as info:
        gn.impute(table_run, change(pd.read_csv(csv)))
    assert "\n" not in str(info.value)


def test_an_unreadable_file_to_impute_gets_advice_for_imputing_not_training(table_run, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('a,b,c,kind\n1,2,3,up\n3,4,5,6,7\n"7,8\n')
    with pytest.raises(TableError, match="not a readable table") as info:
        gn.impute(table_run, path)
    message = str(info.value)
    assert "\n" not in message and "data.options" not in message
    assert "save this one as a comma-separated UTF-8 file" in message


def test_a_file_to_impute_in_another_encoding_is_told_the_runs_reading_options(csv, tmp_path):
    recipe = table_recipe(csv)
    recipe.data.options["encoding"] = "utf-8"
    run = gn.load_run(gn.train(recipe, out=tmp_path / "run"), "cpu")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(pd.read_csv(csv).assign(kind="caf\u00e9").to_csv(index=False).encode("latin-1"))
    with pytest.raises(TableError, match=r"not utf-8 text .*; the run reads tables with encoding "
                                         r"'utf-8', as it read its own; save this one so$"):
        gn.impute(run, latin)


def test_one_row_and_a_column_with_no_observed_cell_are_imputed(table_run, csv):
    """Every hole of a single row, and a column empty in every row, are filled from the model
    fitted on other rows (as a scikit-learn imputer's ``transform`` fills one new sample)."""
    data = pd.read_csv(csv)
    one = data.iloc[[0]].assign(b=np.nan, kind=np.nan)
    filled = gn.impute(table_run, one).filled
    assert filled[["b", "kind"]].notna().all(axis=None)
    assert filled["kind"].iloc[0] in {"up", "down"}
    no_b = gn.impute(table_run, data.assign(b=np.nan)).filled
    assert no_b["b"].notna().all() and no_b["b"].nunique() > 10


def test_a_run_of_images_refuses_to_impute_tables(run, csv):
    with pytest.raises(TableError, match="trained on 'digits', not on a table"):
        gn.impute(run, pd.read_csv(csv))


def test_impute_file_keeps_observed_text_and_writes_nothing_on_error(table_run, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("a,b,c,kind\n1.50,,1000,up\n,-3.0e0,,down\n0.25,0.5,990.125,\n")
    out = tmp_path / "out.csv"
    result, written = gn.impute_file(table_run, source, out, seed=0)
    lines = written.read_text().splitlines()
    assert lines[0] == "a,b,c,kind"
    cells = [line.split(",") for line in lines[1:]]
    assert [cells[0][0], cells[0][2], cells[0][3]] == ["1.50", "1000", "up"]
    assert [cells[1][1], cells[1][3]] == ["-3.0e0", "down"]
    assert cells[2][:3] == ["0.25", "0.5", "990.125"] and cells[2][3] in ("up", "down")
    assert float(cells[1][0]) == pytest.approx(result.filled["a"][1], rel=1e-6)
    long_out = tmp_path / "long.csv"
    gn.impute_file(table_run, source, long_out, draws=3, seed=0)
    long = pd.read_csv(long_out)
    assert long[".imp"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert long[".id"].tolist() == [1, 2, 3] * 4
    assert long[long[".imp"] == 0]["a"].isna().tolist() == [False, True, False]  # the file as given
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c,kind\n1,x,3,up\n")
    with pytest.raises(TableError):
        gn.impute_file(table_run, bad, tmp_path / "nothing.csv")
    assert not (tmp_path / "nothing.csv").exists()
    with pytest.raises(gn.errors.OutputError, match="already exists"):
        gn.impute_file(table_run, source, out)


def test_exported_models_impute_tables(table_run, csv, tmp_path):
    gn.export_model(table_run, tmp_path / "export")
    data = pd.read_csv(csv)
    pd.testing.assert_frame_equal(gn.impute(tmp_path / "export", data, seed=1).filled,
                                  gn.impute(table_run, data, seed=1).filled)


def test_a_crps_reconstruction_term_spreads_the_draws_as_the_data_are_spread(tmp_path):
    """With ``reconstruction: crps`` the draws of a hidden cell of an unpredictable column spread as
    that column does; the squared error pulls them together. Scored on cells hidden from
    training rows, by the share inside the central 90 % interval of 20 draws."""
    data = table(400, seed=1).drop(columns="kind")
    path = tmp_path / "t.csv"
    data.to_csv(path, index=False)
    truth = data.dropna().reset_index(drop=True)
    scored = truth.index % 2 == 0
    hidden = truth.assign(c=truth["c"].where(~scored))  # c is noise: its conditional is its marginal
    covered = {}
    for reconstruction in ("squared", "crps"):
        recipe = table_recipe(path, iterations=300, checkpoint_every=300, lr=1e-3)
        recipe.data.options["categorical"] = []
        recipe.model.x_consistency, recipe.model.reconstruction = 100.0, reconstruction
        run = gn.train(recipe, out=tmp_path / reconstruction)
        draws = np.stack([d["c"].to_numpy()[scored]
                          for d in gn.impute(run, hidden, draws=20, seed=0).draws])
        lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
        c = truth["c"].to_numpy()[scored]
        covered[reconstruction] = float(np.mean((c >= lo) & (c <= hi)))
    assert covered["crps"] > 0.7 and covered["crps"] > covered["squared"] + 0.2, covered


def test_a_semicolon_latin1_file_with_holes_in_its_id_column_imputes_in_its_own_format(tmp_path):
    """``impute_file`` reads the file as the run read its training table, keeps the id column's
    holes empty, rounds integer columns and writes the input's separator and decimal mark."""
    from gibbsnet_plugin.data.table_files import read_table

    rng = np.random.default_rng(0)
    n = 100
    full = pd.DataFrame({"id": np.arange(n, dtype=float), "mass": rng.normal(3, 1, n).round(2),
                         "visits": rng.poisson(3, n).astype(float),
                         "ward": rng.choice(["Nord", "Süd"], n)})
    holes = full.copy()
    for name in full.columns:
        holes.loc[rng.random(n) < 0.2, name] = np.nan
    path = tmp_path / "my.csv"
    path.write_bytes(holes.to_csv(sep=";", decimal=",", index=False).encode("latin-1"))
    recipe = gn.load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "table.yaml", [
        f"data.options.path={path}", "train.iterations=6", "train.checkpoint_every=6",
        "model.options.hidden=[32]", "train.missing_steps=2"])
    run = gn.train(recipe, out=tmp_path / "run")
    _, out = gn.impute_file(run, path, tmp_path / "filled.csv", reduce="mean", draws=5, seed=0)
    text = out.read_text()
    assert text.splitlines()[0] == "id;mass;visits;ward"
    back = read_table(out)
    assert back["id"].isna().sum() == holes["id"].isna().sum()  # not modelled: passed through
    assert (back["visits"] == back["visits"].round()).all()
    assert not back[["mass", "visits", "ward"]].isna().any().any()
    observed = holes["mass"].notna()
    assert np.array_equal(back["mass"][observed], holes["mass"][observed])
    _, out = gn.impute_file(run, path, tmp_path / "filled.tsv", seed=0)
    assert out.read_text().splitlines()[0] == "id\tmass\tvisits\tward"


def test_columns_not_modelled_pass_through_impute_untouched(csv, tmp_path):
    """``data.options.ignore``: the column is not modelled; ``gn.impute`` and ``impute_file`` hand
    it back exactly as given, holes included, and a table without it is imputed too; so is a
    column the run was never trained on."""
    recipe = table_recipe(csv)
    recipe.data.options["ignore"] = ["c"]
    run = gn.load_run(gn.train(recipe, out=tmp_path / "run"), "cpu")
    data = pd.read_csv(csv)
    filled = gn.impute(run, data).filled
    pd.testing.assert_series_equal(filled["c"], data["c"])
    assert data["c"].isna().any() and not filled[["a", "b", "kind"]].isna().any().any()
    without = gn.impute(run, data.drop(columns="c")).filled
    assert list(without.columns) == ["a", "b", "kind"] and not without.isna().any().any()
    notes = data.assign(notes=["see chart", None] * (len(data) // 2))  # a column never trained on
    added = gn.impute(run, notes).filled
    pd.testing.assert_series_equal(added["notes"], notes["notes"])
    pd.testing.assert_frame_equal(added.drop(columns="notes"), filled)
    given = tmp_path / "notes.csv"
    notes.to_csv(given, index=False)
    _, out = gn.impute_file(run, given, tmp_path / "draws.csv", draws=2)
    long = pd.read_csv(out, dtype=str, keep_default_na=False)
    written = pd.read_csv(given, dtype=str, keep_default_na=False)["notes"].tolist()
    assert long["notes"].tolist() == written * 3  # the table as given, then each draw
    with pytest.raises(TableError, match=r"has .imp and .id columns, which the long format"):
        gn.impute_file(run, out, tmp_path / "again.csv", draws=2)
    assert not (tmp_path / "again.csv").exists()
    _, out = gn.impute_file(run, csv, tmp_path / "filled.csv")
    written = pd.read_csv(out, dtype=str, keep_default_na=False)["c"]
    assert written.tolist() == pd.read_csv(csv, dtype=str, keep_default_na=False)["c"].tolist()


def test_softmax_categories_draw_one_category_per_cell_and_survive_a_reload(csv, tmp_path):
    recipe = table_recipe(csv, iterations=10)
    recipe.model.categories = "softmax"
    run_dir = gn.train(recipe, out=tmp_path / "run")
    run = gn.load_run(run_dir, "cpu")
    with seeded(0):  # "kind" is the last column: its two entries end x
        x = run.model.sample(200, steps=2).flatten(1)[:, -2:]
    assert set(x.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal((x == 1).sum(1), torch.ones(200, dtype=torch.long))
    result = gn.impute(run_dir, pd.read_csv(csv), draws=3, seed=0)
    assert all(set(d["kind"]) <= {"up", "down"} for d in result.draws)


def test_the_mean_of_softmax_draws_is_the_most_probable_category_not_the_vote(csv, tmp_path):
    recipe = table_recipe(csv, iterations=2)
    recipe.model.categories = "softmax"
    run = gn.load_run(gn.train(recipe, out=tmp_path / "run"), "cpu")
    # x is (a, b, c, kind=down, kind=up): 'up' has probability 0.6 whatever the chain's state
    categorical_head(run.model).decoder = FixedRow([0.0, 0.0, 0.0, 0.0, math.log(1.5)])
    data = pd.read_csv(csv)
    hidden = np.arange(len(data)) % 2 == 0
    data.loc[hidden, "kind"] = np.nan
    result = gn.impute(run, data, draws=3, reduce="mean", seed=0)
    assert (result.point["kind"][hidden] == "up").all()
    votes = sum((d["kind"] == "up").astype(int) for d in result.draws)[hidden]
    assert 0.2 < (votes < 2).mean() < 0.5  # a vote of 3 draws picks 'down' 35 % of the time
    median = gn.impute(run, data, draws=3, reduce="median", seed=0)  # the median keeps the vote
    assert all(a.equals(b) for a, b in zip(result.draws, median.draws, strict=True))
    assert ((median.point["kind"][hidden] == "down") == (votes < 2)).all()


def test_the_training_banner_says_what_the_columns_were_read_as(table_run):
    banner = (Path(table_run) / "train.log").read_text().splitlines()[0]
    assert "columns: 3 numeric, 1 text (kind);" in banner



def test_a_run_with_its_own_missing_markers_imputes_files_that_use_them(tmp_path):
    data = table(seed=3)
    data["kind"] = data["kind"].where(data["kind"] != "down", "NA")  # a real category "NA"
    source = tmp_path / "coded.csv"
    data.astype(object).where(data.notna(), -999).to_csv(source, index=False)
    recipe = table_recipe(source, iterations=5)
    recipe.data.options["missing"] = ["-999"]
    run_dir = gn.train(recipe, out=tmp_path / "run")
    result, written = gn.impute_file(run_dir, source, tmp_path / "filled.csv", seed=0)
    filled = pd.read_csv(written, keep_default_na=False)
    assert (filled.astype(str) != "-999").all().all()
    np.testing.assert_array_equal(result.missing, data.isna().to_numpy())
    assert set(filled["kind"]) == {"up", "NA"}


def test_a_table_smaller_than_a_batch_is_refused_with_the_batch_size_that_fits(tmp_path):
    path = tmp_path / "small.csv"
    table(rows=15).to_csv(path, index=False)
    with pytest.raises(RecipeError, match=r"^data.batch_size: 16 is larger than the data set "
                       r"\(12 items\); lower it to 12 or less$"):
        gn.train(table_recipe(path), out=tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()
