"""evaluate() and evaluate_model() (gibbsnet_plugin/evaluation.py) on a tiny trained run, and
evaluation during training (the recipe's eval: section, checkpoints/best.pt)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin import evaluation, testtime, training
from gibbsnet_plugin.errors import GibbsnetError, RecipeError
from gibbsnet_plugin.evaluation import evaluate, evaluate_model, recipe_options
from gibbsnet_plugin.metrics import Context, Metric, Result, option, option_fields
from gibbsnet_plugin.metrics import get as get_metric
from gibbsnet_plugin.metrics.inception import WEIGHTS_ENV
from gibbsnet_plugin.recipe import Recipe, recipe_from_dict
from gibbsnet_plugin.registry import METRICS
from gibbsnet_plugin.utils import seeded

pytestmark = pytest.mark.slow
SHAPE = (1, 8, 8)


def with_eval(**values: object) -> Recipe:
    return recipe_from_dict({**tiny_recipe().to_dict(), "eval": values})


def test_evaluate_defaults_skip_fid_with_a_note_and_leave_the_model_mode(
        run, loaded, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    result = evaluate(run, device="cpu", labels=50, draws=2, inpaint_steps=2, masks=["center"])
    assert result["name"] == "tiny" and result["chain_steps"] == 2
    # the default metrics run in the order of their names; FID is skipped without its weights
    expected = [s for m in ("inpainting", "probe", "reconstruction")
                for s in get_metric(m).score_names(["center"], 1)]
    assert list(result["scores"]) == expected
    assert len(result["notes"]) == 1 and "FID skipped" in result["notes"][0]
    with pytest.raises(GibbsnetError, match="pt_inception-2015-12-05-6726825d.pth"):
        evaluate(run, ["fid"], device="cpu")
    with pytest.raises(GibbsnetError, match="unknown metric 'probes'.*did you mean 'probe'"):
        evaluate(run, ["probes"], device="cpu")
    loaded.model.train()
    evaluate_model(loaded.model, loaded.recipe, ["reconstruction"])
    assert loaded.model.training
    loaded.model.eval()


def test_imputation_is_a_default_metric_of_incomplete_data_only(run, loaded):
    recipe = recipe_from_dict({**loaded.recipe.to_dict(), "data": {"missing": "window-4"}})
    chosen = dict(labels=20, draws=1, inpaint_steps=2, masks=["center"])
    scores = evaluate_model(loaded.model, recipe, **chosen)["scores"]
    assert 0 < scores["imputation_rmse"] < 2
    assert "imputation_rmse" not in evaluate_model(loaded.model, loaded.recipe, **chosen)["scores"]


def test_a_test_split_with_masks_of_its_own_skips_the_metrics_that_need_the_truth(loaded):
    recipe = recipe_from_dict({**loaded.recipe.to_dict(), "data": {"dataset": "test_poisoned"}})
    result = evaluate_model(loaded.model, recipe, labels=20, draws=1, inpaint_steps=2)
    assert list(result["scores"]) == ["probe_error", "probe_error_std"]
    assert any("reconstruction skipped" in note for note in result["notes"])
    with pytest.raises(GibbsnetError, match="reconstruction compares with the truth"):
        evaluate_model(loaded.model, recipe, ["reconstruction"])


def test_evaluate_reports_the_progress_of_each_metric(loaded, test_split, tmp_path):
    reports = []
    evaluate_model(loaded.model, loaded.recipe, ["reconstruction", "inpainting", "probe", "tsne"],
                   labels=20, draws=3, masks=["center", "left-half"], inpaint_steps=1,
                   figure=tmp_path / "map.png", progress=lambda *r: reports.append(r))
    batches = -(-len(test_split) // 100)
    tasks = {"reconstruction": batches, "inpainting center": batches,
             "inpainting left-half": batches, "linear probe": 3, "t-SNE latent map": 1}
    assert list(dict.fromkeys(task for task, _, _ in reports)) == list(tasks)
    for task, total in tasks.items():
        assert [(d, t) for name, d, t in reports if name == task] == [(i, total)
                                                                     for i in range(total + 1)]


def test_eval_section_is_validated_with_key_paths():
    assert with_eval().eval.every == 0 and tiny_recipe().eval.masks[0] == "left-half"
    cases = [({"metrics": ["recon"]}, "eval.metrics[0]: unknown metric 'recon'"),
             ({"metrics": ["tsne"], "every": 5}, "eval.metrics[0]: metric 'tsne' gives no score"),
             ({"evry": 3}, "eval.evry: unknown key; did you mean 'every'?"),
             ({"every": 5}, "eval.every: evaluation during training needs eval.metrics"),
             ({"metrics": ["fid"], "every": 5, "best": "fd"},
              "eval.best: 'fd' is not a score of eval.metrics; did you mean 'fid'?"),
             ({"metrics": ["reconstruction"], "best": "reconstruction_mse"},
              "eval.best: needs eval.every > 0"),
             ({"masks": "left-half"}, "eval.masks: expected a list")]
    for values, message in cases:
        with pytest.raises(RecipeError, match=message.replace("[", r"\[").replace("]", r"\]")):
            with_eval(**values)


def test_training_evaluates_periodically_and_keeps_the_best_checkpoint(tmp_path):
    recipe = with_eval(metrics=["reconstruction", "inpainting"], every=4, masks=["top-half"],
                       inpaint_steps=2, best="inpaint_top-half_psnr")
    out = gn.train(recipe, out=tmp_path / "run")
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [line for line in lines if "eval/inpaint_top-half_psnr" in line]
    assert [line["iteration"] for line in evals] == [4, 8, 12]
    best_it = max(evals, key=lambda line: line["eval/inpaint_top-half_psnr"])["iteration"]
    best = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert best["trainer"]["iteration"] == best_it
    assert testtime.load_run(out / "checkpoints" / "best.pt", device="cpu").model.x_shape == SHAPE

    resumed = recipe_from_dict({**recipe.to_dict(), "train": {**recipe.to_dict()["train"],
                                                              "iterations": 16}})
    gn.train(resumed, out=out, resume=True)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [line for line in lines if "eval/inpaint_top-half_psnr" in line]
    assert [line["iteration"] for line in evals] == [4, 8, 12, 16]
    best_it = max(evals, key=lambda line: line["eval/inpaint_top-half_psnr"])["iteration"]
    best = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert best["trainer"]["iteration"] == best_it


def test_fid_in_the_eval_section_needs_the_weights_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    for metric in ("fid", "fidelity"):
        with pytest.raises(GibbsnetError, match="FID needs pytorch-fid's Inception weights"):
            gn.train(with_eval(metrics=["reconstruction", metric], every=4), out=tmp_path / "run")
        assert not (tmp_path / "run").exists()


def test_asking_for_fid_downloads_missing_weights_into_the_hub_cache(run, tmp_path, monkeypatch):
    from gibbsnet_plugin.metrics import inception

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(inception.NO_DOWNLOAD_ENV, raising=False)
    fetched = []

    def fake_download(destination):
        fetched.append(destination)
        return inception.write_random_weights(tmp_path)

    monkeypatch.setattr(inception, "download_weights", fake_download)
    with pytest.warns(UserWarning, match="downloading pytorch-fid's Inception weights"):
        result = evaluate(run, ["fid"], device="cpu", num_samples=20, fid_dims=64)
    assert fetched == [tmp_path / "hub" / "checkpoints" / inception.WEIGHTS_FILE]
    assert result["scores"]["fid"] >= 0
    evaluate(run, ["fid"], device="cpu", num_samples=20, fid_dims=64)
    assert len(fetched) == 1  # found in the cache the second time


def test_an_existing_latent_map_is_replaced_only_with_force(run, tmp_path):
    from gibbsnet_plugin.errors import OutputError

    figure = tmp_path / "map.png"
    figure.write_bytes(b"mine")
    with pytest.raises(OutputError, match=r"map\.png: exists; pass `force`"):
        evaluate(run, ["tsne"], device="cpu", figure=figure, force=False)
    assert figure.read_bytes() == b"mine"


def test_the_recipe_sets_options_that_metrics_declare():
    recipe = with_eval(labels=30, num_samples=40, fid_split="test", masks=["center"])
    options = recipe_options(recipe)
    declared = {f.name for name in METRICS.index for f in option_fields(get_metric(name))}
    assert set(options) <= declared
    assert (options["labels"], options["fid_samples"], options["fid_split"], options["masks"]) == (
        30, 40, "test", ["center"])


def test_evaluation_and_training_name_no_metric():
    """What is particular to a metric (its options, files, downloads) is in its own module: the code
    of evaluation.py and training.py (their docstrings aside) names no metric and imports no
    metric's module."""
    metric_names = set(METRICS.index)
    shared = ("gibbsnet_plugin.metrics", "gibbsnet_plugin.metrics.base", "gibbsnet_plugin.metrics.data")
    for module in (evaluation, training):
        tree = ast.parse(Path(module.__file__).read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        named = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                named |= {name for name in metric_names if re.search(rf"\b{name}\b", node.value)}
            elif isinstance(node, (ast.Name, ast.Attribute)):
                named |= {node.id if isinstance(node, ast.Name) else node.attr} & metric_names
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                if node.module.startswith("gibbsnet_plugin.metrics") and node.module not in shared:
                    named.add(node.module)
        assert not named, f"{module.__name__} names {sorted(named)}"


@dataclass(frozen=True)
class ShareOptions:
    share_threshold: float = option(0.0, "the value above which a pixel counts")

    def __post_init__(self) -> None:
        if not -1 <= self.share_threshold <= 1:
            raise GibbsnetError(f"share_threshold must be in [-1, 1], got {self.share_threshold}")


class Share(Metric[ShareOptions]):
    """A metric that only a test knows: the share of chain samples' pixels above a threshold."""

    summary = "share of sample pixels above share_threshold"
    Options = ShareOptions

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return ["share_above"]

    def lower_is_better(self, score: str) -> bool:
        return False

    def run(self, ctx: Context[ShareOptions]) -> Result:
        with seeded(ctx.settings.seed, ctx.model.device), torch.no_grad():
            x = ctx.model.sample(64, ctx.settings.chain_steps)
        share = float((x > ctx.options.share_threshold).double().mean())
        return Result({"share_above": share}, {"share": {"threshold": ctx.options.share_threshold}})


@pytest.fixture
def share(monkeypatch):
    """``Share`` registered as ``share`` for one test."""
    monkeypatch.setitem(METRICS._builtins, "share", Share)


def test_a_metric_with_options_of_its_own_runs_through_evaluate_and_the_recipe(share, run, tmp_path):
    plain = evaluate(run, ["share"], device="cpu")
    assert plain["details"]["share"] == {"threshold": 0.0} and 0 < plain["scores"]["share_above"] < 1
    high = evaluate(run, ["share"], device="cpu", share_threshold=0.5, labels=5)  # labels: probe's
    assert high["details"]["share"] == {"threshold": 0.5}
    assert high["scores"]["share_above"] < plain["scores"]["share_above"]
    with pytest.raises(GibbsnetError, match=r"share_threshold must be in \[-1, 1\], got 2"):
        evaluate(run, ["share"], device="cpu", share_threshold=2)
    with pytest.raises(TypeError, match="unknown option 'share_treshold'; did you mean 'share_threshold'"):
        evaluate(run, ["share"], device="cpu", share_treshold=0.5)

    recipe = with_eval(metrics=["share", "reconstruction"], every=4, best="share_above")
    out = gn.train(recipe, out=tmp_path / "run")
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [line for line in lines if "eval/share_above" in line]
    assert [line["iteration"] for line in evals] == [4, 8, 12]
    best_it = max(evals, key=lambda line: line["eval/share_above"])["iteration"]  # higher is better
    assert torch.load(out / "checkpoints" / "best.pt", weights_only=True)["trainer"]["iteration"] == best_it
    scored = evaluate(out, device="cpu")  # the recipe's eval.metrics
    assert list(scored["scores"]) == ["share_above", "reconstruction_mse"]
    assert scored["scores"]["share_above"] == evals[-1]["eval/share_above"]
