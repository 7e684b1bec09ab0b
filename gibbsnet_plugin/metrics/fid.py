"""The metric ``fid``, the standard FID: pytorch-fid's Inception features of model samples
(generated in batches, kept in memory) against cached statistics of the real data, with
pytorch-fid's Fréchet distance formula.

The metric ``fidelity`` scores the same samples' features against real features with KID,
precision/recall and density/coverage (``fidelity``); when an evaluation runs both, the samples
are generated and passed through Inception once.

Features and statistics are accumulated by Ignite metrics (``InceptionStatistics``,
``InceptionFeatureSet``), so the same code serves ``gibbsnet evaluate`` and evaluation during
training. Reference statistics and features are cached in ``.npz`` files keyed by data set (its
options and its root directory), split, image shape, number of images, feature size and the
weights' SHA-256; each file records that key.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine
from ignite.metrics import Metric
from ignite.metrics.metric import reinit__is_reduced, sync_all_reduce
from torch.utils.data import Dataset, Subset

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.data.base import x_of
from gibbsnet_plugin.errors import GibbsnetError, InceptionWeightsError
from gibbsnet_plugin.metrics import inception
from gibbsnet_plugin.metrics.base import Context, Result, option, register
from gibbsnet_plugin.metrics.base import Metric as EvalMetric
from gibbsnet_plugin.metrics.data import Progress, local_share, shard_in_order, track
from gibbsnet_plugin.metrics.fidelity import (
    DC_NEIGHBOURS,
    KID_SUBSETS,
    PR_NEIGHBOURS,
    density_coverage,
    kid,
    precision_recall,
)
from gibbsnet_plugin.metrics.inception import InceptionFeatures, to_inception_input, weights_hash
from gibbsnet_plugin.utils import atomic_output, seeded

CACHE_ENV = "GIBBSNET_FID_CACHE"
DEFAULT_BATCH = 50
"""pytorch-fid's default batch size."""


def cache_dir() -> Path:
    """The reference statistics cache: ``$GIBBSNET_FID_CACHE`` or ``~/.cache/gibbsnet/fid``."""
    return Path(os.path.expanduser(os.environ.get(CACHE_ENV) or "~/.cache/gibbsnet/fid"))


class InceptionStatistics(Metric):
    """Mean (dims,) and covariance (dims, dims) of the Inception features of image batches.

    ``update`` takes images (B, C, H, W) in [-1, 1], prepares them as pytorch-fid does
    (``to_inception_input``) and adds their features to running float64 sums, so memory does not
    grow with the number of images; a subclass may take other batches by overriding ``features``.
    ``compute`` returns ``(mu, sigma)`` as NumPy arrays, sigma with the n - 1 normalisation of
    ``np.cov``, and warns when there are not more images than features (a singular covariance).
    """

    def __init__(self, extractor: InceptionFeatures,
                 output_transform: Callable[[Any], Any] = lambda x: x,
                 device: str | torch.device = "cpu") -> None:
        self.extractor = extractor
        super().__init__(output_transform=output_transform, device=device)

    @reinit__is_reduced
    def reset(self) -> None:
        d = self.extractor.dims
        self._num = torch.zeros((), dtype=torch.float64, device=self._device)
        self._sum = torch.zeros(d, dtype=torch.float64, device=self._device)
        self._outer = torch.zeros(d, d, dtype=torch.float64, device=self._device)

    def features(self, output: Any) -> torch.Tensor:
        """Features (B, dims), float64, of a batch passed to ``update``."""
        return self.extractor(to_inception_input(output).to(self._device))

    @reinit__is_reduced
    def update(self, output: Any) -> None:
        features = self.features(output)
        self._num += features.shape[0]
        self._sum += features.sum(0)
        self._outer += features.T @ features

    @sync_all_reduce("_num", "_sum", "_outer")
    def compute(self) -> tuple[np.ndarray, np.ndarray]:
        n = int(self._num)
        if n < 2:
            raise GibbsnetError(f"FID needs at least 2 images, got {n}")
        d = self.extractor.dims
        if n <= d:
            warnings.warn(f"FID statistics of {n} images with {d}-d features: the covariance is "
                          f"singular (it needs more images than features), so FID is biased and "
                          f"unstable; use more than {d} images", stacklevel=1)
        mu = self._sum / n
        sigma = (self._outer - n * torch.outer(mu, mu)) / (n - 1)
        return mu.cpu().numpy(), sigma.cpu().numpy()


class InceptionFeatureSet(InceptionStatistics):
    """The Inception features (N, dims), float64 on the CPU, of all image batches passed to
    ``update`` (gathered from every process)."""

    @reinit__is_reduced
    def reset(self) -> None:
        self._features: list[torch.Tensor] = []

    @reinit__is_reduced
    def update(self, output: Any) -> None:
        self._features.append(self.features(output))

    def compute(self) -> torch.Tensor:  # type: ignore[override]
        d = self.extractor.dims
        local = torch.cat(self._features) if self._features else torch.zeros(0, d, dtype=torch.float64)
        gathered = idist.all_gather(local.to(self._device)) if idist.get_world_size() > 1 else local
        return gathered.cpu()


def feature_statistics(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (dims,) and covariance (dims, dims, ``np.cov``'s n - 1) of features (N, dims), as
    pytorch-fid computes them from its activations."""
    array = features.double().numpy()
    return array.mean(axis=0), np.cov(array, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), the formula of pytorch-fid's
    ``calculate_frechet_distance``: ``|mu1 - mu2|^2 + tr(s1) + tr(s2) - 2 tr((s1 s2)^(1/2))``.

    The trace of the matrix square root is computed exactly from two symmetric eigendecompositions
    (``tr((s1 s2)^(1/2))`` is the sum of the square roots of the eigenvalues of
    ``s1^(1/2) s2 s1^(1/2)``) instead of scipy's ``sqrtm``: about 6 times faster for 2048
    features on a CPU, and equal to pytorch-fid's value to about 1e-7 relative (tests compare them).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics of different sizes: {mu1.shape} and {mu2.shape}")
    w1, v1 = np.linalg.eigh(sigma1)
    root1 = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
    product = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


class FID(InceptionStatistics):
    """Fréchet distance (``frechet_distance``) between the statistics of the images passed to
    ``update`` and fixed reference statistics ``(mu, sigma)``."""

    def __init__(self, extractor: InceptionFeatures, reference: tuple[np.ndarray, np.ndarray],
                 output_transform: Callable[[Any], Any] = lambda x: x,
                 device: str | torch.device = "cpu") -> None:
        self.reference = reference
        super().__init__(extractor, output_transform, device)

    def compute(self) -> float:  # type: ignore[override]
        mu, sigma = super().compute()
        return frechet_distance(mu, sigma, *self.reference)


def run_metric(metric: Metric, batches: Iterable[Any], step: Callable[[Any], torch.Tensor],
               progress: Progress | None = None, task: str = "") -> Any:
    """Feed ``step(batch)`` for each batch to ``metric`` through an Ignite evaluator, reporting
    the batches to ``progress`` as ``task``."""
    evaluator = Engine(lambda engine, batch: step(batch))
    metric.attach(evaluator, "value")
    track(evaluator, progress, task)
    return evaluator.run(batches).metrics["value"]


@dataclass
class ReferenceKey:
    """What reference statistics depend on; recorded in the cache file. ``root`` is the data
    set's directory, absolute: two ``folder`` data sets of the same size differ only there."""

    dataset: str
    root: str
    options: dict[str, Any]
    split: str
    x_shape: list[int]
    num_images: int
    dims: int
    weights_sha256: str

    def filename(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        shape = "x".join(map(str, self.x_shape))
        return (f"{self.dataset}-{self.split}-{shape}-n{self.num_images}-d{self.dims}-"
                f"{self.weights_sha256[:12]}-{digest[:12]}.npz")


def reference_statistics(
    dataset: Dataset, data_key: dict[str, Any], split: str, num_images: int, x_shape: tuple[int, ...],
    extractor: InceptionFeatures, weights_sha256: str, batch_size: int = DEFAULT_BATCH,
    cache: Path | None = None, progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(mu, sigma, info)`` of the first ``num_images`` images (fewer when the split is smaller)
    of ``dataset``, the ``split`` of the data that ``data_key`` names (``dataset``, ``root``,
    ``options``; images of shape ``x_shape``), read from the cache when present, else computed and
    cached.

    ``info`` holds the key (``ReferenceKey`` fields), ``path`` (the cache file) and ``cached``
    (True when it was read from the cache, i.e. no real image was read). A computation reports
    its batches to ``progress`` as ``FID reference statistics``.
    """
    n = min(num_images, len(dataset))  # type: ignore[arg-type]
    key = ReferenceKey(data_key.get("dataset", ""), str(Path(data_key.get("root", "")).resolve()),
                       data_key.get("options", {}), split, list(x_shape), n, extractor.dims, weights_sha256)
    path = (cache or cache_dir()) / key.filename()
    info = {**asdict(key), "path": str(path)}
    stored = _read_cache(path, key)
    # Every process must take the same branch: the computation below is a collective.
    if idist.get_world_size() > 1:
        stored = stored if idist.all_reduce(int(stored is not None), op="MIN") else None
    if stored is not None:
        return stored[0], stored[1], {**info, "cached": True}

    loader = shard_in_order(Subset(dataset, range(n)), batch_size)
    device = next(extractor.parameters()).device
    metric = InceptionStatistics(extractor, device=device)
    mu, sigma = run_metric(
        metric, loader,
        lambda b: x_of(b).to(device),
        progress, "FID reference statistics")
    if idist.get_rank() == 0:
        with atomic_output(path) as tmp, tmp.open("wb") as f:
            np.savez(f, mu=mu, sigma=sigma, key=json.dumps(asdict(key)))
    return mu, sigma, {**info, "cached": False}


def reference_features(
    dataset: Dataset, data_key: dict[str, Any], split: str, num_images: int, x_shape: tuple[int, ...],
    extractor: InceptionFeatures, weights_sha256: str, batch_size: int = DEFAULT_BATCH,
    cache: Path | None = None, progress: Progress | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """``(features, info)``: the Inception features (n, dims) of the first ``num_images`` images
    of ``dataset``, cached (float32) next to the statistics of ``reference_statistics``, whose
    arguments and ``info`` these are. A computation reports its batches to ``progress`` as
    ``Inception features of real images``."""
    n = min(num_images, len(dataset))  # type: ignore[arg-type]
    key = ReferenceKey(data_key.get("dataset", ""), str(Path(data_key.get("root", "")).resolve()),
                       data_key.get("options", {}), split, list(x_shape), n, extractor.dims, weights_sha256)
    path = (cache or cache_dir()) / key.filename().replace(".npz", "-features.npz")
    info = {**asdict(key), "path": str(path)}
    stored = None
    if path.exists():
        with np.load(path) as file:
            if json.loads(str(file["key"])) == asdict(key):
                stored = torch.from_numpy(file["features"]).double()
    if idist.get_world_size() > 1:
        stored = stored if idist.all_reduce(int(stored is not None), op="MIN") else None
    if stored is not None:
        return stored, {**info, "cached": True}
    device = next(extractor.parameters()).device
    features = run_metric(InceptionFeatureSet(extractor, device=device),
                          shard_in_order(Subset(dataset, range(n)), batch_size),
                          lambda b: x_of(b).to(device), progress, "Inception features of real images")
    if idist.get_rank() == 0:
        with atomic_output(path) as tmp, tmp.open("wb") as f:
            np.savez(f, features=features.float().numpy(), key=json.dumps(asdict(key)))
    return features, {**info, "cached": False}


def sample_features(model: ChainModel, extractor: InceptionFeatures, num_samples: int, steps: int,
                    batch_size: int = DEFAULT_BATCH, seed: int | None = 0,
                    progress: Progress | None = None) -> torch.Tensor:
    """The Inception features (num_samples, dims), float64 on the CPU, of unclamped-chain
    samples after ``steps``, generated in batches of ``batch_size`` on the model's device (each
    process makes its share, seeded ``seed + rank``); batches are reported to ``progress`` as
    ``FID samples``."""
    local = local_share(num_samples)
    sizes = [batch_size] * (local // batch_size) + ([local % batch_size] if local % batch_size else [])
    rank_seed = None if seed is None else seed + idist.get_rank()
    with seeded(rank_seed, model.device):
        return run_metric(InceptionFeatureSet(extractor, device=model.device), sizes,
                          lambda b: model.sample(b, steps), progress, "FID samples")


def check_split(split: str) -> None:
    """Raise ``GibbsnetError`` unless ``split``, the real images FID compares with, is ``train``
    or ``test``."""
    if split not in ("train", "test"):
        raise GibbsnetError(f"FID reference split '{split}': expected train or test")


def _read_cache(path: Path, key: ReferenceKey) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.exists():
        return None
    with np.load(path) as stored:
        if json.loads(str(stored["key"])) == asdict(key):
            return stored["mu"], stored["sigma"]
    return None


def fid(
    model: ChainModel, dataset: Dataset, data_key: dict[str, Any], weights: str | Path,
    num_samples: int = 10_000, steps: int | None = None, split: str = "train", dims: int = 2048,
    batch_size: int = DEFAULT_BATCH, seed: int | None = 0, cache: Path | None = None,
    progress: Progress | None = None, features: torch.Tensor | None = None,
    extractor: InceptionFeatures | None = None,
) -> dict[str, Any]:
    """FID of unclamped-chain samples after ``steps`` (default: the model's ``chain_steps``)
    against as many real images of ``dataset`` (the ``split`` of the data ``data_key`` names):
    ``num_samples``, or the whole split when it is smaller (reference statistics cached).

    Samples are generated and fed to Inception in batches of ``batch_size`` on the model's device
    (``sample_features``), unless their ``features`` are given (``extractor``: the network
    already loaded from ``weights`` with ``dims``, else it is loaded here); the batches are reported to
    ``progress`` (``FID samples``, and ``FID reference statistics`` when they are not cached).
    Returns ``fid`` and what it depends on: ``implementation``, ``weights_sha256``, ``dims``,
    ``num_samples`` (as used), ``chain_steps``, ``seed`` and ``reference`` (see
    ``reference_statistics``).
    """
    steps = model.chain_steps if steps is None else steps
    if num_samples < 2:
        raise GibbsnetError(f"FID needs at least 2 samples, got {num_samples}")
    extractor = (extractor or InceptionFeatures(weights, dims)).to(model.device)
    sha = weights_hash(weights)
    check_split(split)
    mu, sigma, info = reference_statistics(dataset, data_key, split, num_samples, model.x_shape,
                                           extractor, sha, batch_size, cache, progress)
    num = info["num_images"]
    if features is None:
        features = sample_features(model, extractor, num, steps, batch_size, seed, progress)
    if len(features) != num:
        raise GibbsnetError(f"`features` of {len(features)} samples; FID against {num} real images "
                            f"needs as many")
    return {
        "fid": frechet_distance(*feature_statistics(features), mu, sigma),
        "implementation": f"pytorch-fid {version('pytorch-fid')} InceptionV3, in memory",
        "weights_sha256": sha, "dims": dims, "num_samples": num, "chain_steps": steps,
        "seed": seed, "reference": info,
    }


@dataclass(frozen=True)
class FIDOptions:
    """The options of ``fid`` and ``fidelity`` (``eval.fid_split``, ``eval.num_samples``,
    ``eval.inception_weights``)."""

    fid_split: str = option("train", "the real images FID compares with, train or test")
    fid_samples: int = option(10_000, "the samples (and real images) when `num_samples` is not given")
    fid_dims: int = option(2048, "the Inception features; 2048 (the final pool) is the standard FID")
    fid_cache: Path | None = option(None, "the cache of reference statistics (default: `cache_dir()`)")
    inception_weights: str | Path | None = option(
        None, "pytorch-fid's Inception weights file (default: found as `find_weights` finds it)")

    def __post_init__(self) -> None:
        check_split(self.fid_split)
        inception.check_dims(self.fid_dims)


@dataclass(frozen=True)
class Inception:
    """Work shared by ``fid`` and ``fidelity`` (``Context.share``): the Inception network of
    ``weights`` with ``dims`` features, loaded once per evaluation."""

    weights: Path
    dims: int

    def __call__(self, ctx: Context[Any]) -> InceptionFeatures:
        return InceptionFeatures(self.weights, self.dims)


@dataclass(frozen=True)
class SampleFeatures:
    """Work shared by ``fid`` and ``fidelity`` (``Context.share``): the ``network``'s features of
    ``num`` unclamped-chain samples after ``steps``, seeded ``seed`` (``sample_features``), made
    once per evaluation."""

    network: Inception
    num: int
    steps: int
    seed: int

    def __call__(self, ctx: Context[Any]) -> torch.Tensor:
        extractor = ctx.share(self.network).to(ctx.model.device)
        return sample_features(ctx.model, extractor, self.num, self.steps, seed=self.seed,
                               progress=ctx.progress)


@register("fid")
class FIDMetric(EvalMetric[FIDOptions]):
    """``fid`` of ``num_samples`` chain samples (default ``fid_samples``: the recipe's
    ``eval.num_samples``) against the ``fid_split``."""

    summary = "Fréchet Inception Distance of chain samples (pytorch-fid's Inception weights)"
    default = True
    Options = FIDOptions

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return ["fid"]

    def label(self, score: str) -> str:
        return "FID"

    def cell(self, score: str, value: float) -> str:
        return f"{value:.2f}"

    def prepare(self, options: FIDOptions) -> None:
        """Find the Inception weights, downloading them if they are nowhere."""
        inception.find_weights(options.inception_weights, download=True,
                               on_download=inception.announce_download)

    def weights(self, ctx: Context[FIDOptions]) -> Path:
        """The Inception weights, downloaded when the caller asked for this metric."""
        return inception.find_weights(ctx.options.inception_weights, download=ctx.asked,
                                      on_download=inception.announce_download)

    def skip_reason(self, ctx: Context[FIDOptions]) -> str | None:
        try:
            self.weights(ctx)
        except InceptionWeightsError as exc:
            return f"FID skipped: {exc}"
        return None

    def reference(self, ctx: Context[FIDOptions]) -> tuple[Dataset, int]:
        """The real images compared with (the ``fid_split``) and how many samples to make."""
        o = ctx.options
        data = ctx.data.train if o.fid_split == "train" else ctx.data.test
        return data, min(ctx.settings.num_samples or o.fid_samples, len(data))  # type: ignore[arg-type]

    def network(self, ctx: Context[FIDOptions]) -> Inception:
        """The Inception network of the options' weights and feature size, as shared work."""
        return Inception(self.weights(ctx), ctx.options.fid_dims)

    def extractor(self, ctx: Context[FIDOptions]) -> InceptionFeatures:
        """That network, loaded once per evaluation, on the model's device."""
        return ctx.share(self.network(ctx)).to(ctx.model.device)

    def samples(self, ctx: Context[FIDOptions]) -> torch.Tensor:
        """The samples' Inception features, made once per evaluation."""
        s = ctx.settings
        steps = ctx.model.chain_steps if s.chain_steps is None else s.chain_steps
        return ctx.share(SampleFeatures(self.network(ctx), self.reference(ctx)[1], steps, s.seed))

    def run(self, ctx: Context[FIDOptions]) -> Result:
        s, o = ctx.settings, ctx.options
        data, num = self.reference(ctx)
        details = fid(ctx.model, data, ctx.data.key, self.weights(ctx), num, s.chain_steps,
                      o.fid_split, o.fid_dims, seed=s.seed, cache=o.fid_cache,
                      progress=ctx.progress, features=self.samples(ctx), extractor=self.extractor(ctx))
        return Result({"fid": details["fid"]}, {"fid": details})


FIDELITY_SCORES = ("kid", "kid_std", "precision", "recall", "density", "coverage")


@register("fidelity")
class FidelityMetric(FIDMetric):
    """KID (with its standard deviation over subsets), precision/recall and density/coverage of
    the same chain samples and real images as ``fid``, in the same Inception features."""

    summary = ("KID, precision/recall and density/coverage of chain samples in Inception features "
               "(torch-fidelity's and prdc's formulas)")
    default = False

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return list(FIDELITY_SCORES)

    def lower_is_better(self, score: str) -> bool:
        return score in ("kid", "kid_std")

    def label(self, score: str) -> str:
        return {"kid": "KID", "kid_std": "KID std over subsets"}.get(score, f"{score} (Inception)")

    def cell(self, score: str, value: float) -> str:
        return f"{value:.4f}"

    def run(self, ctx: Context[FIDOptions]) -> Result:
        o = ctx.options
        data, num = self.reference(ctx)
        extractor = self.extractor(ctx)
        real, info = reference_features(data, ctx.data.key, o.fid_split, num, ctx.model.x_shape,
                                        extractor, weights_hash(self.weights(ctx)),
                                        cache=o.fid_cache, progress=ctx.progress)
        fake = self.samples(ctx)
        scores = {**kid(fake, real), **precision_recall(fake, real), **density_coverage(fake, real)}
        details = {"num_samples": len(fake), "dims": o.fid_dims, "reference": info,
                   "kid_subsets": KID_SUBSETS, "kid_subset_size": scores.pop("kid_subset_size"),
                   "precision_recall_neighbours": PR_NEIGHBOURS,
                   "density_coverage_neighbours": DC_NEIGHBOURS}
        return Result(scores, {"fidelity": details})
