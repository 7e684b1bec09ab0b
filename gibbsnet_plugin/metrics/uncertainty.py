"""How well K draws of a predictive distribution describe the true values: the coverage of central
intervals, the energy score and the PIT histogram (the pure functions of the ``coverage``
metric, in NumPy, float64).

Shapes: ``draws`` (K, N) are K draws of N scalar entries and ``truth`` (N,) their true values
(coverage, PIT); for the energy score ``draws`` (K, R, D) are K draws of R rows of D entries,
``truth`` (R, D), and ``hidden`` (R, D) says which entries of each row are scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LEVELS = (0.5, 0.8, 0.9, 0.95)
"""The nominal levels of the central intervals whose coverage is scored."""
PIT_BINS = 10


def _pair(draws: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    draws, truth = np.asarray(draws, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if draws.ndim != 2 or truth.shape != draws.shape[1:]:
        raise ValueError(f"draws of shape (K, N) and truth of shape (N,), got {draws.shape} and "
                         f"{truth.shape}")
    if draws.shape[0] < 1:
        raise ValueError("no draws")
    return draws, truth


def _ranks(draws: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many of each true value's K draws lie below it and how many equal it: (N,), (N,)."""
    return (draws < truth).sum(0), (draws == truth).sum(0)


def central_coverage(draws: np.ndarray, truth: np.ndarray,
                     levels: Sequence[float] = LEVELS) -> dict[float, float]:
    """For each nominal ``level``, the share of the N true values that fall inside the central
    ``level`` interval of the distribution their K draws come from, judged by each value's rank
    among its draws: the expected share of randomised PIT values (``pit_values``) between
    (1 - level)/2 and (1 + level)/2, computed exactly (no randomness).

    Draws from the true distribution cover ``level`` in expectation for any K; too narrow ones
    less, too wide ones more. The interval between the empirical quantiles of K draws would not:
    for K = 20 draws of the truth's own distribution, their 5 % and 95 % quantiles hold only about
    82 % of true values. A value below all K draws counts as inside only when K is too small to
    tell it from the tail ((1 - level)/2 < 1/(K + 1)).

    ``draws`` (K, N), ``truth`` (N,) -> {level: coverage in [0, 1]}.
    """
    draws, truth = _pair(draws, truth)
    k = draws.shape[0]
    below, equal = _ranks(draws, truth)
    start, stop = below / (k + 1), (below + equal + 1) / (k + 1)  # the PIT value is uniform here
    out = {}
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"a level is in (0, 1), got {level}")
        lo, hi = (1 - level) / 2, (1 + level) / 2
        overlap = np.clip(np.minimum(stop, hi) - np.maximum(start, lo), 0, None)
        out[level] = float((overlap / (stop - start)).mean()) if truth.size else float("nan")
    return out


def energy_scores(draws: np.ndarray, truth: np.ndarray, hidden: np.ndarray | None = None) -> np.ndarray:
    """The energy score of each row (Gneiting and Raftery 2007), over its ``hidden`` entries:

        ES = 1/K sum_k ||X_k - y|| - 1/(2 K^2) sum_{k,l} ||X_k - X_l||

    with X_k the k-th draw of the row and y its truth, restricted to the hidden entries (all
    entries when ``hidden`` is None). A proper scoring rule, lower is better: 0 for K draws all
    equal to y; for one entry it is the CRPS of the draws' empirical distribution (the
    V-statistic, which exceeds the CRPS of the distribution they are drawn from by
    E|X - X'| / (2K) in expectation).

    ``draws`` (K, R, D), ``truth`` (R, D), ``hidden`` (R, D) bool -> (R,) float64; a row without
    hidden entries scores 0.
    """
    draws = np.asarray(draws, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if draws.ndim != 3 or truth.shape != draws.shape[1:]:
        raise ValueError(f"draws of shape (K, R, D) and truth of shape (R, D), got {draws.shape} "
                         f"and {truth.shape}")
    k = draws.shape[0]
    if k < 1:
        raise ValueError("no draws")
    if hidden is not None:
        hidden = np.asarray(hidden, dtype=bool)
        if hidden.shape != truth.shape:
            raise ValueError(f"hidden of shape {hidden.shape}, expected {truth.shape}")
        draws = np.where(hidden, draws, 0.0)
        truth = np.where(hidden, truth, 0.0)
    fit = np.linalg.norm(draws - truth, axis=-1).mean(0)  # (R,)
    spread = np.zeros(truth.shape[0])
    for i in range(k):  # K passes of (K, R, D): no (K, K, R, D) array
        spread += np.linalg.norm(draws[i] - draws, axis=-1).sum(0)
    return fit - spread / (2 * k * k)


def pit_values(draws: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The randomised probability integral transform of each true value among its K draws:
    (number of draws below y + W) / (K + 1), W uniform on [0, 1 + number of draws equal to y).
    For draws from the true distribution it is uniform on (0, 1), ties (discrete values)
    included.

    ``draws`` (K, N), ``truth`` (N,) -> (N,) in [0, 1); ``rng`` draws W.
    """
    draws, truth = _pair(draws, truth)
    below, equal = _ranks(draws, truth)
    return (below + rng.random(truth.shape) * (equal + 1)) / (draws.shape[0] + 1)


def pit_counts(draws: np.ndarray, truth: np.ndarray, bins: int = PIT_BINS,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The PIT histogram: ``pit_values`` of the N true values counted in ``bins`` equal bins of
    [0, 1] (rank of the truth among the K draws). Flat for calibrated draws, U-shaped for too
    narrow ones, peaked in the middle for too wide ones, sloped for biased ones.

    ``draws`` (K, N), ``truth`` (N,) -> (bins,) int64 summing to N; ``rng`` (default: seeded 0)
    breaks ties.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    u = pit_values(draws, truth, rng if rng is not None else np.random.default_rng(0))
    return np.bincount(np.minimum((u * bins).astype(np.int64), bins - 1), minlength=bins)


__all__ = ["LEVELS", "PIT_BINS", "central_coverage", "energy_scores", "pit_counts", "pit_values"]
