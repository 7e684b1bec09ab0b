import numpy as np
import pytest
import torch

from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.metrics.fidelity import density_coverage, kid, precision_recall

torch_fidelity = pytest.importorskip("torch_fidelity")
prdc = pytest.importorskip("prdc")


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 16)).astype(np.float32)
    fake = (rng.normal(size=(240, 16)) * 1.3 + 0.4).astype(np.float32)
    return fake, real


def test_kid_equals_torch_fidelitys(features):
    from torch_fidelity.metric_kid import kid_features_to_metric

    fake, real = features
    theirs = kid_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), kid_subsets=20,
                                    kid_subset_size=100, rng_seed=7, verbose=False)
    ours = kid(fake, real, subsets=20, subset_size=100, seed=7)
    # they compute in the features' float32, we in float64
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-6)
    assert ours["kid_std"] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-6)
    assert ours["kid"] > 0.01


def test_kid_is_near_zero_for_the_same_distribution_and_lowers_its_subset_size():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(150, 8))
    ours = kid(a, b, subsets=10)
    assert ours["kid_subset_size"] == 150
    assert abs(ours["kid"]) < 0.01 and ours["kid_std"] > 0


def test_precision_and_recall_equal_torch_fidelitys(features):
    from torch_fidelity.metric_prc import prc_features_to_metric

    fake, real = features
    theirs = prc_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=3,
                                    prc_batch_size=10000, save_cpu_ram=False, verbose=False)
    ours = precision_recall(fake, real, neighbours=3)
    assert ours["precision"] == pytest.approx(theirs["precision"], abs=1e-6)
    assert ours["recall"] == pytest.approx(theirs["recall"], abs=1e-6)
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1


def test_density_and_coverage_equal_prdcs(features, capsys):
    fake, real = features
    theirs = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    ours = density_coverage(fake, real, neighbours=5)
    assert ours["density"] == pytest.approx(theirs["density"], abs=1e-12)
    assert ours["coverage"] == pytest.approx(theirs["coverage"], abs=1e-12)


def test_a_copy_of_the_real_features_scores_perfectly(features):
    _, real = features
    assert precision_recall(real, real) == {"precision": 1.0, "recall": 1.0}
    assert density_coverage(real, real)["coverage"] == 1.0


def test_features_of_different_sizes_are_refused(features):
    fake, real = features
    with pytest.raises(GibbsnetError, match="different sizes: 8 and 16"):
        kid(fake[:, :8], real)
    with pytest.raises(GibbsnetError, match="at least 4"):
        precision_recall(fake[:3], real)
