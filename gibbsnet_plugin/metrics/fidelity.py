"""KID, precision/recall and density/coverage between two sets of features, the formulas of
torch-fidelity (KID: Bińkowski et al. 2018; precision and recall: Kynkäänniemi et al. 2019) and of
the ``prdc`` package (density and coverage: Naeem et al. 2020).

Every function takes generated features ``fake`` (N, d) and real features ``real`` (M, d) as
tensors or arrays; distances are Euclidean, computed in float64.
"""

from __future__ import annotations

import numpy as np
import torch

from gibbsnet_plugin.errors import GibbsnetError

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 2020
"""torch-fidelity's defaults: 100 subsets of 1000 features, ``numpy.random.RandomState(2020)``."""
PR_NEIGHBOURS = 3
"""torch-fidelity's ``prc_neighborhood``: the k of the k-nearest-neighbour balls."""
DC_NEIGHBOURS = 5
"""The k of density and coverage recommended by Naeem et al. (2020)."""


def _as_float64(features: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(features).detach().cpu().to(torch.float64)
    if tensor.dim() != 2:
        raise GibbsnetError(f"`{name}` must be features of shape (N, d), got {tuple(tensor.shape)}")
    return tensor


def _pair(fake: torch.Tensor | np.ndarray, real: torch.Tensor | np.ndarray,
          least: int) -> tuple[torch.Tensor, torch.Tensor]:
    f, r = _as_float64(fake, "fake"), _as_float64(real, "real")
    if f.shape[1] != r.shape[1]:
        raise GibbsnetError(f"features of different sizes: {f.shape[1]} and {r.shape[1]}")
    if min(len(f), len(r)) < least:
        raise GibbsnetError(f"{len(f)} generated and {len(r)} real features: these scores need at "
                            f"least {least} of each")
    return f, r


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the polynomial kernel (x·y / d + 1)³ of KID."""
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    m = len(x)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kid(fake: torch.Tensor | np.ndarray, real: torch.Tensor | np.ndarray,
        subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
        seed: int = KID_SEED) -> dict[str, float]:
    """Kernel Inception Distance: ``kid`` (mean) and ``kid_std`` (standard deviation, ``np.std``)
    of the unbiased MMD² over ``subsets`` random pairs of subsets of ``subset_size`` features each,
    drawn without replacement, fake then real, from ``numpy.random.RandomState(seed)``.

    ``subset_size`` is lowered to the smaller set's size when a set is smaller (torch-fidelity
    refuses instead); the size used is returned as ``kid_subset_size``.
    """
    f, r = _pair(fake, real, 2)
    size = min(subset_size, len(f), len(r))
    f_np, r_np = f.numpy(), r.numpy()
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        a = f_np[rng.choice(len(f_np), size, replace=False)]
        b = r_np[rng.choice(len(r_np), size, replace=False)]
        mmds[i] = _mmd2_unbiased(a, b)
    return {"kid": float(mmds.mean()), "kid_std": float(mmds.std()), "kid_subset_size": size}


def _radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each feature to its k-th nearest neighbour in its own set (itself excluded)."""
    return torch.cdist(features, features).kthvalue(k + 1, dim=1).values


def precision_recall(fake: torch.Tensor | np.ndarray, real: torch.Tensor | np.ndarray,
                     neighbours: int = PR_NEIGHBOURS) -> dict[str, float]:
    """Improved precision and recall: ``precision`` is the fraction of fake features inside some
    real feature's ball (radius: distance to its ``neighbours``-th nearest real neighbour),
    ``recall`` the fraction of real features inside some fake feature's ball."""
    f, r = _pair(fake, real, neighbours + 1)
    real_to_fake = torch.cdist(r, f)
    recall = (real_to_fake <= _radii(f, neighbours)).any(dim=1).double().mean()
    precision = (real_to_fake.T <= _radii(r, neighbours)).any(dim=1).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(fake: torch.Tensor | np.ndarray, real: torch.Tensor | np.ndarray,
                     neighbours: int = DC_NEIGHBOURS) -> dict[str, float]:
    """``density``: how many real balls (radius: distance to the ``neighbours``-th nearest real
    neighbour) hold each fake feature on average, divided by ``neighbours`` (1 when fake matches
    real, above 1 when it crowds dense regions); ``coverage``: the fraction of real features whose
    ball holds at least one fake feature."""
    f, r = _pair(fake, real, neighbours + 1)
    radii = _radii(r, neighbours)
    real_to_fake = torch.cdist(r, f)
    density = (real_to_fake < radii[:, None]).double().sum() / (neighbours * len(f))
    coverage = (real_to_fake.min(dim=1).values < radii).double().mean()
    return {"density": float(density), "coverage": float(coverage)}
