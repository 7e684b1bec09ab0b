"""Reading the user's image files (gibbsnet_plugin/data/images.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gibbsnet_plugin.data.images import image_files, load_images
from gibbsnet_plugin.errors import ImageReadError


def write(path, array: np.ndarray):
    Image.fromarray(array.astype(np.uint8)).save(path, format="PNG")
    return path


def test_a_grey_file_becomes_values_in_minus_one_to_one(tmp_path):
    pixels = np.zeros((8, 8))
    pixels[0, 0] = 255
    pixels[0, 1] = 51
    images = load_images(write(tmp_path / "a.png", pixels), (1, 8, 8))
    assert images.x.shape == (1, 1, 8, 8) and images.x.dtype == torch.float32
    assert images.x[0, 0, 0, 0] == 1.0 and images.x[0, 0, 1, 1] == -1.0
    assert images.x[0, 0, 0, 1].item() == pytest.approx(51 / 255 * 2 - 1)
    assert images.paths == [tmp_path / "a.png"] and images.resized == []


def test_a_directory_is_read_in_name_order_up_to_the_limit(tmp_path):
    for i, name in enumerate(["c.png", "a.PNG", "b.jpg"]):
        write(tmp_path / name, np.full((8, 8), 40 * i))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in image_files(tmp_path)] == ["a.PNG", "b.jpg", "c.png"]
    images = load_images(tmp_path, (1, 8, 8), limit=2)
    assert [p.name for p in images.paths] == ["a.PNG", "b.jpg"]
    assert images.x.shape == (2, 1, 8, 8)
    assert images.x[0].mean().item() == pytest.approx(40 / 255 * 2 - 1, abs=1e-6)


def test_colour_and_size_are_converted_to_the_models_shape(tmp_path):
    rgb = np.zeros((16, 32, 3))
    rgb[..., 0] = 255
    path = write(tmp_path / "wide.png", rgb)
    images = load_images(path, (3, 8, 8))
    assert images.x.shape == (1, 3, 8, 8) and images.resized == [path]
    assert torch.allclose(images.x[0, 0], torch.ones(8, 8))
    assert torch.allclose(images.x[0, 1], -torch.ones(8, 8))
    grey = load_images(path, (1, 8, 8)).x
    assert grey.shape == (1, 1, 8, 8)
    assert grey.std().item() < 1e-6  # a uniform red image is one grey level


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing.png", r"missing\.png: no such image file or directory"),
    (lambda d: (d / "empty").mkdir() or d / "empty", r"empty: no image files \(.png"),
    (lambda d: (d / "bad.png").write_bytes(b"\x89PNG garbage") and d, r"bad\.png: not a readable image"),
])
def test_errors_name_the_file_and_say_what_was_expected(tmp_path, make, message):
    with pytest.raises(ImageReadError, match=message) as info:
        load_images(make(tmp_path), (1, 8, 8))
    assert "\n" not in str(info.value)


def test_models_whose_data_are_not_images_are_refused(tmp_path):
    path = write(tmp_path / "a.png", np.zeros((8, 8)))
    with pytest.raises(ImageReadError, match=r"reading image files needs 1- or 3-channel .* shape 2×8×8"):
        load_images(path, (2, 8, 8))


def declared_png(path, width: int, height: int) -> None:
    """A PNG of a few hundred bytes whose header declares ``width`` × ``height`` grey pixels (a
    decompression bomb: decoding it would take width × height bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1) * 4)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [10_000, 100_000])
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    declared_png(tmp_path / "bomb.png", side, side)
    with pytest.raises(ImageReadError, match=r"bomb\.png: .*(megapixels|decompression bomb)") as info:
        load_images(tmp_path / "bomb.png", (1, 8, 8))
    assert "\n" not in str(info.value)
