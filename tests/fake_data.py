"""Small files in the real on-disk formats of MNIST, SVHN and CIFAR-10, so that their loaders and
the recipes that use them run without a download."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import scipy.io


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx-ubyte file: big-endian magic (0, 0, type 0x08 = uint8, ndim), the dims, the bytes."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, n_train: int = 6, n_test: int = 4) -> None:
    """MNIST's raw idx files under ``root/MNIST/raw``: pixel (0, 1) white, pixel (27, 27) = 10 i."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 0, 1] = 255
        images[:, 27, 27] = np.arange(n) * 10 % 256
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


def write_svhn(root: Path, split: str, labels: list[int]) -> None:
    """SVHN's .mat layout: X of shape (32, 32, 3, N) (H, W, C, N), y of shape (N, 1), 10 for 0."""
    n = len(labels)
    x = np.zeros((32, 32, 3, n), np.uint8)
    x[0, 1, 0, :] = 255  # red at row 0, column 1
    x[5, 7, 2, :] = np.arange(n) * 20 % 256  # blue at row 5, column 7
    y = np.array(labels, np.uint8).reshape(n, 1)
    root.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})


def write_cifar(root: Path, per_batch: int = 2) -> None:
    """CIFAR-10's python batches: pickled dicts with data (N, 3072) = R, G, B planes, row-major."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        images = np.zeros((per_batch, 3, 32, 32), np.uint8)
        images[:, 0, 0, 1] = 255  # red at row 0, column 1
        images[:, 2, 31, 30] = 102  # blue at row 31, column 30
        batch = {
            "batch_label": name,
            "labels": [(b * per_batch + i) % 10 for i in range(per_batch)],
            "data": images.reshape(per_batch, 3072),
            "filenames": [f"{name}_{i}.png" for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
