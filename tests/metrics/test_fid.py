"""FID against pytorch-fid, and the reference-statistics cache (gibbsnet_plugin/metrics/fid.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import gibbsnet_plugin as gn
from conftest import tiny_recipe, write_pngs
from gibbsnet_plugin.evaluation import recipe_data
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


def test_a_second_fid_reuses_the_cached_reference_without_reading_images(tmp_path, hub):
    run = gn.train(tiny_recipe(), out=tmp_path / "run")
    model, recipe = gn.load_model(run, device="cpu"), tiny_recipe()
    train, key = recipe_data(recipe).train, recipe_data(recipe).key
    kwargs = dict(num_samples=12, dims=64, batch_size=5, cache=tmp_path / "cache")
    reports = []
    first = fid_module.fid(model, train, key, hub, **kwargs, progress=lambda *r: reports.append(r))
    assert not first["reference"]["cached"] and first["fid"] > 0
    assert reports == [("FID reference statistics", i, 3) for i in range(4)] + \
        [("FID samples", i, 3) for i in range(4)]  # 12 images in batches of 5
    assert first["num_samples"] == 12 and first["chain_steps"] == 2
    assert len(first["weights_sha256"]) == 64
    stored = np.load(first["reference"]["path"])
    assert "digits" in str(stored["key"]) and '"num_images": 12' in str(stored["key"])

    reads = []

    class Counting(torch.utils.data.Dataset):
        def __init__(self, inner):
            self.inner = inner

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            reads.append(i)
            return self.inner[i]

    counting = Counting(train)
    reports.clear()
    second = fid_module.fid(model, counting, key, hub, **kwargs, progress=lambda *r: reports.append(r))
    assert second["reference"]["cached"] and reads == []
    assert {task for task, _, _ in reports} == {"FID samples"}
    assert second["fid"] == pytest.approx(first["fid"], rel=1e-9)
    other = fid_module.fid(model, counting, key, hub, **{**kwargs, "num_samples": 10})
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
        mu, _, info = fid_module.reference_statistics(
            recipe_data(recipe).train, recipe_data(recipe).key, "train", 3, (3, 8, 8),
            extractor, "sha", cache=tmp_path / "cache")
        assert not info["cached"]
        stats[name] = mu, info
    assert not np.allclose(stats["a"][0], stats["b"][0])
    assert stats["b"][1]["root"] == str((tmp_path / "b").resolve())
    assert len(list((tmp_path / "cache").iterdir())) == 2


class FirstValues(torch.nn.Module):
    """A stand-in for Inception: the first ``dims`` values of each image as its features."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)[:, : self.dims].double()


@pytest.mark.parametrize(("images", "warns"), [(4, True), (5, False)])
def test_statistics_of_no_more_images_than_features_warn(images, warns):
    x = torch.rand(images, 1, 2, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_metric(InceptionStatistics(FirstValues(4)), [x], lambda b: b)
    messages = [str(w.message) for w in caught]
    if warns:
        assert messages == ["FID statistics of 4 images with 4-d features: the covariance is "
                            "singular (it needs more images than features), so FID is biased and "
                            "unstable; use more than 4 images"]
    else:
        assert messages == []


def test_fid_of_folders_and_saved_statistics_equals_pytorch_fids(tmp_path, hub):
    from pytorch_fid.fid_score import calculate_fid_given_paths, compute_statistics_of_path, save_fid_stats
    from pytorch_fid.inception import InceptionV3

    generator = torch.Generator().manual_seed(0)
    real = torch.rand(10, 3, 16, 16, generator=generator) * 2 - 1
    fake = (real.flip(3) * 0.7 + 0.3 * torch.rand(real.shape, generator=generator)).clamp(-1, 1)
    a, b = write_pngs(real, tmp_path / "a"), write_pngs(fake, tmp_path / "b")
    (a / "notes.txt").write_text("not an image, not read")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 10 images, 64 features; pytorch-fid's sqrtm warnings
        theirs = calculate_fid_given_paths([str(a), str(b)], 50, "cpu", 64, num_workers=0)
        ours = gn.fid_of_paths(a, b, dims=64, batch_size=3, device="cpu")
        saved = gn.save_fid_statistics(a, tmp_path / "a.npz", dims=64, device="cpu")
        save_fid_stats([str(b), str(tmp_path / "b.npz")], 50, "cpu", 64, num_workers=0)
        mixed = gn.fid_of_paths(tmp_path / "a.npz", tmp_path / "b.npz", device="cpu")
        mu, sigma = compute_statistics_of_path(str(a), InceptionV3([0]).eval(), 50, 64, "cpu", 0)
    assert theirs > 0.05
    assert ours["fid"] == pytest.approx(theirs, rel=1e-6)  # measured: 3e-8
    assert ours["count"] == [10, 10] and ours["dims"] == 64 and len(ours["weights_sha256"]) == 64
    assert saved["count"] == 10
    with np.load(tmp_path / "a.npz") as stored:
        assert sorted(stored.files) == ["count", "mu", "sigma"]
        np.testing.assert_allclose(stored["mu"], mu, rtol=1e-5, atol=1e-6 * np.abs(mu).max())
        np.testing.assert_allclose(stored["sigma"], sigma, atol=1e-5 * np.abs(sigma).max())
    # their .npz (mu, sigma only) and ours: dims and count from the files
    assert mixed["fid"] == pytest.approx(theirs, rel=1e-6)
    assert mixed["dims"] == 64 and mixed["count"] == [10, None] and mixed["weights_sha256"] is None


def test_images_of_different_sizes_and_the_same_folder_twice(tmp_path, hub):
    rng = np.random.default_rng(0)
    (tmp_path / "mixed").mkdir()
    for i, size in enumerate((8, 8, 12)):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            tmp_path / "mixed" / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "mixed" / "3.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = gn.fid_of_paths(tmp_path / "mixed", tmp_path / "mixed", dims=64, batch_size=4,
                                 device="cpu")
    assert result["count"] == [4, 4] and result["fid"] == pytest.approx(0.0, abs=1e-6)


def test_fidelity_scores_the_fid_samples_once_against_cached_real_features(tmp_path, hub):
    from gibbsnet_plugin.metrics.fidelity import kid

    run = gn.train(tiny_recipe(), out=tmp_path / "run")
    options = dict(device="cpu", num_samples=20, fid_dims=64, fid_cache=tmp_path / "cache")
    reports = []
    both = gn.evaluate(run, ["fid", "fidelity"], **options, progress=lambda *r: reports.append(r))
    assert [r for r in reports if r[0] == "FID samples" and r[1] == 0] == [("FID samples", 0, 1)]
    alone = gn.evaluate(run, ["fid"], **options)
    assert both["scores"]["fid"] == pytest.approx(alone["scores"]["fid"], rel=1e-9)
    scores = both["scores"]
    assert {"kid", "kid_std", "precision", "recall", "density", "coverage"} <= set(scores)
    assert all(0 <= scores[k] <= 1 for k in ("precision", "recall", "coverage"))
    assert scores["kid_std"] > 0 and scores["density"] >= 0
    details = both["details"]["fidelity"]
    assert details["num_samples"] == 20 and details["kid_subset_size"] == 20
    stored = np.load(details["reference"]["path"])
    assert stored["features"].shape == (20, 64)

    # the cached real features and a direct KID of re-made samples give the same number
    model = gn.load_model(run, device="cpu")
    extractor = InceptionFeatures(find_weights(), dims=64)
    fake = fid_module.sample_features(model, extractor, 20, model.chain_steps, seed=0)
    assert kid(fake, stored["features"])["kid"] == pytest.approx(scores["kid"], rel=1e-5)
    again = gn.evaluate(run, ["fidelity"], **options)
    assert again["details"]["fidelity"]["reference"]["cached"]
    assert again["scores"]["kid"] == pytest.approx(scores["kid"], rel=1e-9)


def test_fid_of_folders_with_fidelity_scores_and_refuses_saved_statistics(tmp_path, hub, capsys):
    from gibbsnet_cli.main import main as cli

    generator = torch.Generator().manual_seed(0)
    real = torch.rand(12, 3, 16, 16, generator=generator) * 2 - 1
    fake = (real.flip(3) * 0.7 + 0.3 * torch.rand(real.shape, generator=generator)).clamp(-1, 1)
    a, b = write_pngs(fake, tmp_path / "fake"), write_pngs(real, tmp_path / "real")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = gn.fid_of_paths(a, b, dims=64, device="cpu")
        scored = gn.fid_of_paths(a, b, dims=64, device="cpu", fidelity=True)
        same = gn.fid_of_paths(b, b, dims=64, device="cpu", fidelity=True)
        gn.save_fid_statistics(b, tmp_path / "b.npz", dims=64, device="cpu")
    assert scored["fid"] == pytest.approx(plain["fid"], rel=1e-6)
    assert scored["kid"] > same["kid"] and scored["kid_subset_size"] == 12
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert 0 <= scored["coverage"] < 1
    with pytest.raises(gn.GibbsnetError, match="b.npz: KID, precision/recall and density/coverage need"):
        gn.fid_of_paths(a, tmp_path / "b.npz", fidelity=True)
    with pytest.raises(SystemExit) as exit:
        cli(["fid", str(b), str(b), "--dims", "64", "--device", "cpu", "--fidelity"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert "KID: " in out and "(12 images per subset)" in out and "coverage: 1.0" in out
