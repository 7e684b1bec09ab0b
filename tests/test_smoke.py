"""A 10-iteration smoke run of every shipped recipe, with its data present or written in the real
format: it trains, and everything it does after training reports its progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_data import write_cifar, write_mnist, write_svhn

import gibbsnet_plugin as gn
from gibbsnet_plugin.calibration import TRAINED_REPEATS

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
ITERATIONS = 10


def fake_data(dataset: str, root: Path) -> None:
    """Data sets that need a download, written small into ``root``; the others ship."""
    if dataset == "mnist":
        write_mnist(root, n_train=120, n_test=20)
    elif dataset == "svhn":
        for split in ("extra", "test"):
            write_svhn(root, split, [i % 10 + 1 for i in range(120)])
    elif dataset == "cifar10":
        write_cifar(root, per_batch=20)


@pytest.mark.slow
@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_a_smoke_run_of_every_shipped_recipe_reports_each_step_after_training(path, tmp_path):
    root = tmp_path / "data"
    recipe = gn.load_recipe(path, overrides=[f"train.iterations={ITERATIONS}", "train.device=cpu",
                                             f"data.root={root}"])
    fake_data(recipe.data.dataset, root)
    reports: list[gn.TrainingStatus] = []
    run = gn.train(recipe, out=tmp_path / "run", progress=reports.append)

    assert (run / "checkpoints" / "last.pt").exists()
    events = [r.event for r in reports]
    assert events[0] == "started" and events[-1] == "ended"
    last_step = max(i for i, e in enumerate(events) if e == "step")
    assert reports[last_step].iteration == ITERATIONS
    after = reports[last_step + 1:-1]
    model = gn.load_model(run, device="cpu")
    has_batch_norm = any(name.endswith("step_count") for name in model.state_dict())
    if not has_batch_norm or not recipe.train.calibration_steps:
        assert after == []
        return
    # the one step after training that takes chain steps shows them, from 0 to the end, and
    # never measures more chain states than the 10 iterations trained on
    assert {r.event for r in after} == {"calibrating"}
    done = [r.chain for r in after]
    total = done[0][1]
    assert done[0] == (0, total) and done[-1] == (total, total)
    trained = model.trained_steps
    measured = (total + (TRAINED_REPEATS - 1) * trained) * recipe.train.calibration_chains
    assert total == 1 or measured <= ITERATIONS * recipe.data.batch_size * trained
