"""pytorch-fid's InceptionV3 from a local weights file (gibbsnet_plugin/metrics/inception.py)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision.transforms.functional import to_tensor

from conftest import write_pngs
from gibbsnet_plugin.errors import InceptionWeightsError
from gibbsnet_plugin.metrics.inception import (
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    InceptionFeatures,
    find_weights,
    to_inception_input,
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
