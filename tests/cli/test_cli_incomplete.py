"""Incomplete and corrupted training data from the command line: the README's two commands
train, sample and evaluate; bad masks and corruptions are one-line errors that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import TensorDataset

import gibbsnet_plugin as gn
from gibbsnet_cli.main import cli

DIGITS = str(Path(__file__).parents[2] / "recipes" / "digits.yaml")
FAST = ["--set", "train.iterations=4", "--set", "train.calibration_steps=2",
        "--set", "train.sample_every=0", "--set", "model.architecture=mlp",
        "--set", "model.options.hidden=[32]", "--set", "train.missing_steps=2"]


@gn.datasets.register("test_bad_masks")
def build_bad_masks(root: str, train: bool, problem: str = "shape") -> TensorDataset:
    x = torch.rand(40, 1, 8, 8) * 2 - 1
    mask = {"shape": torch.ones(40, 1, 4, 4), "values": torch.full_like(x, 0.5),
            "hidden": torch.zeros_like(x), "late": torch.ones_like(x)}[problem]
    if problem == "late":
        mask[30, 0, 2, 2] = 2.0
    return TensorDataset(x, mask)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("overrides, banner", [
    (["--set", "data.missing=random-80"], "; random-80 missing, train.missing chain-ambient (2 steps);"),
    (["--set", "data.corruption.name=blur"], "; data corrupted by blur, train.corruption match;"),
])
def test_incomplete_and_corrupted_digits_train_sample_and_evaluate(tmp_path, overrides, banner):
    run = tmp_path / "run"
    code, _, stderr = invoke("train", DIGITS, *FAST, *overrides, "--out", str(run))
    assert code == 0, stderr
    assert banner in stderr
    saved = (run / "recipe.yaml").read_text()
    assert ("random-80" in saved) != ("blur" in saved)
    assert (gn.load_model(run).corruption is not None) == ("blur" in saved)
    code, _, stderr = invoke("sample", str(run), "--num", "6", "--out", str(tmp_path / "s.npy"))
    assert code == 0, stderr
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (6, 1, 8, 8) and np.isfinite(samples).all()
    code, stdout, stderr = invoke("evaluate", str(run), "--metric", "imputation",
                                  "--metric", "probe", "--draws", "1", "--json")
    assert code == 0, stderr
    scores = json.loads(stdout)["runs"][0]["scores"]
    assert 0 < scores["imputation_rmse"] < 2 and 0 <= scores["probe_error"] <= 1


def test_evaluate_scores_the_imputation_of_a_complete_data_model_on_any_process(run):
    code, stdout, stderr = invoke("evaluate", str(run), "--metric", "imputation",
                                  "--missing", "window-4", "--json")
    assert code == 0, stderr
    assert 0 < json.loads(stdout)["runs"][0]["scores"]["imputation_rmse"] < 2
    code, _, stderr = invoke("evaluate", str(run), "--metric", "imputation")
    assert code == 2 and "imputation needs missing entries" in stderr
    code, _, stderr = invoke("evaluate", str(run), "--metric", "probe", "--missing", "window-4")
    assert code == 2 and "--missing) is for the imputation metric" in stderr
    code, _, stderr = invoke("evaluate", str(run), "--missing", "window-40")
    assert code == 2 and "mask process 'window-40'" in stderr


@pytest.mark.parametrize("args, message", [
    (["--set", "data.missing=random-1O"], "data.missing: unknown mask process 'random-1O'"),
    (["--set", "data.missing=window-9"], "data.missing: mask process 'window-9'"),
    (["--set", "data.corruption.name=blurr"], "unknown corruption 'blurr'; did you mean 'blur'?"),
    (["--set", "data.corruption.name=blur", "--set", "data.corruption.options.sigm=2"],
     "data.corruption.options.sigm: unknown option for corruption 'blur'"),
    (["--set", "data.corruption.name=blur", "--set", "data.corruption.options.sigma=-1"],
     "blur sigma must be > 0"),
    (["--set", "data.corruption.name=downsample", "--set", "data.corruption.options.keep_shape=false"],
     "'downsample' maps x of shape 1×8×8 to 1×4×4; training on corrupted data needs y shaped like x"),
    (["--set", "data.dataset=test_bad_masks"], "a mask of shape (1, 4, 4) came with data of shape"),
    (["--set", "data.dataset=test_bad_masks", "--set", "data.options.problem=values"],
     "mask values must be 0 (missing) or 1 (observed), found 0.5"),
    (["--set", "data.dataset=test_bad_masks", "--set", "data.options.problem=hidden"],
     "every item's mask hides all of it"),
    (["--set", "data.dataset=test_bad_masks", "--set", "data.options.problem=late"],
     "data set 'test_bad_masks', item 30: mask values must be 0 (missing) or 1 (observed), found 2"),
    (["--set", "data.dataset=test_poisoned", "--set", "data.corruption.name=blur"],
     "data.corruption: data set 'test_poisoned' has masks of its own"),
    (["--set", "data.dataset=test_poisoned", "--set", "model.z_consistency=0.1"],
     "model.z_consistency: is not available with train.missing: chain-ambient (D sees masked x); "
     "remove it or set train.missing: chain (the data set's items carry masks)"),
    (["--set", "data.missing=window-4", "--set", "model.z_consistency=0.1"],
     "--set model.z_consistency: is not available with train.missing: chain-ambient"),
    (["--set", "data.dataset=test_poisoned", "--set", "eval.metrics=[reconstruction]",
      "--set", "eval.every=2"], "eval.metrics: reconstruction compares with the truth"),
])
def test_bad_masks_and_corruptions_are_one_line_errors_that_write_nothing(tmp_path, args, message):
    before = sorted(tmp_path.rglob("*"))
    code, _, stderr = invoke("train", DIGITS, *FAST, *args, "--out", str(tmp_path / "run"))
    assert code == 2, stderr
    assert message in stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert sorted(tmp_path.rglob("*")) == before
