"""FID against pytorch-fid, and the reference-statistics cache (gibbsnet_plugin/metrics/fid.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import gibbsnet_plugin as gn
from conftest import tiny_recipe, write_pngs
from gibbsnet_plugin.metrics import fid as fid_module
from gibbsnet_plugin.metrics.fid import FID, InceptionStatistics, run_metric
from gibbsnet_plugin.metrics.inception import (
    InceptionFeatures,
    find_weights,
)
from gibbsnet_plugin.testtime import dataset_images

pytestmark = pytest.mark.slow


def test_our_fid_equals_pytorch_fids_command_line(tmp_path, hub):
    real = dataset_images(tiny_recipe(), "test", 20, (1, 8, 8))
    fake = real.flip(3) + 0.3 * torch.randn(real.shape, generator=torch.Generator().manual_seed(1))
    env = {**os.environ, "TORCH_HOME": str(hub.parents[2]), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "pytorch_fid", str(write_pngs(real, tmp_path / "real")),
         str(write_pngs(fake, tmp_path / "fake")), "--device", "cpu", "--num-workers", "0"],
        env=env, capture_output=True, text=True, check=True).stdout
    theirs = float(re.search(r"FID:\s+(\S+)", out).group(1))

    extractor = InceptionFeatures(find_weights())
    reference = run_metric(InceptionStatistics(extractor), real.split(7), lambda b: b)
    ours = run_metric(FID(extractor, reference), fake.split(6), lambda b: b)
    assert theirs > 0.05  # clearly non-zero: the random network tells the two sets apart
    assert ours == pytest.approx(theirs, rel=1e-3)


def test_a_second_fid_reuses_the_cached_reference_without_reading_images(
        tmp_path, hub, monkeypatch):
    run = gn.train(tiny_recipe(), out=tmp_path / "run")
    model, recipe = gn.load_model(run, device="cpu"), tiny_recipe()
    kwargs = dict(num_samples=12, dims=64, batch_size=5, cache=tmp_path / "cache")
    reports = []
    first = fid_module.fid(model, recipe, hub, **kwargs, progress=lambda *r: reports.append(r))
    assert not first["reference"]["cached"] and first["fid"] > 0
    assert reports == [("FID reference statistics", i, 3) for i in range(4)] + \
        [("FID samples", i, 3) for i in range(4)]  # 12 images in batches of 5
    assert first["num_samples"] == 12 and first["chain_steps"] == 2
    assert len(first["weights_sha256"]) == 64
    stored = np.load(first["reference"]["path"])
    assert "digits" in str(stored["key"]) and '"num_images": 12' in str(stored["key"])

    reads = []
    build = fid_module.build_dataset

    class Counting(torch.utils.data.Dataset):
        def __init__(self, inner):
            self.inner = inner

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            reads.append(i)
            return self.inner[i]

    monkeypatch.setattr(fid_module, "build_dataset", lambda r, train: Counting(build(r, train)))
    reports.clear()
    second = fid_module.fid(model, recipe, hub, **kwargs, progress=lambda *r: reports.append(r))
    assert second["reference"]["cached"] and reads == []
    assert {task for task, _, _ in reports} == {"FID samples"}
    assert second["fid"] == pytest.approx(first["fid"], rel=1e-9)
    other = fid_module.fid(model, recipe, hub, **{**kwargs, "num_samples": 10})
    assert not other["reference"]["cached"] and len(reads) == 10


@pytest.mark.parametrize("rank", [64, 20])
def test_frechet_distance_equals_pytorch_fid_formula(rank):
    import warnings

    from pytorch_fid.fid_score import calculate_frechet_distance

    from gibbsnet_plugin.metrics.fid import frechet_distance

    rng = np.random.default_rng(rank)
    a, b = rng.normal(size=(rank, 64)), rng.normal(size=(rank, 64)) * 1.5 + 0.3
    stats = [(x.mean(0), np.cov(x, rowvar=False)) for x in (a, b)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = calculate_frechet_distance(*stats[0], *stats[1])
    assert frechet_distance(*stats[0], *stats[1]) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(*stats[0], *stats[0]) == pytest.approx(0.0, abs=1e-4)


def test_folder_data_sets_in_different_directories_do_not_share_cached_statistics(tmp_path, hub):
    # Same data set, size, count and options: only data.root tells them apart (it used to be left
    # out of the cache key, so the second FID silently used the first folder's statistics).
    rng = np.random.default_rng(0)
    for name, shift in (("a", 0), ("b", 128)):
        (tmp_path / name).mkdir()
        for i in range(4):
            pixels = (rng.integers(0, 128, (8, 8, 3)) + shift).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    extractor = InceptionFeatures(find_weights(), dims=64)
    stats = {}
    for name in ("a", "b"):
        recipe = tiny_recipe(data={"dataset": "folder", "root": str(tmp_path / name),
                                   "options": {"size": 8, "test_fraction": 0.25}})
        mu, _, info = fid_module.reference_statistics(recipe, "train", 3, (3, 8, 8), extractor,
                                                      "sha", cache=tmp_path / "cache")
        assert not info["cached"]
        stats[name] = mu, info
    assert not np.allclose(stats["a"][0], stats["b"][0])
    assert stats["b"][1]["root"] == str((tmp_path / "b").resolve())
    assert len(list((tmp_path / "cache").iterdir())) == 2
