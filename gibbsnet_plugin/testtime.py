"""What a trained model is used for: sampling, inpainting, reconstruction and interpolation.

The operations behind ``gibbsnet sample|inpaint|reconstruct|interpolate``, as a Python API that
returns tensors and numbers (figures are drawn by ``gibbsnet_plugin.figures``). Each operation
takes a ``seed``: the chain's randomness (prior draws, the networks' noise, the initial fill of
hidden entries) is drawn from torch's generator seeded with it, inside ``torch.random.fork_rng``
so the caller's random state is left as it was; ``seed=None`` draws from the current state instead.
Images are tensors (B, *x_shape) in the data's range ([-1, 1] for images); results are on the
model's device.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gibbsnet_plugin.calibration import calibrate_batchnorm, end_calibration_steps, is_calibrated
from gibbsnet_plugin.chains import (
    ChainModel,
    ChainStates,
    StepCallback,
    check_corrected,
    corrected_states,
    mode_layers,
)
from gibbsnet_plugin.checkpoint import Trained, load_trained
from gibbsnet_plugin.data.base import x_of
from gibbsnet_plugin.data.masks import check_mask
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.factory import build_dataset
from gibbsnet_plugin.limits import MAX_COUNT, MAX_STEPS, check_memory
from gibbsnet_plugin.metrics.pixels import inpaint_scores
from gibbsnet_plugin.recipe import Recipe
from gibbsnet_plugin.utils import seeded

SPLITS = ("train", "test")


Run = Trained
"""A trained model (eval mode), its training recipe, the checkpoint it came from and its data's
units (``checkpoint.Trained``)."""


def load_run(run_or_checkpoint: str | Path, device: str | torch.device | None = None,
             progress: Callable[[int, int], None] | None = None) -> Run:
    """The model and recipe of a run directory (its ``checkpoints/last.pt``), checkpoint file or
    exported model, on ``device`` (``auto`` or None: CUDA when available, else CPU), ready to
    sample: a checkpoint saved before training ended, whose batch-norm statistics of the long run
    were not measured yet (``calibration``), is measured first, as the end of training would,
    with ``progress(chain steps done, of how many)`` called as it advances (from 0).

    Raises:
        DeviceError: the device is not available here.
        GibbsnetError: the path is neither a run directory nor a checkpoint, or the weights do not
            fit the architecture its recipe names (one-line messages).
    """
    run = load_trained(run_or_checkpoint, device=device)
    t, model = run.recipe.train, run.model
    steps = end_calibration_steps(run.recipe, model)
    if steps and not is_calibrated(model, steps):
        if progress is not None:
            progress(0, steps)
        calibrate_batchnorm(model, t.calibration_chains, steps, run.recipe.seed,
                            None if progress is None else lambda done: progress(done, steps),
                            trained=model.trained_steps)
    return run


def default_record(steps: int) -> list[int]:
    """Steps worth showing in a trajectory of a chain of ``steps``: 1, 2, 5, 10, 20, 50, ...
    below ``steps``, then ``steps``."""
    chosen, scale = [], 1
    while scale < steps:
        chosen += [d * scale for d in (1, 2, 5) if d * scale < steps]
        scale *= 10
    return [*chosen, steps]


def gif_steps(steps: int, max_frames: int = 100) -> list[int]:
    """Frames for an animation of a chain of ``steps``: every step up to ``max_frames`` steps,
    else ``max_frames`` steps from 1 to ``steps``, spaced geometrically (and at least one apart,
    so the early frames are consecutive steps)."""
    if steps <= max_frames:
        return list(range(1, steps + 1))
    chosen: list[int] = []
    for i in range(max_frames):
        chosen.append(max(round(steps ** (i / (max_frames - 1))), chosen[-1] + 1 if chosen else 1))
    return chosen


@dataclass
class Chains:
    """Unclamped chains: ``x`` (num, *x_shape), their states after ``steps``; ``frames``
    (num, len(record), *x_shape), the states at the ``record``ed steps (None when none were asked
    for); ``start``, the images the chains started from (None: from the prior); ``acceptance``,
    the share of independent proposals accepted (None when none were made)."""

    x: torch.Tensor
    steps: int
    record: list[int]
    frames: torch.Tensor | None
    start: torch.Tensor | None
    acceptance: float | None = None


def check_independent(model: ChainModel, n: int, independent: float) -> None:
    """Refuse, before any work, discriminator-corrected chains that cannot run
    (``chains.check_corrected``): ``independent`` outside [0, 1], a model whose D cannot judge its
    states, or ``n`` chains that do not split into D's packs.

    Raises:
        GibbsnetError: one line that says what to change.
    """
    try:
        check_corrected(model, n, independent)
    except ValueError as exc:
        raise GibbsnetError(f"`independent`: {exc}") from None


def sample(
    model: ChainModel, num: int, steps: int | None = None, seed: int | None = 0,
    record: Sequence[int] = (), start: torch.Tensor | None = None,
    progress: StepCallback | None = None, independent: float = 0.0,
) -> Chains:
    """Run ``num`` unclamped chains for ``steps`` (default: the model's ``chain_steps``).

    Args:
        record: steps whose states to keep as well (for a trajectory or an animation); the chain
            runs to the last of ``steps`` and ``record``, keeping only those states.
        start: images (B, *x_shape) to start from instead of the prior: z0 = enc(image), so the
            chains show where the model takes them (``num`` is then B).
        progress: called with t after each step t.
        independent: the probability, per chain and step, of a Metropolis-Hastings independence
            move that D accepts or rejects (``chains.corrected_states``); 0 is the plain chain.
            With D's packs of ``model.pack``, the number of chains must be a multiple of it.
    With ``start=None``, no ``record`` and ``independent=0``, the result equals
    ``model.sample(num, steps)`` drawn right after ``torch.manual_seed(seed)``; ``steps=1`` is
    one decoder pass from the prior.
    """
    steps = model.chain_steps if steps is None else steps
    n = len(start) if start is not None else num
    check_chains(model, n, steps, record)
    check_independent(model, n, independent)
    wanted = sorted(set(record) | {steps})
    with seeded(seed, model.device):
        z0 = None
        if start is not None:
            start = start.to(model.device)
            with torch.no_grad():
                z0 = model.encode(start)
        chains = corrected_states(model, n, wanted, independent, progress, z0=z0)
    all_frames = torch.stack([state[0] for state in chains.states], dim=1)
    kept = sorted(set(record))
    frames = all_frames[:, [wanted.index(t) for t in kept]] if kept else None
    return Chains(all_frames[:, wanted.index(steps)], steps, kept, frames, start, chains.acceptance)


@dataclass
class ModeChains:
    """Chains in a mode of being: ``states`` (every layer, and the free-running copies of the
    impotent ones, at the recorded steps), the names of the ``clamped`` and ``impotent`` layers,
    the ``images`` that clamps without a file took their values from (None: none needed), and
    the share of independent proposals accepted (None when none were made)."""

    states: ChainStates
    clamped: list[str]
    impotent: list[str]
    images: torch.Tensor | None
    acceptance: float | None = None


def _clamp_spec(spec: str, names: list[str]) -> tuple[int, str | None]:
    name, equals, path = spec.partition("=")
    if name not in names:
        raise GibbsnetError(f"`clamp` {spec}: this model has layers {', '.join(names)}")
    if equals and not path:
        raise GibbsnetError(f"`clamp` {spec}: expected {name}=FILE.npy, or {name} alone for the "
                            "images' values")
    return names.index(name), path or None


def _clamp_file(spec: str, path: str, shape: tuple[int, ...], num: int) -> torch.Tensor:
    file = Path(os.path.expanduser(path))
    if file.suffix.lower() != ".npy":
        raise GibbsnetError(f"`clamp` {spec}: expected a .npy file of that layer's values")
    try:
        value = torch.from_numpy(np.load(file, allow_pickle=False)).float()
    except (OSError, ValueError) as exc:
        raise GibbsnetError(f"`clamp` {spec}: cannot read {file} ({exc})") from None
    if tuple(value.shape) not in (tuple(shape), (num, *shape)):
        raise GibbsnetError(f"`clamp` {spec}: the array has shape {tuple(value.shape)}; expected "
                            f"{tuple(shape)} or {(num, *shape)}")
    return value


def _mode_layers(model: ChainModel, mode: str | None, clamp: Sequence[str],
                 impotent: Sequence[str]) -> tuple[dict[int, str | None], set[int]]:
    """The clamped layers of a mode and ``clamp`` (layer -> .npy path, or None for a bare clamp
    that takes the images' values) and the impotent layers; one-line errors naming the parameter."""
    names = model.layer_names()
    layers: dict[int, str | None] = {}
    hidden: set[int] = set()
    if mode is not None:
        try:
            preset, hidden = mode_layers(mode, model.levels)
        except ValueError as exc:
            raise GibbsnetError(f"`mode`: {exc}") from None
        layers = dict.fromkeys(preset)
    for spec in clamp:
        layer, path = _clamp_spec(spec, names)
        layers[layer] = path
    for name in impotent:
        if name not in names:
            raise GibbsnetError(f"`impotent` {name}: this model has layers {', '.join(names)}")
        hidden.add(names.index(name))
    return layers, hidden


def modes_need_images(model: ChainModel, mode: str | None = None, clamp: Sequence[str] = ()) -> bool:
    """Whether ``modes`` with this ``mode`` and ``clamp`` takes values from images (a clamped
    layer without a .npy file); raises the same errors as ``modes`` for a bad mode or layer."""
    layers, _ = _mode_layers(model, mode, clamp, ())
    return any(path is None for path in layers.values())


def modes(
    model: ChainModel, num: int, steps: int | None = None, mode: str | None = None,
    clamp: Sequence[str] = (), impotent: Sequence[str] = (), images: torch.Tensor | None = None,
    seed: int | None = 0, record: Sequence[int] = (), progress: StepCallback | None = None,
    independent: float = 0.0,
) -> ModeChains:
    """Run ``num`` chains of a latent hierarchy for ``steps`` (default ``chain_steps``) in a mode of
    being (see ``ChainModel.run_chain``).

    Args:
        mode: a preset of ``hierarchy.MODES`` (dreaming, ready-to-hand, daydreaming,
            present-at-hand); its clamped layers take their values from ``images``.
        clamp: more clamped layers, ``"z2=FILE.npy"`` (values of shape (d) or (num, d)) or a bare
            name such as ``"x"`` or ``"z2"`` (the images, or their encodings at that layer).
        impotent: names of impotent layers, e.g. ``["x"]``.
        images: (num, *x_shape), needed by bare clamps (e.g. from ``dataset_images``).
        independent: D-corrected independence moves, as in ``sample``; for dreaming only (no
            clamped or impotent layer), whose chain is the unclamped one.
    Raises:
        GibbsnetError: a one-layer model, an unknown mode or layer, an unreadable or misshapen
            .npy file, a bare clamp without images, an impotent layer of a HALI model, or
            ``independent`` above 0 with a clamped or impotent layer.
    """
    layers, hidden = _mode_layers(model, mode, clamp, impotent)
    names = model.layer_names()
    steps = model.chain_steps if steps is None else steps
    check_chains(model, len(images) if images is not None else num, steps, record)
    if independent:
        if layers or hidden:
            raise GibbsnetError("`independent`: independent proposals correct the unclamped chain "
                                "(dreaming); a chain with clamped or impotent layers has no D "
                                "trained on it, so drop `independent` or the clamped and "
                                "impotent layers")
        check_independent(model, num, independent)
        with seeded(seed, model.device):
            chains = corrected_states(model, num, sorted(set(record) | {steps}), independent, progress)
        layers_at = [torch.stack(layer, dim=1) for layer in zip(*chains.states, strict=True)]
        return ModeChains(ChainStates(chains.steps, layers_at, {}), [], [], None, chains.acceptance)
    shapes = [model.x_shape, *model.latent_shapes]
    bare = [layer for layer, path in layers.items() if path is None]
    if bare and images is None:
        raise GibbsnetError(f"clamping {', '.join(names[i] for i in bare)} needs images (their "
                            "values or encodings); give some")
    n = len(images) if bare else num
    with seeded(seed, model.device):
        values: dict[int, torch.Tensor] = {}
        if bare:
            images = images.to(model.device)
            with torch.no_grad():
                encoded = (images, *model.encode(images))
            values = {layer: encoded[layer] for layer in bare}
        for layer, path in layers.items():
            if path is not None:
                values[layer] = _clamp_file(f"{names[layer]}={path}", path, shapes[layer], n)
        states = model.run_chain(n, sorted(set(record) | {steps}), values, hidden, progress)
    return ModeChains(states, [names[i] for i in sorted(layers)], [names[i] for i in sorted(hidden)],
                      images if bare else None)


def imagined(model: ChainModel, states: ChainStates, seed: int | None = 0) -> torch.Tensor:
    """x at the recorded steps of ``states`` (n, steps, *x_shape), or, when x is impotent (its
    shown value is the clamp), x decoded from the chain's z1: what the latents imagine (the
    decoder's noise drawn with ``seed``, as in ``modes``)."""
    if 0 not in states.copies:
        return states.layers[0]
    z1 = states.layers[1]
    with seeded(seed, model.device), torch.no_grad():
        x = model.decode(z1.flatten(0, 1).to(model.device))
    return x.view(*z1.shape[:2], *model.x_shape)


def dataset_images(recipe: Recipe, split: str, num: int, x_shape: tuple[int, ...]) -> torch.Tensor:
    """The first ``num`` images (fewer when the split is smaller) of the recipe's data set split
    (``train`` or ``test``), shape (n, *x_shape); raises ``GibbsnetError`` when they do not have
    the model's shape."""
    if split not in SPLITS:
        raise GibbsnetError(f"split '{split}': expected one of {', '.join(SPLITS)}")
    dataset = build_dataset(recipe, train=split == "train")
    items = [dataset[i] for i in range(min(num, len(dataset)))]  # type: ignore[arg-type]
    if not items:
        raise GibbsnetError(f"the {split} split of data set '{recipe.data.dataset}' is empty")
    x = torch.stack([x_of(item) for item in items])
    if tuple(x.shape[1:]) != tuple(x_shape):
        raise GibbsnetError(
            f"data set '{recipe.data.dataset}' gives items of shape {tuple(x.shape[1:])}; "
            f"the model expects {tuple(x_shape)}"
        )
    return x


@dataclass
class Inpainting:
    """``original`` (B, *x_shape), the ``mask`` (1 = observed), the chain's ``filled`` result
    (observed entries equal to ``original``'s bit for bit), ``scores``
    (``metrics.scores.inpaint_scores``) and ``acceptance``, the share of independent proposals
    accepted (None when none were made)."""

    original: torch.Tensor
    mask: torch.Tensor
    filled: torch.Tensor
    scores: dict[str, object]
    acceptance: float | None = None


def inpaint(
    model: ChainModel, x: torch.Tensor, mask: torch.Tensor, steps: int = 20, seed: int | None = 0,
    progress: StepCallback | None = None, independent: float = 0.0,
) -> Inpainting:
    """Hide the entries of ``x`` where ``mask`` is 0, run ``steps`` of the partially clamped chain,
    and score the result against ``x`` on the hidden entries.

    Args:
        x: (B, *x_shape), the originals; the chain sees only their observed entries.
        mask: (*x_shape) for the whole batch or (B, *x_shape); 1 = observed, 0 = fill.
        independent: the probability, per chain and step, of proposing a fresh partially clamped
            chain of the trained length that D accepts or rejects (``chains.corrected_states``);
            0 is the plain chain, ``model.inpaint``. With D's packs of ``model.pack``, B must be a
            multiple of it.
    Raises:
        MaskError: the mask hides nothing or observes nothing.
    """
    check_chains(model, len(x), steps)
    check_mask(mask)
    check_independent(model, len(x), independent)
    x = x.to(model.device)
    mask = torch.broadcast_to(mask.to(model.device).float(), x.shape)
    with seeded(seed, model.device):
        chains = corrected_states(model, len(x), [steps], independent, progress, x_observed=x,
                                  mask=mask)
    filled = chains.states[0][0]
    return Inpainting(x, mask, filled, inpaint_scores(filled, x, mask), chains.acceptance)


def check_chains(model: ChainModel, num: int, steps: int, record: Sequence[int] = ()) -> None:
    """Refuse, before any work, chains that cannot run: fewer than 1 or more than ``MAX_STEPS``
    steps (``steps`` and the ``record``ed ones), fewer than 1 chain, or more chains than the
    device's memory holds (the recorded states and a few working copies of x and z per chain).

    Raises:
        GibbsnetError: says which number is out of range and the limit.
    """
    longest = max([steps, *record])
    if min([steps, *record]) < 1 or longest > MAX_STEPS:
        raise GibbsnetError(f"chain steps must be between 1 and {MAX_STEPS:,}; got steps {steps:,}"
                            f"{f', recorded steps up to {max(record):,}' if record else ''}")
    if not 1 <= num <= MAX_COUNT:
        raise GibbsnetError(f"the number of chains must be between 1 and {MAX_COUNT:,}, got {num:,}")
    shapes = model.latent_shapes
    per_chain = (4 * (math.prod(model.x_shape) + sum(math.prod(s) for s in shapes))
                 * (len(set(record)) + 4))
    check_memory(num * per_chain, f"{num:,} chains", "lower `num`", model.device)


@dataclass
class Reconstruction:
    """``original`` (B, *x_shape), its ``reconstruction`` dec(enc(x)), their mean squared error
    over all entries (``mse``) and per image (``mse_per_image``)."""

    original: torch.Tensor
    reconstruction: torch.Tensor
    mse: float
    mse_per_image: list[float]


def _check_level(model: ChainModel, level: int) -> None:
    levels = model.levels
    if not 1 <= level <= levels:
        raise GibbsnetError(f"`level` {level}: this model has latent layers 1 ... {levels}")


def reconstruct(model: ChainModel, x: torch.Tensor, seed: int | None = 0, level: int = 1) -> Reconstruction:
    """x -> z = enc(x) -> x' = dec(z) for images x (B, *x_shape); for a latent hierarchy from
    layer ``level`` (see ``ChainModel.reconstruct``)."""
    _check_level(model, level)
    x = x.to(model.device)
    with seeded(seed, model.device):
        x2 = model.reconstruct(x, level)
    sq = (x2 - x).pow(2).flatten(1)
    return Reconstruction(x, x2, float(sq.mean()), sq.mean(1).tolist())


@dataclass
class Interpolation:
    """Between the latents of ``x_a`` and ``x_b`` (P, *x_shape): ``line`` (P, points, *x_shape),
    the decoded straight line z(s) = (1 - s) enc(x_a) + s enc(x_b) for s = 0 ... 1, and ``chained``
    (same shape, or None), the states after ``chain_steps`` of the chain started at each point."""

    x_a: torch.Tensor
    x_b: torch.Tensor
    line: torch.Tensor
    chained: torch.Tensor | None
    chain_steps: int


def interpolate(
    model: ChainModel, x_a: torch.Tensor, x_b: torch.Tensor, points: int = 8, chain_steps: int = 0,
    seed: int | None = 0, level: int = 1,
) -> Interpolation:
    """Decode ``points`` evenly spaced latents on the line between enc(x_a) and enc(x_b), pair by
    pair; with ``chain_steps`` > 0 also run the unclamped chain that long from each point
    (``chain_steps=1`` decodes the line again with fresh noise). For a latent hierarchy the line
    is in layer ``level`` and each point is decoded from that layer alone (``decode_level``);
    ``chain_steps`` is then refused."""
    _check_level(model, level)
    if points < 2:
        raise GibbsnetError(f"interpolation needs at least 2 points, got {points}")
    if chain_steps < 0:
        raise GibbsnetError(f"chain steps must be 0 (no chain) or more, got {chain_steps}")
    if chain_steps and model.levels > 1:
        raise GibbsnetError("`chain_steps`: a chain from the points of one latent layer of a "
                            "hierarchy would need values for the other layers; interpolate in "
                            "another layer with `level` instead")
    if x_a.shape != x_b.shape:
        raise GibbsnetError(
            f"x_a and x_b differ in shape: {tuple(x_a.shape)} and {tuple(x_b.shape)}")
    x_a, x_b = x_a.to(model.device), x_b.to(model.device)
    pairs = x_a.shape[0]
    s = torch.linspace(0, 1, points, device=model.device).view(1, points, 1)
    with seeded(seed, model.device), torch.no_grad():
        z_a, z_b = model.features(x_a, level), model.features(x_b, level)
        z = ((1 - s) * z_a[:, None] + s * z_b[:, None]).flatten(0, 1)
        line = model.decode_level(z, level).view(pairs, points, *model.x_shape)
        chained = None
        if chain_steps:
            chained = model.sample(len(z), chain_steps, z0=z).view(pairs, points, *model.x_shape)
    return Interpolation(x_a, x_b, line, chained, chain_steps)
