"""The README's first hour runs as written, in order, in a fresh clone (on a tiny run)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = ["--set", "train.iterations=20", "--set", "train.calibration_steps=20",
        "--set", "train.sample_every=20", "--set", "train.checkpoint_every=20"]
"""Appended to every `gibbsnet train`: the commands are the README's, the training is short."""


def first_hour_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## The first hour", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's first hour has no bash block"
    return [line for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_the_readme_first_hour_runs_in_order_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    gibbsnet = [sys.executable, "-m", "gibbsnet_cli.main"]

    def run(argv: list[str]) -> None:
        result = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{shlex.join(argv)}: {result.stderr[-2000:]}"

    run([*gibbsnet, "train", "recipes/digits.yaml", *TINY])  # what `make train` does
    outputs = []
    for line in first_hour_commands():
        argv = shlex.split(line)
        if argv[:2] == ["source", ".venv/bin/activate"]:
            continue  # the test runs in the environment that runs the tests
        if argv[0] == "gibbsnet":
            argv = [*gibbsnet, *argv[1:], *(TINY if argv[1] == "train" else [])]
            outputs += [argv[i + 1] for i, a in enumerate(argv) if a in ("--out", "--trajectory")]
        run(argv)
    assert outputs and all((clone / out).exists() for out in outputs), outputs
    assert (clone / "scratch" / "digits-model" / "model.safetensors").exists()
