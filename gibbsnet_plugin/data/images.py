"""The user's own image files as model inputs: a file or a directory -> (B, C, H, W) in [-1, 1]."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from gibbsnet_plugin.data.base import IMAGE_EXTENSIONS, fit_image, image_dims
from gibbsnet_plugin.errors import ImageReadError


@dataclass
class Images:
    """Images read for a model: ``x`` of shape (B, *x_shape) in [-1, 1], the files they came from,
    and which of them were resized (and centre-cropped) to the model's size."""

    x: torch.Tensor
    paths: list[Path]
    resized: list[Path]


MAX_PIXELS = 64 * 2**20
"""Largest image read (width × height): 64 megapixels, e.g. 8192 × 8192. A few hundred bytes of
PNG can declare gigapixels (a decompression bomb); the size is checked before decoding."""


def check_pixels(image: Image.Image, path: str | Path) -> None:
    """Raise ``ImageReadError`` when the opened (not yet decoded) ``image`` has more than
    ``MAX_PIXELS`` pixels."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageReadError(f"{path}: {width} × {height} pixels is more than the limit of "
                             f"{MAX_PIXELS // 2**20} megapixels; shrink the image first")


def open_image(path: str | Path) -> Image.Image:
    """Open and decode an image file completely.

    Raises:
        ImageReadError: the file is missing or PIL cannot decode it (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such image file")
    try:
        with warnings.catch_warnings():  # check_pixels refuses what PIL would warn about
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened:
            check_pixels(opened, path)
            opened.load()
            return opened.copy()
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError,
            Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageReadError(f"{path}: not a readable image ({reason})") from None


def image_files(path: str | Path) -> list[Path]:
    """``path`` itself when it is a file, else the image files directly in the directory, sorted
    by name (extensions: ``IMAGE_EXTENSIONS``, any case).

    Raises:
        ImageReadError: the path does not exist, or the directory holds no image files.
    """
    path = Path(os.path.expanduser(path))
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ImageReadError(f"{path}: no such image file or directory")
    files = sorted(p for p in path.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ImageReadError(
            f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this directory")
    return files


def image_to_tensor(image: Image.Image, x_shape: tuple[int, ...]) -> tuple[torch.Tensor, bool]:
    """A PIL image as a float tensor of shape ``x_shape`` (C, H, W) in [-1, 1], and whether it had
    to be resized: converted to grayscale (C = 1) or RGB (C = 3), scaled to cover H×W and
    centre-cropped exactly as a ``folder`` data set does (``data.base.fit_image``)."""
    return fit_image(image, *_image_shape(x_shape))


def load_images(path: str | Path, x_shape: tuple[int, ...], limit: int | None = None) -> Images:
    """Read an image file, or the first ``limit`` image files of a directory (sorted by name), as
    inputs for a model whose data have shape ``x_shape`` (see ``image_to_tensor``).

    Raises:
        ImageReadError: a missing path, an empty directory, an unreadable file (named), or a model
            whose data are not 1- or 3-channel images.
    """
    _image_shape(x_shape)
    files = image_files(path)[:limit]
    tensors, resized = [], []
    for file in files:
        x, was_resized = image_to_tensor(open_image(file), x_shape)
        tensors.append(x)
        if was_resized:
            resized.append(file)
    return Images(torch.stack(tensors), files, resized)


def _image_shape(x_shape: tuple[int, ...]) -> tuple[int, int, int]:
    return image_dims(x_shape, "reading image files", ImageReadError)
