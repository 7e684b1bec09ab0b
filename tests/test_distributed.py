"""Multi-process training (gibbsnet_plugin/distributed.py and train(nproc=...)) with gloo on CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ignite.distributed as idist
import pytest
import torch

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.checkpoint import read_checkpoint
from gibbsnet_plugin.distributed import run_parallel
from gibbsnet_plugin.errors import RecipeError
from gibbsnet_plugin.factory import build_model
from gibbsnet_plugin.training import setup

pytestmark = pytest.mark.slow

SECTIONS = {"data": {"batch_size": 32},
            "train": {"iterations": 4, "lr": 1e-3, "lr_d": 1e-3, "checkpoint_every": 4,
                      "calibration_steps": 0}}
COSINE = 0.5


def test_two_processes_agree_with_each_other_and_with_one_process(tmp_path):
    recipe = tiny_recipe(**SECTIONS)
    two = gn.train(recipe, out=tmp_path / "two", nproc=2)
    one = gn.train(recipe, out=tmp_path / "one")
    a = torch.load(two / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(one / "checkpoints" / "last.pt", weights_only=True)["model"]
    torch.manual_seed(recipe.seed)
    init = build_model(recipe, (1, 8, 8)).state_dict()
    weights = [k for k in a if k.endswith("weight")]
    step_two = torch.cat([(a[k] - init[k]).flatten() for k in weights])
    step_one = torch.cat([(b[k] - init[k]).flatten() for k in weights])
    # Same global batch, data and initialisation; only the chains' noise differs per process,
    # so the two runs move the weights in nearly the same direction.
    cosine = torch.nn.functional.cosine_similarity(step_two, step_one, dim=0).item()
    assert cosine > COSINE
    assert read_checkpoint(two / "checkpoints" / "last.pt")["trainer"]["iteration"] == 4
    rows = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [2, 4]


def test_every_rank_holds_identical_parameters(tmp_path):
    recipe = tiny_recipe(**SECTIONS)
    report = tmp_path / "report.json"
    run_parallel(_check_ranks, recipe, str(tmp_path / "run"), str(report), nproc=2, backend="gloo")
    assert json.loads(report.read_text())["rank_diff"] == 0.0


def _check_ranks(local_rank: int, recipe, out: str, report: str) -> None:
    run = setup(recipe)  # this rank's data shard, chain noise and DDP-wrapped steps
    run.trainer.run(run.loader, max_iters=recipe.train.iterations)
    flat = torch.cat([p.detach().flatten() for p in run.model.parameters()])
    gathered = idist.all_gather(flat.unsqueeze(0))
    if idist.get_rank() == 0:
        Path(report).write_text(json.dumps({"rank_diff": (gathered[0] - gathered[1]).abs().max().item()}))


def _refuse_on_rank_one(local_rank: int) -> None:
    if idist.get_rank() == 1:
        raise RecipeError("data.batch_size: rank 1 refuses")


def test_a_library_error_in_a_process_arrives_with_its_class_and_message():
    with pytest.raises(RecipeError, match="^data.batch_size: rank 1 refuses$"):
        run_parallel(_refuse_on_rank_one, nproc=2, backend="gloo")


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid), "-f", "spawn_main"], capture_output=True, text=True)
    return sorted(int(p) for p in found.stdout.split())


def test_killing_one_process_stops_the_run_and_the_checkpoint_resumes(tmp_path, recipe_file):
    out = tmp_path / "run"
    env = {**os.environ, "GIBBSNET_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gibbsnet_cli.main", "train", str(recipe_file), "--out", str(out),
         "--nproc", "2", "--set", "train.iterations=100000", "--set", "train.checkpoint_every=5",
         "--set", "train.calibration_steps=0"],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "checkpoints" / "last.pt").exists():
        time.sleep(0.2)
    workers = _children(proc.pid)
    assert len(workers) == 2, workers
    os.kill(workers[-1], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert "died" in stderr and "--resume" in stderr and "Traceback" not in stderr
    done = read_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["iteration"]
    assert done >= 5 and done % 5 == 0
    recipe = gn.load_recipe(recipe_file, overrides=[f"train.iterations={done + 2}",
                                                     "train.checkpoint_every=5",
                                                     "train.calibration_steps=0"])
    gn.train(recipe, out=out, resume=True, nproc=2)
    assert read_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["iteration"] == done + 2


class _FakeExtractor(torch.nn.Module):
    """Stands in for Inception: a fixed random projection of the image to 16 features."""

    dims = 16

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(3 * 8 * 8, 16).double()
        torch.nn.init.normal_(self.proj.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.flatten(1).double())


def _metrics_on(model, data) -> dict[str, float]:
    from gibbsnet_plugin.metrics.data import shard_in_order
    from gibbsnet_plugin.metrics.fid import InceptionStatistics, run_metric
    from gibbsnet_plugin.metrics.scores import reconstruction_mse

    stats = run_metric(InceptionStatistics(_FakeExtractor()), shard_in_order(data, 7),
                       lambda batch: batch[0])
    return {"mse": reconstruction_mse(model, data, batch_size=7),
            "mu": stats[0].tolist(), "sigma_trace": float(stats[1].trace())}


def _deterministic_model():
    torch.manual_seed(0)
    return gn.GibbsNet(gn.architectures.build("test_linear", (1, 8, 8), 4), (1, 8, 8), 4).eval()


def _evaluate_sharded(local_rank: int, report: str) -> None:
    data = gn.datasets.build("digits", "", train=False)
    result = _metrics_on(_deterministic_model(), torch.utils.data.Subset(data, range(50)))
    if idist.get_rank() == 0:
        Path(report).write_text(json.dumps(result))


def test_evaluation_metrics_over_two_processes_equal_one_process(tmp_path):
    report = tmp_path / "report.json"
    run_parallel(_evaluate_sharded, str(report), nproc=2, backend="gloo")
    two = json.loads(report.read_text())
    data = gn.datasets.build("digits", "", train=False)
    one = _metrics_on(_deterministic_model(), torch.utils.data.Subset(data, range(50)))
    assert two["mse"] == pytest.approx(one["mse"], rel=1e-6)
    assert two["mu"] == pytest.approx(one["mu"], rel=1e-9, abs=1e-12)
    assert two["sigma_trace"] == pytest.approx(one["sigma_trace"], rel=1e-9)
