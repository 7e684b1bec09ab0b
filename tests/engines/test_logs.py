"""What a run records about itself (gibbsnet_plugin/engines/logs.py): train.log, run.json and
the TensorBoard logger, read back from the files."""

from __future__ import annotations

import json
import re
import sys
import time

import pytest

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.errors import RecipeError
from gibbsnet_plugin.recipe import recipe_from_dict
from gibbsnet_plugin.rundir import LOG_FILE, MLFLOW_DIR, RECORD_FILE, TENSORBOARD_DIR, WANDB_DIR


def test_tensorboard_event_files_hold_losses_scores_and_sample_grids(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = tiny_recipe(train={"loggers": ["tensorboard"], "iterations": 12, "log_every": 4,
                                "sample_every": 6},
                         eval={"every": 6, "metrics": ["reconstruction"]})
    run = gn.train(recipe, out=tmp_path / "run")
    events = EventAccumulator(str(run / TENSORBOARD_DIR))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake",
            "eval/reconstruction_mse"} <= set(scalars)
    assert [e.step for e in events.Scalars("train/d_loss")] == [4, 8, 12]
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    d_loss = {r["iteration"]: r["d_loss"] for r in logged if "d_loss" in r}
    assert [e.value for e in events.Scalars("train/d_loss")] == pytest.approx(
        [d_loss[4], d_loss[8], d_loss[12]], rel=1e-6)
    scores = {r["iteration"]: r["eval/reconstruction_mse"] for r in logged
              if "eval/reconstruction_mse" in r}
    assert {e.step: pytest.approx(e.value, rel=1e-6) for e in
            events.Scalars("eval/reconstruction_mse")} == scores
    grids = events.Images("samples")
    assert [g.step for g in grids] == [6, 12] and grids[0].width > 8


def test_train_log_and_run_record_grow_with_each_session(tmp_path):
    run = gn.train(tiny_recipe(train={"iterations": 8, "log_every": 4}), out=tmp_path / "run")
    gn.train(tiny_recipe(train={"iterations": 12, "log_every": 4}), out=run, resume=True)
    lines = (run / LOG_FILE).read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    assert re.fullmatch(stamp + r"started: tiny: mlp \([\d,]+ parameters\) on digits .* -> .*run",
                        lines[0])
    steps = [int(m.group(1)) for line in lines if (m := re.search(r" iteration (\d+)/", line))]
    assert steps == [4, 8, 12]
    calibrated = [re.fullmatch(stamp + r"iteration (\d+): batch-norm statistics measured over (\d+) "
                               r"chain steps of 64 chains in [\d.]+ s", line) for line in lines]
    # once at the end of each session, over no more chain states than training computed: 8 or
    # 12 iterations of 32 chains of 2 steps leave 64 chains (the 2 trained steps 8 times) 1 step
    assert [(int(m.group(1)), int(m.group(2))) for m in calibrated if m] == [(8, 1), (12, 1)]
    assert re.fullmatch(stamp + r"resumed: .*\(resuming\)", next(x for x in lines if "resumed" in x))
    assert [line[20:] for line in lines if "done:" in line] == [f"done: {run}"] * 2
    record = json.loads((run / RECORD_FILE).read_text())
    first, second = record["sessions"]
    assert (first["resuming"], second["resuming"]) == (False, True)
    assert first["command"] == sys.argv and first["device"] == "cpu"
    assert first["recipe"].endswith("recipe.yaml")
    assert {"python", "torch", "pytorch-ignite", "gibbsnet"} <= set(first["versions"])
    assert first["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", first["git_commit"])


def test_a_stopped_run_says_why_in_its_log(tmp_path):
    recipe = tiny_recipe(model={"architecture": "test_nan", "options": {}},
                         train={"iterations": 20, "checkpoint_every": 3, "calibration_steps": 0})
    with pytest.raises(gn.GibbsnetError):
        gn.train(recipe, out=tmp_path / "run")
    assert "stopped: training diverged at iteration" in (tmp_path / "run" / LOG_FILE).read_text()


def test_loggers_are_checked_with_the_recipe_and_before_training(tmp_path, monkeypatch):
    with pytest.raises(RecipeError, match=r"train\.loggers\[0\]: expected tensorboard \| mlflow \| wandb, "
                       r"got 'neptune'"):
        recipe_from_dict({"name": "x", "train": {"loggers": ["neptune"]}})
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    with pytest.raises(RecipeError, match=r"tensorboard is not installed; pip install "
                       r"'gibbsnet\[tensorboard\]'"):
        gn.train(tiny_recipe(train={"loggers": ["tensorboard"]}), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_force_replaces_the_logs_and_an_unreadable_record_starts_again(tmp_path):
    run = gn.train(tiny_recipe(train={"iterations": 4, "loggers": ["tensorboard"]}),
                   out=tmp_path / "run")
    (run / RECORD_FILE).write_text("[1]")  # valid JSON, not a record
    gn.train(tiny_recipe(train={"iterations": 6}), out=run, resume=True)
    assert [s["resuming"] for s in json.loads((run / RECORD_FILE).read_text())["sessions"]] == [True]
    gn.train(tiny_recipe(train={"iterations": 4}), out=run, force=True)
    assert not (run / TENSORBOARD_DIR).exists()
    assert len(json.loads((run / RECORD_FILE).read_text())["sessions"]) == 1
    assert (run / LOG_FILE).read_text().count("started:") == 1
    assert "resumed" not in (run / LOG_FILE).read_text()


@pytest.mark.slow
def test_mlflow_file_store_holds_the_runs_params_losses_scores_and_sample_grids(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    recipe = tiny_recipe(train={"loggers": ["mlflow"], "iterations": 12, "log_every": 4,
                                "sample_every": 6},
                         eval={"metrics": ["reconstruction"], "every": 6})
    run = gn.train(recipe, out=tmp_path / "run")
    client = mlflow.tracking.MlflowClient((run / MLFLOW_DIR).resolve().as_uri())
    experiment = client.get_experiment_by_name("tiny")
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.data.tags["mlflow.runName"] == "run" and found.info.status == "FINISHED"
    assert found.data.params["model.chain_steps"] == "2" and found.data.params["data.dataset"] == "digits"
    def steps(key: str) -> list[int]:  # ignite's MLflow handler joins tag and name with a space
        return [m.step for m in client.get_metric_history(found.info.run_id, key)]

    assert steps("train d_loss") == [4, 8, 12] and steps("eval reconstruction_mse") == [6, 12]
    images = [a.path for a in client.list_artifacts(found.info.run_id, "images")]
    assert sum(p.endswith(".png") and "samples" in p for p in images) == 2  # iterations 6 and 12


@pytest.mark.slow
def test_an_offline_wandb_run_holds_the_config_losses_scores_and_sample_grids(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    recipe = tiny_recipe(train={"loggers": ["wandb"], "iterations": 12, "log_every": 4, "sample_every": 6},
                         eval={"metrics": ["reconstruction"], "every": 6})
    run = gn.train(recipe, out=tmp_path / "run")
    (offline,) = (run / WANDB_DIR).glob("offline-run-*")
    # the run log is wandb's binary record file (read by `wandb sync`), written by wandb's own
    # service process, which may still be flushing it; its keys are plain text
    keys = (b"train/d_loss", b"eval/reconstruction_mse", b"model.chain_steps", b"samples")
    for _ in range(100):
        record = next(offline.glob("run-*.wandb")).read_bytes()
        missing = [key for key in keys if key not in record]
        if not missing:
            break
        time.sleep(0.1)
    assert missing == []
    media = offline / "files" / "media" / "images"
    grids = sorted(p.name.split("_")[1] for p in media.glob("samples_*.png"))
    assert grids == ["12", "6"]  # the sample grids of iterations 6 and 12
