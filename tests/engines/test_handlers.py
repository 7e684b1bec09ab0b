"""Trainer handlers (gibbsnet_plugin/engines/handlers.py)."""

from __future__ import annotations

import json

import torch
from ignite.engine import Engine
from PIL import Image

from gibbsnet_plugin.engines.handlers import ReportProgress, TrainingStatus, save_grid, truncate_metrics


def test_truncate_metrics_drops_lines_after_the_resumed_iteration(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"iteration": i, "d_loss": 1.0}) + "\n" for i in (10, 20, 30)))
    truncate_metrics(path, 20)
    assert [json.loads(line)["iteration"] for line in path.read_text().splitlines()] == [10, 20]
    truncate_metrics(tmp_path / "missing.jsonl", 5)
    assert not (tmp_path / "missing.jsonl").exists()


def test_save_grid_writes_a_png_grid(tmp_path):
    save_grid(torch.rand(16, 1, 8, 8) * 2 - 1, tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as im:
        assert im.size == (4 * 9 + 1, 4 * 9 + 1)
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]


def test_report_progress_sends_steps_and_one_end_to_the_callback():
    seen: list[TrainingStatus] = []
    engine = Engine(lambda engine, batch: {"d_loss": float(batch), "g_loss": 2.0})
    ReportProgress(seen.append, total=7, every=3).attach(engine)
    engine.run(range(7), max_epochs=1)
    assert [(s.event, s.iteration, s.total) for s in seen] == [
        ("step", 3, 7), ("step", 6, 7), ("ended", 7, 7)]
    assert seen[1].values == {"d_loss": 5.0, "g_loss": 2.0} and seen[1].rate > 0
    assert seen[-1].values == {} and seen[-1].rate is None


def test_ctrl_c_reports_stopping_at_once_and_a_second_one_stops_at_once():
    import os
    import signal

    import pytest

    from gibbsnet_plugin.engines.handlers import Interrupt

    reports: list[TrainingStatus] = []
    engine = Engine(lambda e, b: {})
    interrupt = Interrupt(reports.append, total=10)
    interrupt.attach(engine)
    engine.state.iteration = 4
    with interrupt:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested
        assert [(r.event, r.iteration, r.total) for r in reports] == [("stopping", 4, 10)]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
