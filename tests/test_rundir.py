"""The run directory's layout and records (gibbsnet_plugin/rundir.py)."""

from __future__ import annotations

import json

from gibbsnet_plugin.rundir import (
    RunDir,
    append_record,
    evaluation_record,
    read_metrics,
    training_record,
    truncate_records,
)


def test_read_metrics_splits_training_values_and_scores_and_skips_broken_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"iteration": 2, "epoch": 1, "d_loss": 0.5, "g_loss": 1.5, "it_per_s": 9}\n'
                    '{"iteration": 2, "epoch": 1, "eval/fid": 30.0}\n'
                    "\n"
                    '{"iteration": 4, "d_loss": NaN, "g_loss": 1.0, "flag": true}\n'
                    '["not", "a", "record"]\n'
                    '{"iteration": "6", "d_loss": 1}\n'
                    '{"iteration": 8, "d_lo')
    metrics = read_metrics(path)
    assert list(metrics.training) == ["d_loss", "g_loss"]
    assert metrics.training["g_loss"] == [(2, 1.5), (4, 1.0)]
    assert metrics.training["d_loss"][0] == (2, 0.5) and metrics.training["d_loss"][1][1] != 0.5
    assert metrics.evaluation == {"fid": [(2, 30.0)]}
    assert metrics.skipped == [5, 6, 7] and metrics.last_iteration == 4


def test_records_written_here_read_back_as_curves_and_truncate_for_a_resume(tmp_path):
    path = RunDir(tmp_path).metrics
    for it in (10, 20, 30):
        append_record(path, training_record(it, 1, {"d_loss": it / 10, "g_loss": 1.0}, 5.0, it / 5))
    append_record(path, evaluation_record(20, 1, {"fid": 12.5}))
    metrics = read_metrics(path)
    assert metrics.training["d_loss"] == [(10, 1.0), (20, 2.0), (30, 3.0)]
    assert "it_per_s" not in metrics.training and metrics.evaluation == {"fid": [(20, 12.5)]}
    assert json.loads(path.read_text().splitlines()[-1]) == {"iteration": 20, "epoch": 1, "eval/fid": 12.5}
    truncate_records(path, 20)
    assert [json.loads(line)["iteration"] for line in path.read_text().splitlines()] == [10, 20, 20]


def test_sample_grids_and_step_checkpoints_are_ordered_by_their_iteration(tmp_path):
    run = RunDir(tmp_path)
    run.samples.mkdir()
    for name in ("step_0000500.png", "step_0000050.png", "final.png", "step_10.txt", ".step_7.png.1.tmp"):
        (run.samples / name).write_bytes(b"")
    assert [(i, p.name) for i, p in run.sample_grids()] == [
        (50, "step_0000050.png"), (500, "step_0000500.png")]
    assert run.sample_grid(50) == run.samples / "step_0000050.png"
    assert RunDir(tmp_path / "missing").sample_grids() == []
    run.checkpoints.mkdir()
    for it in (1000, 200):
        run.step_checkpoint(it).write_bytes(b"")
    run.last.write_bytes(b"")
    assert [i for i, _ in run.step_checkpoints()] == [200, 1000]


def test_clear_removes_the_run_and_keeps_other_files(tmp_path):
    run = RunDir(tmp_path)
    assert not run.holds_run() and not run.is_run()
    run.checkpoints.mkdir()
    run.last.write_bytes(b"x")
    run.recipe.write_text("name: x\n")
    (tmp_path / "notes.txt").write_text("mine")
    (run.checkpoints / "tmpab12cd34").write_bytes(b"")
    (tmp_path / ".recipe.yaml.123.tmp").write_text("")
    assert run.holds_run() and run.is_run()
    assert sorted(p.name for p in run.remove_stale_temporaries()) == [".recipe.yaml.123.tmp", "tmpab12cd34"]
    run.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
