"""Trainer handlers (gibbsnet_plugin/engines/handlers.py)."""

from __future__ import annotations

from ignite.engine import Engine

from gibbsnet_plugin.engines.handlers import ReportProgress, TrainingStatus


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
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a shell's background job
    with interrupt:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested
        assert [(r.event, r.iteration, r.total) for r in reports] == [("stopping", 4, 10)]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_cpu_run_longer_than_a_day_is_announced_with_the_gpu_options():
    import pytest

    from gibbsnet_plugin.engines.handlers import SlowRunWarning

    def run(total: int, limit_s: float) -> Engine:
        engine = Engine(lambda e, b: {})
        SlowRunWarning(total, skip=2, measure=5, limit_s=limit_s).attach(engine)
        engine.run(range(10), max_epochs=1)
        return engine

    with pytest.warns(UserWarning, match=r"^at [\d.]+ it/s on this CPU the remaining "
                      r"9,999,999,999,993 iterations take about [\d,]+ hours; train on a GPU "
                      r"\(`device` cuda, several with `nproc` N\) or lower train.iterations$"):
        run(10**13, limit_s=86_400)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(10**9, limit_s=10**12)  # short enough: no warning
