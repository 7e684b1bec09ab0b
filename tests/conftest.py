"""Shared fixtures: tiny recipes and runs, test-only architectures and an incomplete data set
(``test_poisoned``) registered by name, and random Inception weights in a temporary torch hub
cache."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import gibbsnet_plugin as gn

os.environ["GIBBSNET_NO_DOWNLOAD"] = "1"  # no test reaches the network; download tests unset it
from gibbsnet_plugin.data.missing import draw_mask
from gibbsnet_plugin.recipe import Recipe, recipe_from_dict

logging.getLogger("ignite").setLevel(logging.WARNING)


class Affine(nn.Module):
    """A deterministic linear map with optional reshaping; records every input it gets."""

    def __init__(self, n_in: int, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.out_shape = out_shape
        self.linear = nn.Linear(n_in, math.prod(out_shape))
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x)
        y = torch.tanh(self.linear(x.flatten(1))).reshape(x.shape[0], *self.out_shape)
        self.outputs.append(y)
        return y


class JointLinear(nn.Module):
    def __init__(self, n_x: int, z_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_x + z_dim, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.cat([x.flatten(1), z], 1))


@gn.architectures.register("test_linear")
def build_linear(x_shape: tuple[int, ...], z_dim: int) -> gn.Architecture:
    """Deterministic, noise-free networks whose calls can be inspected."""
    n_x = math.prod(x_shape)
    return gn.Architecture(Affine(n_x, (z_dim,)), Affine(z_dim, tuple(x_shape)), JointLinear(n_x, z_dim))


class NanAfter(nn.Module):
    """A decoder that outputs NaN once it has run ``after`` times in training mode."""

    def __init__(self, z_dim: int, x_shape: tuple[int, ...], after: int) -> None:
        super().__init__()
        self.inner = Affine(z_dim, x_shape)
        self.after = after
        self.calls = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        x = self.inner(z)
        return x * float("nan") if self.calls > self.after else x


@gn.architectures.register("test_nan")
def build_nan(x_shape: tuple[int, ...], z_dim: int, after: int = 10) -> gn.Architecture:
    n_x = math.prod(x_shape)
    return gn.Architecture(Affine(n_x, (z_dim,)), NanAfter(z_dim, tuple(x_shape), after),
                           JointLinear(n_x, z_dim))


SHAPE = (1, 8, 8)


class Poisoned(Dataset):
    """Incomplete data: digits with a random-70 mask per item and ``poison`` written into every
    hidden entry."""

    def __init__(self, poison: float, with_labels: bool) -> None:
        self.data = gn.datasets.build("digits", "", train=True)
        self.poison, self.with_labels = poison, with_labels

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple:
        x, y = self.data[index]
        mask = draw_mask("random-70", SHAPE, index)
        x = torch.where(mask != 0, x, torch.full_like(x, self.poison))
        return (x, y, mask) if self.with_labels else (x, mask)


@gn.datasets.register("test_poisoned")
def build_poisoned(root: str, train: bool, poison: float = math.nan, labels: bool = True) -> Poisoned:
    return Poisoned(poison, labels)


class FixedRow(nn.Module):
    """A decoder that ignores z: every item gets the learnable ``row`` of outputs."""

    def __init__(self, row: list[float]) -> None:
        super().__init__()
        self.row = nn.Parameter(torch.tensor(row))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.row.expand(z.shape[0], -1)


def tiny_recipe(**sections: dict) -> Recipe:
    """A digits recipe small enough to train in about a second; sections override keys."""
    raw = {
        "name": "tiny",
        "seed": 0,
        "data": {"dataset": "digits", "batch_size": 32},
        "model": {"architecture": "mlp", "z_dim": 8, "options": {"hidden": [32]}, "chain_steps": 2},
        "train": {"iterations": 12, "log_every": 2, "sample_every": 6, "checkpoint_every": 6,
                  "calibration_steps": 30},
    }
    for key, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(key, {}).update(values)
        else:
            raw[key] = values
    return recipe_from_dict(raw)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny digits run, trained once per test module (about a second)."""
    return gn.train(tiny_recipe(), out=tmp_path_factory.mktemp("run") / "run")


@pytest.fixture(scope="module")
def loaded(run: Path):
    """The model and recipe of ``run``, on the CPU."""
    from gibbsnet_plugin import testtime

    return testtime.load_run(run, device="cpu")


@pytest.fixture(scope="module")
def test_split(loaded):
    """The test split of ``loaded``'s data set."""
    from gibbsnet_plugin.factory import build_dataset

    return build_dataset(loaded.recipe, train=False)


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TORCH_HOME whose hub cache holds randomly initialised Inception weights (pytorch-fid's
    file name and format), for the real FID code path without the real weights."""
    from gibbsnet_plugin.metrics.inception import write_random_weights

    home = tmp_path_factory.mktemp("torch_home")
    write_random_weights(home)
    return home


@pytest.fixture
def hub(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The weights reachable only through the torch hub cache, as pytorch-fid finds them."""
    from gibbsnet_plugin.metrics.inception import WEIGHTS_ENV, WEIGHTS_FILE

    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    return torch_home / "hub" / "checkpoints" / WEIGHTS_FILE


def write_pngs(x: torch.Tensor, directory: Path) -> Path:
    """The file route: each image in [-1, 1] as an 8-bit PNG, as a user would save samples."""
    from torchvision.utils import save_image

    directory.mkdir()
    for i, image in enumerate(x):
        save_image(image, directory / f"{i:04d}.png", normalize=True, value_range=(-1, 1))
    return directory


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_recipe().to_yaml())
    return path
