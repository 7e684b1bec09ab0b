"""The package's layers (README, "Development"): the import-linter contract in pyproject.toml holds,
it catches a wrong-way import, and the commands that use a trained model never load training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TRAINING_MODULES = {"gibbsnet_plugin.training", "gibbsnet_plugin.engines",
                    "gibbsnet_plugin.engines.trainer", "gibbsnet_plugin.engines.handlers",
                    "gibbsnet_plugin.distributed", "gibbsnet_plugin.evaluation"}


def lint_imports(root: Path, *contracts: str, env: dict | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())", str(REPO / "pyproject.toml"), "--no-cache"]
    for contract in contracts:
        args += ["--contract", contract]
    return subprocess.run(args, cwd=root, capture_output=True, text=True, env=env, timeout=300)


def test_the_import_contracts_hold():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_a_wrong_way_import_breaks_the_layers_contract(tmp_path):
    shutil.copytree(REPO / "gibbsnet_plugin", tmp_path / "gibbsnet_plugin")
    shutil.copytree(REPO / "cli", tmp_path / "gibbsnet_cli")
    with (tmp_path / "gibbsnet_plugin" / "chains" / "base.py").open("a") as f:
        f.write("\nfrom gibbsnet_plugin import evaluation  # noqa\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = lint_imports(tmp_path, "layers", "acyclic", env=env)
    assert result.returncode == 1
    assert "gibbsnet_plugin.chains.base -> gibbsnet_plugin.evaluation" in result.stdout


def loaded_modules(*argv: str) -> set[str]:
    """The gibbsnet_plugin modules (and torch) that a `gibbsnet` command loads."""
    code = ("import json, sys\nfrom gibbsnet_cli.main import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
            "print(json.dumps([m for m in sys.modules if m.startswith('gibbsnet_plugin')]"
            " + ['torch'] * ('torch' in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("command", [[], ["train"], ["sample"], ["inpaint"], ["reconstruct"],
                                     ["interpolate"], ["evaluate"], ["plugins"], ["fid"], ["report"]])
def test_help_loads_neither_torch_nor_the_library(command):
    modules = loaded_modules(*command, "--help")
    assert "torch" not in modules
    assert modules <= {"gibbsnet_plugin", "gibbsnet_plugin.errors", "gibbsnet_plugin.limits"}


@pytest.mark.slow
def test_sample_loads_no_training_module_and_plugins_no_torch(run, tmp_path):
    sample = loaded_modules("sample", str(run), "--num", "4", "--out", str(tmp_path / "s.png"),
                            "--device", "cpu")
    assert "gibbsnet_plugin.testtime" in sample and (tmp_path / "s.png").exists()
    assert not sample & TRAINING_MODULES
    # the registries name what they hold without importing it
    assert loaded_modules("plugins") == {"gibbsnet_plugin", "gibbsnet_plugin.errors",
                                         "gibbsnet_plugin.limits", "gibbsnet_plugin.registry"}
