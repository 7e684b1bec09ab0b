"""Incomplete and corrupted data: mask processes, items that carry masks, and data-set wrappers.

An item of partially observed data is ``(x, mask)`` or ``(x, y, mask)``, the mask a float tensor
shaped like x, 1 = observed and 0 = missing. A data set may yield such items itself, or a recipe
imposes a *mask process* on complete data (``data.missing``): every item gets its own mask, drawn
once with the recipe's seed and the item's index, so an entry hidden in one epoch is hidden in
all of them (the hidden values never reach training). Mask processes:

- ``random-PCT``: PCT percent of the pixels hidden, chosen anew for every item (``random-80``);
  the only process for vectors of shape (D,), such as table rows (PCT percent of the D entries);
- ``window-K``: only a K×K window at a random place observed (``window-4``);
- ``left-half``, ``right-half``, ``top-half``, ``bottom-half``, ``center``: the same region
  hidden in every item (see ``masks``).

A known corruption y = f(x) (``data.corruption``) replaces every training x by its measurement,
drawn once per item in the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from gibbsnet_plugin.data.masks import MASK_NAMES, mask_image_dims, named_mask
from gibbsnet_plugin.errors import MaskError

PROCESS_NAMES = (*MASK_NAMES, "window-K")
"""The mask processes of ``data.missing``; ``random-PCT`` and ``window-K`` take a number."""

_WINDOW = re.compile(r"window-(\d+)")
_STREAM = {True: 0, False: 1}
"""Train and test splits draw their masks from different seed streams."""

Item = tuple[torch.Tensor, object | None, torch.Tensor | None]
"""(x, y or None, mask or None)."""


def check_process(name: str, x_shape: tuple[int, ...] | None = None) -> None:
    """Raise ``MaskError`` when ``name`` is not a mask process (or, given ``x_shape``, one that does
    not fit data of that shape)."""
    if not isinstance(name, str) or (_WINDOW.fullmatch(name) is None and name not in MASK_NAMES[:-1]
                                     and re.fullmatch(r"random-\d+(\.\d+)?", name) is None):
        raise MaskError(f"unknown mask process {name!r}; expected one of {', '.join(PROCESS_NAMES)} "
                        "(e.g. random-80 or window-4)")
    if x_shape is not None:
        draw_mask(name, x_shape, 0)


def item_seed(seed: int, index: int, train: bool = True) -> int:
    """The seed of item ``index``'s mask or corruption: one stream per recipe seed and split."""
    return (seed * 2 + _STREAM[train]) * 1_000_003 + index


def draw_mask(name: str, x_shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """One draw of the mask process ``name`` for an item of shape ``x_shape`` (C, H, W), or (D,)
    for ``random-PCT``, as a float tensor of that shape (1 = observed), from ``seed``."""
    match = _WINDOW.fullmatch(name)
    if match is None:
        return named_mask(name, x_shape, seed)
    size = int(match.group(1))
    c, h, w = mask_image_dims(x_shape, f"mask process '{name}'")
    if not 0 < size or (size >= h and size >= w):
        raise MaskError(f"mask process '{name}': the window must be at least 1 pixel and hide "
                        f"something of the {h}×{w} image, i.e. smaller than it")
    generator = torch.Generator().manual_seed(seed)
    top = int(torch.randint(0, max(h - size, 0) + 1, (), generator=generator))
    left = int(torch.randint(0, max(w - size, 0) + 1, (), generator=generator))
    mask = torch.zeros(x_shape)
    mask[:, top: top + size, left: left + size] = 1.0
    return mask


def split_item(item: object) -> Item:
    """An item or batch as ``(x, y, mask)``: ``x``, ``(x, y)``, ``(x, mask)`` or ``(x, y, mask)``.

    A second element is the mask when it is a tensor with as many dimensions as x (of any
    dtype: float, bool or integer 0/1); a label otherwise (an int, or a batch's (B,) labels).
    """
    if not isinstance(item, (list, tuple)):
        return item, None, None  # type: ignore[return-value]
    x = item[0]
    if len(item) == 3:
        return x, item[1], item[2]
    if len(item) == 2:
        second = item[1]
        if (isinstance(second, torch.Tensor) and isinstance(x, torch.Tensor)
                and second.dim() == x.dim()):
            return x, None, second
        return x, second, None
    return x, None, None


def check_mask_batch(x: torch.Tensor, mask: torch.Tensor, source: str) -> None:
    """Raise ``MaskError`` naming ``source`` when ``mask`` is not shaped like ``x`` or holds values
    other than 0 and 1."""
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != tuple(x.shape):
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise MaskError(f"{source}: a mask of shape {shape} came with data of shape "
                        f"{tuple(x.shape)}; masks must be shaped like x (1 = observed, 0 = missing)")
    if mask.dtype != torch.bool and not bool(((mask == 0) | (mask == 1)).all()):
        bad = mask[(mask != 0) & (mask != 1)].flatten()[:3].tolist()
        raise MaskError(f"{source}: mask values must be 0 (missing) or 1 (observed), found "
                        f"{', '.join(f'{v:.3g}' for v in bad)}")


def check_observed(dataset: Dataset, source: str, limit: int = 1000) -> None:
    """Raise ``MaskError`` when the masks of ``dataset``'s items (up to ``limit`` of them, spread
    over the data set; every item of a smaller one) are malformed, or hide every entry of every
    one of them. Training checks every batch's masks as well."""
    n = len(dataset)  # type: ignore[arg-type]
    observed = False
    for index in torch.linspace(0, n - 1, min(n, limit)).long().tolist():
        x, _, mask = split_item(dataset[index])
        if mask is None:
            return
        check_mask_batch(x, mask, f"{source}, item {index}")
        observed = observed or bool((mask != 0).any())
    if observed:
        return
    raise MaskError(f"{source}: every item's mask hides all of it (checked {min(n, limit)} items), "
                    "so there is nothing to learn from; masks are 1 where x is observed (check "
                    "that they are not inverted)")


class Masked(Dataset):
    """``dataset`` with a mask drawn for each item from the process ``name``: items ``(x, mask)``
    or ``(x, y, mask)``. With ``hide``, x is 0 wherever the mask hides it (training never gets
    the hidden values); without, x is intact (to score imputations against the truth).

    Items that carry masks of their own (real holes, e.g. a table's empty cells) keep them: the
    mask hides what the process hides and what was missing already, and without ``hide`` x is
    NaN where it was missing (its truth is unknown), so scores count only the entries that were
    observed and hidden by the process."""

    def __init__(self, dataset: Dataset, name: str, x_shape: tuple[int, ...], seed: int,
                 train: bool, hide: bool = True) -> None:
        check_process(name, x_shape)
        self.dataset, self.name, self.x_shape = dataset, name, tuple(x_shape)
        self.seed, self.train, self.hide = seed, train, hide

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def mask(self, index: int) -> torch.Tensor:
        """The process's mask of item ``index`` (the same on every call), without the item's own."""
        return draw_mask(self.name, self.x_shape, item_seed(self.seed, index, self.train))

    def __getitem__(self, index: int) -> tuple:
        x, y, own = split_item(self.dataset[index])
        mask = self.mask(index)
        if own is not None:
            observed = own != 0
            mask = mask * observed
            if not self.hide:
                x = torch.where(observed, x, torch.full_like(x, math.nan))
        if self.hide:
            x = torch.where(mask != 0, x, torch.zeros_like(x))
        return (x, mask) if y is None else (x, y, mask)


class Corrupted(Dataset):
    """``dataset`` with every x replaced by its measurement ``corruption(x)``, drawn once per item
    (the same y on every call) from the seed and the item's index."""

    def __init__(self, dataset: Dataset, corruption: Callable[[torch.Tensor], torch.Tensor],
                 seed: int, train: bool = True) -> None:
        self.dataset, self.corruption, self.seed, self.train = dataset, corruption, seed, train

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> object:
        x, y, mask = split_item(self.dataset[index])
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            # the CPU generator only: torch.manual_seed would also reseed every GPU's
            torch.default_generator.manual_seed(item_seed(self.seed, index, self.train))
            x = self.corruption(x[None])[0]
        if y is None and mask is None:
            return x
        return tuple(v for v in (x, y, mask) if v is not None)
