"""Figures (gibbsnet_plugin/figures.py): pixel layout, labels, GIFs, arrays, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gibbsnet_plugin import figures
from gibbsnet_plugin.errors import FigureError, OutputError


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_table_places_images_with_one_pixel_of_white_padding():
    cells = torch.full((2, 3, 1, 2, 2), -1.0)
    cells[1, 2] = 1.0
    cells[0, 1, 0, 0, 1] = 0.0
    cells[1, 0] = float("nan")  # blank
    p = pixels(figures.table_image(cells))
    assert p.shape == (2 * 3 + 1, 3 * 3 + 1, 3)
    assert (p[0] == 255).all() and (p[:, 0] == 255).all() and (p[3] == 255).all()
    assert (p[1:3, 1:3] == 0).all()  # cell (0, 0): black
    assert (p[1, 5] == 128).all()  # cell (0, 1), pixel (0, 1): grey 0.0 -> 128
    assert (p[4:6, 7:9] == 255).all() and (p[4:6, 1:3] == 255).all()  # white cell, blank cell


def test_scale_enlarges_with_nearest_neighbour():
    x = torch.rand(4, 1, 3, 3) * 2 - 1
    small, big = pixels(figures.grid_image(x, nrow=2)), pixels(figures.grid_image(x, nrow=2, scale=3))
    assert big.shape == (small.shape[0] * 3, small.shape[1] * 3, 3)
    assert (big == small.repeat(3, axis=0).repeat(3, axis=1)).all()


def test_grid_leaves_missing_cells_blank_and_draws_rgb():
    x = -torch.ones(5, 3, 2, 2)
    x[:, 0] = 1.0  # red
    p = pixels(figures.grid_image(x, nrow=2))
    assert p.shape == (3 * 3 + 1, 2 * 3 + 1, 3)
    assert (p[1, 1] == [255, 0, 0]).all() and (p[7, 4] == 255).all()


def test_masked_view_paints_hidden_pixels_and_keeps_the_rest():
    x = torch.linspace(-1, 1, 8).view(1, 1, 2, 4)
    mask = torch.ones(1, 2, 4)
    mask[..., :2] = 0
    view = figures.masked_view(x, mask)
    assert view.shape == (1, 3, 2, 4)
    colour = torch.tensor(figures.HIDDEN_COLOR) * 2 - 1
    assert torch.allclose(view[0, :, :, :2], colour.view(3, 1, 1).expand(3, 2, 2))
    assert torch.allclose(view[0, :, :, 2:], x[0, :, :, 2:].expand(3, 2, 2))


def test_rows_wrap_into_blocks_with_labels():
    rows = [torch.zeros(5, 1, 2, 2), torch.ones(5, 1, 2, 2)]
    plain = pixels(figures.rows_image(rows, ncol=2))
    # 3 blocks of 2 rows, with a blank row between blocks: 8 rows of 2 columns
    assert plain.shape == (8 * 3 + 1, 2 * 3 + 1, 3)
    labelled = pixels(figures.rows_image(rows, ["masked", "filled"], ncol=2))
    assert labelled.shape[0] == plain.shape[0] and labelled.shape[1] > plain.shape[1]
    margin = labelled[:, : labelled.shape[1] - plain.shape[1]]
    assert (margin < 128).any()  # the labels are drawn


def test_trajectory_has_a_header_and_an_input_column():
    frames = torch.zeros(3, 4, 1, 8, 8)
    without = figures.trajectory_image(frames, [1, 2, 5, 1000], scale=2)
    with_start = figures.trajectory_image(frames, [1, 2, 5, 1000], start=torch.ones(3, 1, 8, 8), scale=2)
    assert without.height > (3 * 9 + 1) * 2  # the header line
    assert with_start.width - without.width >= 9 * 2
    with pytest.raises(ValueError, match="3 column labels for 4 columns"):
        figures.table_image(frames, col_labels=["1", "2", "3"])


def test_files_are_written_and_no_temporary_file_stays(tmp_path):
    x = torch.rand(6, 1, 4, 4) * 2 - 1
    figures.save_grid(x, tmp_path / "sub" / "grid.png", scale=2)
    with Image.open(tmp_path / "sub" / "grid.png") as grid:
        assert grid.size == ((2 * 5 + 1) * 2, (3 * 5 + 1) * 2)
    figures.save_array(x, tmp_path / "x.npy")
    assert np.array_equal(np.load(tmp_path / "x.npy"), x.numpy())
    frames = torch.rand(4, 3, 1, 4, 4)
    figures.save_chain_gif(frames, [1, 2, 3], tmp_path / "chain.gif", scale=2)
    with Image.open(tmp_path / "chain.gif") as gif:
        assert gif.n_frames == 3 and gif.info["loop"] == 0
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["chain.gif", "grid.png", "sub", "x.npy"]


def test_output_names_and_shapes_are_checked(tmp_path):
    assert figures.check_output(tmp_path / "a.PNG", (".png",)) == tmp_path / "a.PNG"
    with pytest.raises(OutputError, match=r"`out` .*a\.jpg: expected a file name ending in \.png or \.npy"):
        figures.check_output(tmp_path / "a.jpg", (".png", ".npy"))
    (tmp_path / "d.png").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        figures.check_output(tmp_path / "d.png", (".png",))
    with pytest.raises(FigureError, match=r"a figure needs 1- or 3-channel .* shape 2; write a .npy"):
        figures.check_image_shape((2,))
    with pytest.raises(FigureError):
        figures.grid_image(torch.zeros(2, 4, 8, 8))


def test_latent_layers_with_an_image_form_are_scaled_into_the_figure_range():
    assert figures.has_image_form((1, 14, 14)) and figures.has_image_form((3, 4, 4))
    assert not figures.has_image_form((16,)) and not figures.has_image_form((8, 4, 4))
    values = torch.tensor([[2.0, 4.0], [6.0, 10.0]])
    assert torch.equal(figures.to_display_range(values), torch.tensor([[-1.0, -0.5], [0.0, 1.0]]))
    assert torch.equal(figures.to_display_range(torch.full((2, 2), 3.0)), torch.zeros(2, 2))


def test_an_output_under_a_file_is_refused_before_any_work(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match=r"^`gif` .*afile/t\.gif: cannot be written: .*afile is a "
                       r"file, not a directory$"):
        figures.check_output(tmp_path / "afile" / "t.gif", (".gif",), "gif")
    with pytest.raises(OutputError, match="longer than 200 bytes"):
        figures.check_output(tmp_path / ("a" * 300 + ".png"), (".png",))
