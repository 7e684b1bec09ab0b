"""What every data set shares (gibbsnet_plugin/data/base.py): items, image shapes, image files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import gibbsnet_plugin as gn
from gibbsnet_plugin.data.base import batch_to_x, fit_image, image_dims, x_of
from gibbsnet_plugin.errors import FigureError, GibbsnetError


def test_x_of_an_item_or_a_batch():
    x = torch.zeros(2, 3)
    assert x_of(x) is x and x_of((x, 1)) is x and x_of([x, torch.ones(2)]) is x
    assert batch_to_x((x, 1), torch.device("cpu")) is x


def test_image_dims_name_what_needs_images():
    assert image_dims((3, 4, 5), "a figure") == (3, 4, 5)
    assert image_dims((2, 4, 5), "a mask", channels=None) == (2, 4, 5)
    with pytest.raises(FigureError, match=r"^a figure needs 1- or 3-channel images \(C×H×W\); this "
                                          r"model's data have shape 2×4×5; hint$"):
        image_dims((2, 4, 5), "a figure", FigureError, hint="; hint")
    with pytest.raises(GibbsnetError, match="a mask needs image data .* shape 10"):
        image_dims((10,), "a mask", channels=None)


@pytest.mark.parametrize("channels", [1, 3])
def test_a_folder_data_set_and_the_users_own_images_see_the_same_pixels(tmp_path, channels):
    # They used to resize differently (Resize + CenterCrop against ImageOps.fit with LANCZOS).
    rng = np.random.default_rng(0)
    for name, (w, h) in {"wide.png": (13, 9), "tall.png": (7, 20), "small.png": (5, 5)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / name)
    folder = gn.datasets.build("folder", str(tmp_path), True, size=8, channels=channels,
                               test_fraction=0.0)
    by_path = {path: folder[i] for i, path in enumerate(folder.paths)}
    images = gn.load_images(tmp_path, (channels, 8, 8))
    assert images.resized == images.paths
    for path, x in zip(images.paths, images.x, strict=True):
        assert torch.equal(x, by_path[str(path)])


def test_fit_image_covers_a_non_square_target_and_keeps_a_fitting_image():
    image = Image.fromarray(np.arange(12 * 12, dtype=np.uint8).reshape(12, 12))
    x, resized = fit_image(image, 1, 6, 10)
    assert resized and x.shape == (1, 6, 10) and -1 <= x.min() and x.max() <= 1
    same, resized = fit_image(image, 3, 12, 12)
    assert not resized and same.shape == (3, 12, 12)
    assert torch.allclose(same[0], torch.as_tensor(np.array(image), dtype=torch.float32) / 127.5 - 1)


def test_images_are_read_as_torchvision_reads_them():
    """The PIL path that replaced torchvision's transforms gives the same tensors, bit for bit."""
    import numpy as np
    from PIL import Image
    from torchvision import transforms
    from torchvision.transforms import functional

    from gibbsnet_plugin.data.base import fit_image, to_signed_unit, to_unit

    reference = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    rng = np.random.default_rng(0)
    for w, h, mode, target in [(20, 12, "RGB", (8, 8)), (7, 31, "L", (8, 8)), (33, 40, "RGB", (28, 28)),
                               (50, 20, "L", (6, 10)), (8, 8, "L", (8, 8))]:
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), np.uint8), mode)
        assert torch.equal(to_signed_unit(image), reference(image))
        assert torch.equal(to_unit(image), transforms.ToTensor()(image))
        x, resized = fit_image(image, 3 if mode == "RGB" else 1, *target)
        height, width = target
        if height == width:
            expected = functional.center_crop(functional.resize(image, height), [height, width])
        else:
            scale = max(height / h, width / w)
            expected = functional.center_crop(functional.resize(image, [max(height, round(h * scale)),
                                                                       max(width, round(w * scale))]),
                                              [height, width])
        assert torch.equal(x, reference(expected)) and resized == ((w, h) != (width, height))
