"""Recipe loading, overrides and validation (gibbsnet_plugin/recipe.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gibbsnet_plugin.errors import RecipeError
from gibbsnet_plugin.recipe import (
    Recipe,
    load_recipe,
    recipe_differences,
    recipe_from_dict,
    shipped_recipe,
)

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["digits", "mnist", "svhn", "cifar10", "grid25", "ring8"])
def test_bundled_recipes_validate(name):
    recipe = load_recipe(REPO / "recipes" / f"{name}.yaml")
    assert recipe.name
    assert recipe.train.betas[1] == pytest.approx(0.999)


def test_defaults_and_types(tmp_path):
    recipe = load_recipe(write(tmp_path, "name: x\n"))
    assert isinstance(recipe, Recipe)
    assert recipe.model.chain_steps == 3 and recipe.model.architecture == "conv8"
    assert recipe.train.betas == (0.5, 0.999)


def test_missing_name_defaults_to_file_stem(tmp_path):
    path = tmp_path / "my-run.yaml"
    path.write_text("seed: 1\n")
    assert load_recipe(path).name == "my-run"


def test_overrides_are_typed_and_applied(tmp_path):
    recipe = load_recipe(write(tmp_path, "name: x\n"), overrides=[
        "model.chain_steps=5", "train.lr=1e-3", "train.betas=[0.0, 0.9]",
        "data.options.test_fraction=0.25", "model.loss=lsgan", "train.lr_d=4e-4",
    ])
    assert recipe.model.chain_steps == 5
    assert recipe.train.lr == pytest.approx(1e-3)
    assert recipe.train.betas == (0.0, 0.9)
    assert recipe.data.options == {"test_fraction": 0.25}
    assert recipe.model.loss == "lsgan"
    assert recipe.train.lr_d == pytest.approx(4e-4)


def test_walkback_is_accepted_on_incomplete_data_on_corrupted_data_and_on_tables(tmp_path):
    holes = load_recipe(write(tmp_path, "name: x\n"), overrides=["data.missing=random-50",
                                                                  "model.walkback=1"])
    blurred = load_recipe(write(tmp_path, "name: x\n"), overrides=["data.corruption.name=blur",
                                                                    "model.walkback=1"])
    table = load_recipe(REPO / "recipes" / "table.yaml", overrides=["model.walkback=1"])
    assert (holes.model.walkback, blurred.model.walkback, table.model.walkback) == (1.0, 1.0, 1.0)


def test_yaml_float_without_dot_is_accepted(tmp_path):
    assert load_recipe(write(tmp_path, "name: x\ntrain:\n  lr: 2e-4\n")).train.lr == pytest.approx(2e-4)


@pytest.mark.parametrize(
    ("text", "overrides", "pattern"),
    [
        ("name: x\nmodel:\n  chain_step: 3\n", [],
         r"r\.yaml:3: model\.chain_step: unknown key; did you mean 'chain_steps'\?"),
        ("name: x\nmodl: {}\n", [], r"r\.yaml:2: modl: unknown key; did you mean 'model'\?"),
        ("name: x\nmodel:\n  z_dim: big\n", [],
         r"r\.yaml:3: model\.z_dim: expected an integer or a list, each an integer, got 'big'"),
        ("name: x\nmodel:\n  z_dim: 3.5\n", [], r"model\.z_dim: expected an integer"),
        ("name: x\n", ["model.z_dim=[32, 0]"],
         r"`overrides` model\.z_dim: must be a size between 1 and 65,536 or a non-empty list of them "
         r"\(bottom layer first\), got \[32, 0\]"),
        ("name: x\n", ["model.z_dim=[]"], r"model\.z_dim: must be a size between 1 and 65,536 or a "
         r"non-empty list"),
        ("name: x\n", ["model.z_dim=100000000000"], r"model\.z_dim: must be a size between 1 and "
         r"65,536 .*got 100000000000"),
        ("name: x\n", ["model.kind=hall"],
         r"model\.kind: unknown chain kind 'hall'; did you mean 'hali'\? \(known: gibbsnet, hali\)"),
        ("name: x\n", ["model.kind=hali"], r"`overrides` model\.kind: hali needs at least 2 latent layers"),
        ("name: x\n", ["model.clamped_steps=2"], r"model\.clamped_steps: is for latent hierarchies"),
        ("name: x\n", ["model.z_dim=[8, 4]", "model.kind=hali", "model.critic_states=2"],
         r"`overrides` model\.critic_states: kind hali trains on one pass down from the prior"),
        ("name: x\n", ["model.z_dim=[8, 4]", "model.kind=hali", "model.clamped_steps=2"],
         r"model\.clamped_steps: kind hali has no clamped chain"),
        ("name: x\ntrain:\n  betas: [0.5]\n", [], r"train\.betas: expected a list of 2 numbers"),
        ("name: x\ntrain:\n  betas: [0.5, 1.0e-3]\n", ["train.betas=[0.5, 1.5]"],
         r"`overrides` train\.betas\[1\]: must be in \[0, 1\)"),
        ("name: x\nmodel:\n  loss: hinge\n", [], r"model\.loss: expected bce \| lsgan, got 'hinge'"),
        ("name: x\nmodel:\n  chain_steps: 2\n  backprop_steps: 3\n", [],
         r"model\.backprop_steps: must be between 1 and chain_steps \(2\)"),
        ("name: x\n", ["model.architecture=conv9"],
         r"`overrides` model\.architecture: unknown architecture 'conv9'; did you mean 'conv8'\? "
         r"\(known: .*mlp"),
        ("name: x\ndata:\n  dataset: digitz\n", [],
         r"r\.yaml:3: data\.dataset: unknown dataset 'digitz'; did you mean 'digits'\?"),
        ("name: x\n", ["model.options.widht=8"],
         r"`overrides` model\.options\.widht: unknown option for architecture 'conv8'; did you mean "
         r"'width'\?"),
        ("name: x\n", ["train.lr_d=fast"], r"`overrides` train\.lr_d: expected a number or null, got 'fast'"),
        ("name: x\n", ["train.lr_d=-1.0"], r"`overrides` train\.lr_d: must be in \(0, 1\.0\] or null"),
        ("name: x\n", ["train.lr=1e308"], r"`overrides` train\.lr: must be in \(0, 1\.0\], got 1e\+308"),
        ("name: x\n", ["train.lr=.inf"], r"`overrides` train\.lr: must be in \(0, 1\.0\], got inf"),
        ("name: x\n", ["train.calibration_steps=1000000000000"],
         r"train\.calibration_steps: must be between 0 \(off\) and 1,000,000, got 1000000000000"),
        ("name: x\n", ["train.calibration_chains=100000000000"],
         r"train\.calibration_chains: must be between 2 \(batch statistics\) and 65,536"),
        ("name: x\n", ["model.chain_steps=10000000"],
         r"model\.chain_steps: must be between 1 \(ALI\) and 1,000,000, got 10000000"),
        ("name: x\n", ["train.iterations=10000000000"], r"train\.iterations: must be between 1 and "),
        ("name: x\n", ["data.batch_size=1000000"], r"data\.batch_size: must be between 1 and 65,536"),
        ("name: x\n", ["eval.inpaint_steps=10000000"], r"eval\.inpaint_steps: must be between 1 and "),
        ("name: x\n", ["eval.draws=5000"], r"eval\.draws: must be between 1 and 1,000, got 5000"),
        ("name: x\n", ["model.r1=.nan"], r"model\.r1: must be finite and >= 0"),
        ("name: x\n", ["model.z_consistency=.inf"], r"model\.z_consistency: must be finite"),
        ("name: x\n", ["train.device=gpu"], r"train\.device: expected auto, cpu, cuda, cuda:N or mps"),
        ("name: x\n", ["model.z_dim"], r"`overrides` 'model\.z_dim': expected KEY=VALUE"),
        ("name: x\nseed: 1\n", ["seed.value=3"], r"`overrides` seed\.value: seed is a value, not a section"),
        ("name: x\n", ["seed.value=3"], r"`overrides` seed: expected an integer, got \{'value': 3\}"),
        ("name: x\nmodel: 3\n", [], r"model: expected a mapping of keys, got 3"),
        ("name: x\nmodel:\n  chain_steps: 2\n  critic_states: 3\n", [],
         r"r\.yaml:4: model\.critic_states: must be between 1 and chain_steps \(2\), got 3"),
        ("name: x\n", ["model.persistent=1.5"], r"`overrides` model\.persistent: must be in \[0, 1\]"),
        ("name: x\n", ["model.r1=-1"], r"`overrides` model\.r1: must be finite and >= 0 \(0 = off\)"),
        ("name: x\n", ["model.decoder_noise=-2"], r"`overrides` model\.decoder_noise: must be >= 0"),
        ("name: x\n", ["model.spectral_norm=maybe"],
         r"`overrides` model\.spectral_norm: expected true or false"),
        ("name: x\ndata:\n  missing: half\n", [],
         r"r\.yaml:3: data\.missing: unknown mask process 'half'; expected one of .*window-K"),
        ("name: x\n", ["data.missing=random-50", "data.corruption.name=blur"],
         r"`overrides` data\.corruption: cannot be combined with data\.missing"),
        ("name: x\n", ["data.corruption.options.sigma=1"],
         r"data\.corruption\.options: needs data\.corruption\.name"),
        ("name: x\n", ["data.missing=random-50", "train.missing=ambient", "model.z_consistency=1"],
         r"model\.z_consistency: is not available with train\.missing: ambient"),
        ("name: x\n", ["data.missing=random-50", "model.pack=2", "model.stationarity=2"],
         r"model\.stationarity: runs chains from data items, so it needs complete"),
        ("name: x\n", ["train.missing_steps=0"],
         r"`overrides` train\.missing_steps: must be between 1 and 1,000,000"),
        ("name: x\n", ["train.corruption=learn"], r"train\.corruption: expected match \| direct"),
        ("name: x\n", ["eval.masks=[nope]"],
         r"`overrides` eval\.masks\[0\]: unknown mask 'nope'; expected one"),
        ("name: x\n", ["eval.masks=[center, '']"], r"eval\.masks\[1\]: unknown mask ''"),
        ("name: x\n", ["eval.metrics=[imputation]"],
         r"eval\.metrics: imputation needs data\.missing or data\.corruption"),
    ],
)
def test_errors_name_the_key_and_suggest(tmp_path, text, overrides, pattern):
    with pytest.raises(RecipeError, match=pattern) as info:
        load_recipe(write(tmp_path, text), overrides=overrides)
    assert "\n" not in str(info.value)


def test_yaml_syntax_error_gives_the_line(tmp_path):
    with pytest.raises(RecipeError, match=r"r\.yaml:4: invalid YAML"):
        load_recipe(write(tmp_path, "name: x\nmodel:\n  chain_steps: [3\n"))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(RecipeError, match="nope.yaml: recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="the recipe is empty"):
        load_recipe(write(tmp_path, "# nothing\n"))


def test_round_trip_through_yaml(tmp_path):
    recipe = load_recipe(write(tmp_path, "name: x\n"), overrides=["model.options.width=8"])
    again = recipe_from_dict(yaml.safe_load(recipe.to_yaml()))
    assert again == recipe


def test_differences_list_changed_keys():
    a = recipe_from_dict({"name": "x"})
    b = recipe_from_dict({"name": "x", "model": {"chain_steps": 5}, "train": {"iterations": 10}})
    assert recipe_differences(a, b) == ["model.chain_steps: 3 -> 5", "train.iterations: 3000 -> 10"]
    assert recipe_differences(a, a) == []


def test_eval_best_may_pick_a_score_of_a_higher_latent_layer():
    recipe = recipe_from_dict({"name": "x", "model": {"z_dim": [8, 4]},
                               "eval": {"metrics": ["probe"], "every": 10, "best": "probe_z2_error"}})
    assert recipe.eval.best == "probe_z2_error"
    with pytest.raises(RecipeError, match="eval.best: 'probe_z2_error' is not a score of eval.metrics"):
        recipe_from_dict({"name": "x", "eval": {"metrics": ["probe"], "every": 10,
                                                "best": "probe_z2_error"}})


# ------------------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("data, pattern", [
    ("name: x\n".encode("utf-16"), r"r\.yaml: the recipe is UTF-16 text; save it as UTF-8"),
    ("name: x\nmodel:\n  architecture: caf\xe9\n".encode("latin-1"),
     r"r\.yaml:3: not UTF-8 text \(byte 34\)"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", r"r\.yaml:1: not UTF-8 text \(byte 1\)"),
    (b"name: x\nseed: 1\x00\n", r"r\.yaml:2: a NUL character; a recipe is a YAML text file"),
    (b"name: x\nmodel:\n  options: &a {width: 8}\ntrain: *a\n",
     r"r\.yaml:4: invalid YAML: recipes may not use YAML aliases \(\*name\)"),
    (b"a: &a [*a]\n", r"invalid YAML: recipes may not use YAML aliases"),
    (b"name: x\nseed: !!python/object:os.system {}\n",
     r"r\.yaml:2: invalid YAML: could not determine a constructor"),
    (b"name: x\nseed: 18446744073709551616\n", r"seed: must be in \[0, 2\*\*63\)"),
    (b"name: ..\n", r"name: must be a printable name"),
    (("name: " + "n" * 5000 + "\n").encode(), r"name: must be a printable name .*got 'nnnn.*…$"),
    (b"name: x\nmodel:\n  z_dim: " + b"9" * 5000 + b"\n", r"invalid YAML: a number too long to read"),
    (b"name: x\nmodel:\n  z_dim: '" + b"9" * 5000 + b"'\n", r"model\.z_dim: expected .*, got '9999.*…$"),
])
def test_hostile_recipe_files_are_one_short_line(tmp_path, data, pattern):
    path = tmp_path / "r.yaml"
    path.write_bytes(data)
    with pytest.raises(RecipeError, match=pattern) as info:
        load_recipe(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_a_billion_laughs_recipe_is_refused_at_once(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\nname: x\n")
    with pytest.raises(RecipeError, match="may not use YAML aliases"):
        load_recipe(path)


def test_a_huge_recipe_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("name: x\n" + "# padding\n" * 120_000)
    with pytest.raises(RecipeError, match=r"big\.yaml: 1,200,008 bytes; a recipe is a small YAML file"):
        load_recipe(path)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_give_a_recipe_or_a_recipe_error(tmp_path, data):
    path = tmp_path / "any.yaml"
    path.write_bytes(data)
    try:
        assert isinstance(load_recipe(path), Recipe)
    except RecipeError as exc:
        assert "\n" not in str(exc)


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
KEYS = st.sampled_from(["seed", "name", "data.batch_size", "data.missing", "data.corruption.name",
                        "data.corruption.options.sigma", "model.z_dim", "model.options.width",
                        "model.chain_steps", "train.lr", "train.betas", "train.missing",
                        "eval.masks", "eval.metrics", "model", "train"])


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(key=KEYS | st.text(max_size=20), value=YAML_VALUES | st.text(max_size=40))
def test_any_override_gives_a_recipe_or_a_recipe_error(key, value):
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    try:
        assert isinstance(recipe_from_dict({"name": "x"}, [f"{key}={text}"]), Recipe)
    except RecipeError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400


def test_shipped_recipes_are_found_by_name():
    assert shipped_recipe("table") == REPO / "recipes" / "table.yaml"
    assert load_recipe(shipped_recipe("digits")).data.dataset == "digits"
    with pytest.raises(RecipeError, match=r"^no shipped recipe 'tabel' \(there are cifar10, .*, "
                       r"table\); did you mean 'table'\?$"):
        shipped_recipe("tabel")


def test_an_installed_wheel_ships_the_recipes(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:  # pyproject's `license = "MIT"` (PEP 639)
        pytest.skip(f"setuptools {setuptools.__version__} cannot build this project offline (77+)")
    source = tmp_path / "source"  # a copy: setuptools writes build/ into the tree it builds
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("gibbsnet_plugin", "cli", "recipes"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--no-build-isolation", "-w", str(tmp_path / "wheel"), str(source)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(next((tmp_path / "wheel").glob("*.whl"))) as wheel:
        wheel.extractall(tmp_path / "site")
    found = subprocess.run([sys.executable, "-c", "import gibbsnet_plugin.recipe as r; "
                            "print(r.shipped_recipe('table'))"], cwd=tmp_path, capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    assert found.stdout.strip() == str(tmp_path / "site" / "gibbsnet_plugin" / "recipes" / "table.yaml")
