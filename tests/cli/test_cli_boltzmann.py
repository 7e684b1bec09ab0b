"""The shipped RBM and energy recipes and a spatial, locally judged chain through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from gibbsnet_cli.main import cli

pytestmark = pytest.mark.slow
RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def ok(*args: object) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_rbm_recipe_trains_samples_inpaints_and_reports_its_exact_likelihood(tmp_path):
    run = tmp_path / "rbm"
    ok("train", RECIPES / "rbm.yaml", "--out", run, "--set", "train.iterations=20",
       "--set", "train.sample_every=20", "--set", "train.checkpoint_every=20", "--device", "cpu")
    ok("sample", run, "--num", 8, "--steps", 50, "--out", tmp_path / "s.npy", "--device", "cpu")
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (8, 1, 8, 8) and set(np.unique(samples)) <= {-1.0, 1.0}
    ok("inpaint", run, "--mask", "right-half", "--out", tmp_path / "i.png", "--device", "cpu")
    assert (tmp_path / "i.png").stat().st_size > 0
    assert "exact test log-likelihood" in ok("evaluate", run, "--metric", "loglik", "--device", "cpu").output
    result = ok("evaluate", run, "--metric", "loglik", "--json", "--device", "cpu")
    loglik = json.loads(result.stdout)["runs"][0]["scores"]["loglik"]
    assert -64 * np.log(2) - 5 < loglik < 0  # 20 iterations: near 64 fair coins, a probability


def test_spatial_local_chain_through_the_cli(tmp_path):
    run = tmp_path / "local"
    ok("train", RECIPES / "digits.yaml", "--out", run, "--set", "train.iterations=4",
       "--set", "model.z_dim=3", "--set", "model.options.z_stride=2",
       "--set", "model.options.critic=local", "--set", "model.options.width=8",
       "--set", "train.sample_every=4", "--set", "train.checkpoint_every=4",
       "--set", "train.calibration_steps=5", "--device", "cpu")
    ok("sample", run, "--num", 4, "--steps", 5, "--out", tmp_path / "s.npy", "--device", "cpu")
    assert np.load(tmp_path / "s.npy").shape == (4, 1, 8, 8)
    ok("inpaint", run, "--mask", "right-half", "--out", tmp_path / "i.png", "--device", "cpu")


def test_energy_recipe_trains_samples_inpaints_and_evaluates(tmp_path):
    run = tmp_path / "energy"
    ok("train", RECIPES / "energy.yaml", "--out", run, "--set", "train.iterations=4",
       "--set", "model.options.hidden=[16]", "--set", "model.options.steps=2",
       "--set", "train.sample_every=4", "--set", "train.checkpoint_every=4", "--device", "cpu")
    ok("sample", run, "--num", 4, "--steps", 5, "--out", tmp_path / "s.npy", "--device", "cpu")
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (4, 1, 8, 8) and samples.min() >= -1 and samples.max() <= 1
    ok("inpaint", run, "--mask", "right-half", "--out", tmp_path / "i.png", "--device", "cpu")
    result = ok("evaluate", run, "--metric", "reconstruction", "--json", "--device", "cpu")
    assert json.loads(result.stdout)["runs"][0]["scores"]["reconstruction_mse"] > 0
