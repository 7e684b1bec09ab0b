"""End-to-end training on tiny networks (gibbsnet_plugin/training.py and the engine handlers)."""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_cli.main import cli
from gibbsnet_plugin.checkpoint import read_checkpoint
from gibbsnet_plugin.errors import (
    DatasetNotFoundError,
    DeviceError,
    RunDirectoryError,
    TrainingDiverged,
    TrainingInterrupted,
)
from gibbsnet_plugin.recipe import resolved

pytestmark = pytest.mark.slow


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_train_writes_the_run_directory(tmp_path):
    recipe = tiny_recipe()
    run = gn.train(recipe, out=tmp_path / "run")
    assert (run / "recipe.yaml").read_text() == resolved(recipe).to_yaml()  # every option written out
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "last.pt", "step_0000006.pt", "step_0000012.pt"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000006.png", "step_0000012.png"]
    rows = metrics(run)
    assert [r["iteration"] for r in rows] == [2, 4, 6, 8, 10, 12]
    for r in rows:
        assert {"d_loss", "g_loss", "d_real", "d_fake", "it_per_s", "epoch"} <= set(r)
        assert all(math.isfinite(r[k]) for k in ("d_loss", "g_loss", "d_real", "d_fake"))
    ckpt = read_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["trainer"]["iteration"] == 12 and ckpt["recipe"] == resolved(recipe)
    model = gn.load_model(run, device="cpu")
    assert not model.training and model.sample(3).shape == (3, 1, 8, 8)


STABILISER_WRAPPERS = ("spectral_norm", "standardize", "decoder_noise")
STABILISERS = {"chain_steps": 3, "critic_states": 2, "persistent": 0.8, "random_steps": True,
               "r1": 1.0, "spectral_norm": True, "standardize": True, "decoder_noise": 4,
               "z_consistency": 0.1}


@pytest.mark.parametrize("levers", [{}, STABILISERS], ids=["plain", "stabilisers"])
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, levers):
    # 7 batches an epoch: the break at 5 is mid-epoch and the run crosses epoch boundaries.
    sections = {"data": {"batch_size": 200}, "train": {"iterations": 16, "log_every": 1,
                                                        "checkpoint_every": 5, "sample_every": 4},
                "model": levers}
    straight = gn.train(tiny_recipe(**sections), out=tmp_path / "a")

    first = tiny_recipe(data={"batch_size": 200}, model=levers,
                        train={**sections["train"], "iterations": 5})
    resumed = gn.train(first, out=tmp_path / "b")
    gn.train(tiny_recipe(**sections), out=resumed, resume=True)

    keys = ("iteration", "epoch", "d_loss", "g_loss", "d_real", "d_fake")
    assert [[r[k] for k in keys] for r in metrics(straight)] == \
        [[r[k] for k in keys] for r in metrics(resumed)]
    a = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    if levers:  # the persistent chains' states are checkpointed and continued exactly
        chains_a, chains_b = a["chains"]["layer1"], b["chains"]["layer1"]
        assert chains_a.shape == (200, 8) and torch.equal(chains_a, chains_b)
        model = gn.load_model(resumed, device="cpu")
        assert model.options() == {**model.options(), **{k: v for k, v in levers.items()
                                                         if k not in STABILISER_WRAPPERS}}


def test_resume_refuses_other_recipe_changes_and_changes_nothing(tmp_path):
    run = gn.train(tiny_recipe(), out=tmp_path / "run")
    before = snapshot(run)
    changed = tiny_recipe(model={"chain_steps": 3}, train={"iterations": 20, "lr": 1e-3})
    with pytest.raises(RunDirectoryError, match=r"model\.chain_steps: 2 -> 3; train\.lr: 0\.0001 -> 0\.001"):
        gn.train(changed, out=run, resume=True)
    with pytest.raises(RunDirectoryError, match="already reached iteration 12"):
        gn.train(tiny_recipe(), out=run, resume=True)
    assert snapshot(run) == before


def test_resume_reads_the_checkpoint_once(tmp_path, monkeypatch):
    # It used to be read three times: twice to check it, once more to restore it.
    run = gn.train(tiny_recipe(train={"iterations": 6, "sample_every": 0}), out=tmp_path / "run")
    reads = []
    load = torch.load

    def counting(path, *args, **kwargs):
        reads.append(Path(path).name)
        return load(path, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting)
    gn.train(tiny_recipe(train={"iterations": 8, "sample_every": 0}), out=run, resume=True)
    assert reads == ["last.pt"]
    assert read_checkpoint(run / "checkpoints" / "last.pt")["trainer"]["iteration"] == 8


def test_a_process_count_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="nproc must be at least 1, got 0"):
        gn.train(tiny_recipe(), out=tmp_path / "run", nproc=0)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("device", ["cuda:7", "mps"])
def test_devices_this_machine_lacks_are_refused_before_anything_is_written(tmp_path, device):
    if torch.device(device).type == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    if torch.device(device).type == "cuda" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has cuda:7")
    with pytest.raises(DeviceError, match=f"^train.device '{device}': .* is not available here"):
        gn.train(tiny_recipe(train={"device": device}), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_progress_callback_gets_the_run_summary_steps_and_the_end(tmp_path):
    seen = []
    gn.train(tiny_recipe(train={"iterations": 12, "sample_every": 0, "calibration_chains": 16}),
             out=tmp_path / "run", progress=seen.append)
    # every 5 iterations and the last; then the batch-norm statistics of the long run, chain
    # step by chain step (every 10 of the recipe's 30; 12 * 32 * 2 / 16 = 48 would allow more),
    # before the end
    assert [(s.event, s.iteration, s.chain) for s in seen] == [
        ("started", 0, None), ("step", 5, None), ("step", 10, None), ("step", 12, None),
        ("calibrating", 12, (0, 30)), ("calibrating", 12, (10, 30)), ("calibrating", 12, (20, 30)),
        ("calibrating", 12, (30, 30)), ("ended", 12, None)]
    summary = seen[0].summary
    assert (summary.name, summary.architecture, summary.x_shape, summary.iterations,
            summary.device, summary.processes, summary.resuming) == (
        "tiny", "mlp", (1, 8, 8), 12, "cpu", 1, False)
    assert summary.parameters == sum(p.numel() for p in gn.load_model(tmp_path / "run").parameters())
    assert set(seen[1].values) == {"d_loss", "g_loss", "d_real", "d_fake"}


def test_existing_run_is_refused_unless_forced(tmp_path):
    run = gn.train(tiny_recipe(), out=tmp_path / "run")
    before = snapshot(run)
    with pytest.raises(RunDirectoryError, match="already holds a run; pass `resume` .* `force`"):
        gn.train(tiny_recipe(), out=run)
    assert snapshot(run) == before
    with pytest.raises(RunDirectoryError, match="no checkpoints/last.pt to resume from"):
        gn.train(tiny_recipe(), out=tmp_path / "empty", resume=True)
    assert not (tmp_path / "empty").exists()
    with pytest.raises(DatasetNotFoundError):
        gn.train(tiny_recipe(data={"dataset": "mnist", "root": str(tmp_path / "data")}), out=run,
                 force=True)
    assert snapshot(run) == before
    gn.train(tiny_recipe(train={"iterations": 6}), out=run, force=True)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt", "step_0000006.pt"]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    # test_nan's decoder turns NaN after 14 training calls: iteration 8 of a 2-step chain.
    recipe = tiny_recipe(model={"architecture": "test_nan", "options": {"after": 14}},
                         train={"iterations": 20, "checkpoint_every": 3})
    with pytest.raises(TrainingDiverged, match=r"diverged at iteration 8 .*last good checkpoint"):
        gn.train(recipe, out=tmp_path / "run")
    ckpt = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["trainer"]["iteration"] == 6
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert not (tmp_path / "run" / "checkpoints" / "step_0000009.pt").exists()


class NanBufferAfter(torch.nn.Module):
    """An encoder whose running statistic (a buffer the output does not use) becomes NaN after
    ``after`` training calls: the losses stay finite."""

    def __init__(self, inner: torch.nn.Module, after: int) -> None:
        super().__init__()
        self.inner, self.after = inner, after
        self.register_buffer("running", torch.zeros(()))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                self.running.fill_(math.nan)
        return self.inner(x)


@gn.architectures.register("test_nan_buffer")
def build_nan_buffer(x_shape: tuple[int, ...], z_dim: int, after: int = 10) -> gn.Architecture:
    arch = gn.architectures.build("test_linear", x_shape, z_dim)
    return gn.Architecture(NanBufferAfter(arch.encoder, after), arch.decoder, arch.discriminator)


def test_non_finite_weights_with_finite_losses_stop_and_keep_the_last_good_checkpoint(tmp_path):
    # 2 encoder calls per iteration (clamped pair, step 2 of the chain): NaN from iteration 8 on,
    # found when iteration 9 would be saved
    recipe = tiny_recipe(model={"architecture": "test_nan_buffer", "options": {"after": 14}},
                         train={"iterations": 20, "checkpoint_every": 3, "calibration_steps": 0})
    with pytest.raises(TrainingDiverged,
                       match=r"diverged at iteration 9 \(non-finite parameters=nan\).*last good"):
        gn.train(recipe, out=tmp_path / "run")
    ckpt = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["trainer"]["iteration"] == 6
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path, recipe_file):
    out = tmp_path / "run"
    env = {**os.environ, "GIBBSNET_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gibbsnet_cli.main", "train", str(recipe_file), "--out", str(out),
         "--set", "train.iterations=100000", "--set", "train.checkpoint_every=100000"],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "metrics.jsonl").exists():
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted at iteration" in stderr
    assert "stopping after this iteration" in stderr
    done = read_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["iteration"]
    assert 2 <= done < 100000
    hint = stderr.split("continue with: ")[1].split()
    assert hint == ["gibbsnet", "train", "--resume", str(out)]
    result = CliRunner().invoke(cli, [*hint[1:], "--set", f"train.iterations={done + 2}"])
    assert result.exit_code == 0, result.stderr
    assert read_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["iteration"] == done + 2


def test_a_second_ctrl_c_stops_at_once_and_says_no_checkpoint_was_written(tmp_path):
    def press_ctrl_c_twice(status: gn.TrainingStatus) -> None:
        if status.event == "step" and status.iteration >= 5:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    recipe = tiny_recipe(train={"iterations": 1000, "checkpoint_every": 500})
    with pytest.raises(TrainingInterrupted, match=r"^a second Ctrl-C stopped training at once "
                       r"after iteration \d+; no checkpoint was written \(`force` starts the run "
                       r"again\)$") as info:
        gn.train(recipe, out=tmp_path / "run", progress=press_ctrl_c_twice)
    assert not info.value.resumable
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_and_channels_last_train_and_resume(tmp_path, precision):
    sections = {"model": {"architecture": "conv8", "options": {"width": 4}},
                "train": {"iterations": 4, "precision": precision, "channels_last": True,
                          "checkpoint_every": 2, "log_every": 1}}
    first = tiny_recipe(model=sections["model"], train={**sections["train"], "iterations": 2})
    run = gn.train(first, out=tmp_path / "run")
    gn.train(tiny_recipe(**sections), out=run, resume=True)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["trainer"]["iteration"] == 4
    assert ("grad_scaler" in ckpt) == (precision == "fp16")
    assert all(v.dtype != torch.float16 for v in ckpt["model"].values())
    rows = metrics(run)
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in rows)


def test_compiled_networks_train_and_save_plain_state_dicts(tmp_path):
    recipe = tiny_recipe(train={"iterations": 2, "compile": True, "checkpoint_every": 2,
                                "sample_every": 2, "calibration_steps": 0})
    run = gn.train(recipe, out=tmp_path / "run")
    keys = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"].keys()
    assert not any("_orig_mod" in k for k in keys)
    assert gn.load_model(run, device="cpu").sample(2).shape == (2, 1, 8, 8)


def test_ema_weights_are_saved_resumed_and_used_for_sampling(tmp_path):
    sections = {"train": {"iterations": 6, "ema": 0.5, "checkpoint_every": 3}}
    first = tiny_recipe(train={**sections["train"], "iterations": 3})
    run = gn.train(first, out=tmp_path / "run")
    gn.train(tiny_recipe(**sections), out=run, resume=True)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    key = next(k for k in ckpt["ema"] if k.startswith("encoder.") and k.endswith("weight"))
    assert not torch.equal(ckpt["ema"][key], ckpt["model"][key])
    model = gn.load_model(run, device="cpu")
    assert torch.equal(model.state_dict()[key], ckpt["ema"][key])
    straight = gn.train(tiny_recipe(**sections), out=tmp_path / "straight")
    again = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(again["ema"][k], v) for k, v in ckpt["ema"].items())


def test_a_short_run_averages_its_trained_weights_not_the_initial_ones(tmp_path):
    """The weight of new values warms up from 1: after 4 of the 1,000 iterations that
    ``ema: 0.001`` averages over, the average is near the trained weights."""
    from gibbsnet_plugin.factory import build_model
    from gibbsnet_plugin.utils import seed_everything

    recipe = tiny_recipe(train={"iterations": 4, "ema": 0.001, "lr": 0.01})
    run = gn.train(recipe, out=tmp_path / "run")
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    seed_everything(recipe.seed)  # as training builds its model
    initial = build_model(recipe, (1, 8, 8)).state_dict()
    key = next(k for k in ckpt["ema"] if k.startswith("decoder.") and k.endswith("weight"))
    moved = (ckpt["model"][key] - initial[key]).norm()
    assert moved > 0
    assert (ckpt["ema"][key] - ckpt["model"][key]).norm() < 0.05 * moved


def test_a_full_disk_stops_training_keeps_the_last_checkpoint_and_exits_1(tmp_path, monkeypatch):
    from gibbsnet_plugin.errors import EnvironmentFailure

    real_save, calls = torch.save, []

    def disk_fills_up(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) > 2:  # step_0000003.pt and last.pt fit, nothing after them
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_fills_up)
    recipe = tiny_recipe(train={"iterations": 12, "checkpoint_every": 3})
    with pytest.raises(EnvironmentFailure, match=r"No space left on device \(.*run\); "
                       r"training stopped at iteration 6; the last complete checkpoint is "
                       r".*last\.pt; continue with `resume`"):
        gn.train(recipe, out=tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "last.pt", "step_0000003.pt"]
    assert read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["trainer"]["iteration"] == 3

    calls.clear()
    path = tmp_path / "r.yaml"
    path.write_text(recipe.to_yaml())
    result = CliRunner().invoke(cli, ["train", str(path), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 1, result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: No space left on device (")
    assert "Traceback" not in result.stderr and "done:" not in result.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MiB file system (tmpfs), where mounting is allowed (root on Linux)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_real_full_file_system_stops_training_with_status_1_and_a_readable_checkpoint(
        small_disk, tmp_path):
    recipe = tiny_recipe(model={"options": {"hidden": [64, 64]}},
                         train={"iterations": 400, "checkpoint_every": 2, "log_every": 1,
                                "sample_every": 1, "calibration_steps": 2})
    path = tmp_path / "r.yaml"
    path.write_text(recipe.to_yaml())
    out = small_disk / "run"
    result = CliRunner().invoke(cli, ["train", str(path), "--out", str(out)])
    assert result.exit_code == 1, result.stderr
    assert "No space left on device" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr and "done:" not in result.stderr
    assert "the last complete checkpoint is" in result.stderr
    assert read_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["iteration"] >= 2
    assert not [p for p in (out / "checkpoints").iterdir() if not p.name.endswith(".pt")]


def test_a_failed_write_names_the_newest_step_checkpoint_when_last_pt_was_never_written(
        tmp_path, monkeypatch):
    from gibbsnet_plugin.errors import EnvironmentFailure

    real_save, calls = torch.save, []

    def last_fails(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) == 2:  # step_0000003.pt is written, then last.pt fails
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1 vs 2")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", last_fails)
    with pytest.raises(EnvironmentFailure, match=r"writing the checkpoint failed .*last\.pt\); "
                       r"training stopped at iteration 3; the newest complete checkpoint is "
                       r".*step_0000003\.pt \(copy it to .*last\.pt to continue with `resume`\)"):
        gn.train(tiny_recipe(train={"iterations": 12, "checkpoint_every": 3}), out=tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step_0000003.pt"]


def test_resume_without_a_checkpoint_in_a_run_directory_points_to_force(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "recipe.yaml").write_text(tiny_recipe().to_yaml())  # stopped before any
    with pytest.raises(RunDirectoryError, match=r"no checkpoints/last\.pt to resume from; `force` "
                       r"to start it again"):
        gn.train(tiny_recipe(), out=tmp_path / "run", resume=True)
