"""pytorch-fid's InceptionV3 from a local weights file (gibbsnet_plugin/metrics/inception.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from PIL import Image
from torchvision.transforms.functional import to_tensor

from conftest import write_pngs
from gibbsnet_plugin.errors import DownloadFailed, InceptionWeightsError
from gibbsnet_plugin.metrics import inception
from gibbsnet_plugin.metrics.inception import (
    NO_DOWNLOAD_ENV,
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    WEIGHTS_URL,
    InceptionFeatures,
    find_weights,
    to_inception_input,
    weights_hash,
)

pytestmark = pytest.mark.slow


def test_images_reach_inception_exactly_as_from_png_files(tmp_path):
    x = torch.rand(4, 1, 5, 7, generator=torch.Generator().manual_seed(0)) * 2.2 - 1.1
    x[0, 0, 0, :3] = torch.tensor([-1.0, 1.0, 0.0])
    files = sorted(write_pngs(x, tmp_path / "png").iterdir())
    from_files = torch.stack([to_tensor(Image.open(f).convert("RGB")) for f in files])
    assert torch.equal(to_inception_input(x), from_files)
    colour = torch.rand(2, 3, 4, 4) * 2 - 1
    assert to_inception_input(colour).shape == (2, 3, 4, 4)


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
    with pytest.raises(InceptionWeightsError, match="not a file that torch.load reads as weights"):
        InceptionFeatures(find_weights(tmp_path / "bad.pth"))


@pytest.mark.parametrize(("content", "message"), [
    (torch.zeros(3), "holds a Tensor, not a network's weights"),
    ({"a": 1}, "holds a dict, not a network's weights"),
    ({"fc.weight": torch.zeros(2, 2)}, "does not hold pytorch-fid's Inception weights "
                                       r"\(Missing key\(s\)"),
])
def test_weights_of_another_network_are_refused_with_what_was_found(tmp_path, content, message):
    torch.save(content, tmp_path / "other.pth")
    with pytest.raises(InceptionWeightsError, match=message) as info:
        InceptionFeatures(tmp_path / "other.pth")
    assert WEIGHTS_FILE in str(info.value) and "\n" not in str(info.value)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty torch hub cache and downloads allowed; returns where the weights belong."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(NO_DOWNLOAD_ENV, raising=False)
    return tmp_path / "home" / "hub" / "checkpoints" / WEIGHTS_FILE


def fake_download(monkeypatch, write):
    """Replace torch hub's download by ``write(dst)``; returns the list of (url, dst) asked."""
    calls = []

    def download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst))
        write(dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    return calls


def test_weights_found_nowhere_are_downloaded_into_the_hub_cache_and_checked(
        no_weights, torch_home, monkeypatch):
    assert inception.WEIGHTS_SHA256_PREFIX == "6726825d" and "-6726825d." in WEIGHTS_FILE
    random_weights = torch_home / "hub" / "checkpoints" / WEIGHTS_FILE
    monkeypatch.setattr(inception, "WEIGHTS_SHA256_PREFIX", weights_hash(random_weights)[:8])
    calls = fake_download(monkeypatch, lambda dst: shutil.copy(random_weights, dst))
    with pytest.raises(InceptionWeightsError, match="FID needs pytorch-fid's Inception weights"):
        find_weights()  # only when asked
    announced = []
    assert find_weights(download=True, on_download=announced.append) == no_weights
    assert announced == [no_weights] and [url for url, _ in calls] == [WEIGHTS_URL]
    assert calls[0][1] != str(no_weights)  # a temporary name beside it, renamed when complete
    assert list(no_weights.parent.iterdir()) == [no_weights]
    assert weights_hash(no_weights) == weights_hash(random_weights)
    assert find_weights(download=True) == no_weights and len(calls) == 1  # found: no download


def offline(dst):
    raise URLError("[Errno -3] Temporary failure in name resolution")


@pytest.mark.parametrize(("write", "reason"), [
    (offline, "downloading it failed: <urlopen error .Errno -3. Temporary failure in name resolution>"),
    (lambda dst: Path(dst).write_bytes(b"a truncated file"),
     "downloading it failed: .*SHA-256 .* does not start with 6726825d .*it was deleted"),
])
def test_a_failed_download_keeps_nothing_and_says_where_to_put_the_file(
        no_weights, monkeypatch, write, reason):
    fake_download(monkeypatch, write)
    with pytest.raises(DownloadFailed, match=reason) as info:
        find_weights(download=True)
    message = str(info.value)
    assert f"download {WEIGHTS_URL} to {no_weights}" in message and "\n" not in message
    assert not no_weights.parent.exists() or not list(no_weights.parent.iterdir())


def test_no_download_variable_turns_downloading_off(no_weights, monkeypatch):
    calls = fake_download(monkeypatch, lambda dst: pytest.fail("downloaded"))
    monkeypatch.setenv(NO_DOWNLOAD_ENV, "1")
    with pytest.raises(InceptionWeightsError, match=f"to {no_weights} .*{NO_DOWNLOAD_ENV} is set"):
        find_weights(download=True)
    assert calls == []
