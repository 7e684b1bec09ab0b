"""Figures of images in [-1, 1]: grids, labelled tables (trajectories, inpainting rows), GIFs.

Images are tensors of shape (..., C, H, W) with C = 1 (grey) or 3 (RGB) and values in [-1, 1]
(clipped). Figures are RGB on a white background, one pixel of padding between images, scaled up
by an integer factor with nearest-neighbour (so 8×8 digits stay sharp). Every file is written
atomically: to a temporary name in the same directory, then renamed, so an error never leaves a
partial file behind.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from gibbsnet_plugin.data.base import image_dims
from gibbsnet_plugin.errors import FigureError, OutputError
from gibbsnet_plugin.utils import atomic_output, unwritable

HIDDEN_COLOR = (0.25, 0.45, 0.85)
"""RGB in [0, 1] that ``masked_view`` paints over hidden pixels."""

_PAD = 1
_BACKGROUND = 255
_TEXT = (0, 0, 0)


def check_output(path: str | Path, suffixes: Sequence[str], option: str = "out",
                 force: bool = False) -> Path:
    """``path`` as a Path when it ends with one of ``suffixes`` (e.g. ``(".png", ".npy")``), can be
    written, and does not exist yet (or ``force``); otherwise an ``OutputError`` that says what was
    expected, naming the parameter ``option`` that gave the path."""
    path = Path(os.path.expanduser(path))
    if path.suffix.lower() not in suffixes:
        raise OutputError(
            f"`{option}` {path}: expected a file name ending in {' or '.join(suffixes)}")
    problem = unwritable(path)
    if problem:
        raise OutputError(f"`{option}` {path}: cannot be written: {problem}")
    if path.is_dir():
        raise OutputError(f"`{option}` {path}: is a directory; expected a file name")
    if path.exists() and not force:
        raise OutputError(f"`{option}` {path}: exists; pass `force` to replace it, or choose "
                          "another name")
    return path


def check_outputs(outputs: Sequence[tuple[str | Path | None, Sequence[str], str]],
                  force: bool = False) -> list[Path | None]:
    """``check_output`` of several ``(path, suffixes, option)`` at once (a None path is skipped
    and returned as None), so that every existing file is named in one ``OutputError``."""
    checked: list[Path | None] = []
    clashes: list[str] = []
    for path, suffixes, option in outputs:
        if path is None:
            checked.append(None)
            continue
        try:
            checked.append(check_output(path, suffixes, option, force))
        except OutputError:
            target = Path(os.path.expanduser(path))
            if force or not target.is_file() or target.suffix.lower() not in suffixes:
                raise
            clashes.append(f"`{option}` {target}")
            checked.append(target)
    if len(clashes) == 1:
        raise OutputError(f"{clashes[0]}: exists; pass `force` to replace it, or choose another name")
    if clashes:
        raise OutputError(f"{', '.join(clashes[:-1])} and {clashes[-1]}: exist; pass `force` to "
                          "replace them, or choose other names")
    return checked


def has_image_form(shape: Sequence[int]) -> bool:
    """True when values of ``shape`` (without the batch) can be drawn: C×H×W with C = 1 or 3."""
    return len(shape) == 3 and shape[0] in (1, 3)


def to_display_range(values: torch.Tensor) -> torch.Tensor:
    """``values`` scaled linearly into [-1, 1] (their minimum to -1, maximum to 1), for drawing a
    latent layer that has an image form; constant values become 0."""
    low, high = values.min(), values.max()
    if high <= low:
        return torch.zeros_like(values)
    return (values - low) / (high - low) * 2 - 1


def check_image_shape(x_shape: tuple[int, ...]) -> None:
    """Raise ``FigureError`` unless ``x_shape`` is (C, H, W) with C = 1 or 3."""
    image_dims(x_shape, "a figure", FigureError, hint="; write a .npy file instead")


def _write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    with atomic_output(path) as tmp, tmp.open("wb") as f:
        write(f)


# -- tensors to pixels ----------------------------------------------------------------------------

def _unit_rgb(x: torch.Tensor) -> torch.Tensor:
    """(..., C, H, W) in [-1, 1] -> (..., 3, H, W) in [0, 1]; NaN (a blank cell) stays NaN."""
    check_image_shape(tuple(x.shape[-3:]))
    x = x.detach().float().cpu()
    if x.shape[-3] == 1:
        x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    return (x.clamp(-1, 1) + 1) / 2


def masked_view(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) with the pixels that ``mask`` hides (0 in any channel) painted in
    ``HIDDEN_COLOR``: shape (B, 3, H, W) in [-1, 1], for showing what the chain was given."""
    rgb = _unit_rgb(x).clone()
    hidden = torch.broadcast_to(mask.cpu() == 0, x.shape).any(dim=-3, keepdim=True)
    color = torch.tensor(HIDDEN_COLOR).view(3, 1, 1).expand_as(rgb[0])
    rgb = torch.where(hidden, color, rgb)
    return rgb * 2 - 1


def _table_pixels(cells: torch.Tensor) -> np.ndarray:
    """(R, K, C, H, W) -> uint8 array (R*(H+1)+1, K*(W+1)+1, 3); NaN cells are background."""
    rgb = _unit_rgb(cells)
    r, k, _, h, w = rgb.shape
    padded = torch.nn.functional.pad(rgb, (_PAD, 0, _PAD, 0), value=_BACKGROUND / 255)
    table = padded.permute(0, 3, 1, 4, 2).reshape(r * (h + _PAD), k * (w + _PAD), 3)
    table = torch.nn.functional.pad(table.permute(2, 0, 1), (0, _PAD, 0, _PAD),
                                    value=_BACKGROUND / 255).permute(1, 2, 0)
    table = torch.nan_to_num(table, nan=_BACKGROUND / 255)
    return (table * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def _font(cell_height: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=min(16, max(10, cell_height // 2)))


def table_image(
    cells: torch.Tensor, scale: int = 1, col_labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None, title: str | None = None,
) -> Image.Image:
    """A table of images: ``cells`` (R, K, C, H, W), row r and column k showing ``cells[r, k]``;
    NaN values are drawn as background, so an all-NaN cell is a blank. Optional labels above the
    columns, left of the rows (one per row), and a title line on top.

    Args:
        scale: integer upscaling (nearest-neighbour) of images and padding; text is not scaled.
    """
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    r, k, _, h, w = cells.shape
    if col_labels is not None and len(col_labels) != k:
        raise ValueError(f"{len(col_labels)} column labels for {k} columns")
    if row_labels is not None and len(row_labels) != r:
        raise ValueError(f"{len(row_labels)} row labels for {r} rows")
    pixels = Image.fromarray(_table_pixels(cells))
    pixels = pixels.resize((pixels.width * scale, pixels.height * scale), Image.Resampling.NEAREST)
    if col_labels is None and row_labels is None and title is None:
        return pixels

    font = _font(h * scale)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def size(text: str) -> tuple[int, int]:
        left, _, right, bottom = measure.textbbox((0, 0), text, font=font)
        return right - left, bottom

    gap = 4
    line = size("0123456789")[1] + gap
    centres = [(_PAD + j * (w + _PAD) + w / 2) * scale for j in range(k)]
    spans = [(c - size(t)[0] / 2, c + size(t)[0] / 2)
             for c, t in zip(centres, col_labels or (), strict=False)]
    left = max((size(t)[0] for t in row_labels), default=0) + 2 * gap if row_labels else 0
    left = max(left, math.ceil(-min((a for a, _ in spans), default=0)))
    right = max(0, math.ceil(max((b for _, b in spans), default=0)) - pixels.width)
    top = (line + gap if title else 0) + (line if col_labels else 0)
    width = max(left + pixels.width + right, size(title)[0] + 2 * gap if title else 0)
    canvas = Image.new("RGB", (width, top + pixels.height), (_BACKGROUND,) * 3)
    canvas.paste(pixels, (left, top))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((gap, gap), title, fill=_TEXT, font=font)
    for text, (start, _) in zip(col_labels or (), spans, strict=False):
        draw.text((left + start, top - line), text, fill=_TEXT, font=font)
    for i, text in enumerate(row_labels or ()):
        middle = top + (_PAD + i * (h + _PAD) + h / 2) * scale
        draw.text((gap, middle - size(text)[1] / 2), text, fill=_TEXT, font=font)
    return canvas


def grid_image(x: torch.Tensor, nrow: int | None = None, scale: int = 1,
               title: str | None = None) -> Image.Image:
    """Images x (B, C, H, W) in a grid of ``nrow`` images per row (default: about sqrt(B))."""
    nrow = nrow or max(1, round(math.sqrt(x.shape[0])))
    rows = -(-x.shape[0] // nrow)
    cells = torch.full((rows * nrow, *x.shape[1:]), float("nan"))
    cells[: x.shape[0]] = x.detach().float().cpu()
    return table_image(cells.view(rows, nrow, *x.shape[1:]), scale, title=title)


def rows_image(rows: Sequence[torch.Tensor], labels: Sequence[str] | None = None,
               ncol: int = 16, scale: int = 1) -> Image.Image:
    """Aligned rows of images, e.g. (masked input, result, original): ``rows`` are tensors of the
    same shape (B, C, H, W), image b of each row in column b. More than ``ncol`` images wrap into
    blocks of ``ncol`` columns separated by a blank row; ``labels`` name the rows in every block.

    Rows may mix grey and RGB images (grey ones are drawn as RGB).
    """
    n = rows[0].shape[0]
    rgb = [_unit_rgb(row) * 2 - 1 for row in rows]
    ncol = min(ncol, n)
    blocks = -(-n // ncol)
    cells = torch.full((blocks, len(rows) + 1, ncol, *rgb[0].shape[1:]), float("nan"))
    for i, row in enumerate(rgb):
        flat = torch.full((blocks * ncol, *row.shape[1:]), float("nan"))
        flat[:n] = row
        cells[:, i] = flat.view(blocks, ncol, *row.shape[1:])
    cells = cells.flatten(0, 1)[:-1]  # drop the spacer after the last block
    row_labels = None
    if labels is not None:
        row_labels = ([*labels, ""] * blocks)[:-1]
    return table_image(cells, scale, row_labels=row_labels)


def trajectory_image(frames: torch.Tensor, steps: Sequence[int], start: torch.Tensor | None = None,
                     scale: int = 1) -> Image.Image:
    """Chains over time: ``frames`` (B, K, C, H, W) with one row per chain and one column per step,
    labelled with ``steps`` (K numbers); ``start`` (B, C, H, W), the images the chains started
    from, is shown as a first column labelled ``input``."""
    cells = frames.detach().float().cpu()
    labels = [str(t) for t in steps]
    if start is not None:
        cells = torch.cat([start.detach().float().cpu()[:, None], cells], 1)
        labels = ["input", *labels]
    return table_image(cells, scale, col_labels=labels)


def interpolation_image(
    x_a: torch.Tensor, x_b: torch.Tensor, line: torch.Tensor, chained: torch.Tensor | None = None,
    chain_label: str = "chain", scale: int = 1,
) -> Image.Image:
    """One row per pair: x_a, the ``line`` (P, points, C, H, W) between them, x_b. With ``chained``
    (same shape as ``line``), each pair gets a second row of it, and rows are labelled
    ``line``/``chain_label`` with a blank row between pairs."""
    ends = torch.stack([x_a, x_b], 1).detach().float().cpu()
    rows = [torch.cat([ends[:, :1], line.detach().float().cpu(), ends[:, 1:]], 1)]
    if chained is None:
        return table_image(rows[0], scale)
    blank = torch.full_like(ends[:, :1], float("nan"))
    rows.append(torch.cat([blank, chained.detach().float().cpu(), blank], 1))
    rows.append(torch.full_like(rows[0], float("nan")))
    cells = torch.stack(rows, 1).flatten(0, 1)[:-1]
    labels = (["line", chain_label, ""] * x_a.shape[0])[:-1]
    return table_image(cells, scale, row_labels=labels)


# -- files ----------------------------------------------------------------------------------------

def save_png(image: Image.Image, path: str | Path) -> None:
    """Write ``image`` as a PNG file, atomically."""
    _write_atomic(path, lambda f: image.save(f, format="PNG"))


def save_grid(x: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 1) -> None:
    """Images x (B, C, H, W) as one PNG grid (see ``grid_image``), written atomically."""
    save_png(grid_image(x, nrow, scale), path)


def save_gif(frames: Sequence[Image.Image], path: str | Path, frame_ms: int = 120,
             last_ms: int = 1500) -> None:
    """An animated GIF of ``frames`` (each shown ``frame_ms``, the last one ``last_ms``), looping,
    written atomically."""
    durations = [frame_ms] * (len(frames) - 1) + [last_ms]
    first, *rest = frames
    _write_atomic(path, lambda f: first.save(f, format="GIF", save_all=True, append_images=rest,
                                             duration=durations, loop=0))


def save_chain_gif(frames: torch.Tensor, steps: Sequence[int], path: str | Path, scale: int = 1,
                   nrow: int | None = None) -> None:
    """An animation of chains: ``frames`` (B, K, C, H, W), one grid of the B chains per step, titled
    with its number from ``steps`` (K numbers); written atomically."""
    save_gif([grid_image(frames[:, i], nrow, scale, title=f"step {t}")
              for i, t in enumerate(steps)], path)


def save_array(x: torch.Tensor, path: str | Path) -> None:
    """The raw values of x as a NumPy ``.npy`` file (float32, x's shape), written atomically."""
    buffer = io.BytesIO()
    np.save(buffer, x.detach().float().cpu().numpy())
    _write_atomic(path, lambda f: f.write(buffer.getvalue()))
