"""The metric registry and what a metric is (gibbsnet_plugin/metrics/base.py): names, scores and
their directions, each metric's own options, and work shared by the metrics of one evaluation."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import gibbsnet_plugin as gn
from gibbsnet_plugin.metrics import (
    Context,
    Metric,
    NoOptions,
    Settings,
    check_options,
    get,
    lower_is_better,
    names,
    option_fields,
    owner,
)
from gibbsnet_plugin.metrics.fid import FIDOptions
from gibbsnet_plugin.registry import METRICS

DOCS = Path(__file__).parents[2] / "docs" / "evaluation.md"


def test_every_built_in_metric_loads_as_a_metric_with_documented_options():
    assert {"reconstruction", "inpainting", "imputation", "probe", "fid", "fidelity", "modes",
            "critic", "tsne", "loglik"} <= set(METRICS.index)
    docs = DOCS.read_text()
    for name in METRICS.index:
        metric = get(name)
        assert isinstance(metric, Metric) and metric.name == name and metric.summary, name
        assert dataclasses.is_dataclass(metric.Options), name
        assert metric.Options.__dataclass_params__.frozen, name
        defaults = metric.options_from({})
        for spec in option_fields(metric):
            assert spec.metadata.get("doc"), (name, spec.name)
            assert getattr(defaults, spec.name) == spec.default, (name, spec.name)
            assert f"`{spec.name}`" in docs, f"docs/evaluation.md does not list the option {spec.name}"
    assert get("tsne").during_training is False and get("modes").needs_truth


def test_an_option_that_several_metrics_declare_means_the_same_in_each():
    declared: dict[str, tuple] = {}
    for name in METRICS.index:
        for spec in option_fields(get(name)):
            meaning = (spec.default, spec.metadata["doc"], spec.metadata["needs_metric"])
            assert declared.setdefault(spec.name, meaning) == meaning, (name, spec.name)
    assert "inpaint_steps" in set(f.name for f in option_fields(get("inpainting"))) & set(
        f.name for f in option_fields(get("imputation")))


def test_a_metric_takes_its_own_options_and_checks_them():
    fid = get("fid")
    assert fid.options_from({"fid_split": "test", "labels": 5}) == FIDOptions(fid_split="test")
    assert get("reconstruction").options_from({"fid_split": "test"}) == NoOptions()
    with pytest.raises(gn.GibbsnetError, match="FID reference split 'val': expected train or test"):
        fid.options_from({"fid_split": "val"})
    with pytest.raises(gn.GibbsnetError, match=r"dims must be one of \(64, 192, 768, 2048\), got 100"):
        fid.options_from({"fid_dims": 100})
    with pytest.raises(gn.GibbsnetError, match="inpaint_steps must be at least 1, got 0"):
        get("imputation").options_from({"inpaint_steps": 0})


def test_options_given_to_an_evaluation_are_checked_against_every_metric():
    check_options(["probe"], {"labels": 5, "fid_split": "test", "figure": "map.png"})  # others': ignored
    with pytest.raises(TypeError, match=r"unknown option 'lables'; did you mean 'labels'\?"):
        check_options(["probe"], {"lables": 5})
    with pytest.raises(gn.GibbsnetError, match=re.escape(
            "a mask process (`missing`) is for the imputation metric; add it to `metrics`")):
        check_options(["probe"], {"missing": "random-50"})
    check_options(["imputation"], {"missing": "random-50"})


def test_work_is_done_once_per_evaluation_for_equal_requests_only():
    done = []

    @dataclass(frozen=True)
    class Square:
        n: int

        def __call__(self, ctx: Context) -> int:
            done.append(self.n)
            return self.n ** 2

    results: dict = {}
    first = Context(None, None, Settings(), NoOptions(), results=results)  # type: ignore[arg-type]
    second = Context(None, None, Settings(), FIDOptions(), results=results)  # type: ignore[arg-type]
    assert [first.share(Square(3)), second.share(Square(3)), second.share(Square(4))] == [9, 9, 16]
    assert done == [3, 4]


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
    assert "prob" not in names()
