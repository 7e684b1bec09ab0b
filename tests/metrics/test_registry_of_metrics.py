"""The metric registry (gibbsnet_plugin/metrics/base.py): names, scores and their directions."""

from __future__ import annotations

import pytest

import gibbsnet_plugin as gn
from gibbsnet_plugin.metrics import get, lower_is_better, names, owner


def test_the_built_in_metrics_are_registered_by_name():
    assert {"reconstruction", "inpainting", "imputation", "probe", "fid", "modes", "critic",
            "tsne"} <= set(names())
    assert get("tsne").during_training is False and get("modes").needs_truth


def test_score_names_and_which_are_better_higher():
    modes = get("modes").score_names([], 1)
    assert modes == ["modes", "modes_high_quality", "modes_reverse_kl"]
    assert [lower_is_better(s) for s in modes] == [False, False, True]
    assert lower_is_better("fid") and not lower_is_better("inpaint_center_psnr")
    assert owner("inpaint_center_psnr").name == "inpainting" and owner("nothing") is None


def test_hierarchies_add_scores_per_latent_layer():
    assert get("reconstruction").score_names([], 3) == [
        "reconstruction_mse", "reconstruction_z2_mse", "reconstruction_z3_mse"]
    assert get("probe").score_names([], 3) == [
        "probe_error", "probe_error_std", "probe_z2_error", "probe_z2_error_std", "probe_z3_error",
        "probe_z3_error_std"]
    assert lower_is_better("probe_z2_error") and lower_is_better("reconstruction_z3_mse")


def test_an_unknown_metric_is_refused_with_the_known_names():
    with pytest.raises(gn.GibbsnetError, match=r"unknown metric 'prob'; did you mean 'probe'\?"):
        get("prob")
