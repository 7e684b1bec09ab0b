"""FID between image folders and saved statistics, as ``python -m pytorch_fid`` computes it.

A path is a folder of images or a ``.npz`` of statistics in pytorch-fid's format (``mu`` (dims,)
and ``sigma`` (dims, dims); the files written here also hold ``count``, the number of images).
Images are found and read as pytorch-fid does: the files directly in the folder whose names end
in one of ``IMAGE_EXTENSIONS`` (case-sensitive where the file system is), each opened by PIL,
converted to RGB and scaled to [0, 1] (``ToTensor``), then resized to 299 × 299 by the network.
"""

from __future__ import annotations

import itertools
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gibbsnet_plugin.data.base import to_unit
from gibbsnet_plugin.data.images import check_pixels
from gibbsnet_plugin.errors import GibbsnetError, ImageReadError
from gibbsnet_plugin.figures import check_output
from gibbsnet_plugin.metrics.data import Progress
from gibbsnet_plugin.metrics.fid import (
    DEFAULT_BATCH,
    InceptionFeatureSet,
    InceptionStatistics,
    feature_statistics,
    frechet_distance,
    run_metric,
)
from gibbsnet_plugin.metrics.fidelity import density_coverage, kid, precision_recall
from gibbsnet_plugin.metrics.inception import (
    FEATURE_DIMS,
    InceptionFeatures,
    find_weights,
    weights_hash,
)
from gibbsnet_plugin.utils import atomic_output, resolve_device

IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")
"""The file name endings pytorch-fid reads from a folder (its ``IMAGE_EXTENSIONS``)."""
DEFAULT_DIMS = 2048
"""Feature size when no ``.npz`` sets it: the final pool, the standard FID."""
OnDownload = Callable[[Path], None]
"""Called with the destination just before the Inception weights are downloaded."""


@dataclass
class Statistics:
    """Mean (dims,) and covariance (dims, dims) of Inception features, float64, and the number
    of images they come from (None for a ``.npz`` that does not say)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int | None


def image_files(folder: Path) -> list[Path]:
    """The images pytorch-fid reads from ``folder``, sorted.

    Raises:
        ImageReadError: fewer than 2 images (FID needs a covariance).
    """
    files = sorted(f for ext in IMAGE_EXTENSIONS for f in folder.glob(f"*.{ext}") if f.is_file())
    if len(files) < 2:
        ignored = [f.name for f in folder.iterdir()
                   if f.suffix[1:].lower() in IMAGE_EXTENSIONS and f not in files]
        more = f" and {len(ignored) - 1} more" if len(ignored) > 1 else ""
        hint = (f" (pytorch-fid reads lower-case endings only: {ignored[0]}{more} not read)"
                if ignored else "")
        raise ImageReadError(
            f"{folder}: {len(files)} image file(s) ending in .{', .'.join(IMAGE_EXTENSIONS)}{hint}; "
            "FID needs at least 2 (put the images directly in the folder)")
    return files


def read_image(path: Path) -> torch.Tensor:
    """The image file as pytorch-fid reads it: (3, H, W) in [0, 1] (PIL, RGB, ``ToTensor``)."""
    try:
        with Image.open(path) as image:
            check_pixels(image, path)
            return to_unit(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageReadError(f"{path}: not an image PIL can read ({reason}); fix or remove the "
                             "file") from None


def read_statistics(path: Path) -> Statistics:
    """Statistics from a ``.npz`` with ``mu`` (d,) and ``sigma`` (d, d) (and ``count``, if saved
    here).

    Raises:
        ImageReadError: not a readable ``.npz``, or without ``mu`` and ``sigma`` of those shapes.
    """
    try:
        stored = np.load(path)
        if not isinstance(stored, np.lib.npyio.NpzFile):
            raise ValueError("a single array (.npy), not a .npz archive")
        with stored:
            keys = stored.files
            if "mu" in keys and "sigma" in keys:
                mu, sigma = stored["mu"].astype(np.float64), stored["sigma"].astype(np.float64)
                count = int(stored["count"]) if "count" in keys else None
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageReadError(f"{path}: not a .npz file NumPy reads ({reason}); expected FID "
                             "statistics (arrays mu and sigma)") from None
    if "mu" not in keys or "sigma" not in keys:
        raise ImageReadError(
            f"{path}: holds {', '.join(keys) or 'nothing'}, not FID statistics (arrays mu and "
            "sigma, as gibbsnet fid --save-stats or pytorch-fid writes)")
    if mu.ndim != 1 or len(mu) == 0 or sigma.shape != (len(mu), len(mu)):
        raise ImageReadError(f"{path}: mu of shape {mu.shape} and sigma of shape {sigma.shape}; "
                             "expected mu (d,) and sigma (d, d) with d >= 1")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ImageReadError(f"{path}: mu or sigma holds NaN or infinite values; recompute the "
                             "statistics")
    return Statistics(mu, sigma, count)


class FileStatistics(InceptionStatistics):
    """``InceptionStatistics`` of batches of image files: each batch a list of paths, read with
    ``read_image``; images of different sizes are passed through the network separately."""

    def features(self, output: Any) -> torch.Tensor:
        images = [read_image(path) for path in output]
        return torch.cat([self.extractor(torch.stack(list(group)).to(self._device))
                          for _, group in itertools.groupby(images, key=lambda x: x.shape)])


class FileFeatures(FileStatistics, InceptionFeatureSet):
    """``InceptionFeatureSet`` of batches of image files, read as ``FileStatistics`` reads them."""


def _inputs(paths: tuple[str | Path, ...],
            dims: int | None) -> tuple[dict[Path, list[Path] | Statistics], int]:
    """Each path -> its ``Statistics`` (a ``.npz``) or its image files (a folder), and the feature
    size: ``dims``, else that of a ``.npz``, else ``DEFAULT_DIMS``; all checked before any work."""
    inputs: dict[Path, list[Path] | Statistics] = {}
    for given in paths:
        path = Path(os.path.expanduser(given))
        if path in inputs:
            continue
        if path.is_dir():
            inputs[path] = image_files(path)
        elif path.is_file() and path.suffix.lower() == ".npz":
            inputs[path] = read_statistics(path)
        elif path.exists():
            raise ImageReadError(f"{path}: expected a folder of images or a .npz of FID statistics")
        else:
            raise ImageReadError(f"{path}: no such folder or file; expected a folder of images or "
                                 "a .npz of FID statistics")
    sizes = [(path, len(s.mu)) for path, s in inputs.items() if isinstance(s, Statistics)]
    if len(sizes) == 2 and sizes[0][1] != sizes[1][1]:
        raise GibbsnetError(f"{sizes[0][0]} holds {sizes[0][1]}-d statistics but {sizes[1][0]} "
                            f"{sizes[1][1]}-d; FID compares statistics of one feature size")
    for path, size in sizes:
        if dims is not None and size != dims:
            other = f"pass `dims` {size} or " if size in FEATURE_DIMS else ""
            raise GibbsnetError(f"{path} holds {size}-d statistics but `dims` is {dims}; {other}"
                                f"recompute them with `dims` {dims}")
    dims = dims or (sizes[0][1] if sizes else DEFAULT_DIMS)
    if len(sizes) < len(inputs) and dims not in FEATURE_DIMS:
        raise GibbsnetError(f"FID features of images: dims must be one of {FEATURE_DIMS}, got {dims}")
    return inputs, dims


def _statistics(inputs: dict[Path, list[Path] | Statistics], dims: int, batch_size: int, device: str | None,
                weights: str | Path | None, progress: Progress | None,
                on_download: OnDownload | None, features: dict[Path, torch.Tensor] | None = None,
                ) -> tuple[dict[Path, Statistics], str | None]:
    """The statistics of every input (folders through the Inception network) and the weights'
    SHA-256 (None when no folder needed them); with a ``features`` dict, each folder's features
    (n, dims) are also kept there."""
    folders = {path: files for path, files in inputs.items() if isinstance(files, list)}
    stats = {path: s for path, s in inputs.items() if isinstance(s, Statistics)}
    if not folders:
        return stats, None
    target = resolve_device(device, "`device`")
    found = find_weights(weights, download=True, on_download=on_download)
    extractor = InceptionFeatures(found, dims).to(target)
    for path, files in folders.items():
        batches = [files[i:i + batch_size] for i in range(0, len(files), batch_size)]
        task = f"Inception features of {path}"
        if features is None:
            mu, sigma = run_metric(FileStatistics(extractor, device=target), batches, lambda b: b,
                                   progress, task)
        else:
            features[path] = run_metric(FileFeatures(extractor, device=target), batches,
                                        lambda b: b, progress, task)
            mu, sigma = feature_statistics(features[path])
        stats[path] = Statistics(mu, sigma, len(files))
    return stats, weights_hash(found)


def fid_of_paths(
    path1: str | Path, path2: str | Path, dims: int | None = None,
    batch_size: int = DEFAULT_BATCH, device: str | None = None,
    weights: str | Path | None = None, progress: Progress | None = None,
    on_download: OnDownload | None = None, fidelity: bool = False,
) -> dict[str, Any]:
    """Fréchet Inception distance between two paths, each a folder of images or a ``.npz`` of
    statistics: the number ``python -m pytorch_fid PATH1 PATH2`` prints (to about 1e-6
    relative: ``InceptionFeatures`` folds the batch norms). With ``fidelity`` (two folders), also
    KID, precision/recall and density/coverage of the first folder (generated) against the
    second (real), as torch-fidelity and prdc compute them (``metrics.fidelity``).

    Args:
        dims: Inception feature size, 64, 192, 768 or 2048 (default: that of a given ``.npz``,
            else 2048, the standard FID).
        batch_size: images per Inception pass (does not change the result).
        device: where the network runs (default: CUDA when available).
        weights: pytorch-fid's weights file (default: ``find_weights``; downloaded into the torch
            hub cache when found nowhere, after ``on_download(destination)`` is called).
        progress: called as ``progress(task, done, total)`` for the batches of each folder.
    Returns:
        ``fid``, ``paths`` (as given), ``dims``, ``count`` (images per path; None for a ``.npz``
        without it) and ``weights_sha256`` (None when both paths are ``.npz``); with
        ``fidelity``, also ``kid``, ``kid_std``, ``kid_subset_size``, ``precision``, ``recall``,
        ``density`` and ``coverage``.

    Raises:
        ImageReadError: a missing path, a folder with fewer than 2 images, an unreadable image or
            ``.npz``. GibbsnetError: statistics of different feature sizes; ``fidelity`` with a
            ``.npz`` (these scores need every image's features).
        InceptionWeightsError: no weights, and downloading them failed or is off.
    """
    inputs, dims = _inputs((path1, path2), dims)
    saved = [str(path) for path, s in inputs.items() if isinstance(s, Statistics)]
    if fidelity and saved:
        raise GibbsnetError(f"{saved[0]}: KID, precision/recall and density/coverage need every "
                            "image's features, not saved statistics; pass two folders")
    features: dict[Path, torch.Tensor] | None = {} if fidelity else None
    stats, sha = _statistics(inputs, dims, batch_size, device, weights, progress, on_download,
                             features)
    keys = [Path(os.path.expanduser(p)) for p in (path1, path2)]
    first, second = (stats[key] for key in keys)
    result = {"fid": frechet_distance(first.mu, first.sigma, second.mu, second.sigma),
              "paths": [str(path1), str(path2)], "dims": dims,
              "count": [first.count, second.count], "weights_sha256": sha}
    if features is not None:
        fake, real = (features[key] for key in keys)
        result.update({**kid(fake, real), **precision_recall(fake, real), **density_coverage(fake, real)})
    return result


def save_fid_statistics(
    folder: str | Path, out: str | Path, dims: int | None = None,
    batch_size: int = DEFAULT_BATCH, device: str | None = None,
    weights: str | Path | None = None, force: bool = False, progress: Progress | None = None,
    on_download: OnDownload | None = None,
) -> dict[str, Any]:
    """Compute the statistics of the images in ``folder`` and write them to ``out`` (a ``.npz``
    with ``mu``, ``sigma`` and ``count``, as ``python -m pytorch_fid --save-stats`` does, written
    atomically), for later ``fid_of_paths`` calls. Arguments as ``fid_of_paths`` (``dims``
    default 2048); ``force`` replaces an existing ``out``.

    Returns:
        ``path`` (``out``), ``source`` (``folder``), ``dims``, ``count`` and ``weights_sha256``.

    Raises:
        OutputError: ``out`` does not end in ``.npz``, cannot be written, or exists (without
            ``force``); checked before any work. Else as ``fid_of_paths``.
    """
    target = check_output(out, (".npz",), "save_stats", force)
    inputs, dims = _inputs((folder,), dims)
    source = next(iter(inputs))
    if not isinstance(inputs[source], list):
        raise ImageReadError(f"{source}: `save_stats` reads a folder of images, not statistics")
    stats, sha = _statistics(inputs, dims, batch_size, device, weights, progress, on_download)
    s = stats[source]
    with atomic_output(target) as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, mu=s.mu, sigma=s.sigma, count=s.count)
    return {"path": str(target), "source": str(folder), "dims": dims, "count": s.count,
            "weights_sha256": sha}
