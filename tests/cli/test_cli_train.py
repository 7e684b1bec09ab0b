"""`gibbsnet train` (cli/train.py): exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from gibbsnet_cli.main import cli


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["train", "missing.yaml"], "missing.yaml: recipe file not found"),
    (["train", "{recipe}", "--set", "model.chain_step=3"],
     "model.chain_step: unknown key; did you mean 'chain_steps'?"),
    (["train", "{recipe}", "--set", "model.z_dim=abc"],
     "model.z_dim: expected an integer or a list, each an integer, got 'abc'"),
    (["train", "{recipe}", "--set", "model.architecture=nope"], "unknown architecture 'nope'"),
    (["train", "{recipe}", "--set", "data.dataset=mnist", "--set", "data.root={tmp}/data"],
     "data.options.download: true"),
    (["train", "{recipe}", "--device", "cuda:7"], "train.device"),
    (["train", "{recipe}", "--resume"], "no checkpoints/last.pt to resume from"),
    (["train", "{recipe}", "--set", "eval.masks=[random-0]"],
     "--set eval.masks[0]: 'random-0' would hide nothing or everything"),
    (["train", "{recipe}", "--set", "data.batch_size=1", "--set", "model.architecture=conv8",
      "--set", "model.options={{}}"], "data.batch_size: 1 does not work with this model"),
    (["train", "{recipe}", "--set", "train.lr=1e308"], "train.lr: must be in (0, 1.0]"),
    (["train", "{recipe}", "--set", "model.architecture=conv8", "--set", "model.options={{width: 0}}"],
     "width must be between 1 and 65,536, got 0"),
])
def test_bad_input_is_a_one_line_error_with_status_2_and_writes_nothing(tmp_path, recipe_file, args, message):
    before = sorted(tmp_path.rglob("*"))
    out = tmp_path / "run"
    args = [a.format(recipe=recipe_file, tmp=tmp_path) for a in args] + ["--out", str(out)]
    code, stderr = invoke(*args)
    assert code == 2, stderr
    assert message in stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_invalid_yaml_reports_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmodel:\n  chain_steps: [3\n")
    code, stderr = invoke("train", str(path))
    assert code == 2 and f"{path}:4: invalid YAML" in stderr


@pytest.mark.slow
def test_train_then_refuse_to_overwrite(tmp_path, recipe_file):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", str(recipe_file), "--out", str(out), "--set",
                                      "train.iterations=10", "--json"])
    code, stderr = result.exit_code, result.stderr
    assert code == 0, stderr
    assert "done:" in stderr and (out / "checkpoints" / "last.pt").exists()
    # without a terminal: plain progress lines, no progress bar
    assert "iteration 5/10 (50 %)" in stderr and "iteration 10/10 (100 %)" in stderr
    assert "━" not in stderr
    # what follows training says what it does: the batch-norm statistics of the long run, from
    # its first chain step to its last, before the run is done
    trained, calibrating = stderr.index("iteration 10/10"), stderr.index("iteration 10: measuring")
    steps = re.findall(r"iteration 10: measuring batch-norm statistics, chain step (\d+)/(\d+)", stderr)
    assert trained < calibrating < stderr.index("done:")
    assert steps[0][0] == "0" and steps[-1][0] == steps[-1][1] != "0"
    assert json.loads(result.stdout) == {"run": str(out), "iterations": 10,
                                         "checkpoint": str(out / "checkpoints" / "last.pt")}
    mtime = (out / "checkpoints" / "last.pt").stat().st_mtime_ns
    code, stderr = invoke("train", str(recipe_file), "--out", str(out), "--set", "train.iterations=4")
    assert code == 2 and "already holds a run" in stderr
    assert (out / "checkpoints" / "last.pt").stat().st_mtime_ns == mtime
    code, stderr = invoke("train", str(recipe_file), "--out", str(out), "--resume", "--force")
    assert code == 2 and "exclude each other" in stderr


@pytest.mark.slow
def test_a_latent_hierarchy_trains_from_the_command_line_and_samples(tmp_path, recipe_file):
    out = tmp_path / "run"
    code, stderr = invoke("train", str(recipe_file), "--out", str(out), "--set", "model.z_dim=[8, 4]",
                          "--set", "model.kind=hali", "--set", "train.iterations=4")
    assert code == 0, stderr
    assert "mlp" in stderr and "done:" in stderr
    code, stderr = invoke("sample", str(out), "--out", str(tmp_path / "s.png"), "--device", "cpu")
    assert code == 0 and (tmp_path / "s.png").exists(), stderr
    code, stderr = invoke("interpolate", str(out), "--out", str(tmp_path / "i.png"), "--level", "2",
                          "--device", "cpu")
    assert code == 0 and (tmp_path / "i.png").exists(), stderr
    code, stderr = invoke("reconstruct", str(out), "--out", str(tmp_path / "r.png"), "--level", "3",
                          "--device", "cpu")
    assert code == 2 and "--level 3: this model has latent layers 1 ... 2" in stderr
    assert not (tmp_path / "r.png").exists()
    for args, message in [(["--mode", "sleeping"], "--mode: unknown mode 'sleeping'"),
                          (["--clamp", "z3"], "--clamp z3: this model has layers x, z1, z2"),
                          (["--impotent", "z5"], "--impotent z5: this model has layers x, z1, z2")]:
        code, stderr = invoke("sample", str(out), "--out", str(tmp_path / "m.png"), *args)
        assert code == 2 and message in stderr and stderr.count("\n") == 1
        assert not (tmp_path / "m.png").exists()
    code, stderr = invoke("sample", str(out), "--out", str(tmp_path / "m.png"), "--mode",
                          "ready-to-hand", "--num", "5", "--trajectory", str(tmp_path / "t.png"),
                          "--device", "cpu")
    assert code == 0 and "clamped z2" in stderr, stderr
    assert (tmp_path / "m.png").exists() and (tmp_path / "t.png").exists()


@pytest.mark.slow
def test_resume_run_dir_continues_with_the_runs_own_recipe(tmp_path, recipe_file):
    out = tmp_path / "run"
    code, stderr = invoke("train", str(recipe_file), "--out", str(out), "--set", "train.iterations=4",
                          "--set", "model.chain_steps=3")
    assert code == 0, stderr
    code, stderr = invoke("train", "--resume", str(out), "--set", "train.iterations=6")
    assert code == 0, stderr
    from gibbsnet_plugin.checkpoint import read_checkpoint

    ckpt = read_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["trainer"]["iteration"] == 6 and ckpt["recipe"].model.chain_steps == 3


@pytest.mark.parametrize(("args", "message"), [
    ([], "missing RECIPE (a YAML file, e.g. recipes/digits.yaml), or --resume RUN_DIR"),
    (["--resume", "{tmp}"], "no recipe.yaml there"),
    (["--resume", "{tmp}", "--out", "{tmp}/elsewhere"], "--resume RUN_DIR continues RUN_DIR"),
])
def test_resume_needs_a_run_directory_and_says_so(tmp_path, args, message):
    code, stderr = invoke("train", *[a.format(tmp=tmp_path) for a in args])
    assert code == 2 and message in stderr


def test_a_run_that_is_not_there_or_a_nul_in_a_path_is_one_line(tmp_path, recipe_file):
    code, stderr = invoke("train", "--resume", str(tmp_path / "nothere"))
    assert code == 2 and stderr == (f"error: --resume {tmp_path / 'nothere'}: no such directory; give "
                                    "the run directory that training wrote\n")
    code, stderr = invoke("train", str(recipe_file), "--out", str(tmp_path / "a\0b"))
    assert code == 2 and stderr == "error: a path contains a NUL character (\\0); remove it\n"
    assert list(tmp_path.iterdir()) == [recipe_file]
