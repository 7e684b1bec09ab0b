"""The chain settings, defined once (gibbsnet_plugin/chains/settings.py): every field reaches the
recipe, its reference, the factory and the model without being listed anywhere else."""

from __future__ import annotations

import dataclasses
from typing import Any, get_args, get_type_hints

import pytest

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.chains import ChainSettings, GibbsNet
from gibbsnet_plugin.errors import RecipeError
from gibbsnet_plugin.factory import build_model
from gibbsnet_plugin.recipe import ModelConfig, recipe_from_dict
from gibbsnet_plugin.recipe.schema import KEY_DOCS

SETTINGS = dataclasses.fields(ChainSettings)
NAMES = [f.name for f in SETTINGS]
KINDS = {"gibbsnet": {}, "deep": {"z_dim": [8, 4], "clamped_steps": 2},
         "hali": {"z_dim": [8, 4], "kind": "hali"}}
UNUSED = {"hali": {"critic_states", "random_steps"}}
"""Settings a recipe refuses for a kind (one state to show D)."""


def changed(f: dataclasses.Field) -> Any:
    """A valid value other than the field's default, from its type alone (so that a new field is
    covered without editing this test; a type it cannot change fails here)."""
    tp = get_type_hints(ChainSettings)[f.name]
    if tp is bool:
        return not f.default
    if tp is int:
        return f.default + 1
    if tp is float:  # a share in (0, 1) halves; a weight or chance from 0 grows
        return f.default / 2 if 0 < f.default < 1 else f.default + 0.5
    return next(choice for choice in get_args(tp) if choice != f.default)


def test_every_setting_is_a_recipe_key_with_its_default_and_meaning():
    model_keys = {f.name: f for f in dataclasses.fields(ModelConfig)}
    for f in SETTINGS:
        assert model_keys[f.name].default == f.default, f.name
        assert KEY_DOCS[f"model.{f.name}"] == f.metadata["doc"], f.name


@pytest.mark.parametrize("kind", KINDS)
def test_a_recipe_hands_every_setting_to_the_model_and_options_reports_them(kind):
    values = {f.name: f.default if f.name in UNUSED.get(kind, ()) else changed(f) for f in SETTINGS}
    recipe = tiny_recipe(model={**KINDS[kind], **values})
    model = build_model(recipe, (1, 8, 8))
    assert model.config == ChainSettings(**values)
    assert {name: getattr(model, name) for name in NAMES} == values  # each read as an attribute
    kind_settings = model.settings()
    assert set(model.options()) == set(NAMES) | set(kind_settings)
    assert model.options() == {**values, **kind_settings}
    assert kind_settings == ({"clamped_steps": 2} if kind == "deep" else {})


def test_keyword_arguments_replace_fields_of_the_config_and_the_model_keeps_its_own_copy():
    arch = gn.architectures.build("test_linear", (1, 4, 4), 3)
    config = ChainSettings(chain_steps=4, loss="lsgan")
    model = GibbsNet(arch, (1, 4, 4), 3, config=config, backprop_steps=2)
    assert model.config == ChainSettings(chain_steps=4, loss="lsgan", backprop_steps=2)
    config.chain_steps = 9
    assert model.chain_steps == 4
    assert GibbsNet(arch, (1, 4, 4), 3, chain_steps=2).config == ChainSettings(chain_steps=2)
    with pytest.raises(TypeError, match="chain_step"):
        GibbsNet(arch, (1, 4, 4), 3, chain_step=2)


@pytest.mark.parametrize(("values", "message"), [
    ({"chain_steps": 0}, r"chain_steps must be between 1 \(ALI\) and 1,000,000, got 0"),
    ({"chain_steps": 2, "backprop_steps": 3}, r"backprop_steps must be between 1 and chain_steps \(2\)"),
    ({"loss": "hinge"}, r"loss must be 'bce' or 'lsgan', got 'hinge'"),
    ({"z_consistency": float("nan")}, r"z_consistency must be finite and >= 0, got nan"),
    ({"x_consistency": -1.0}, r"x_consistency must be finite and >= 0, got -1\.0"),
    ({"hide": 1.0}, r"hide must be in \(0, 1\), the share of observed entries hidden, got 1\.0"),
    ({"hide": 0}, r"hide must be in \(0, 1\)"),
    ({"reconstruction": "l1"}, r"reconstruction must be 'squared' or 'crps', got 'l1'"),
    ({"stationarity": 2}, r"stationarity must be between 0 \(off\) and 1,000,000 chain steps, with "
                          r"pack 2 \(D judges the pairs as its packs\), got 2 with pack 1"),
    ({"critic_states": 4}, r"critic_states must be between 1 and chain_steps \(3\), got 4"),
    ({"pack": 0}, r"pack must be between 1 \(off\) and 64"),
    ({"persistent": -0.5}, r"persistent must be in \[0, 1\]"),
    ({"r1": float("inf")}, r"r1 must be finite and >= 0 \(0 = off\), got inf"),
    ({"walkback": -1.0}, r"walkback must be finite and >= 0 \(0 = off\), got -1\.0"),
    ({"walkback_steps": 0}, r"walkback_steps must be between 1 and 1,000,000 chain steps, got 0"),
])
def test_a_setting_out_of_range_is_refused_by_name(values, message):
    arch = gn.architectures.build("test_linear", (1, 4, 4), 3)
    with pytest.raises(ValueError, match=message):
        GibbsNet(arch, (1, 4, 4), 3, **values)


def test_the_recipe_refuses_with_the_same_ranges_and_the_line_of_the_key():
    with pytest.raises(RecipeError, match=r"^`overrides` model\.pack: must be between 1 \(off\) and 64 "
                                          r"\(items D judges together\), got 0$"):
        recipe_from_dict({"name": "x"}, ["model.pack=0"])


def test_every_problem_is_named_at_once_by_the_model():
    assert ChainSettings(chain_steps=2, critic_states=3, r1=-1).problems().keys() == {"critic_states", "r1"}
    with pytest.raises(ValueError, match=r"critic_states must .*; r1 must"):
        ChainSettings(chain_steps=2, critic_states=3, r1=-1).check()
