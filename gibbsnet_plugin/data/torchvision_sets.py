"""MNIST, SVHN and CIFAR-10 through torchvision's loaders, as (x, y) with x in [-1, 1]. The data
set registry imports this module (and torchvision) when one of them is first used.

Files are where torchvision keeps them under ``root``, so an existing torchvision download is used
as is: MNIST in ``MNIST/raw/`` (the four uncompressed idx-ubyte files), SVHN's ``*_32x32.mat``
directly in ``root``, CIFAR-10's pickled batches in ``cifar-10-batches-py/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from torch.utils.data import ConcatDataset, Dataset
from torchvision.datasets import CIFAR10, MNIST, SVHN

from gibbsnet_plugin.data.base import TO_SIGNED_UNIT
from gibbsnet_plugin.errors import DatasetNotFoundError, DownloadFailed
from gibbsnet_plugin.registry import DATASETS

SVHN_TRAIN_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "extra": ("extra",),
    "train+extra": ("train", "extra"),
}
"""``train_split`` option of ``svhn`` -> torchvision SVHN splits concatenated for training."""


class _SVHN(SVHN):
    """torchvision's SVHN that accepts any ``<split>_32x32.mat`` present on disk.

    torchvision checks the md5 of the official file on every load, so a re-saved or test-made file
    never loads; here presence is enough (scipy still has to parse it). Downloads are still checked:
    ``download_url`` verifies the md5 of what it fetches.
    """

    def _check_integrity(self) -> bool:
        return os.path.isfile(os.path.join(self.root, self.filename))

    def download(self) -> None:
        # torchvision's download_url would fetch again over a present file whose md5 differs.
        if not self._check_integrity():
            super().download()


class _CIFAR10(CIFAR10):
    """torchvision's CIFAR10 that accepts the batch files present on disk.

    torchvision checks the md5 of each official batch (and of ``batches.meta``) on every load;
    ``check_integrity(path, None)`` only tests that the file exists. A download still verifies the
    md5 of the archive (``tgz_md5``).
    """

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}


DOWNLOAD_SIZES = {"MNIST": "12 MB", "SVHN train": "182 MB", "SVHN test": "64 MB",
                  "SVHN extra": "1.3 GB", "CIFAR-10": "163 MB"}
"""What a first download fetches, for the messages (compressed sizes)."""


def _load(
    name: str, directory: str, files: list[str], download: bool, make: Callable[[], Dataset],
    source: str,
) -> Dataset:
    """``make()`` once the ``files`` are in ``directory`` or may be downloaded there from
    ``source`` (a URL and size, for the messages).

    Raises:
        DatasetNotFoundError: a file is missing and ``download`` is false, or every file is there
            but ``make()`` cannot read them (a download cut short, a damaged copy): the message
            names the files and says to delete them so that they are downloaded again.
        DownloadFailed: a file was missing and downloading it failed.
    """
    missing = [f for f in files if not os.path.isfile(os.path.join(directory, f))]
    if missing and not download:
        raise DatasetNotFoundError(
            f"{name} is not in {directory}: set data.options.download: true in the recipe "
            f"(or `overrides` data.options.download=true) to download {source}, or place "
            f"{', '.join(missing)} there"
        )
    try:
        return make()
    except Exception as exc:  # the readers' errors on a damaged file are of many kinds
        reason = " ".join(str(exc).split())  # torchvision's messages span several lines
        if missing and isinstance(exc, (OSError, RuntimeError)):
            raise DownloadFailed(
                f"downloading {name} ({source}) into {directory} failed ({reason}); "
                f"place {', '.join(missing)} there by hand"
            ) from exc
        if missing or isinstance(exc, (MemoryError, PermissionError)):
            raise
        one = len(files) == 1
        where = os.path.join(directory, files[0]) if one else f"{directory} ({', '.join(files)})"
        raise DatasetNotFoundError(
            f"{where}: damaged or incomplete {name} data ({type(exc).__name__}: {reason}), e.g. a "
            f"download cut short; delete {'the file' if one else 'these files'} so that {name} is "
            f"downloaded again (data.options.download: true), or put "
            f"{'a good copy' if one else 'good copies'} in place"
        ) from exc


@DATASETS.register("mnist")
def build_mnist(root: str, train: bool, download: bool = False) -> Dataset:
    """MNIST as (x, y): x of shape (1, 28, 28) in [-1, 1], y in 0..9; 60000 train, 10000 test.

    Reads ``root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``; torchvision wants all
    four files even for one split.
    """
    root = os.path.expanduser(root)
    files = [os.path.splitext(archive)[0] for archive, _ in MNIST.resources]
    return _load(
        "MNIST",
        os.path.join(root, "MNIST", "raw"),
        files,
        download,
        lambda: MNIST(root, train=train, transform=TO_SIGNED_UNIT, download=download),
        f"{MNIST.mirrors[0]} ({DOWNLOAD_SIZES['MNIST']})",
    )


@DATASETS.register("svhn")
def build_svhn(
    root: str, train: bool, train_split: str = "train", download: bool = False
) -> Dataset:
    """SVHN as (x, y): x of shape (3, 32, 32) in [-1, 1], y in 0..9 (digit 0 is label 0).

    ``train_split`` picks the training data: ``train`` (73257 images), ``extra`` (531131; what ALI
    trains on) or ``train+extra``; it is ignored when ``train`` is false (the 26032 ``test``
    images). Reads ``root/<split>_32x32.mat``.
    """
    if train_split not in SVHN_TRAIN_SPLITS:
        raise ValueError(
            f"svhn train_split must be one of {', '.join(SVHN_TRAIN_SPLITS)}, got {train_split!r}"
        )
    root = os.path.expanduser(root)
    splits = SVHN_TRAIN_SPLITS[train_split] if train else ("test",)
    files = [SVHN.split_list[split][1] for split in splits]

    def make() -> Dataset:
        parts = [_SVHN(root, split=s, transform=TO_SIGNED_UNIT, download=download) for s in splits]
        return parts[0] if len(parts) == 1 else ConcatDataset(parts)

    source = ", ".join(f"{SVHN.split_list[s][0]} ({DOWNLOAD_SIZES[f'SVHN {s}']})" for s in splits)
    return _load("SVHN", root, files, download, make, source)


@DATASETS.register("cifar10")
def build_cifar10(root: str, train: bool, download: bool = False) -> Dataset:
    """CIFAR-10 as (x, y): x of shape (3, 32, 32) in [-1, 1], y in 0..9; 50000 train, 10000 test.

    Reads ``root/cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and
    ``batches.meta``; torchvision wants all of them even for one split.
    """
    root = os.path.expanduser(root)
    batches = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list]
    files = batches + [CIFAR10.meta["filename"]]
    return _load(
        "CIFAR-10",
        os.path.join(root, CIFAR10.base_folder),
        files,
        download,
        lambda: _CIFAR10(root, train=train, transform=TO_SIGNED_UNIT, download=download),
        f"{CIFAR10.url} ({DOWNLOAD_SIZES['CIFAR-10']})",
    )
