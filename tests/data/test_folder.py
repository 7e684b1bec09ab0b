"""A directory of image files as a data set (gibbsnet_plugin/data/folder.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gibbsnet_plugin.data as data
from gibbsnet_plugin.errors import DatasetNotFoundError, ImageReadError

# ---------------------------------------------------------------------------------------- folder


def _png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_folder_with_class_subfolders(tmp_path: Path) -> None:
    for i in range(6):
        _png(tmp_path / "b_red" / f"{i}.png", (255, 0, 0))
        _png(tmp_path / "a_blue" / f"{i}.PNG", (0, 0, 255))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".cache").mkdir()  # hidden folders are not classes
    train = data.build("folder", str(tmp_path), train=True, size=8, test_fraction=0.25)
    test = data.build("folder", str(tmp_path), train=False, size=8, test_fraction=0.25)
    assert (len(train), len(test)) == (9, 3)
    for dataset in (train, test):
        for x, y in (dataset[i] for i in range(len(dataset))):
            assert x.shape == (3, 8, 8) and x.dtype == torch.float32 and isinstance(y, int)
            red = torch.tensor([1.0, -1.0, -1.0]) if y == 1 else torch.tensor([-1.0, -1.0, 1.0])
            assert torch.equal(x, red.view(3, 1, 1).expand(3, 8, 8))
    assert set(train.paths).isdisjoint(test.paths)
    again = data.build("folder", str(tmp_path), train=False, size=8, test_fraction=0.25)
    assert again.paths == test.paths


def test_folder_flat_resizes_and_converts(tmp_path: Path) -> None:
    for i, name in enumerate(["a.png", "b.JPG", "c.bmp", "d.gif", "e.webp"]):
        _png(tmp_path / name, (200, 100, 50), size=(20 + i, 12))
    gray = data.build("folder", str(tmp_path), train=True, size=6, channels=1, test_fraction=0.2)
    assert len(gray) == 4
    x = gray[0]
    assert isinstance(x, torch.Tensor) and x.shape == (1, 6, 6)
    assert -1.0 <= x.min() and x.max() <= 1.0
    rgb = data.build("folder", str(tmp_path), train=False, size=6, test_fraction=0.2)
    assert len(rgb) == 1 and rgb[0].shape == (3, 6, 6)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        data.build("folder", str(tmp_path / "nowhere"), train=True)
    (tmp_path / "empty" / "class").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no images"):
        data.build("folder", str(tmp_path / "empty"), train=True)
    _png(tmp_path / "mixed" / "a.png", (0, 0, 0))
    _png(tmp_path / "mixed" / "cls" / "b.png", (0, 0, 0))
    with pytest.raises(ValueError, match="loose images and class subfolders"):
        data.build("folder", str(tmp_path / "mixed"), train=True)
    (tmp_path / "mixed" / "a.png").unlink()
    (tmp_path / "mixed" / "no_images").mkdir()
    with pytest.raises(ValueError, match="class folders without images in .*: no_images"):
        data.build("folder", str(tmp_path / "mixed"), train=True)
    with pytest.raises(ValueError, match="channels"):
        data.build("folder", str(tmp_path / "mixed" / "cls"), train=True, channels=4)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    dataset = data.build("folder", str(bad), train=True, test_fraction=0.0)
    with pytest.raises(ImageReadError, match="broken.png"):
        dataset[0]


@pytest.mark.parametrize("damage", ["not an image", "truncated"])
def test_an_unreadable_image_is_named_with_what_to_do(tmp_path: Path, damage: str) -> None:
    _png(tmp_path / "good.png", (10, 20, 30), size=(64, 64))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8))
    noise.save(tmp_path / "x.png")
    whole = (tmp_path / "x.png").read_bytes()
    (tmp_path / "x.png").write_bytes(b"not an image at all" if damage == "not an image"
                                     else whole[: len(whole) // 2])
    dataset = data.build("folder", str(tmp_path), train=True, size=8, test_fraction=0.0)
    bad = dataset.paths.index(str(tmp_path / "x.png"))
    assert dataset[1 - bad].shape == (3, 8, 8)
    with pytest.raises(ImageReadError) as info:
        dataset[bad]
    reason = "cannot identify image file" if damage == "not an image" else "image file is truncated"
    assert str(info.value).startswith(f"{tmp_path / 'x.png'}: not a readable image ({reason}")
    assert str(info.value).endswith("it is an image of the folder data set: replace or delete it")


def test_alpha_channels_are_the_masks_of_a_folder_with_alpha_mask(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for i in range(4):
        rgba = Image.new("RGBA", (8, 8), (200, 100, 50, 255))
        for col in range(i, i + 3):
            for row in range(8):
                rgba.putpixel((col, row), (0, 0, 0, 0))
        rgba.save(tmp_path / "a" / f"{i}.png")
    _png(tmp_path / "b" / "opaque.png", (10, 20, 30))
    items = data.build("folder", str(tmp_path), train=True, size=8, test_fraction=0.0,
                       alpha_mask=True)
    by_path = {Path(p).name: items[k] for k, p in enumerate(items.paths)}
    x, y, mask = by_path["2.png"]
    assert y == 0 and mask.shape == x.shape == (3, 8, 8)
    assert bool((mask[:, :, 2:5] == 0).all()) and int(mask.sum()) == 3 * 8 * 5
    assert torch.equal(by_path["opaque.png"][2], torch.ones(3, 8, 8))
    plain = data.build("folder", str(tmp_path), train=True, size=8, test_fraction=0.0)
    assert len(plain[0]) == 2
    with pytest.raises(ValueError, match="alpha_mask must be true or false"):
        data.build("folder", str(tmp_path), train=True, alpha_mask="yes")


def test_grey_images_give_one_channel_unless_told_otherwise(tmp_path: Path) -> None:
    for i in range(3):
        Image.new("L", (8, 8), color=40 * i).save(tmp_path / f"{i}.png")
    assert data.build("folder", str(tmp_path), train=True, size=8)[0].shape == (1, 8, 8)
    assert data.build("folder", str(tmp_path), train=True, size=8, channels=3)[0].shape == (3, 8, 8)
    Image.new("RGB", (8, 8), color=(255, 0, 0)).save(tmp_path / "3.png")
    assert data.build("folder", str(tmp_path), train=True, size=8)[0].shape == (3, 8, 8)
