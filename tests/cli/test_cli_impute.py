"""``gibbsnet train recipes/table.yaml`` then ``gibbsnet impute``: the shipped example table goes
from holes to a filled CSV whose observed cells are the input's text; bad tables are one-line
errors that write nothing. ``gibbsnet evaluate --metric coverage`` scores the run's draws on the
observed cells that a mask process hides."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import gibbsnet_plugin as gn
from gibbsnet_cli.main import cli
from gibbsnet_plugin.data.missing import draw_mask, item_seed

ROOT = Path(__file__).parents[2]
RECIPE = str(ROOT / "recipes" / "table.yaml")
WINE = ROOT / "examples" / "tables" / "wine.csv"
FAST = ["--set", "train.iterations=6", "--set", "train.checkpoint_every=6",
        "--set", "model.options.hidden=[32]", "--set", "train.missing_steps=2",
        "--set", f"data.options.path={WINE}"]


def invoke(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wine") / "run"
    code, stdout, stderr = invoke("train", RECIPE, *FAST, "--out", out)
    assert code == 0, stdout + stderr
    assert "table (143 items of shape 16)" in stdout + stderr  # 13 numbers and 3 cultivars, 80 % of 178 rows
    return out


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def test_impute_fills_every_hole_and_keeps_observed_cells_as_written(wine_run, tmp_path):
    out = tmp_path / "filled.csv"
    code, stdout, _ = invoke("impute", wine_run, WINE, "--out", out, "--json")
    assert code == 0, stdout
    summary = json.loads(stdout.splitlines()[0])
    before, after = rows(WINE), rows(out)
    assert after[0] == before[0] and len(after) == len(before)
    holes = 0
    for old, new in zip(before[1:], after[1:], strict=True):
        for a, b in zip(old, new, strict=True):
            if a:
                assert b == a
            else:
                holes += 1
                assert b
    assert summary["imputed_cells"] == holes and summary["rows"] == 178 and summary["draws"] == 1
    assert {row[0] for row in after[1:]} <= {"barolo", "grignolino", "barbera"}


def test_draws_go_to_one_long_file_and_reduce_makes_a_point_estimate(wine_run, tmp_path):
    code, stdout, _ = invoke("impute", wine_run, WINE, "--out", tmp_path / "long.csv", "--draws", 3)
    assert code == 0, stdout
    long = rows(tmp_path / "long.csv")  # R's mice::as.mids format: the file as given, then draws
    assert long[0][:2] == [".imp", ".id"] and len(long) == 1 + 4 * 178
    assert [r[0] for r in long[1::178]] == ["0", "1", "2", "3"]
    assert [r[1] for r in long[1:179]] == [str(i) for i in range(1, 179)]
    original = rows(WINE)
    assert [r[2:] for r in long[1:179]] == original[1:]  # .imp 0: every cell as in the file
    code, stdout, _ = invoke("impute", wine_run, WINE, "--out", tmp_path / "mean.csv", "--reduce",
                             "mean", "--json")
    assert code == 0 and json.loads(stdout.splitlines()[0])["draws"] == 20
    assert len(rows(tmp_path / "mean.csv")) == 179


@pytest.mark.parametrize("content, message", [
    ("cultivar,alcohol,colour\nbarolo,13,2\n", "lacks"),
    (WINE.read_text().replace("14.23", "fourteen", 1), "holds text ('fourteen' in row 1)"),
])
def test_bad_tables_are_one_line_errors_and_write_nothing(wine_run, tmp_path, content, message):
    source = tmp_path / "in.csv"
    source.write_text(content)
    code, stdout, stderr = invoke("impute", wine_run, source, "--out", tmp_path / "out.csv")
    assert code == 2 and message in stdout + stderr
    assert len((stdout + stderr).strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()


def test_coverage_of_a_table_run_scores_only_observed_cells_that_the_process_hides(wine_run):
    code, stdout, stderr = invoke("evaluate", wine_run, "--metric", "coverage", "--missing",
                                  "random-20", "--json")
    assert code == 0, stdout + stderr
    (result,) = json.loads(stdout)["runs"]
    scores, details = result["scores"], result["details"]["coverage"]
    assert set(scores) == {"imputation_coverage50", "imputation_coverage80", "imputation_coverage90",
                           "imputation_coverage95", "imputation_coverage_error", "imputation_energy"}
    coverages = [scores[f"imputation_coverage{p}"] for p in (50, 80, 90, 95)]
    assert all(0 <= c <= 1 for c in coverages) and coverages == sorted(coverages)
    assert scores["imputation_energy"] >= 0
    # the process hides 3 of each test row's 16 entries; the cells empty in the file are not scored
    test = gn.datasets.build("table", "", False, path=str(WINE), categorical=["cultivar"])
    hidden = torch.stack([draw_mask("random-20", (16,), item_seed(0, i, train=False)) == 0
                          for i in range(len(test))])
    observed = torch.stack([mask != 0 for _, mask in test])
    assert int(hidden.sum()) == 3 * len(test) > int((hidden & observed).sum()) == details["entries"]
    assert sum(details["pit"]) == details["entries"] and len(details["pit"]) == details["pit_bins"]
    code, stdout, stderr = invoke("evaluate", wine_run, "--metric", "coverage", "--missing", "center")
    assert code == 2 and "table rows take only random-PCT" in stdout + stderr
    assert len((stdout + stderr).strip().splitlines()) == 1


def test_report_with_a_mask_process_shows_the_pit_histogram_of_a_table_run(wine_run, tmp_path):
    out = tmp_path / "report.html"
    code, stdout, stderr = invoke("report", wine_run, "--missing", "random-20", "--out", out, "--json")
    assert code == 0, stdout + stderr
    (summary,) = json.loads(stdout.splitlines()[-1])["runs"]
    assert 0 <= summary["scores"]["imputation_coverage50"] <= summary["scores"]["imputation_coverage95"] <= 1
    page = out.read_text(encoding="utf-8")
    assert page.count('<rect class="bar" ') == 10 and "flat = calibrated" in page


OWN_TABLES = ROOT / "tests" / "fixtures" / "tables"
"""Tables as people have them, one file each: an ``id`` column, a header with a space, integers, a
0/1 flag, a text column that no recipe names (with an umlaut), decimals and holes (15 % of each
column's cells), in three spreadsheet exports: comma-separated UTF-8 with ``NA``; semicolons,
decimal commas and Latin-1 with empty holes; tabs, UTF-16 (with its byte-order mark) and ``N/A``."""


@pytest.mark.parametrize("name, sep, encoding", [
    ("comma-NA", ",", "utf-8"),
    ("semicolon-decimal-comma-latin1", ";", "latin-1"),
    ("tab-utf16", "\t", "utf-16"),
])
def test_your_own_csv_trains_and_imputes_with_no_recipe_edit(tmp_path, name, sep, encoding):
    path = OWN_TABLES / f"{name}.csv"
    header = path.read_bytes().decode(encoding).splitlines()[0].lstrip("\ufeff").split(sep)
    assert header == ["id", "body mass", "visits", "smoker", "colour"]  # the file is what it says
    fast = [a if not a.startswith("data.options.path=") else f"data.options.path={path}" for a in FAST]
    code, stdout, stderr = invoke("train", RECIPE, *fast, "--out", tmp_path / "run")
    assert code == 0, stdout + stderr
    code, stdout, stderr = invoke("impute", tmp_path / "run", path, "--out", tmp_path / "filled.csv")
    assert code == 0, stdout + stderr
    filled = gn.read_table(tmp_path / "filled.csv")
    given = gn.read_table(path)
    assert list(filled.columns) == header
    assert filled["id"].tolist() == given["id"].tolist()  # not modelled: passed through
    assert not filled[header[1:]].isna().any().any()
    assert (filled["visits"] % 1 == 0).all() and set(filled["smoker"]) <= {0, 1}
    assert set(filled["colour"]) <= {"rot", "grün", "blau"}
    observed = given["body mass"].notna()
    assert filled["body mass"][observed].tolist() == given["body mass"][observed].tolist()
