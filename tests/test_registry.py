"""Registries and plugin discovery (gibbsnet_plugin/registry.py).

Plugin behaviour is tested with a real third-party package, tests/fixtures/gibbsnet-fixture-plugin,
installed with pip into a temporary directory and found through importlib.metadata by fresh
processes (PYTHONPATH), exactly as an installed plugin would be.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import gibbsnet_plugin
from gibbsnet_plugin import registry as registry_module
from gibbsnet_plugin.errors import UnknownNameError
from gibbsnet_plugin.registry import REGISTRIES, Registry

FIXTURE = Path(__file__).parent / "fixtures" / "gibbsnet-fixture-plugin"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(FIXTURE)],
        check=True, capture_output=True, cwd=build,
    )
    return target


def run(args: list[str], plugin_path: Path | None, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "GIBBSNET_DISABLE_PLUGIN_AUTOLOAD"}
    environ.update(COLUMNS="250", PYTHONPATH=str(plugin_path or ""), **env)
    return subprocess.run(args, capture_output=True, text=True, env=environ, timeout=300)


PROBE = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import gibbsnet_plugin as gn
        names = gn.architectures.names()
    out = {"names": names, "datasets": gn.datasets.names(),
           "imported_before_use": "gibbsnet_fixture_plugin.arch" in sys.modules}
    arch = gn.architectures.build("fixture_mlp", (1, 4, 4), 3, width=8)
    out["imported_after_use"] = "gibbsnet_fixture_plugin.arch" in sys.modules
    out["arch"] = type(arch).__name__
    out["conv8_module"] = gn.architectures.get("conv8").__module__
    out["blobs"] = len(gn.datasets.build("fixture_blobs", "", True, size=10))
    try:
        gn.architectures.get("fixture_broken")
    except gn.GibbsnetError as exc:
        out["broken"] = str(exc)
    out["warnings"] = [str(w.message) for w in caught]
    print(json.dumps(out))
""")


def test_plugins_are_discovered_lazily_and_collisions_refused(plugin_path):
    result = run([sys.executable, "-c", PROBE], plugin_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"fixture_mlp", "fixture_broken", "conv8", "mlp"} <= set(out["names"])
    assert "fixture_blobs" in out["datasets"]
    assert out["imported_before_use"] is False and out["imported_after_use"] is True
    assert out["arch"] == "Architecture" and out["blobs"] == 10
    assert out["conv8_module"] == "gibbsnet_plugin.architectures.conv"
    assert "fixture_broken" in out["broken"] and "gibbsnet-fixture-plugin 0.1.0" in out["broken"]
    assert "ModuleNotFoundError" in out["broken"]
    assert any("'conv8'" in w and "refused" in w and "built-in" in w for w in out["warnings"])


def test_plugins_command_lists_sources_and_broken_plugins(plugin_path):
    result = run([sys.executable, "-m", "gibbsnet_cli.main", "plugins"], plugin_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 4}
    assert "built-in" in rows["mlp"] and "ok" in rows["mlp"]
    assert "gibbsnet-fixture-plugin 0.1.0" in rows["fixture_mlp"] and "ok" in rows["fixture_mlp"]
    assert "ModuleNotFoundError" in rows["fixture_broken"]
    assert "sys.exit(3) while being imported" in rows["fixture_exits"]
    assert "dataset" in rows["fixture_blobs"]
    assert "corruption" in rows["fixture_gain"] and "ok" in rows["fixture_gain"]
    assert "built-in" in rows["blur"]
    assert "refused" in result.stderr and "warning:" in result.stderr
    listed = json.loads(run([sys.executable, "-m", "gibbsnet_cli.main", "plugins", "--json"],
                            plugin_path).stdout)["plugins"]
    entries = {e["name"]: e for e in listed}
    assert entries["fixture_mlp"] == {"name": "fixture_mlp", "kind": "architecture",
                                      "source": "gibbsnet-fixture-plugin 0.1.0", "error": None}
    assert "ModuleNotFoundError" in entries["fixture_broken"]["error"]


def test_training_with_a_plugin_architecture_and_data_set(plugin_path, tmp_path):
    recipe = tmp_path / "plugin.yaml"
    recipe.write_text(textwrap.dedent("""
        name: plugin
        data: {dataset: fixture_blobs, batch_size: 16, options: {size: 64}}
        model: {architecture: fixture_mlp, z_dim: 3, options: {width: 8}, chain_steps: 2}
        train: {iterations: 4, log_every: 2, sample_every: 4, checkpoint_every: 4}
    """))
    result = run([sys.executable, "-m", "gibbsnet_cli.main", "train", str(recipe), "--out",
                  str(tmp_path / "run")], plugin_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()
    bad = run([sys.executable, "-m", "gibbsnet_cli.main", "train", str(recipe), "--out",
               str(tmp_path / "run2"), "--set", "model.architecture=fixture_broken"], plugin_path)
    assert bad.returncode == 2 and "failed to load" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "run2").exists()
    fails = run([sys.executable, "-m", "gibbsnet_cli.main", "train", str(recipe), "--out",
                 str(tmp_path / "run3"), "--set", "model.architecture=fixture_fails"], plugin_path)
    assert fails.returncode == 2, fails.stderr
    assert ("error: architecture 'fixture_fails' from the plugin gibbsnet-fixture-plugin 0.1.0 failed "
            "to build: RuntimeError: cuDNN is not happy today") in fails.stderr
    assert not (tmp_path / "run3").exists()


def test_a_plugin_corruption_is_applied_to_the_data_and_the_models_side(plugin_path, tmp_path):
    probe = textwrap.dedent("""
        import json, torch
        import gibbsnet_plugin as gn
        from gibbsnet_plugin.factory import build_model, build_training_data
        from gibbsnet_plugin.recipe import recipe_from_dict
        recipe = recipe_from_dict({"name": "p", "data": {"corruption": {
            "name": "fixture_gain", "options": {"gain": 0.25}}}, "model": {"architecture": "mlp"}})
        clean = gn.datasets.build("digits", "", True)[3][0]
        seen = build_training_data(recipe)[3][0]
        model = build_model(recipe, (1, 8, 8))
        try:
            recipe_from_dict({"name": "p", "data": {"corruption": {
                "name": "fixture_gain", "options": {"gane": 1}}}})
        except gn.GibbsnetError as exc:
            error = str(exc)
        print(json.dumps({"ratio": (seen / clean)[clean != 0].unique().tolist(),
                          "observe": model.observe(torch.ones(1, 1, 8, 8)).unique().tolist(),
                          "error": error}))
    """)
    result = run([sys.executable, "-c", probe], plugin_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["ratio"] == [0.25] and out["observe"] == [0.25]
    assert "data.corruption.options.gane" in out["error"] and "did you mean 'gain'" in out["error"]


def test_a_plugin_architecture_gets_the_recipes_stabilisers(plugin_path, tmp_path):
    recipe = tmp_path / "plugin.yaml"
    recipe.write_text(textwrap.dedent("""
        name: plugin
        data: {dataset: fixture_blobs, batch_size: 16, options: {size: 64}}
        model: {architecture: fixture_mlp, z_dim: 3, options: {width: 8}, chain_steps: 3,
                spectral_norm: true, standardize: true, decoder_noise: 4, r1: 1.0,
                persistent: 0.5, critic_states: 2, random_steps: true}
        train: {iterations: 4, log_every: 2, sample_every: 4, checkpoint_every: 4}
    """))
    result = run([sys.executable, "-m", "gibbsnet_cli.main", "train", str(recipe), "--out",
                  str(tmp_path / "run")], plugin_path)
    assert result.returncode == 0, result.stderr
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    keys = set(ckpt["model"])
    assert {"encoder.standardize.running_var", "decoder.noise.weight",
            "discriminator.net.0.parametrizations.weight.original"} <= keys
    assert ckpt["chains"]["layer1"].shape == (16, 3)
    sample = run([sys.executable, "-m", "gibbsnet_cli.main", "sample", str(tmp_path / "run"), "--num", "5",
                  "--out", str(tmp_path / "s.npy")], plugin_path)
    assert sample.returncode == 0, sample.stderr
    assert np.load(tmp_path / "s.npy").shape == (5, 1, 4, 4)


def test_a_plugin_hierarchy_trains_through_its_entry_point(plugin_path, tmp_path):
    recipe = tmp_path / "deep.yaml"
    recipe.write_text(textwrap.dedent("""
        name: deep
        data: {dataset: fixture_blobs, batch_size: 16, options: {size: 64}}
        model: {architecture: fixture_deep, z_dim: [3, 2], options: {width: 8}, chain_steps: 2}
        train: {iterations: 4, log_every: 2, sample_every: 4, checkpoint_every: 4}
    """))
    result = run([sys.executable, "-m", "gibbsnet_cli.main", "train", str(recipe), "--out",
                  str(tmp_path / "run")], plugin_path)
    assert result.returncode == 0, result.stderr
    keys = set(torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["model"])
    assert {"encoder.0.net.1.weight", "encoder.1.net.1.weight", "decoder.0.net.0.weight"} <= keys
    sample = run([sys.executable, "-m", "gibbsnet_cli.main", "sample", str(tmp_path / "run"), "--num", "5",
                  "--mode", "ready-to-hand", "--out", str(tmp_path / "s.npy")], plugin_path)
    assert sample.returncode == 0, sample.stderr
    assert np.load(tmp_path / "s.npy").shape == (5, 1, 4, 4)
    one = run([sys.executable, "-m", "gibbsnet_cli.main", "train", str(recipe), "--out",
               str(tmp_path / "one"), "--set", "model.z_dim=3"], plugin_path)
    assert one.returncode == 2 and "fixture_deep builds latent hierarchies only" in one.stderr


def test_autoload_can_be_disabled(plugin_path):
    result = run([sys.executable, "-c", "import gibbsnet_plugin as gn; print(gn.architectures.names())"],
                 plugin_path, GIBBSNET_DISABLE_PLUGIN_AUTOLOAD="1")
    assert result.returncode == 0, result.stderr
    assert "fixture_mlp" not in result.stdout and "mlp" in result.stdout


def test_registry_names_and_errors():
    registry: Registry = Registry("widget", "gibbsnet.test-no-such-group")
    registry.register("alpha")(lambda: 1)
    registry.register("beta")(lambda: 2)
    assert registry.names() == ["alpha", "beta"] and "alpha" in registry
    assert registry.build("beta") == 2
    message = r"unknown widget 'alpah'; did you mean 'alpha'\? \(known: alpha, beta\)"
    with pytest.raises(UnknownNameError, match=message):
        registry.get("alpah")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("alpha")(lambda: 3)
    assert [(e.name, e.source, e.error) for e in registry.entries()] == [
        ("alpha", "built-in", None), ("beta", "built-in", None)]


def test_a_plugin_chain_kind_and_metric_train_sample_and_evaluate(plugin_path, tmp_path):
    """A chain kind and a metric, one file each in a third-party package, used by name."""
    recipe = tmp_path / "lazy.yaml"
    recipe.write_text(textwrap.dedent("""
        name: lazy
        data: {dataset: digits, batch_size: 16}
        model: {architecture: mlp, kind: fixture_lazy, z_dim: 4, options: {hidden: [16]},
                chain_steps: 3, pack: 2}
        train: {iterations: 4, log_every: 2, sample_every: 0, checkpoint_every: 4}
        eval: {metrics: [fixture_brightness, reconstruction], every: 2, best: brightness_gap}
    """))
    result = run([sys.executable, "-m", "gibbsnet_cli.main", "train", str(recipe), "--out",
                  str(tmp_path / "run")], plugin_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines if "eval/brightness_gap" in line] == [2, 4]
    assert (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    evaluated = run([sys.executable, "-m", "gibbsnet_cli.main", "evaluate", str(tmp_path / "run"),
                     "--metric", "fixture_brightness", "--json"], plugin_path)
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(evaluated.stdout)["runs"][0]["scores"]
    assert set(scores) == {"brightness", "brightness_gap"} and scores["brightness_gap"] >= 0
    sample = run([sys.executable, "-m", "gibbsnet_cli.main", "sample", str(tmp_path / "run"), "--num", "3",
                  "--steps", "5", "--out", str(tmp_path / "s.npy")], plugin_path)
    assert sample.returncode == 0, sample.stderr
    assert np.load(tmp_path / "s.npy").shape == (3, 1, 8, 8)
    listed = run([sys.executable, "-m", "gibbsnet_cli.main", "plugins", "--json"], plugin_path)
    kinds = {(p["name"], p["kind"]) for p in json.loads(listed.stdout)["plugins"]}
    assert {("fixture_lazy", "chain kind"), ("fixture_brightness", "metric")} <= kinds


def index_problems(variable: str, registry: Registry) -> list[str]:
    """How ``registry``'s index (``variable`` in gibbsnet_plugin/registry.py) differs from what the
    package's modules registered with its decorator: the rows to write or remove."""
    def rows(pairs) -> dict[str, list[str]]:
        table: dict[str, list[str]] = {}
        for name, module in pairs:
            if module.startswith("gibbsnet_plugin."):  # not the tests' own (conftest)
                table.setdefault(module.removeprefix("gibbsnet_plugin."), []).append(name)
        return table

    registered = rows((name, factory.__module__) for name, factory in registry._builtins.items())
    indexed = rows(registry.index.items())
    problems = []
    for module in sorted(registered.keys() | indexed.keys()):
        names = registered.get(module, [])
        if set(names) == set(indexed.get(module, [])):
            continue
        if names:
            quoted = ", ".join(f'"{name}"' for name in [module, *names])
            problems.append(f"{variable} in gibbsnet_plugin/registry.py: the row of {module} must "
                            f"read\n    ({quoted}),")
        else:
            problems.append(f"{variable} in gibbsnet_plugin/registry.py: remove the row of {module}, "
                            "which registers none of its names")
    return problems


def test_every_registry_index_lists_exactly_what_each_built_in_module_registers():
    """The indexes are written by hand so that listing names imports nothing; every module of
    the package is imported here, and each name its decorators registered must be in the index
    under that module (and nothing else)."""
    for info in pkgutil.walk_packages(gibbsnet_plugin.__path__, "gibbsnet_plugin."):
        importlib.import_module(info.name)
    variables = {name: value for name, value in vars(registry_module).items()
                 if isinstance(value, Registry)}
    assert set(variables.values()) == set(REGISTRIES)
    problems = [problem for variable, registry in variables.items()
                for problem in index_problems(variable, registry)]
    assert not problems, "\n".join(problems)


def test_an_index_that_misses_or_misplaces_a_name_is_reported_with_the_row_to_write():
    widgets: Registry = Registry("widget", "gibbsnet.test-no-such-group", {
        "alpha": "gibbsnet_plugin.widgets.a", "gone": "gibbsnet_plugin.widgets.old"})

    def factory() -> int:
        return 1

    for name in ("alpha", "beta"):
        factory.__module__ = "gibbsnet_plugin.widgets.a"
        widgets.register(name)(factory)
    assert index_problems("WIDGETS", widgets) == [
        'WIDGETS in gibbsnet_plugin/registry.py: the row of widgets.a must read\n'
        '    ("widgets.a", "alpha", "beta"),',
        "WIDGETS in gibbsnet_plugin/registry.py: remove the row of widgets.old, which registers "
        "none of its names"]


def test_listing_every_registry_imports_none_of_the_built_in_modules():
    listing = textwrap.dedent("""
        import json, sys
        from gibbsnet_plugin.registry import REGISTRIES
        names = [name for registry in REGISTRIES for name in registry.names()]
        modules = {module for registry in REGISTRIES for module in registry.index.values()}
        print(json.dumps({"names": names, "imported": sorted(modules & set(sys.modules))}))
    """)
    result = run([sys.executable, "-c", listing], None)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"conv8", "digits", "blur", "hali", "fid"} <= set(out["names"])
    assert out["imported"] == []
