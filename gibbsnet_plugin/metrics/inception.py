"""pytorch-fid's InceptionV3 (the standard FID network) from a weights file, and the exact image
preparation of pytorch-fid's file route.

The weights are found, in this order: an explicit path, the ``GIBBSNET_INCEPTION_WEIGHTS``
variable, the torch hub cache (``$TORCH_HOME/hub/checkpoints/`` under pytorch-fid's file name,
where ``python -m pytorch_fid`` looks too). Only when asked (``find_weights(download=True)``) and
found nowhere are they downloaded into the hub cache, as pytorch-fid does on first use, unless
``GIBBSNET_NO_DOWNLOAD`` is set.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from unittest import mock

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from gibbsnet_plugin.data.base import image_dims
from gibbsnet_plugin.errors import DownloadFailed, GibbsnetError, InceptionWeightsError
from gibbsnet_plugin.utils import atomic_output

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
"""pytorch-fid's file name for the TF-ported FID Inception weights."""
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               + WEIGHTS_FILE)
WEIGHTS_SHA256_PREFIX = torch.hub.HASH_REGEX.search(WEIGHTS_FILE).group(1)  # type: ignore[union-attr]
"""``6726825d``: the start of the weights' SHA-256, read from the file name as torch hub's
``check_hash`` does; a download whose hash does not start so is refused."""
WEIGHTS_ENV = "GIBBSNET_INCEPTION_WEIGHTS"
NO_DOWNLOAD_ENV = "GIBBSNET_NO_DOWNLOAD"
"""Set to 1 to never download the weights (``find_weights(download=True)`` then only looks)."""
FEATURE_DIMS = (64, 192, 768, 2048)
"""Feature sizes pytorch-fid offers; 2048 (the final pool) is the standard FID."""
CPU_PIECE = 8
"""Images per Inception pass on a CPU."""


def check_dims(dims: int) -> None:
    """Raise ``GibbsnetError`` unless ``dims`` is one of ``FEATURE_DIMS``."""
    if dims not in FEATURE_DIMS:
        raise GibbsnetError(f"FID features: dims must be one of {FEATURE_DIMS}, got {dims}")


def hub_weights_path() -> Path:
    """Where the torch hub cache keeps pytorch-fid's weights: ``$TORCH_HOME/hub/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def find_weights(path: str | Path | None = None, download: bool = False,
                 on_download: Callable[[Path], None] | None = None) -> Path:
    """The Inception weights file: ``path``, else ``$GIBBSNET_INCEPTION_WEIGHTS``, else the torch
    hub cache; else, with ``download`` (and ``$GIBBSNET_NO_DOWNLOAD`` unset), the file downloaded
    into the hub cache (``download_weights``; ``on_download(destination)`` is called first).

    Raises:
        InceptionWeightsError: the chosen file does not exist, or the weights are found nowhere
            and not downloaded (or the download failed: the reason is appended); says where to
            put the file.
    """
    for given, what in ((path, "`inception_weights`"), (os.environ.get(WEIGHTS_ENV), WEIGHTS_ENV)):
        if given:
            given = Path(os.path.expanduser(given))
            if not given.is_file():
                raise InceptionWeightsError(f"{what} {given}: no such file; expected pytorch-fid's "
                                            f"{WEIGHTS_FILE} ({WEIGHTS_URL})")
            return given
    hub = hub_weights_path()
    if hub.is_file():
        return hub
    missing = (f"FID needs pytorch-fid's Inception weights: download {WEIGHTS_URL} to {hub} (keep "
               f"the name {WEIGHTS_FILE}), or pass `inception_weights` PATH or set {WEIGHTS_ENV}=PATH")
    if not download:
        raise InceptionWeightsError(missing)
    if os.environ.get(NO_DOWNLOAD_ENV, "").strip() not in ("", "0"):
        raise InceptionWeightsError(f"{missing} ({NO_DOWNLOAD_ENV} is set, so it was not downloaded)")
    if on_download is not None:
        on_download(hub)
    try:
        return download_weights(hub)
    except (OSError, HTTPException, InceptionWeightsError) as exc:  # URLError is an OSError
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DownloadFailed(f"{missing}; downloading it failed: {reason}") from None


def announce_download(destination: Path) -> None:
    """An ``on_download`` for ``find_weights``: a warning (one line on the command line) that the
    weights are being downloaded, and where to."""
    warnings.warn(f"downloading pytorch-fid's Inception weights (91 MB) to {destination}",
                  stacklevel=2)


def download_weights(destination: Path) -> Path:
    """Download ``WEIGHTS_URL`` to ``destination`` (torch hub's ``download_url_to_file``, without
    a progress bar) through a temporary file beside it, and return ``destination``.

    Raises:
        InceptionWeightsError: the SHA-256 of the download does not start with
            ``WEIGHTS_SHA256_PREFIX``; nothing is kept.
        OSError: the download failed (``URLError`` without a network); nothing is kept.
    """
    with atomic_output(destination) as tmp:
        torch.hub.download_url_to_file(WEIGHTS_URL, str(tmp), progress=False)
        digest = weights_hash(tmp)
        if not digest.startswith(WEIGHTS_SHA256_PREFIX):
            raise InceptionWeightsError(
                f"{WEIGHTS_URL}: the download's SHA-256 {digest[:12]}... does not start with "
                f"{WEIGHTS_SHA256_PREFIX} (a damaged or changed file); it was deleted")
    return destination


def weights_hash(path: str | Path) -> str:
    """SHA-256 (hex) of the weights file: part of every FID result and cache key. Computed once
    per file version (path, size, modification time) in a process."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class InceptionFeatures(nn.Module):
    """pytorch-fid's ``InceptionV3`` (FID variant, bilinear resize to 299, input scaling on) as a
    feature extractor: images (B, 3, H, W) in [0, 1] -> features (B, dims), float64.

    The same function as pytorch-fid's network (features agree to about 1e-6 relative), run about
    2.5 times as fast on a CPU: each batch norm is folded into the convolution before it, the
    network runs channels-last, and on a CPU batches pass in pieces of ``CPU_PIECE`` images.
    """

    def __init__(self, weights: str | Path, dims: int = 2048) -> None:
        super().__init__()
        from pytorch_fid import inception  # noqa: PLC0415  (pulls in torchvision's Inception)

        check_dims(dims)
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InceptionWeightsError(
                f"{weights}: not a file that torch.load reads as weights ({type(exc).__name__}); "
                f"expected pytorch-fid's {WEIGHTS_FILE} ({WEIGHTS_URL})") from None
        if not (isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in state.items())):
            raise InceptionWeightsError(
                f"{weights}: holds a {type(state).__name__}, not a network's weights (a dict of "
                f"named tensors); expected pytorch-fid's {WEIGHTS_FILE} ({WEIGHTS_URL})")
        # pytorch-fid only loads through the hub's download function; hand it our file instead so
        # that the network is built by pytorch-fid's own code.
        with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
            try:
                self.net = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]])
            except RuntimeError as exc:
                details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
                raise InceptionWeightsError(
                    f"{weights}: does not hold pytorch-fid's Inception weights "
                    f"({(details or [str(exc)])[0][:150]}); expected {WEIGHTS_FILE} ({WEIGHTS_URL})"
                ) from None
        self.dims = dims
        self.eval()
        _fold_batch_norms(self.net)
        self.net.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # On a CPU, small pieces keep the 299 x 299 activations in cache: 8 images at a time run
        # about 30 % faster per image than 50.
        piece = CPU_PIECE if images.device.type == "cpu" else max(len(images), 1)
        with torch.no_grad():
            out = torch.cat([self.net(part)[0] for part in images.split(piece)])
            if out.shape[2:] != (1, 1):  # blocks below the final pool, as pytorch-fid does
                out = nn.functional.adaptive_avg_pool2d(out, (1, 1))
        return out.flatten(1).double()


def _fold_batch_norms(net: nn.Module) -> None:
    """Replace each (eval-mode) convolution + batch norm pair of torchvision's ``BasicConv2d``,
    the only place Inception has batch norms, by one convolution computing the same."""
    from torchvision.models.inception import BasicConv2d  # noqa: PLC0415

    for module in net.modules():
        if isinstance(module, BasicConv2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()


def write_random_weights(torch_home: str | Path, seed: int = 0) -> Path:
    """Save a randomly initialised FID Inception as ``torch_home/hub/checkpoints/WEIGHTS_FILE``
    (exactly the keys pytorch-fid loads) and return the file: for offline tests and timings.

    Convolutions get Kaiming-normal weights: PyTorch's default initialisation makes the pool
    features nearly constant, so every FID would be about 0. FIDs from it only test plumbing.
    """
    import torchvision  # noqa: PLC0415
    from pytorch_fid import inception  # noqa: PLC0415

    generator = torch.Generator().manual_seed(seed)
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(torchvision.models.Inception3, "load_state_dict",
                              lambda *a, **k: None):
        net = inception.fid_inception_v3()
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu", generator=generator)
    path = Path(torch_home) / "hub" / "checkpoints" / WEIGHTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


def to_inception_input(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1], (B, 1 or 3, H, W) -> what pytorch-fid feeds its network from files,
    (B, 3, H, W) in [0, 1].

    The same steps as writing the images as 8-bit PNG (torchvision's ``save_image``: scale to
    0..255, add 0.5, truncate) and reading them back as pytorch-fid does (RGB, ``ToTensor``): so
    grey images become three equal channels and values are quantised to multiples of 1/255, which
    is what published FIDs of 8-bit images measure.
    """
    if x.dim() != 4:
        raise GibbsnetError(f"FID needs a batch of images (B, C, H, W); got shape {tuple(x.shape)}")
    image_dims(tuple(x.shape[1:]), "FID")
    levels = ((x.float().clamp(-1, 1) + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    return levels.float().div(255).expand(-1, 3, -1, -1)
