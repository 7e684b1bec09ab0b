"""``--independent P`` of ``gibbsnet sample``, ``inpaint`` and ``impute``: the chains corrected by
D's Metropolis-Hastings independence moves, their acceptance rate in the message and the JSON,
and one-line refusals where the option does not apply."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_cli.main import cli

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
WINE = ROOT / "examples" / "tables" / "wine.csv"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args] + ["--device", "cpu"])


def ok(*args: object) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    return result


def refused(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


@pytest.fixture(scope="module")
def pack_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny digits run whose D judges pairs of chains (pack 2)."""
    return gn.train(tiny_recipe(model={"pack": 2}), out=tmp_path_factory.mktemp("pack") / "run")


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table run of the shipped wine table, trained for a few iterations."""
    out = tmp_path_factory.mktemp("wine") / "run"
    result = CliRunner().invoke(cli, [
        "train", str(ROOT / "recipes" / "table.yaml"), "--out", str(out),
        "--set", "train.iterations=6", "--set", "train.checkpoint_every=6",
        "--set", "model.options.hidden=[32]", "--set", "train.missing_steps=2",
        "--set", f"data.options.path={WINE}"])
    assert result.exit_code == 0, result.stderr
    return out


def test_sample_with_independent_0_writes_the_plain_chain_s_samples(run, tmp_path):
    ok("sample", run, "--num", 6, "--steps", 5, "--seed", 3, "--out", tmp_path / "plain.npy")
    zero = ok("sample", run, "--num", 6, "--steps", 5, "--seed", 3, "--independent", 0,
              "--out", tmp_path / "zero.npy", "--json")
    assert (tmp_path / "plain.npy").read_bytes() == (tmp_path / "zero.npy").read_bytes()
    assert "acceptance" not in json.loads(zero.stdout) and "proposals" not in zero.stderr


def test_sample_reports_the_acceptance_rate_of_the_corrected_chain(pack_run, tmp_path):
    result = ok("sample", pack_run, "--num", 8, "--steps", 20, "--independent", 0.5, "--json",
                "--out", tmp_path / "s.npy", "--trajectory", tmp_path / "t.png", "--at", "1,5,20")
    record = json.loads(result.stdout)
    assert record["independent"] == 0.5 and 0.0 <= record["acceptance"] <= 1.0
    assert f"{100 * record['acceptance']:.1f} % of independent proposals accepted" in result.stderr
    ok("sample", pack_run, "--num", 8, "--steps", 20, "--out", tmp_path / "plain.npy")
    assert not np.array_equal(np.load(tmp_path / "s.npy"), np.load(tmp_path / "plain.npy"))
    dreaming = ok("sample", pack_run, "--num", 8, "--steps", 20, "--independent", 0.5, "--json",
                  "--mode", "dreaming", "--out", tmp_path / "d.npy")
    assert np.array_equal(np.load(tmp_path / "d.npy"), np.load(tmp_path / "s.npy"))
    assert json.loads(dreaming.stdout)["acceptance"] == record["acceptance"]


def test_inpaint_json_gives_the_acceptance_rate(pack_run, tmp_path):
    result = ok("inpaint", pack_run, "--mask", "right-half", "--num", 8, "--steps", 10,
                "--independent", 1, "--json", "--out", tmp_path / "i.png")
    record = json.loads(result.stdout)
    assert record["independent"] == 1.0 and 0.0 <= record["acceptance"] <= 1.0
    text = ok("inpaint", pack_run, "--mask", "right-half", "--num", 8, "--steps", 10,
              "--independent", 1, "--out", tmp_path / "j.png", "--force")
    assert "% of independent proposals accepted (P = 1)" in text.stdout


@pytest.mark.parametrize("args, message", [
    (["sample", "{run}", "--independent", "1.5"],
     "--independent 1.5: expected a probability between 0 and 1 (0: the plain chain)"),
    (["sample", "{run}", "--independent", "-0.1"], "--independent -0.1: expected a probability"),
    (["inpaint", "{run}", "--mask", "left-half", "--independent", "half"],
     "--independent half: expected a probability"),
    (["impute", "{run}", "{table}", "--out", "{tmp}/f.csv", "--independent", "nan"],
     "--independent nan: expected a probability"),
    (["sample", "{run}", "--mode", "daydreaming", "--independent", "0.5"],
     "--independent: independent proposals correct the unclamped chain (dreaming); a chain with "
     "clamped or impotent layers has no D trained on it, so drop --independent or the clamped"),
    (["sample", "{pack_run}", "--num", "5", "--independent", "0.5"],
     "--independent: D judges packs of 2 chains, which propose and accept together, and 5 chains "
     "do not split into them; run a multiple of 2 chains"),
    (["inpaint", "{pack_run}", "--mask", "left-half", "--num", "3", "--independent", "0.5"],
     "run a multiple of 2 chains"),
])
def test_independent_values_that_do_not_apply_are_one_line_errors(run, pack_run, tmp_path, args,
                                                                  message):
    (tmp_path / "table.csv").write_text("a,b\n1,\n")
    out = tmp_path / "out.png"
    args = [a.format(run=run, pack_run=pack_run, table=tmp_path / "table.csv", tmp=tmp_path)
            for a in args]
    refused(invoke(*args, *([] if "--out" in args else ["--out", out])), message)
    assert not out.exists() and not (tmp_path / "f.csv").exists()


def test_impute_with_independent_proposals_keeps_the_observed_cells(wine_run, tmp_path):
    ok("impute", wine_run, WINE, "--out", tmp_path / "plain.csv")
    ok("impute", wine_run, WINE, "--out", tmp_path / "zero.csv", "--independent", 0)
    assert (tmp_path / "plain.csv").read_bytes() == (tmp_path / "zero.csv").read_bytes()
    result = ok("impute", wine_run, WINE, "--out", tmp_path / "mh.csv", "--independent", 0.5,
                "--json")
    summary = json.loads(result.stdout)
    assert summary["independent"] == 0.5 and 0.0 <= summary["acceptance"] <= 1.0
    with WINE.open(newline="") as f, (tmp_path / "mh.csv").open(newline="") as g:
        before, after = list(csv.reader(f)), list(csv.reader(g))
    for old, new in zip(before, after, strict=True):
        assert all(b == a for a, b in zip(old, new, strict=True) if a)
        assert all(new)
