"""Checkpoints: what one holds and its format, reading one (verified against the checksums saved
with it), loading a trained model, and exported models (what a training run saves and resumes is
``run_state``'s; the run directory's layout is ``rundir``'s; the handlers that write checkpoints in
training are ``engines.checkpoints``).

A checkpoint is a dict of
state dicts (``model``, ``optimizer_d``, ``optimizer_g``, ``trainer``, ``rng``) plus ``meta``
(the resolved recipe and the data shape), so one file is enough to rebuild the model.
Checkpoints load with ``weights_only=True``: a checkpoint cannot run code.

An exported model (``export_model``) is a directory of ``model.safetensors`` (the weights to
sample with; the recipe and data shape in its metadata), ``recipe.yaml`` and a model card,
``README.md``; ``load_model`` reads it as it reads a run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gibbsnet_plugin.architectures.norms import STEP_BUFFERS
from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.errors import GibbsnetError, OutputError
from gibbsnet_plugin.factory import build_model
from gibbsnet_plugin.recipe import Recipe, recipe_from_dict
from gibbsnet_plugin.rundir import RunDir, in_checkpoint_dir, read_metrics
from gibbsnet_plugin.utils import atomic_output, resolve_device, write_text_atomic

FORMAT_VERSION = 2
"""Checkpoint format. 2: the recipe in ``meta`` holds every architecture option (resolved with the
factory's defaults). 1 (gibbsnet 0.1): options left out meant the defaults of that version, which
``migrate_recipe`` writes in."""
V1_OPTIONS = {
    "conv8": {"width": 32, "posterior": "sigmoid", "standardize": True, "decoder_noise": 16,
              "dropout": 0.2, "norm": "batch"},
    "conv28": {"width": 32, "posterior": "sigmoid", "standardize": True, "decoder_noise": 16,
               "dropout": 0.2, "norm": "batch"},
    "conv32": {"posterior": "gaussian", "standardize": False, "decoder_noise": 0, "dropout": 0.2,
               "norm": "batch"},
    "mlp": {"hidden": [512, 512], "posterior": "sigmoid", "standardize": True, "decoder_noise": 16,
            "dropout": 0.2, "norm": "batch", "output": "tanh"},
}
"""The defaults of the built-in architectures' options in checkpoint format 1."""


def _tensors(value: Any, name: str = "") -> list[tuple[str, torch.Tensor]]:
    """Every tensor inside nested dicts, lists and tuples, with its path."""
    if isinstance(value, torch.Tensor):
        return [(name, value)]
    if isinstance(value, dict):
        return [t for k in sorted(value, key=str) for t in _tensors(value[k], f"{name}/{k}")]
    if isinstance(value, (list, tuple)):
        return [t for i, v in enumerate(value) for t in _tensors(v, f"{name}/{i}")]
    return []


def tensors_digest(state: Any) -> str:
    """SHA-256 of every tensor in a (nested) state dict: paths, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name, value in _tensors(state):
        data = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


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
        damaged = _damaged_member(path)
        if damaged is not None:
            raise _damaged(path, f"the bytes of {damaged} do not match the CRC-32 saved with them")
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except GibbsnetError:
        raise
    except FileNotFoundError:
        raise GibbsnetError(f"{path}: checkpoint not found") from None
    except Exception as exc:
        # torch's messages (several lines, advice about weights_only) do not describe a damaged file
        raise GibbsnetError(f"{path}: damaged or not a gibbsnet checkpoint: torch.load failed "
                            f"({type(exc).__name__}); use another checkpoint, e.g. a "
                            "step_XXXXXXX.pt of the same run") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "meta" not in ckpt:
        raise GibbsnetError(f"{path}: not a gibbsnet checkpoint (no 'model' and 'meta' entries)")
    _check_contents(path, ckpt)
    raw = migrate_recipe(ckpt["meta"]["recipe"], ckpt["meta"].get("format", 1))
    ckpt["recipe"] = recipe_from_dict(raw, source=f"{path} (recipe)")
    ckpt["x_shape"] = tuple(ckpt["meta"]["x_shape"])
    ckpt["units"] = ckpt["meta"].get("units")
    return ckpt


def migrate_recipe(raw: dict[str, Any], version: int) -> dict[str, Any]:
    """The recipe of a checkpoint of format ``version`` as this version reads it: format 1's
    built-in architectures get the option defaults they were built with (``V1_OPTIONS``)."""
    if version >= 2:
        return raw
    model = raw.get("model")
    if not isinstance(model, dict) or model.get("architecture", "conv8") not in V1_OPTIONS:
        return raw
    options = model.get("options") or {}
    legacy = V1_OPTIONS[model.get("architecture", "conv8")]
    return {**raw, "model": {**model, "options": {**legacy, **options}}}


MAX_X_ENTRIES = 1 << 26
"""The largest data point a checkpoint may describe (entries of x_shape: 64 Mi)."""


def _damaged(path: Path, what: str) -> GibbsnetError:
    """The error for the checkpoint ``path``, damaged or foreign as ``what`` says."""
    return GibbsnetError(f"{path}: a damaged or foreign checkpoint: {what}; use another "
                         "checkpoint of the run (checkpoints/step_*.pt) or train again")


def _damaged_member(path: Path) -> str | None:
    """The name of the first file in the checkpoint's zip archive whose bytes do not match the
    CRC-32 that ``torch.save`` wrote with them, or None when all do. torch does not check these,
    and the ``sha256`` of ``RunMeta`` covers only the tensors: this catches a flipped byte in the
    pickled part (the recipe, the names of the entries) as well."""
    with zipfile.ZipFile(path) as archive:
        return archive.testzip()


def _check_contents(path: Path, ckpt: dict[str, Any]) -> None:
    """Raise ``GibbsnetError`` for a checkpoint whose entries are malformed or whose weights do
    not match the checksum saved with them."""
    with path.open("rb") as f:
        f.seek(max(path.stat().st_size - 22, 0))
        if f.read(4) != b"PK\x05\x06":
            raise _damaged(path, "bytes after the end of its archive")
    meta = ckpt["meta"]
    if not isinstance(meta, dict) or not isinstance(meta.get("recipe"), dict):
        raise _damaged(path, "'meta' holds no recipe")
    shape = meta.get("x_shape")
    if (not isinstance(shape, (list, tuple)) or not 1 <= len(shape) <= 4
            or not all(isinstance(d, int) and 0 < d <= MAX_X_ENTRIES for d in shape)
            or math.prod(shape) > MAX_X_ENTRIES):
        raise _damaged(path, f"'meta.x_shape' is not a data shape (1 to 4 positive sizes of at "
                             f"most {MAX_X_ENTRIES:,} entries in all)")
    for name in ("model", "ema"):
        entry = ckpt.get(name, {})
        if not isinstance(entry, dict) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in entry.items()):
            raise _damaged(path, f"'{name}' is not a mapping of names to tensors")
    for name, digest in (meta.get("sha256") or {}).items():
        if name not in ckpt or tensors_digest(ckpt[name]) != digest:
            raise _damaged(path, f"the tensors of '{name}' do not match the checksum saved with them")


def resolve_checkpoint(run_or_checkpoint: str | Path) -> Path:
    """A run directory's ``checkpoints/last.pt``, an exported model's ``model.safetensors``, or
    the checkpoint file itself."""
    path = Path(os.path.expanduser(run_or_checkpoint))
    if path.is_dir() and (path / EXPORT_WEIGHTS).exists():
        return path / EXPORT_WEIGHTS
    if path.is_dir():
        run = RunDir(path)
        if not run.last.exists():
            found = [p.name for _, p in run.step_checkpoints()][-3:]
            found += [run.best.name] if run.best.exists() else []
            hint = (f"; it has {', '.join(found)}: pass one of them (e.g. {run.checkpoints / found[-1]})"
                    if found else "")
            raise GibbsnetError(f"{path}: expected a run directory (with "
                                f"{run.last.relative_to(path)}) or a checkpoint file{hint}")
        return run.last
    if not path.exists():
        raise GibbsnetError(f"{path}: no such run directory or checkpoint file")
    return path


def _state_mismatch(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> str:
    """A short description of how two state dicts differ, or an empty string."""

    def listed(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

    # a batch norm of gibbsnet 0.1 has no chain-step statistics (architectures.norms)
    missing = sorted(k for k in set(expected) - set(found) if not k.endswith(STEP_BUFFERS))
    unexpected = sorted(set(found) - set(expected))
    shapes = [f"{k} {tuple(found[k].shape)} vs {tuple(expected[k].shape)}"
              for k in sorted(set(expected) & set(found)) if found[k].shape != expected[k].shape]
    parts = [f"missing {listed(missing)}" if missing else "",
             f"unexpected {listed(unexpected)}" if unexpected else "",
             f"shape of {listed(shapes)}" if shapes else ""]
    return "; ".join(p for p in parts if p)


def load_model(run_or_checkpoint: str | Path, device: str | torch.device | None = None) -> ChainModel:
    """The trained ``GibbsNet`` of a run directory (its last checkpoint) or a checkpoint file.

    The architecture is rebuilt from the recipe saved in the checkpoint; the model is returned in
    eval mode on ``device`` (default ``auto``: CUDA when available, else CPU).
    """
    return load_model_and_recipe(run_or_checkpoint, device)[0]


def load_model_and_recipe(
    run_or_checkpoint: str | Path, device: str | torch.device | None = None
) -> tuple[ChainModel, Recipe, Path]:
    """``(model, recipe, checkpoint path)``, reading the checkpoint once; see ``load_model``."""
    trained = load_trained(run_or_checkpoint, device)
    return trained.model, trained.recipe, trained.checkpoint


@dataclass
class Trained:
    """A trained model (eval mode), its training recipe, the checkpoint (or exported file) it
    came from and the units of its data (``RunMeta``; None for images)."""

    model: ChainModel
    recipe: Recipe
    checkpoint: Path
    units: dict[str, Any] | None = None


def load_trained(run_or_checkpoint: str | Path, device: str | torch.device | None = None) -> Trained:
    """The model, recipe, checkpoint path and data units of a run directory (its last
    checkpoint), a checkpoint file or an exported model, reading the file once; see ``load_model``.

    Raises:
        DeviceError: ``device`` is not available here (checked before anything is read).
        GibbsnetError: not a run directory or checkpoint, or weights that do not fit the
            architecture its recipe names.
    """
    device = resolve_device(device)
    path = resolve_checkpoint(run_or_checkpoint)
    ckpt = read_export(path) if path.name == EXPORT_WEIGHTS else read_checkpoint(path)
    model = build_model(ckpt["recipe"], ckpt["x_shape"], training=False, units=ckpt["units"])
    problem = _state_mismatch(model.state_dict(), ckpt["model"])
    if problem:
        raise GibbsnetError(
            f"{path}: the weights do not fit architecture '{ckpt['recipe'].model.architecture}' "
            f"as built from the checkpoint's recipe ({problem}); was it saved by another "
            "architecture or another version of it?"
        )
    model.load_state_dict(ckpt["model"])
    if "ema" in ckpt:  # trained with train.ema: sample with the averaged encoder and decoder
        averaged = nn.ModuleDict({"encoder": model.encoder, "decoder": model.decoder})
        problem = _state_mismatch(averaged.state_dict(), ckpt["ema"])
        if problem:
            raise _damaged(path, f"its moving averages ('ema') do not fit the model ({problem})")
        averaged.load_state_dict(ckpt["ema"])
    return Trained(model.to(device).eval(), ckpt["recipe"], path, ckpt["units"])


EXPORT_WEIGHTS = "model.safetensors"
EXPORT_FORMAT = 1
WEIGHTS_KINDS = ("auto", "ema", "raw")


def read_export(path: Path) -> dict[str, Any]:
    """An exported ``model.safetensors`` as ``read_checkpoint`` returns a checkpoint: ``model``
    (its weights), ``recipe`` and ``x_shape``.

    Raises:
        GibbsnetError: not a safetensors file written by ``export_model``.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise GibbsnetError(f"{path}: damaged or not a safetensors file ({exc}); export the run "
                            "again with export_model") from None
    try:
        info = json.loads(meta["gibbsnet"])
        raw = migrate_recipe(info["recipe"], info["checkpoint_format"])
        x_shape = tuple(int(d) for d in info["x_shape"])
    except (KeyError, TypeError, ValueError):
        raise GibbsnetError(f"{path}: a safetensors file without gibbsnet's metadata (recipe and "
                            "data shape); export the run with export_model") from None
    return {"model": state, "recipe": recipe_from_dict(raw, source=f"{path} (recipe)"),
            "x_shape": x_shape, "units": info.get("units")}


def export_model(run_or_checkpoint: str | Path, out: str | Path, weights: str = "auto",
                 force: bool = False) -> dict[str, Any]:
    """Write the model of a run directory (its last checkpoint) or checkpoint file to the
    directory ``out``: ``model.safetensors`` (the weights a test-time command samples with, the
    recipe and data shape in its metadata), ``recipe.yaml`` and a model card ``README.md`` (what
    the model is, its data, its latest scores from training and how to use it). ``load_model``
    and every test-time command read ``out`` as they read the run, and sample the same numbers.

    Args:
        weights: ``ema`` (the moving averages of the encoder and decoder; the run must have
            trained with ``train.ema``), ``raw`` (the trained weights) or ``auto`` (``ema`` when
            the checkpoint has them, as ``load_model`` samples).
        force: replace the files of an existing export in ``out``.

    Returns:
        ``out``, ``files`` (the paths written), ``weights`` (``ema`` or ``raw``) and ``source``
        (the checkpoint read).

    Raises:
        OutputError: ``out`` is a file, or holds an export and ``force`` is off. GibbsnetError: an
            unknown ``weights``, ``ema`` for a run without moving averages, or a checkpoint that
            does not load.
    """
    from safetensors.torch import save_file

    if weights not in WEIGHTS_KINDS:
        raise GibbsnetError(f"`weights` '{weights}': expected one of {', '.join(WEIGHTS_KINDS)}")
    target = Path(os.path.expanduser(out))
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: a file; `out` is the directory to export into")
    files = [target / name for name in (EXPORT_WEIGHTS, "recipe.yaml", "README.md")]
    existing = [f.name for f in files if f.exists()]
    if existing and not force:
        raise OutputError(f"{target}: already holds {', '.join(existing)}; pass `force` to replace "
                          "them or choose another directory")
    source = resolve_checkpoint(run_or_checkpoint)
    if source.name == EXPORT_WEIGHTS:
        raise GibbsnetError(f"{source.parent}: already an exported model; export its run instead")
    ckpt = read_checkpoint(source)
    has_ema = "ema" in ckpt
    if weights == "ema" and not has_ema:
        raise GibbsnetError(f"{source}: no moving averages to export (the run trained without "
                            "train.ema); use `weights` raw or auto")
    kind = "ema" if has_ema and weights != "raw" else "raw"
    model, recipe, _ = load_model_and_recipe(source, device="cpu")
    if kind == "raw" and has_ema:  # load_model samples with the averages; take the trained weights
        model.load_state_dict(ckpt["model"])
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    iteration = int(ckpt.get("trainer", {}).get("iteration", 0) or 0)
    info = {"recipe": recipe.to_dict(), "x_shape": list(ckpt["x_shape"]), "units": ckpt["units"],
            "weights": kind,
            "checkpoint_format": FORMAT_VERSION, "export_format": EXPORT_FORMAT,
            "iteration": iteration}
    target.mkdir(parents=True, exist_ok=True)
    with atomic_output(files[0]) as tmp:
        save_file(state, str(tmp), metadata={"gibbsnet": json.dumps(info)})
    write_text_atomic(files[1], recipe.to_yaml())
    write_text_atomic(files[2], model_card(model, recipe, ckpt["x_shape"], kind, iteration, source))
    return {"out": str(target), "files": [str(f) for f in files], "weights": kind,
            "source": str(source)}


def model_card(model: ChainModel, recipe: Recipe, x_shape: tuple[int, ...], weights: str,
               iteration: int, source: Path) -> str:
    """The ``README.md`` of an exported model: what it is, its data and training, the scores its
    run logged at the exported iteration, and how to use it."""
    m, d = recipe.model, recipe.data
    layers = len(m.z_dim) if isinstance(m.z_dim, list) else 1
    family = {"hali": "HALI"}.get(m.kind, "deep GibbsNet" if layers > 1 else "GibbsNet")
    kind = ("ALI model (GibbsNet with one chain step)" if family == "GibbsNet" and m.chain_steps == 1
            else f"{family} model ({m.chain_steps} chain steps)")
    shape = "×".join(map(str, x_shape))
    lines = [f"# {recipe.name}", "",
             f"A {kind} trained with gibbsnet: an encoder q(z|x) and a decoder p(x|z) "
             "trained so that the unclamped Gibbs chain started from noise matches the clamped "
             "chain of real data (GibbsNet: Lamb et al., NeurIPS 2017; ALI: Dumoulin et al., 2017).",
             "", "| | |", "|---|---|",
             f"| architecture | {m.architecture}, latent size {m.z_dim} |",
             f"| data | {d.dataset}, items of shape {shape} |",
             f"| training | {iteration:,} of {recipe.train.iterations:,} iterations, batch "
             f"{d.batch_size}, seed {recipe.seed} |",
             f"| weights | {'moving averages (train.ema)' if weights == 'ema' else 'trained weights'}"
             f", {sum(p.numel() for p in model.parameters()):,} parameters |", ""]
    run = source.parent.parent if in_checkpoint_dir(source) else None
    scores = {}
    if run is not None and RunDir(run).metrics.exists():
        evaluation = read_metrics(RunDir(run).metrics).evaluation
        scores = {name: value for name, curve in evaluation.items()
                  for step, value in curve if step == iteration}
    if scores:
        lines += [f"Scores logged by the run at iteration {iteration:,} (the recipe's `eval` "
                  "section, measured during training):", "", "| score | value |", "|---|---:|"]
        lines += [f"| {name} | {value:.4g} |" for name, value in sorted(scores.items())]
        lines += [""]
    lines += ["Measure it again, or with other metrics, from this directory:", "", "```",
              "gibbsnet evaluate THIS_DIRECTORY", "```", "", "Use it:", "", "```",
              "gibbsnet sample THIS_DIRECTORY --num 64 --out samples.png",
              "gibbsnet inpaint THIS_DIRECTORY --mask right-half --out inpainted.png", "```", "",
              "```python", "import gibbsnet_plugin as gn", "",
              'model = gn.load_model("THIS_DIRECTORY")', "x = model.sample(16)", "```", "",
              "`recipe.yaml` is the complete recipe it was trained with (`gibbsnet train "
              "recipe.yaml` trains it again).", ""]
    return "\n".join(lines)
