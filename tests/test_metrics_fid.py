"""Standard FID (gibbsnet_plugin/metrics/fid.py, inception.py) against pytorch-fid itself, offline,
with a randomly initialised Inception in a temporary TORCH_HOME."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.functional import to_tensor
from torchvision.utils import save_image

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.errors import InceptionWeightsError
from gibbsnet_plugin.metrics import fid as fid_module
from gibbsnet_plugin.metrics.fid import FID, InceptionStatistics, run_metric
from gibbsnet_plugin.metrics.inception import (
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    InceptionFeatures,
    find_weights,
    to_inception_input,
    write_random_weights,
)
from gibbsnet_plugin.testtime import dataset_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("torch_home")
    write_random_weights(home)
    return home


@pytest.fixture
def hub(torch_home, monkeypatch) -> Path:
    """The weights reachable only through the torch hub cache, as pytorch-fid finds them."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    return torch_home / "hub" / "checkpoints" / WEIGHTS_FILE


def write_pngs(x: torch.Tensor, directory: Path) -> Path:
    """The file route: each image in [-1, 1] as an 8-bit PNG, as a user would save samples."""
    directory.mkdir()
    for i, image in enumerate(x):
        save_image(image, directory / f"{i:04d}.png", normalize=True, value_range=(-1, 1))
    return directory


def test_images_reach_inception_exactly_as_from_png_files(tmp_path):
    x = torch.rand(4, 1, 5, 7, generator=torch.Generator().manual_seed(0)) * 2.2 - 1.1
    x[0, 0, 0, :3] = torch.tensor([-1.0, 1.0, 0.0])
    files = sorted(write_pngs(x, tmp_path / "png").iterdir())
    from_files = torch.stack([to_tensor(Image.open(f).convert("RGB")) for f in files])
    assert torch.equal(to_inception_input(x), from_files)
    colour = torch.rand(2, 3, 4, 4) * 2 - 1
    assert to_inception_input(colour).shape == (2, 3, 4, 4)


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


def test_extractor_computes_pytorch_fids_features(hub):
    from pytorch_fid.inception import InceptionV3

    images = torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(0))  # two pieces
    with torch.no_grad():
        expected = InceptionV3([3]).eval()(images)[0].flatten(1).double()
    extractor = InceptionFeatures(hub)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in extractor.modules())  # folded
    features = extractor(images)
    assert features.shape == (10, 2048) and features.dtype == torch.float64
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_missing_weights_say_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(InceptionWeightsError) as info:
        find_weights()
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints" / WEIGHTS_FILE) in message and "\n" not in message
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(InceptionWeightsError, match=f"{WEIGHTS_ENV} .*nope.pth: no such file"):
        find_weights()
    (tmp_path / "bad.pth").write_text("not weights")
    with pytest.raises(InceptionWeightsError, match="not a readable Inception weights file"):
        InceptionFeatures(find_weights(tmp_path / "bad.pth"))


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
