"""Mode coverage on 2-D mixtures (gibbsnet_plugin/metrics/modes.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_cli.main import cli
from gibbsnet_plugin import testtime
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.evaluation import evaluate_model
from gibbsnet_plugin.factory import build_model
from gibbsnet_plugin.metrics import get as get_metric
from gibbsnet_plugin.metrics.modes import mode_scores
from gibbsnet_plugin.recipe import recipe_from_dict

GRID = gn.datasets.build("grid25", "", train=True, size=1)
CENTRES, STD = GRID.centres, GRID.std


def test_samples_on_every_centre_cover_every_mode_evenly():
    assert mode_scores(CENTRES, CENTRES, STD) == {"modes": 25, "modes_high_quality": 1.0,
                                                  "modes_reverse_kl": 0.0}
    four_each = CENTRES.repeat(4, 1) + 2.9 * STD * torch.tensor([0.6, -0.8])  # 2.9 std away
    assert mode_scores(four_each, CENTRES, STD)["modes_reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_samples_on_one_centre_cover_one_mode_with_the_largest_divergence():
    scores = mode_scores(CENTRES[7].expand(100, 2), CENTRES, STD)
    assert scores["modes"] == 1 and scores["modes_high_quality"] == 1.0
    assert scores["modes_reverse_kl"] == pytest.approx(math.log(25))
    two = mode_scores(torch.stack([CENTRES[0]] * 3 + [CENTRES[1]]), CENTRES, STD)
    q = torch.tensor([0.75, 0.25], dtype=torch.float64)
    assert two["modes"] == 2
    assert two["modes_reverse_kl"] == pytest.approx(float((q * torch.log(q * 25)).sum()))


def test_samples_far_from_every_centre_are_not_high_quality():
    far = CENTRES + torch.tensor([10 * STD, 0.0])  # still nearest to their own centre
    assert mode_scores(far, CENTRES, STD) == {"modes": 0, "modes_high_quality": 0.0,
                                              "modes_reverse_kl": math.inf}
    half = torch.cat([CENTRES[:10], far[10:20]])  # 3.1 std: just outside; 10 of 20 kept
    half[10:] = CENTRES[10:20] + torch.tensor([0.0, 3.1 * STD])
    scores = mode_scores(half, CENTRES, STD)
    assert scores["modes"] == 10 and scores["modes_high_quality"] == 0.5
    assert scores["modes_reverse_kl"] == pytest.approx(math.log(2.5))
    ring = gn.datasets.build("ring8", "", train=True, size=1)
    assert mode_scores(ring.centres * 1.02, ring.centres, ring.std)["modes"] == 8  # 2 std: kept
    with pytest.raises(ValueError, match=r"same D, got \(4, 3\) and \(25, 2\)"):
        mode_scores(torch.zeros(4, 3), CENTRES, STD)


def grid_recipe(**eval_section: object):
    return recipe_from_dict({
        "name": "grid", "seed": 0,
        "data": {"dataset": "grid25", "options": {"size": 2000}, "batch_size": 50},
        "model": {"architecture": "mlp", "z_dim": 4, "chain_steps": 2,
                  "options": {"hidden": [32, 32], "norm": "none", "output": "linear"}},
        "train": {"iterations": 20, "log_every": 10, "sample_every": 0, "checkpoint_every": 20},
        "eval": eval_section,
    })


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory) -> Path:
    recipe = grid_recipe(metrics=["modes"], every=10)
    return gn.train(recipe, out=tmp_path_factory.mktemp("grid") / "run")


@pytest.mark.slow
def test_evaluate_scores_seeded_chain_samples_against_the_training_mixture(grid_run):
    loaded = testtime.load_run(grid_run, device="cpu")
    model, recipe = loaded.model, loaded.recipe
    model.train()
    result = evaluate_model(model, recipe, ["modes"], num_samples=500, chain_steps=3, seed=4)
    assert model.training  # mode restored
    assert list(result["scores"]) == get_metric("modes").score_names([], 1) and result["notes"] == []
    details = result["details"]["modes"]
    assert (details["num_modes"], details["num_samples"], details["chain_steps"]) == (25, 500, 3)
    assert sum(details["counts"]) == round(500 * result["scores"]["modes_high_quality"])

    model.eval()  # the same draw by hand: 500 samples = one batch, seeded, eval mode
    torch.manual_seed(4)
    with torch.no_grad():
        samples = model.sample(500, steps=3)
    expected = mode_scores(samples, CENTRES, STD)
    assert result["scores"] == pytest.approx({k: float(v) for k, v in expected.items()})

    again = evaluate_model(model, recipe, num_samples=500, chain_steps=3, seed=4)  # eval.metrics
    assert again["scores"] == result["scores"]
    other = evaluate_model(model, recipe, ["modes"], num_samples=500, chain_steps=3, seed=5)
    assert other["details"]["modes"]["counts"] != details["counts"]


@pytest.mark.slow
def test_training_logs_mode_scores_and_the_cli_prints_them(grid_run, tmp_path, monkeypatch):
    logged = [json.loads(line) for line in (grid_run / "metrics.jsonl").read_text().splitlines()]
    evals = [line for line in logged if "eval/modes" in line]
    assert [line["iteration"] for line in evals] == [10, 20]
    assert set(get_metric("modes").score_names([], 1)) <= {k.removeprefix("eval/") for k in evals[0]}

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    out = runner.invoke(cli, ["evaluate", str(grid_run), "--metric", "modes", "--num-samples", "300",
                              "--steps", "1", "--device", "cpu", "--json"])
    assert out.exit_code == 0, out.stderr
    run = json.loads(out.stdout)["runs"][0]
    assert list(run["scores"]) == get_metric("modes").score_names([], 1)
    assert run["details"]["modes"]["num_samples"] == 300 and run["details"]["modes"]["chain_steps"] == 1
    table = runner.invoke(cli, ["evaluate", str(grid_run), "--num-samples", "300", "--device", "cpu"])
    assert table.exit_code == 0, table.stderr
    for row in ("modes covered", "modes high-quality samples (%)", "modes reverse KL (nats)"):
        assert row in table.stdout


def test_modes_on_data_without_centres_is_a_clear_error(tmp_path, monkeypatch):
    recipe = tiny_recipe()
    model = build_model(recipe, (1, 8, 8))
    with pytest.raises(GibbsnetError, match="metric 'modes' needs a 2-D mixture data set such as "
                                            "grid25 or ring8"):
        evaluate_model(model, recipe, ["modes"], num_samples=10)
    monkeypatch.chdir(tmp_path)
    run = gn.train(tiny_recipe(train={"iterations": 2, "sample_every": 0}), out=tmp_path / "run")
    out = CliRunner().invoke(cli, ["evaluate", str(run), "--metric", "modes", "--device", "cpu"])
    assert out.exit_code == 2 and "metric 'modes' needs a 2-D mixture data set" in out.stderr
