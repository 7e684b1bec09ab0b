"""Run directories and checkpoints: layout, preparation, RNG state, and loading a trained model.

A run directory holds ``recipe.yaml``, ``checkpoints/`` (``last.pt`` and ``step_XXXXXXX.pt``),
``samples/`` and ``metrics.jsonl``. A checkpoint is a dict of state dicts (``model``,
``optimizer_d``, ``optimizer_g``, ``trainer``, ``rng``) plus ``meta`` (the resolved recipe and the
data shape), so one file is enough to rebuild the model. Checkpoints load with
``weights_only=True``: a checkpoint cannot run code.
"""

from __future__ import annotations

import random
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gibbsnet_plugin.errors import GibbsnetError, RunDirectoryError
from gibbsnet_plugin.recipe import Recipe, recipe_differences, recipe_from_dict

RECIPE_FILE = "recipe.yaml"
CHECKPOINT_DIR = "checkpoints"
SAMPLE_DIR = "samples"
METRICS_FILE = "metrics.jsonl"
LAST = "last.pt"
FORMAT_VERSION = 1

RESUMABLE_KEYS = {"train.iterations", "train.device"}
"""Recipe keys that ``--resume`` may change; any other difference is refused."""


class RNGStates:
    """The torch (CPU and CUDA), Python and NumPy generators as a checkpointable object."""

    def state_dict(self) -> dict[str, Any]:
        np_state = np.random.get_state(legacy=False)
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(),
            "numpy": {
                "bit_generator": np_state["bit_generator"],
                "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                "pos": int(np_state["state"]["pos"]),
                "has_gauss": int(np_state["has_gauss"]),
                "gauss": float(np_state["gauss"]),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        n = state["numpy"]
        np.random.set_state({
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"], "gauss": n["gauss"],
        })


class RunMeta:
    """The resolved recipe and data shape, stored in every checkpoint under ``meta``."""

    def __init__(self, recipe: Recipe, x_shape: tuple[int, ...]) -> None:
        self.recipe = recipe
        self.x_shape = tuple(x_shape)

    def state_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "recipe": self.recipe.to_dict(), "x_shape": list(self.x_shape)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise TypeError("RunMeta is written, not loaded: read it with read_checkpoint")


def _holds_run(path: Path) -> bool:
    return (path / RECIPE_FILE).exists() or (path / CHECKPOINT_DIR).exists()


def check_run_dir(out: Path, recipe: Recipe, resume: bool, force: bool) -> Path | None:
    """Check ``out`` against what was asked, changing nothing (``force`` is applied later by
    ``clear_run_dir``, once everything else has been checked).

    Returns the checkpoint to resume from (``resume=True``), else None.

    Raises:
        RunDirectoryError: ``out`` is a file; holds a run and neither ``resume`` nor ``force`` was
            given; ``resume`` without a checkpoint; or a recipe change that resume cannot take.
    """
    if out.exists() and not out.is_dir():
        raise RunDirectoryError(f"{out}: exists and is not a directory; choose another --out")
    if resume:
        last = out / CHECKPOINT_DIR / LAST
        if not last.exists():
            raise RunDirectoryError(f"{out}: no {CHECKPOINT_DIR}/{LAST} to resume from; "
                                    "train without --resume to start this run")
        old = read_checkpoint(last)["recipe"]
        changed = [line for line in recipe_differences(old, recipe)
                   if line.split(":")[0] not in RESUMABLE_KEYS]
        if changed:
            raise RunDirectoryError(
                f"{out}: --resume may only change train.iterations (and train.device); "
                f"this recipe also changes {'; '.join(changed)}"
            )
        return last
    if _holds_run(out) and not force:
        raise RunDirectoryError(
            f"{out}: already holds a run; pass --resume to continue it, --force to replace it, "
            "or --out to write elsewhere"
        )
    return None


def clear_run_dir(out: Path) -> None:
    """Delete the run files in ``out`` (recipe, checkpoints, samples, metrics); other files stay."""
    for name in (CHECKPOINT_DIR, SAMPLE_DIR):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in (RECIPE_FILE, METRICS_FILE):
        (out / name).unlink(missing_ok=True)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely; its ``meta`` is parsed into ``recipe`` (a Recipe) and ``x_shape``.

    Raises:
        GibbsnetError: the file is missing, unreadable, or not a gibbsnet checkpoint.
    """
    path = Path(path)
    # torch.save writes zip archives; checking first keeps torch's multi-line unpickling errors
    # about other kinds of files away from the user.
    if path.is_file() and not zipfile.is_zipfile(path):
        raise GibbsnetError(f"{path}: not a checkpoint; expected a run directory or a checkpoint "
                            "file (.pt) written by gibbsnet train")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GibbsnetError(f"{path}: checkpoint not found") from None
    except Exception as exc:
        raise GibbsnetError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "meta" not in ckpt:
        raise GibbsnetError(f"{path}: not a gibbsnet checkpoint (no 'model' and 'meta' entries)")
    meta = ckpt["meta"]
    ckpt["recipe"] = recipe_from_dict(meta["recipe"], source=f"{path} (recipe)")
    ckpt["x_shape"] = tuple(meta["x_shape"])
    return ckpt


def resolve_checkpoint(run_or_checkpoint: str | Path) -> Path:
    """A run directory's ``checkpoints/last.pt``, or the checkpoint file itself."""
    path = Path(run_or_checkpoint).expanduser()
    if path.is_dir():
        last = path / CHECKPOINT_DIR / LAST
        if not last.exists():
            raise GibbsnetError(
                f"{path}: expected a run directory (with {CHECKPOINT_DIR}/{LAST}) or a checkpoint file"
            )
        return last
    if not path.exists():
        raise GibbsnetError(f"{path}: no such run directory or checkpoint file")
    return path


def _state_mismatch(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> str:
    """A short description of how two state dicts differ, or an empty string."""

    def listed(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [f"{k} {tuple(found[k].shape)} vs {tuple(expected[k].shape)}"
              for k in sorted(set(expected) & set(found)) if found[k].shape != expected[k].shape]
    parts = [f"missing {listed(missing)}" if missing else "",
             f"unexpected {listed(unexpected)}" if unexpected else "",
             f"shape of {listed(shapes)}" if shapes else ""]
    return "; ".join(p for p in parts if p)


def load_model(run_or_checkpoint: str | Path, device: str | torch.device | None = None):
    """The trained ``GibbsNet`` of a run directory (its last checkpoint) or a checkpoint file.

    The architecture is rebuilt from the recipe saved in the checkpoint; the model is returned in
    eval mode on ``device`` (default: CUDA when available, else CPU).
    """
    return load_model_and_recipe(run_or_checkpoint, device)[0]


def load_model_and_recipe(run_or_checkpoint: str | Path, device: str | torch.device | None = None):
    """``(model, recipe, checkpoint path)``, reading the checkpoint once; see ``load_model``."""
    from gibbsnet_plugin.model import GibbsNet  # noqa: PLC0415  (model imports the registries)
    from gibbsnet_plugin.training import build_model  # noqa: PLC0415

    path = resolve_checkpoint(run_or_checkpoint)
    ckpt = read_checkpoint(path)
    model: GibbsNet = build_model(ckpt["recipe"], ckpt["x_shape"])
    problem = _state_mismatch(model.state_dict(), ckpt["model"])
    if problem:
        raise GibbsnetError(
            f"{path}: the weights do not fit architecture '{ckpt['recipe'].model.architecture}' "
            f"as built from the checkpoint's recipe ({problem}); was it saved by another "
            "architecture or another version of it?"
        )
    model.load_state_dict(ckpt["model"])
    if "ema" in ckpt:  # trained with train.ema: sample with the averaged encoder and decoder
        nn.ModuleDict({"encoder": model.encoder, "decoder": model.decoder}).load_state_dict(ckpt["ema"])
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval(), ckpt["recipe"], path
