"""What every data set shares: the item contract, the split seed, and turning image files into x.

Items of a data set, and batches of a loader, are ``x`` or ``(x, y)``. Images are float32
tensors (C, H, W) in [-1, 1] with C = 1 (grey) or 3 (RGB); a file of another size is scaled to
cover H×W and centre-cropped, the same way for a ``folder`` data set and for the user's own
images (``--input``, ``--from-images``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from gibbsnet_plugin.errors import GibbsnetError

SPLIT_SEED = 20171212
"""Seed of the fixed train/test permutations of the built-in data sets (and of the mixtures' train
draw); changing it changes every published number."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
"""File name endings read as images, compared in lower case."""

IMAGE_MODES = {1: "L", 3: "RGB"}
"""Channels -> the PIL mode an image file is converted to."""

def to_unit(image: Image.Image) -> torch.Tensor:
    """PIL image of 0..255 (grey or RGB) -> float32 tensor (C, H, W) in [0, 1], the values of
    torchvision's ``ToTensor``."""
    array = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))
    chw = array[None] if array.dim() == 2 else array.permute(2, 0, 1)
    return chw.to(torch.float32).div(255)


def to_signed_unit(image: Image.Image) -> torch.Tensor:
    """PIL image of 0..255 (grey or RGB) -> float32 tensor (C, H, W) in [-1, 1]: 0 -> -1.0,
    255 -> 1.0; the values of torchvision's ``ToTensor`` then ``Normalize(0.5, 0.5)``."""
    return to_unit(image).sub(0.5).div(0.5)


TO_SIGNED_UNIT = to_signed_unit
"""The transform torchvision's data sets are read with."""


def binarized(x: torch.Tensor, binarize: bool) -> torch.Tensor:
    """Images in [-1, 1] thresholded at 0 to {-1, 1} when ``binarize`` (for binary models such
    as ``rbm``: the bright half of the range is 1), else ``x`` unchanged."""
    if not isinstance(binarize, bool):
        raise ValueError(f"binarize must be true or false, got {binarize!r}")
    return torch.where(x > 0, 1.0, -1.0) if binarize else x


def x_of(item: object) -> torch.Tensor:
    """The x of an item or a batch that is ``x`` or ``(x, y)``."""
    return item[0] if isinstance(item, (list, tuple)) else item  # type: ignore[return-value]


def batch_to_x(batch: object, device: torch.device) -> torch.Tensor:
    """The data tensor of a batch that is ``x`` or ``(x, y)``, moved to ``device``."""
    return x_of(batch).to(device, non_blocking=True)


def image_dims(x_shape: Sequence[int], what: str, error: type[GibbsnetError] = GibbsnetError,
               channels: Sequence[int] | None = tuple(IMAGE_MODES), hint: str = "") -> tuple[int, int, int]:
    """``(C, H, W)`` of ``x_shape`` when it is an image shape with one of ``channels`` (None: any
    number of channels); otherwise raises ``error`` saying that ``what`` needs images, followed
    by ``hint``."""
    if len(x_shape) != 3 or (channels is not None and x_shape[0] not in channels):
        kind = ("1- or 3-channel images (C×H×W)" if channels is not None
                else "image data (channels×height×width)")
        raise error(f"{what} needs {kind}; this model's data have shape "
                    f"{'×'.join(map(str, x_shape))}{hint}")
    return x_shape[0], x_shape[1], x_shape[2]


def fit_image(image: Image.Image, channels: int, height: int, width: int) -> tuple[torch.Tensor, bool]:
    """A PIL image as x of shape (channels, height, width) in [-1, 1], and whether its size had
    to change: converted to grey or RGB, scaled (bilinear, antialiased) so that it covers
    height×width, and centre-cropped; torchvision's ``Resize(size)`` + ``CenterCrop(size)`` for
    a square target."""
    image = image.convert(IMAGE_MODES[channels])
    w0, h0 = image.size
    resized = (w0, h0) != (width, height)
    if resized:
        if height == width:  # the shorter side to the size, as Resize(int) does
            short, long = sorted((w0, h0))
            new_short, new_long = height, int(height * long / short)
            size = (new_short, new_long) if w0 <= h0 else (new_long, new_short)
        else:
            scale = max(height / h0, width / w0)
            size = (max(width, round(w0 * scale)), max(height, round(h0 * scale)))
        image = image.resize(size, Image.BILINEAR)
        top = int(round((image.height - height) / 2.0))
        left = int(round((image.width - width) / 2.0))
        image = image.crop((left, top, left + width, top + height))
    return to_signed_unit(image), resized
