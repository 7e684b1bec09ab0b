"""Inpainting masks: named regions and mask images, as tensors shaped like one x.

In the Python API a mask is a float tensor of shape x_shape: 1 where x is observed, 0 where the
chain fills it in. Named masks name the region that is *hidden*: ``left-half``, ``right-half``,
``top-half``, ``bottom-half``, ``center`` (the middle half of the height and of the width) and
``random-PCT`` (PCT percent of the pixels, chosen with a seed). A mask image is white where x is
observed and black where it is filled; it must have the data's height and width. Data of shape
(D,), such as table rows, take only ``random-PCT`` (PCT percent of the D entries).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from gibbsnet_plugin.data.base import IMAGE_EXTENSIONS, image_dims
from gibbsnet_plugin.data.images import open_image
from gibbsnet_plugin.errors import ImageReadError, MaskError
from gibbsnet_plugin.utils import NAME_LIMIT, short

MASK_NAMES = ("left-half", "right-half", "top-half", "bottom-half", "center", "random-PCT")
"""The named masks; ``random-PCT`` takes a percentage, e.g. ``random-50``."""

_RANDOM = re.compile(r"random-(\d+(?:\.\d+)?)")


def _expected() -> str:
    return (f"expected one of {', '.join(MASK_NAMES)} (e.g. random-50) or a mask image "
            f"({'/'.join(IMAGE_EXTENSIONS)}; white = observed, black = fill)")


def mask_image_dims(x_shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of ``x_shape`` for ``what``, a mask or mask process that needs images.

    Raises:
        MaskError: data that are not images; for vectors (shape (D,), e.g. table rows) the
            message says that only ``random-PCT`` applies to them.
    """
    if len(x_shape) == 1:
        raise MaskError(f"{what} needs image data (channels×height×width); this model's data have "
                        f"shape {x_shape[0]}: vectors such as table rows take only random-PCT "
                        "(e.g. random-20)")
    return image_dims(x_shape, what, MaskError, channels=None)


def _image_size(x_shape: tuple[int, ...], what: str) -> tuple[int, int]:
    _, h, w = mask_image_dims(x_shape, what)
    return h, w


def _random_hidden(name: str, pct: float, size: int, unit: str, seed: int) -> torch.Tensor:
    """(size,) bool, True at the ``round(pct / 100 * size)`` entries that ``random-PCT`` (called
    ``name``) hides, drawn with ``seed``; ``unit`` names the entries in the error.

    Raises:
        MaskError: ``pct`` outside (0, 100) or rounding to no entry or every entry.
    """
    count = round(pct / 100 * size) if 0 < pct < 100 else 0
    if not 0 < count < size:
        raise MaskError(f"mask {short(name)}: the percentage must hide at least one and not all of "
                        f"the {size} {unit}, i.e. be between 0 and 100 (e.g. random-50)")
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    hidden = torch.zeros(size, dtype=torch.bool)
    hidden[order[:count]] = True
    return hidden


def named_mask(name: str, x_shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """The mask called ``name`` for data of shape ``x_shape`` (C, H, W), or (D,) for
    ``random-PCT``: 1 = observed, 0 = fill.

    Halves hide ``W // 2`` columns or ``H // 2`` rows (the larger half stays observed when the size
    is odd); ``center`` hides the middle ``H // 2`` × ``W // 2`` block; ``random-PCT`` hides
    ``round(PCT / 100 * H * W)`` pixels in all channels (of a vector: ``round(PCT / 100 * D)``
    entries), drawn with ``seed``.

    Raises:
        MaskError: an unknown name (the message lists the valid ones), a percentage outside
            (0, 100) or rounding to no entry or every entry, or data that are neither images nor,
            for ``random-PCT``, vectors.
    """
    x_shape = tuple(x_shape)
    match = _RANDOM.fullmatch(name)
    if name not in MASK_NAMES[:-1] and match is None:
        raise MaskError(f"unknown mask {short(name)}; {_expected()}")
    if match is not None and len(x_shape) == 1:  # a vector, e.g. a table row
        return (~_random_hidden(name, float(match.group(1)), x_shape[0], "entries", seed)).float()
    h, w = _image_size(x_shape, f"mask {short(name)}")
    hidden = torch.zeros(h, w, dtype=torch.bool)
    if name == "left-half":
        hidden[:, : w // 2] = True
    elif name == "right-half":
        hidden[:, w - w // 2:] = True
    elif name == "top-half":
        hidden[: h // 2] = True
    elif name == "bottom-half":
        hidden[h - h // 2:] = True
    elif name == "center":
        top, left = (h - h // 2) // 2, (w - w // 2) // 2
        hidden[top: top + h // 2, left: left + w // 2] = True
    else:  # float(...) is inf for a long run of digits
        hidden = _random_hidden(name, float(match.group(1)), h * w, "pixels", seed).view(h, w)
    mask = (~hidden).float().expand(x_shape[0], h, w).clone()
    check_mask(mask, f"mask {short(name)}")
    return mask


def mask_from_image(path: str | Path, x_shape: tuple[int, ...]) -> torch.Tensor:
    """Read a mask image (white = observed, black = fill; grey is split at 50 %) for data of shape
    ``x_shape`` (C, H, W); returns a float mask of that shape, 1 = observed.

    Raises:
        MaskError: the image's size is not W×H, or it is all white or all black.
        ImageReadError: the file is missing or not a readable image.
    """
    h, w = _image_size(tuple(x_shape), "a mask image")
    image = open_image(path).convert("L")
    if image.size != (w, h):
        raise MaskError(f"{path}: the mask image is {image.size[0]}×{image.size[1]} pixels; "
                        f"expected {w}×{h} (width×height of the model's images)")
    observed = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).reshape(h, w) >= 128
    mask = observed.float().expand(x_shape[0], h, w).clone()
    check_mask(mask, str(path))
    return mask


def is_mask_spec(spec: str) -> bool:
    """Whether ``spec`` can name a mask at all: a mask name, ``random-PCT`` with 0 < PCT < 100, or
    an image file name (whether the file exists and fits is checked when it is read)."""
    random = _RANDOM.fullmatch(spec)
    return (spec in MASK_NAMES[:-1] or (random is not None and 0 < float(random.group(1)) < 100)
            or (spec.lower().endswith(IMAGE_EXTENSIONS) and len(spec) > 4))


def resolve_mask(spec: str, x_shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """``spec`` as a mask for data of shape ``x_shape``: a mask image when it names an existing
    file or ends with an image extension, else a named mask (``seed`` draws ``random-PCT``).

    Raises:
        MaskError: an unknown name (the message shows it shortened and lists the valid ones).
        ImageReadError: a mask image that is missing (also a name the file system refuses, e.g.
            one too long for a file) or unreadable.
    """
    try:
        path = Path(os.path.expanduser(spec))
        is_file = path.is_file()
    except (OSError, ValueError):  # a path the file system refuses: a name too long for a file,
        is_file = False  # or a NUL byte after ~ (expanduser raises ValueError)
    if is_file:
        return mask_from_image(path, x_shape)
    if spec.lower().endswith(IMAGE_EXTENSIONS):
        raise ImageReadError(f"mask image {short(spec, NAME_LIMIT)}: no such file; {_expected()}")
    return named_mask(spec, x_shape, seed)


def check_mask(mask: torch.Tensor, what: str = "mask") -> None:
    """Raise ``MaskError`` when ``mask`` observes nothing or hides nothing."""
    observed = int((mask != 0).sum())
    if observed == mask.numel():
        raise MaskError(f"{what}: the mask hides nothing; expected some entries to fill in "
                        "(black in a mask image)")
    if observed == 0:
        raise MaskError(f"{what}: the mask observes nothing, so there is nothing to condition on; "
                        "expected some observed entries (white in a mask image); "
                        "use `gibbsnet sample` for unconditional samples")


def hidden_fraction(mask: torch.Tensor) -> float:
    """The fraction of entries that ``mask`` hides (0 ... 1)."""
    return float((mask == 0).float().mean())
