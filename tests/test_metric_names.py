"""Metric and score names (gibbsnet_plugin/metric_names.py)."""

from __future__ import annotations

from gibbsnet_plugin.metric_names import lower_is_better, score_names


def test_score_names_and_which_are_better_higher():
    assert score_names(["modes"]) == ["modes", "modes_high_quality", "modes_reverse_kl"]
    assert [lower_is_better(s) for s in score_names(["modes"])] == [False, False, True]
    assert lower_is_better("fid") and not lower_is_better("inpaint_center_psnr")


def test_hierarchies_add_scores_per_latent_layer_in_evaluates_order():
    assert score_names(["reconstruction", "probe"], levels=3) == [
        "reconstruction_mse", "reconstruction_z2_mse", "reconstruction_z3_mse", "probe_error",
        "probe_error_std", "probe_z2_error", "probe_z2_error_std", "probe_z3_error",
        "probe_z3_error_std"]
    assert lower_is_better("probe_z2_error") and lower_is_better("reconstruction_z3_mse")
