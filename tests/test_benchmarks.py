"""The seed-statistics benchmark (benchmarks/seeds.py) end to end on a tiny recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tiny_recipe

pytestmark = pytest.mark.slow
SEEDS = Path(__file__).resolve().parents[1] / "benchmarks" / "seeds.py"


def bench(recipe: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(SEEDS), str(recipe), "--seeds", "2", "--threads", "1", "--cores", "2",
            "--variant", "gibbsnet", "--variant", "ali", "model.chain_steps=1", "--steps", "1", "3",
            "--num", "40", "--out", str(out), "--json", str(out / "scores.json"), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_seeds_trains_every_variant_and_seed_and_reports_mean_std_and_worst(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(tiny_recipe(train={"iterations": 4, "checkpoint_every": 4}).to_yaml())
    out = tmp_path / "bench"
    result = bench(recipe, out)
    assert result.returncode == 0, result.stderr
    assert "trained 4 run(s)" in result.stderr
    for variant, steps in (("gibbsnet", 2), ("ali", 1)):
        for seed in (0, 1):
            saved = (out / variant / f"seed{seed}" / "recipe.yaml").read_text()
            assert f"seed: {seed}\n" in saved and f"chain_steps: {steps}\n" in saved
    scores = json.loads((out / "scores.json").read_text())["results"]
    assert set(scores) == {"gibbsnet", "ali"} and set(scores["ali"]) == {"0", "1"}
    rows = scores["gibbsnet"]["0"]["chain"]
    assert [r["step"] for r in rows] == [1, 3]
    assert {"classes", "entropy", "confidence", "nn_ratio", "fd"} <= set(rows[0])
    assert 0.0 <= rows[0]["entropy"] <= 1.0
    lines = result.stdout.splitlines()
    header = lines.index("| steps | gibbsnet | ali |", lines.index(next(
        line for line in lines if line.startswith("entropy (higher is better)"))))
    values = [scores["gibbsnet"][s]["chain"][0]["entropy"] for s in ("0", "1")]
    cell = lines[header + 2].split("|")[2]
    assert cell.strip().endswith(f"({min(values):.3f})")  # the worst seed: the lowest entropy

    again = bench(recipe, out)  # same recipes and settings: neither retrained nor scored again
    assert again.returncode == 0 and "trained 0 run(s)" in again.stderr
    assert "scored 0 run(s), 4 from earlier scores" in again.stderr
    assert again.stdout == result.stdout

    later = bench(recipe, out, "--first", "1", "--json", str(out / "later.json"))  # seed 1 only
    assert later.returncode == 0 and "scored 0 run(s), 2 from earlier scores" in later.stderr
    assert set(json.loads((out / "later.json").read_text())["results"]["ali"]) == {"1"}
    assert "tiny.yaml: 1 seed, threads" in later.stdout
    wrong = bench(recipe, out, "--first", "2")
    assert wrong.returncode != 0 and "give a first seed from 0 to 1" in wrong.stderr

    older = out / "ali" / "seed0" / "recipe.yaml"  # trained before critic_hidden existed: reused
    older.write_text(older.read_text().replace("    critic_hidden: null\n", ""))
    other = out / "ali" / "seed1" / "recipe.yaml"  # trained with other networks: trained again
    other.write_text(other.read_text().replace("    norm: batch\n", "    norm: layer\n"))
    third = bench(recipe, out)
    assert third.returncode == 0 and "trained 1 run(s)" in third.stderr


def test_incomplete_data_trains_every_method_and_prints_the_table_and_the_figure(tmp_path):
    script = SEEDS.parent / "incomplete_data.py"
    argv = [sys.executable, str(script), "--seeds", "0", "--iterations", "3", "--jobs", "1",
            "--settings", "window-4", "blur+noise", "--out", str(tmp_path),
            "--figure", str(tmp_path / "figure.png")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    runs = json.loads((tmp_path / "results.json").read_text())
    assert [(r["setting"], r["method"]) for r in runs] == [
        ("clean", "oracle"), ("window-4", "zero-fill"), ("window-4", "ambient"),
        ("window-4", "chain"), ("window-4", "chain-ambient"), ("blur+noise", "direct"),
        ("blur+noise", "match")]
    assert set(runs[0]["scores"]) == {"window-4", "blur+noise"}
    rows = [line for line in result.stdout.splitlines() if line.startswith("| window-4")]
    cells = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows]
    assert [row[1] for row in cells] == ["*per-pixel mean*", "oracle", "zero-fill", "ambient", "chain",
                                         "chain-ambient"]
    assert 0.3 < float(cells[0][3]) < 0.7 and cells[0][2] == cells[0][4] == ""
    assert all("±" in cell and "(" in cell for cell in cells[1][2:])
    from PIL import Image

    with Image.open(tmp_path / "figure.png") as figure:
        assert figure.format == "PNG" and figure.size == (704, 352)  # two 3.2-inch panels at 110 dpi
