"""The calibration of K imputations (gibbsnet_plugin/metrics/uncertainty.py and the ``coverage``
metric): coverage of central intervals at the nominal level for the true conditional, below it
for too narrow draws; the energy score against the closed-form CRPS of a Gaussian; a flat PIT
histogram for calibrated draws; the metric end to end on a tiny table run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import TensorDataset

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.data.missing import split_item
from gibbsnet_plugin.metrics import get, lower_is_better
from gibbsnet_plugin.metrics.scores import coverage_scores
from gibbsnet_plugin.metrics.uncertainty import central_coverage, energy_scores, pit_counts


def gaussian_case(std: float = 1.0, n: int = 10_000, k: int = 200, seed: int = 0):
    """Truth y ~ N(mu, 1) and K draws from N(mu, std) per entry: (mu (N,), draws (K, N), truth
    (N,))."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=n) * 3
    truth = mu + rng.normal(size=n)
    return mu, mu + std * rng.normal(size=(k, n)), truth


def crps_gaussian(mu: np.ndarray, s: float, y: np.ndarray) -> np.ndarray:
    z = (y - mu) / s
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    pdf = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return s * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))


def test_draws_of_the_true_conditional_cover_at_the_nominal_level_with_a_flat_pit():
    _, draws, truth = gaussian_case()
    coverage = central_coverage(draws, truth)
    assert set(coverage) == {0.5, 0.8, 0.9, 0.95}
    assert 0.47 <= coverage[0.5] <= 0.53
    assert 0.77 <= coverage[0.8] <= 0.83
    assert 0.88 <= coverage[0.9] <= 0.92
    assert 0.93 <= coverage[0.95] <= 0.97
    counts = pit_counts(draws, truth)
    assert counts.shape == (10,) and counts.sum() == len(truth)
    assert np.all(np.abs(counts - 1000) < 120)  # 1000 ± 4 sd of a binomial count


def test_twenty_draws_of_the_true_conditional_cover_at_the_nominal_level():
    _, draws, truth = gaussian_case(n=40_000, k=20)
    coverage = central_coverage(draws, truth)
    for level in (0.5, 0.8, 0.9, 0.95):
        assert coverage[level] == pytest.approx(level, abs=0.01)
    # the interval between the draws' empirical quantiles would call these draws too narrow
    lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
    assert ((truth >= lo) & (truth <= hi)).mean() < 0.84


def test_a_value_outside_every_draw_is_inside_only_where_k_draws_cannot_resolve_the_tail():
    draws = np.arange(1.0, 21.0)[:, None]  # K = 20 draws: 1, 2, ..., 20
    below, second, inner = np.array([0.0]), np.array([1.5]), np.array([2.5])
    assert central_coverage(draws, below, levels=(0.9,)) == {0.9: 0.0}
    # 1/21 of the PIT's range lies below every draw, more than the 95 % interval's 2.5 % tail
    assert central_coverage(draws, below, levels=(0.95,))[0.95] == pytest.approx(
        (1 / 21 - 0.025) * 21)
    assert central_coverage(draws, second, levels=(0.9,))[0.9] == pytest.approx(2 - 0.05 * 21)
    assert central_coverage(draws, inner, levels=(0.9,)) == {0.9: 1.0}


def test_too_narrow_draws_cover_too_little_and_give_a_u_shaped_pit():
    _, draws, truth = gaussian_case(std=0.3)
    coverage = central_coverage(draws, truth)
    assert coverage[0.9] < 0.5 and coverage[0.5] < 0.25
    counts = pit_counts(draws, truth)
    assert counts[0] > 2500 and counts[-1] > 2500 and counts[4] < 500


def test_coverage_and_pit_of_tied_draws_and_bad_shapes():
    truth = np.array([1.0, 0.0])
    draws = np.ones((5, 2))  # a point mass: its own value has a PIT uniform on (0, 1),
    coverage = central_coverage(draws, truth, levels=(0.9,))  # a value below it one on (0, 1/6)
    assert coverage[0.9] == pytest.approx((0.9 + (1 / 6 - 0.05) * 6) / 2)
    assert pit_counts(draws, truth, rng=np.random.default_rng(1)).sum() == 2
    with pytest.raises(ValueError, match="shape"):
        central_coverage(np.ones((5, 2)), np.ones(3))
    with pytest.raises(ValueError, match="level"):
        central_coverage(draws, truth, levels=(1.0,))


def test_energy_score_is_zero_for_a_point_mass_at_the_truth_and_larger_for_worse_draws():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(50, 4))
    exact = np.broadcast_to(truth, (20, 50, 4))
    np.testing.assert_allclose(energy_scores(exact, truth), 0.0, atol=1e-12)
    noise = rng.normal(size=(20, 50, 4))
    calibrated = energy_scores(truth + 0.1 * noise, truth).mean()
    assert 0 < calibrated < energy_scores(truth + 1.0 * noise, truth).mean()
    assert calibrated < energy_scores(truth + 0.5 + 0.1 * noise, truth).mean()


def test_energy_score_in_one_dimension_is_the_crps_of_a_gaussian():
    mu, draws, truth = gaussian_case(n=2000, k=400, seed=3)
    es = energy_scores(draws[:, :, None], truth[:, None])
    expected = crps_gaussian(mu, 1.0, truth)
    # the V-statistic exceeds the CRPS by E|X - X'| / (2K) = (2 / sqrt(pi)) / (2K)
    bias = 1 / (math.sqrt(math.pi) * 400)
    assert es.mean() - bias == pytest.approx(expected.mean(), abs=0.01)
    np.testing.assert_allclose(es, expected + bias, atol=0.15)


def test_energy_score_counts_only_the_hidden_entries_of_each_row():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(3, 5))
    draws = truth + rng.normal(size=(8, 3, 5))
    hidden = np.zeros((3, 5), dtype=bool)
    hidden[0, :2] = hidden[1, 4] = True
    es = energy_scores(draws, truth, hidden)
    assert es[2] == 0.0
    np.testing.assert_allclose(es[0], energy_scores(draws[:, :1, :2], truth[:1, :2])[0])
    np.testing.assert_allclose(es[1], energy_scores(draws[:, 1:2, 4:], truth[1:2, 4:])[0])


@pytest.fixture(scope="module")
def complete_table_run(tmp_path_factory):
    rng = np.random.default_rng(0)
    a = rng.normal(size=120)
    path = tmp_path_factory.mktemp("table") / "t.csv"
    pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=120),
                  "c": 1000 + 50 * rng.normal(size=120)}).to_csv(path, index=False)
    recipe = tiny_recipe(
        data={"dataset": "table", "batch_size": 16, "options": {"path": str(path)}},
        model={"architecture": "mlp", "z_dim": 4, "options": {"hidden": [32], "norm": "layer"},
               "chain_steps": 2},
        train={"iterations": 20, "sample_every": 0, "checkpoint_every": 20})
    return gn.train(recipe, out=tmp_path_factory.mktemp("run") / "run")


def test_coverage_scores_of_k_imputations_of_a_tiny_table_run(complete_table_run):
    # mask processes (data.missing) are for images: the table's test rows get cells hidden here
    loaded = gn.load_run(complete_table_run, "cpu")
    test = gn.datasets.build("table", "", False, **loaded.recipe.data.options)
    x = torch.stack([split_item(test[i])[0] for i in range(len(test))])
    mask = (torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) > 0.3).float()
    items = TensorDataset(x, mask)
    details = coverage_scores(loaded.model, items, steps=2, draws=10, batch_size=16, seed=0)
    coverage = details["coverage"]
    assert set(coverage) == {0.5, 0.8, 0.9, 0.95}
    assert all(0.0 <= v <= 1.0 for v in coverage.values()) and coverage[0.5] <= coverage[0.95]
    assert details["energy"] > 0 and details["entries"] == int((mask == 0).sum())
    assert details["rows"] == int((mask == 0).any(1).sum())
    assert len(details["pit"]) == 10 and sum(details["pit"]) == details["entries"]
    assert coverage_scores(loaded.model, items, steps=2, draws=10, batch_size=16, seed=0) == details


def test_the_coverage_metric_through_evaluate(run):
    result = gn.evaluate(run, ["coverage", "imputation"], device="cpu", missing="random-30",
                         coverage_draws=5, inpaint_steps=2)
    scores, details = result["scores"], result["details"]["coverage"]
    metric = get("coverage")
    assert list(scores) == ["imputation_coverage50", "imputation_coverage80", "imputation_coverage90",
                            "imputation_coverage95", "imputation_coverage_error", "imputation_energy",
                            "imputation_rmse"]
    for level in (50, 80, 90, 95):
        assert 0.0 <= scores[f"imputation_coverage{level}"] <= 1.0
    assert 0.0 <= scores["imputation_coverage_error"] <= 1.0 and scores["imputation_energy"] > 0
    assert sum(details["pit"]) == details["entries"] > 0 and details["pit_bins"] == 10
    assert details["draws"] == 5 and details["steps"] == 2 and details["missing"] == "random-30"
    assert metric.lower_is_better("imputation_energy") and metric.lower_is_better("imputation_coverage_error")
    assert lower_is_better("imputation_energy") and not lower_is_better("imputation_coverage90")
    assert "coverage" not in gn.evaluation.default_metrics()
    with pytest.raises(gn.GibbsnetError, match="coverage needs missing entries"):
        gn.evaluate(run, ["coverage"], device="cpu")
    with pytest.raises(gn.GibbsnetError, match="coverage_draws must be at least 2"):
        gn.evaluate(run, ["coverage"], device="cpu", missing="random-30", coverage_draws=1)
