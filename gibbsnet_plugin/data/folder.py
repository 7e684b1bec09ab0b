"""A directory of image files as a data set, labelled by class subfolder when it has them."""

from __future__ import annotations

import os

import torch
from PIL import Image
from torch.utils.data import Dataset

from gibbsnet_plugin.data.base import IMAGE_EXTENSIONS, IMAGE_MODES, SPLIT_SEED, fit_image
from gibbsnet_plugin.data.images import open_image
from gibbsnet_plugin.errors import DatasetNotFoundError, ImageReadError
from gibbsnet_plugin.registry import DATASETS


class ImageFiles(Dataset):
    """Image files read on access: items are x, or (x, y) when ``labels`` are given, and with
    ``alpha_mask`` a mask after them: ``(x, mask)`` or ``(x, y, mask)``.

    x is a float32 tensor of shape (channels, size, size) in [-1, 1]: the image is converted to
    grayscale (1 channel) or RGB (3), its shorter side resized to ``size`` and the centre cropped
    square (``data.base.fit_image``). The mask (x's shape, 1 = observed) is the alpha channel
    resized the same way and split at 50 %; an image without alpha is observed everywhere.
    """

    def __init__(
        self, paths: list[str], labels: list[int] | None, size: int, channels: int,
        alpha_mask: bool = False,
    ) -> None:
        self.paths = paths
        self.labels = labels
        self.size = size
        self.channels = channels
        self.alpha_mask = alpha_mask

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor | tuple:
        path = self.paths[index]
        try:
            image = open_image(path)
        except ImageReadError as exc:
            raise ImageReadError(f"{exc}; it is an image of the folder data set: replace or "
                                 "delete it") from None
        x, _ = fit_image(image, self.channels, self.size, self.size)
        mask = self._mask(image, x) if self.alpha_mask else None
        item = (x,) if self.labels is None else (x, self.labels[index])
        item = item if mask is None else (*item, mask)
        return item[0] if len(item) == 1 else item

    def _mask(self, image: Image.Image, x: torch.Tensor) -> torch.Tensor:
        if "A" not in image.getbands() and "transparency" not in image.info:
            return torch.ones_like(x)
        alpha, _ = fit_image(image.convert("RGBA").getchannel("A"), 1, self.size, self.size)
        return (alpha >= 0).float().expand_as(x).clone()


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


def _scan(directory: str) -> tuple[list[str], list[int] | None]:
    """Image paths under ``directory``, with labels from class subfolders, or None when it is flat.

    Class folders are the non-hidden subfolders, sorted by name -> 0..K-1 (as torchvision's
    ImageFolder); their images are found at any depth.
    """
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name)
    loose = [e.path for e in entries if e.is_file() and _is_image(e.name)]
    classes = [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]
    samples: list[tuple[str, int]] = []
    if classes:
        from torchvision.datasets.folder import make_dataset  # noqa: PLC0415  (torchvision is slow to import)

        class_to_idx = {name: i for i, name in enumerate(classes)}
        samples = make_dataset(directory, class_to_idx, is_valid_file=_is_image, allow_empty=True)
    if samples and loose:
        raise ValueError(
            f"{directory} holds both {len(loose)} loose images and class subfolders of images; "
            f"put every image in a class folder, or use a directory that holds images only"
        )
    if samples:
        empty = sorted(set(classes) - {classes[label] for _, label in samples})
        if empty:
            raise ValueError(
                f"class folders without images in {directory}: {', '.join(empty)} "
                f"(every subfolder is a class; remove them or add images)"
            )
        return [path for path, _ in samples], [label for _, label in samples]
    if loose:
        return loose, None
    raise DatasetNotFoundError(
        f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {directory} or its subfolders"
    )


GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
"""PIL modes of greyscale images."""
PROBED = 64
"""How many files ``channels: null`` looks at to tell grey images from colour ones."""


def _channels_of(paths: list[str]) -> int:
    """1 when the first ``PROBED`` of ``paths`` are all greyscale images, else 3."""
    for path in paths[:PROBED]:
        try:
            with Image.open(path) as image:
                if image.mode not in GREY_MODES:
                    return 3
        except (OSError, SyntaxError, ValueError):
            continue  # reported when the file is read as an item
    return 1


@DATASETS.register("folder")
def build(
    root: str, train: bool, size: int = 32, channels: int | None = None, test_fraction: float = 0.1,
    alpha_mask: bool = False,
) -> ImageFiles:
    """The images in the directory ``root`` as x of shape (channels, size, size) in [-1, 1];
    with ``alpha_mask`` the alpha channel is each item's mask (opaque = observed). ``channels``
    1 or 3, or None: 1 when the images are greyscale, else 3.

    When ``root`` has class subfolders, items are (x, y) with y the index of the folder's name in
    sorted order; when it holds the images directly, items are x alone. The split is a fixed
    seeded permutation of the sorted file list: its last ``test_fraction`` (at least one image when
    positive) is the test set. Files are read on access; an unreadable one raises
    ``ImageReadError`` (naming it) then.
    """
    if channels is not None and channels not in IMAGE_MODES:
        raise ValueError(f"folder channels must be 1 or 3 (or null: from the images), got {channels!r}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"folder size must be a positive int, got {size!r}")
    if not isinstance(alpha_mask, bool):
        raise ValueError(f"folder alpha_mask must be true or false, got {alpha_mask!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"folder test_fraction must be in [0, 1), got {test_fraction}")
    directory = os.path.expanduser(root)
    if not os.path.isdir(directory):
        raise DatasetNotFoundError(
            f"image folder {directory} does not exist: set data.root to a directory of images "
            f"(or class subfolders of images)"
        )
    paths, labels = _scan(directory)
    channels = _channels_of(paths) if channels is None else channels
    n_test = max(1, round(len(paths) * test_fraction)) if test_fraction > 0 else 0
    n_train = len(paths) - n_test
    if n_train == 0 or (not train and n_test == 0):
        raise ValueError(
            f"{len(paths)} images in {directory} with test_fraction {test_fraction} leave the "
            f"{'train' if train else 'test'} split empty"
        )
    order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(SPLIT_SEED))
    index = order[:n_train] if train else order[n_train:]
    return ImageFiles(
        [paths[i] for i in index],
        None if labels is None else [labels[i] for i in index],
        size,
        channels,
        alpha_mask,
    )
