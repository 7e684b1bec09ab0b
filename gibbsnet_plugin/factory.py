"""What a recipe builds: its data set (as trained on: with masks or corrupted), the data shape,
the corruption, the chain model and the two optimizers.

Training, test time and evaluation all build through these functions, so a recipe means the same
model everywhere. A factory's ``ValueError`` or ``TypeError`` becomes a ``RecipeError`` that names
the recipe key (``data.options``, ``model.options``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.optim import Optimizer
from torch.utils.data import Dataset

from gibbsnet_plugin.architectures.norms import chain_batchnorm
from gibbsnet_plugin.architectures.wrappers import draw_categories, stabilise
from gibbsnet_plugin.chains import ChainModel, check_architecture
from gibbsnet_plugin.data.base import x_of
from gibbsnet_plugin.data.missing import Corrupted, Masked, check_observed, split_item
from gibbsnet_plugin.data.units import table_codec_of
from gibbsnet_plugin.errors import GibbsnetError, MaskError, RecipeError
from gibbsnet_plugin.limits import check_memory
from gibbsnet_plugin.recipe import Recipe
from gibbsnet_plugin.registry import ARCHITECTURES, CHAINS, CORRUPTIONS, DATASETS


def data_root(recipe: Recipe) -> str:
    """The recipe's ``data.root`` with ``~`` expanded, as given to the data-set factory."""
    return str(Path(os.path.expanduser(recipe.data.root)))


def build_dataset(recipe: Recipe, train: bool) -> Dataset:
    """The recipe's data set (train or test split); factory ``ValueError``s name ``data.options``."""
    d = recipe.data
    try:
        return DATASETS.build(d.dataset, data_root(recipe), train, **d.options)
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"data.options: dataset '{d.dataset}' refused its options: {exc}") from None


def build_corruption(recipe: Recipe, x_shape: tuple[int, ...]
                     ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The recipe's corruption f for data of shape ``x_shape`` (None without one), checked on a
    batch of 2 zeros: it must run, keep the shape and give finite values."""
    c = recipe.data.corruption
    if c.name is None:
        return None
    try:
        f = CORRUPTIONS.build(c.name, tuple(x_shape), **c.options)
    except (ValueError, TypeError, GibbsnetError) as exc:
        raise RecipeError(f"data.corruption.options: corruption '{c.name}' refused: {exc}") from None
    if not callable(f):
        raise RecipeError(f"data.corruption.name: corruption '{c.name}' built "
                          f"{type(f).__name__}, not a function of x")
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            y = f(torch.zeros(2, *x_shape))
    except Exception as exc:  # a plugin's function: name it instead of a traceback
        raise RecipeError(f"data.corruption: '{c.name}' failed on a batch of shape "
                          f"{(2, *x_shape)}: {type(exc).__name__}: {exc}") from None
    shape = "×".join(map(str, x_shape))
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (2, *x_shape):
        got = "×".join(map(str, y.shape[1:])) if isinstance(y, torch.Tensor) else type(y).__name__
        raise RecipeError(f"data.corruption: '{c.name}' maps x of shape {shape} to {got}; training "
                          f"on corrupted data needs y shaped like x (D and the encoder read both)")
    if not bool(torch.isfinite(y).all()):
        raise RecipeError(f"data.corruption: '{c.name}' gives non-finite values for x = 0; check "
                          "data.corruption.options")
    return f


def build_training_data(recipe: Recipe, train: bool = True) -> Dataset:
    """The data set as training sees it: ``build_dataset`` with the recipe's mask process
    (``data.missing``: items carry masks and hide the missing values) or corruption
    (``data.corruption``: items are measurements y), each drawn once per item with the seed.

    Raises:
        MaskError: masks of the wrong shape, values other than 0/1, or every item fully hidden.
    """
    d = recipe.data
    dataset = build_dataset(recipe, train)
    x_shape = data_shape(dataset)
    source = f"data set '{d.dataset}'"
    if d.missing is not None:
        if split_item(dataset[0])[2] is not None:
            raise MaskError(f"data.missing: {source} has masks of its own; remove data.missing")
        try:
            dataset = Masked(dataset, d.missing, x_shape, recipe.seed, train)
        except MaskError as exc:
            raise RecipeError(f"data.missing: {exc}") from None
        source = f"{source} with data.missing {d.missing}"
    check_observed(dataset, source)
    f = build_corruption(recipe, x_shape)
    if f is not None and split_item(dataset[0])[2] is not None:
        raise RecipeError(f"data.corruption: {source} has masks of its own, and a corruption would "
                          "mix the missing values into the observed ones; use one or the other")
    return dataset if f is None else Corrupted(dataset, f, recipe.seed, train)


def data_shape(dataset: Dataset) -> tuple[int, ...]:
    """Shape of one item's x; raises ``GibbsnetError`` for an empty or malformed data set."""
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise GibbsnetError("the data set is empty")
    x = x_of(dataset[0])
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise GibbsnetError(f"data set items must be float tensors (or (x, y) pairs), got {type(x).__name__}")
    return tuple(x.shape)


def build_model(recipe: Recipe, x_shape: tuple[int, ...], training: bool = True,
                units: dict[str, Any] | None = None) -> ChainModel:
    """The chain model of ``recipe`` for data of shape ``x_shape``: its architecture's networks,
    checked and stabilised as the recipe says, given to the chain kind ``model.kind`` (one-layer
    GibbsNet for an int ``z_dim``, or a list of one; a hierarchy for a longer list). ``units``:
    what x means (``data_units``; a table's codec), which ``model.categories: softmax`` needs.
    Networks too large for this machine's memory (with gradients and Adam's state when
    ``training``, else the weights alone) are refused before they are allocated."""
    m = recipe.model
    sizes = m.z_dim if isinstance(m.z_dim, list) else [m.z_dim]
    z_dim: int | list[int] = sizes if len(sizes) > 1 else sizes[0]
    _check_model_size(recipe, tuple(x_shape), z_dim, 16 if training else 4)
    try:
        arch = ARCHITECTURES.build(m.architecture, tuple(x_shape), z_dim, **m.options)
    except (ValueError, TypeError) as exc:
        key = "model.z_dim" if "z_dim" in str(exc) else "model.options"
        raise RecipeError(f"{key}: architecture '{m.architecture}' refused: {exc}") from None
    if m.pack > 1:
        arch.discriminator = _packed_discriminator(recipe, tuple(x_shape), z_dim)
    check_architecture(arch, tuple(x_shape), z_dim, m.architecture, m.pack)
    try:
        arch = stabilise(arch, z_dim, spectral=m.spectral_norm, standardize=m.standardize,
                         decoder_noise=m.decoder_noise)
    except ValueError as exc:
        raise RecipeError(f"model.{exc}") from None
    if m.categories == "softmax":
        arch = _categorical(arch, units, m.category_score)
    corruption = build_corruption(recipe, x_shape) if recipe.train.corruption == "match" else None
    kind_settings = {} if m.clamped_steps is None else {"clamped_steps": m.clamped_steps}
    try:
        model = CHAINS.build(m.kind, arch, tuple(x_shape), z_dim, config=m.chain_settings(),
                             corruption=corruption, **kind_settings)
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"model.kind: chain kind '{m.kind}' refused this model: {exc}") from None
    if not isinstance(model, ChainModel):
        raise RecipeError(f"model.kind: chain kind '{m.kind}' built {type(model).__name__}, not a "
                          "ChainModel")
    model.encoder = chain_batchnorm(model.encoder)  # batch statistics per chain step at inference
    model.decoder = chain_batchnorm(model.decoder)
    return _check_batch_norm(recipe, model)


def _categorical(arch: Any, units: dict[str, Any] | None, score: str) -> Any:
    """``arch`` drawing the categorical columns of the table ``units`` describes, their
    reconstruction scored by ``score`` (unchanged for a table without one)."""
    codec = table_codec_of(units)
    if codec is None:
        raise RecipeError("model.categories: 'softmax' draws the text columns of a table; this data "
                          "set is not a table (use 'code')")
    blocks = codec.categorical_blocks
    return draw_categories(arch, blocks, score) if blocks else arch


def _packed_discriminator(recipe: Recipe, x_shape: tuple[int, ...],
                          z_dim: int | list[int]) -> torch.nn.Module:
    """The architecture's discriminator for packs of ``model.pack`` = m pairs (PacGAN): built by
    the same factory for data of m times as many channels (x_shape[0]) and latents of m times
    as many entries (channels for a spatial layer), so any architecture can be packed."""
    m = recipe.model
    packed_x = (m.pack * x_shape[0], *x_shape[1:])
    packed_z = [m.pack * d for d in z_dim] if isinstance(z_dim, list) else m.pack * z_dim
    try:
        arch = ARCHITECTURES.build(m.architecture, packed_x, packed_z, **m.options)
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"model.pack: architecture '{m.architecture}' refused packed inputs "
                          f"(x of shape {packed_x}): {exc}") from None
    return arch.discriminator


def _networks(arch: Any) -> list[torch.nn.Module]:
    """The networks of an ``Architecture`` or a ``Hierarchy``."""
    found: list[torch.nn.Module] = []
    for value in vars(arch).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, torch.nn.Module):
                found.append(item)
    return found


def _check_model_size(recipe: Recipe, x_shape: tuple[int, ...], z_dim: int | list[int],
                      bytes_per_parameter: int) -> None:
    """Refuse networks too large for this machine before allocating them: the architecture is
    built on PyTorch's meta device (no memory) to count its parameters, each taking
    ``bytes_per_parameter`` (16 in training: float32 weights, gradients, Adam's two moments)."""
    m = recipe.model
    try:
        with torch.device("meta"):
            probe = ARCHITECTURES.build(m.architecture, x_shape, z_dim, **m.options)
    except Exception:  # noqa: BLE001  (the real build reports what is wrong)
        return
    params = {id(p): p.numel() for net in _networks(probe) for p in net.parameters()}
    count = sum(params.values())
    check_memory(bytes_per_parameter * count, f"model.architecture '{m.architecture}' with these sizes "
                 f"({count:,} parameters)", "lower model.z_dim or the sizes in model.options")


def _check_batch_norm(recipe: Recipe, model: ChainModel) -> ChainModel:
    """``model``, unless it normalises over the batch (batch norm, or the standardised posterior)
    and the recipe's batches have 1 item."""
    norms = torch.nn.modules.batchnorm._BatchNorm
    if recipe.data.batch_size < 2 and any(isinstance(m, norms) for m in model.modules()):
        raise RecipeError(
            f"data.batch_size: 1 does not work with this model (architecture "
            f"'{recipe.model.architecture}' normalises over the batch: batch norm or a "
            "standardised posterior); use 2 or more, or set model.options norm: none and "
            "standardize: false where the architecture offers them")
    return model


def build_optimizers(model: ChainModel, recipe: Recipe) -> tuple[Optimizer, Optimizer]:
    """(D's optimizer, the encoder-and-decoder optimizer), as the recipe says; each prepared by
    ``idist.auto_optim`` for the current process group."""
    import ignite.distributed as idist  # noqa: PLC0415  (training only: keeps loading a model light)

    t = recipe.train
    # once each: an encoder and decoder may share weights (the tied W of ``rbm``)
    gen_params = list({id(p): p for net in (model.encoder, model.decoder)
                       for p in net.parameters()}.values())

    def make(params: Any, lr: float) -> Optimizer:
        if t.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr, betas=t.betas)
        return torch.optim.RMSprop(params, lr=lr)

    lr_d = t.lr if t.lr_d is None else t.lr_d
    return (idist.auto_optim(make(model.discriminator.parameters(), lr_d)),
            idist.auto_optim(make(gen_params, t.lr)))


__all__ = ["build_corruption", "build_dataset", "build_model", "build_optimizers",
           "build_training_data", "data_root", "data_shape"]
