"""Inpainting masks (gibbsnet_plugin/data/masks.py): named regions, mask images, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gibbsnet_plugin.data.base import IMAGE_EXTENSIONS
from gibbsnet_plugin.data.masks import (
    MASK_NAMES,
    hidden_fraction,
    mask_from_image,
    named_mask,
    resolve_mask,
)
from gibbsnet_plugin.errors import ImageReadError, MaskError

SHAPE = (1, 4, 6)


def hidden_rows_cols(mask: torch.Tensor) -> torch.Tensor:
    return (mask[0] == 0).int()


@pytest.mark.parametrize(("name", "expected"), [
    ("left-half", [[1, 1, 1, 0, 0, 0]] * 4),
    ("right-half", [[0, 0, 0, 1, 1, 1]] * 4),
    ("top-half", [[1] * 6, [1] * 6, [0] * 6, [0] * 6]),
    ("bottom-half", [[0] * 6, [0] * 6, [1] * 6, [1] * 6]),
    ("center", [[0] * 6, [0, 1, 1, 1, 0, 0], [0, 1, 1, 1, 0, 0], [0] * 6]),
])
def test_named_masks_hide_the_named_region(name, expected):
    mask = named_mask(name, SHAPE)
    assert mask.shape == SHAPE and mask.dtype == torch.float32
    assert hidden_rows_cols(mask).tolist() == expected


def test_odd_sizes_keep_the_larger_half_observed_and_masks_cover_every_channel():
    mask = named_mask("left-half", (3, 5, 5))
    assert mask.shape == (3, 5, 5)
    assert all(torch.equal(mask[c], mask[0]) for c in range(3))
    assert (mask[0] == 0).sum(1).tolist() == [2] * 5 and (mask[0, :, :2] == 0).all()
    assert (named_mask("bottom-half", (1, 5, 5))[0] == 0).sum().item() == 10


def test_random_mask_hides_that_percentage_chosen_with_the_seed():
    a = named_mask("random-25", (3, 8, 8), seed=1)
    assert (a[0] == 0).sum().item() == 16
    assert all(torch.equal(a[c], a[0]) for c in range(3))
    assert torch.equal(a, named_mask("random-25", (3, 8, 8), seed=1))
    assert not torch.equal(a, named_mask("random-25", (3, 8, 8), seed=2))
    assert (named_mask("random-12.5", (1, 8, 8))[0] == 0).sum().item() == 8
    assert hidden_fraction(a) == pytest.approx(0.25)


@pytest.mark.parametrize("name", ["nope", "left", "random-", "random-abc", "Left-Half"])
def test_unknown_names_list_the_valid_ones(name):
    with pytest.raises(MaskError) as info:
        named_mask(name, SHAPE)
    message = str(info.value)
    assert f"unknown mask '{name}'" in message and "\n" not in message
    assert all(valid in message for valid in MASK_NAMES) and "mask image" in message


@pytest.mark.parametrize("name", ["random-0", "random-100", "random-150", "random-0.1"])
def test_random_masks_that_hide_nothing_or_everything_are_refused(name):
    with pytest.raises(MaskError, match="between 0 and 100"):
        named_mask(name, (1, 8, 8))


def test_named_masks_need_image_data():
    with pytest.raises(MaskError, match=r"needs image data .* shape 2"):
        named_mask("left-half", (2,))
    with pytest.raises(MaskError, match=r"needs image data .* shape 4×5$"):
        named_mask("random-50", (4, 5))


def test_a_random_mask_of_a_vector_hides_that_share_of_its_entries_chosen_with_the_seed():
    a = named_mask("random-20", (16,), seed=1)
    assert a.shape == (16,) and a.dtype == torch.float32
    assert int((a == 0).sum()) == round(0.2 * 16) == 3 and set(a.tolist()) == {0.0, 1.0}
    assert torch.equal(a, named_mask("random-20", (16,), seed=1))
    draws = {tuple(named_mask("random-20", (16,), seed=s).tolist()) for s in range(20)}
    assert len(draws) > 15  # the seed chooses the entries
    assert int((named_mask("random-12.5", (16,)) == 0).sum()) == 2
    assert hidden_fraction(named_mask("random-50", (10,), seed=3)) == pytest.approx(0.5)
    for name in ("random-1", "random-99", "random-100"):  # no entry or all 16 of them
        with pytest.raises(MaskError, match="not all of the 16 entries"):
            named_mask(name, (16,))


@pytest.mark.parametrize("name", ["left-half", "right-half", "top-half", "bottom-half", "center"])
def test_image_only_masks_refuse_vectors_and_name_random_pct(name, tmp_path):
    with pytest.raises(MaskError) as info:
        named_mask(name, (16,))
    message = str(info.value)
    assert message.startswith(f"mask '{name}' needs image data") and "\n" not in message
    assert "table rows take only random-PCT (e.g. random-20)" in message
    write_png(tmp_path / "m.png", [[0, 255]])
    with pytest.raises(MaskError, match="^a mask image needs image data.*take only random-PCT"):
        resolve_mask(str(tmp_path / "m.png"), (16,))


def write_png(path, pixels: list[list[int]], mode: str = "L"):
    array = np.array(pixels, dtype=np.uint8)
    if mode == "RGB":
        array = np.stack([array] * 3, axis=-1)
    Image.fromarray(array).save(path, format="PNG")
    return path


def test_mask_image_white_is_observed_black_is_filled(tmp_path):
    pixels = [[255, 0, 200, 100, 128, 127]] * 4
    path = write_png(tmp_path / "m.png", pixels)
    mask = mask_from_image(path, (3, 4, 6))
    assert mask.shape == (3, 4, 6)
    assert mask[2, 0].tolist() == [1, 0, 1, 0, 1, 0]
    assert torch.equal(mask_from_image(write_png(tmp_path / "rgb.png", pixels, "RGB"), SHAPE),
                       mask[:1])


def test_mask_image_of_the_wrong_size_is_refused(tmp_path):
    path = write_png(tmp_path / "m.png", [[255, 0, 0]] * 5)
    with pytest.raises(MaskError, match=r"m\.png: the mask image is 3×5 pixels; expected 6×4"):
        mask_from_image(path, SHAPE)


@pytest.mark.parametrize(("value", "message"), [(255, "hides nothing"), (0, "observes nothing")])
def test_all_white_or_all_black_mask_images_are_refused(tmp_path, value, message):
    path = write_png(tmp_path / "m.png", [[value] * 6] * 4)
    with pytest.raises(MaskError, match=message):
        mask_from_image(path, SHAPE)


def test_unreadable_or_missing_mask_image_names_the_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match=r"bad\.png: not a readable image"):
        mask_from_image(bad, SHAPE)
    with pytest.raises(ImageReadError, match=r"gone\.png': no such file; expected one of left-half"):
        resolve_mask(str(tmp_path / "gone.png"), SHAPE)


def test_resolve_mask_reads_files_and_names(tmp_path):
    path = write_png(tmp_path / "mask", [[255, 255, 255, 0, 0, 0]] * 4)  # no extension: a file
    assert torch.equal(resolve_mask(str(path), SHAPE), named_mask("right-half", SHAPE))
    assert torch.equal(resolve_mask("random-50", SHAPE, seed=3), named_mask("random-50", SHAPE, 3))


LONG_SPECS = (st.sampled_from(["m" * 400, "m" * 400 + ".png", "random-" + "9" * 400,
                               f"{'d/' * 100}{'m' * 300}.png", "~\0" + "m" * 300])
              | st.text(min_size=256, max_size=600)
              | st.builds(str.__add__, st.text(min_size=256, max_size=600),
                          st.sampled_from(IMAGE_EXTENSIONS)))


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(spec=LONG_SPECS)
def test_a_long_mask_name_is_refused_shortened_in_one_line_with_the_valid_ones(spec):
    """Names too long for a file: the file system refuses them as paths (File name too long)."""
    with pytest.raises((MaskError, ImageReadError)) as info:
        resolve_mask(spec, SHAPE)
    message = str(info.value)
    assert "\n" not in message and "…" in message and len(message) < 600
    assert message.startswith(("unknown mask ", "mask "))
    assert "expected one of left-half" in message or "between 0 and 100" in message


MASK_SPECS = (st.sampled_from(["left-half", "random-50", "random-0", "random-100", "window-3",
                               "window-9", "centre", "random-", "random-1e9", "random-١٢"])
              | st.text(max_size=30))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(spec=MASK_SPECS, seed=st.integers(0, 2**63 - 1))
def test_any_mask_name_gives_a_mask_or_a_one_line_error(spec, seed):
    from gibbsnet_plugin.data.missing import check_process
    from gibbsnet_plugin.errors import GibbsnetError

    try:
        mask = resolve_mask(spec, (1, 8, 8), seed)
        assert mask.shape == (1, 8, 8) and set(mask.unique().tolist()) <= {0.0, 1.0}
    except GibbsnetError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
    try:
        check_process(spec, (1, 8, 8))
    except GibbsnetError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(data=st.binary(max_size=400))
def test_any_mask_file_gives_a_mask_or_a_one_line_error(data):
    import tempfile
    from pathlib import Path

    from gibbsnet_plugin.errors import GibbsnetError

    png = b"\x89PNG\r\n\x1a\n"
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "mask.png"
        path.write_bytes(png + data if data[:1] == b"\x00" else data)
        try:
            mask = resolve_mask(str(path), (1, 8, 8))
            assert mask.shape == (1, 8, 8) and set(mask.unique().tolist()) <= {0.0, 1.0}
        except GibbsnetError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 600
