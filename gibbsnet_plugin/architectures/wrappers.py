"""Wrappers of any architecture's networks, switched on by recipe keys.

The built-in architectures carry the GibbsNet authors' tricks inside (``posterior``,
``standardize``, ``decoder_noise``, ``dropout`` options); these wrappers give the same kind of help
to a third-party architecture that has none of them:

- ``Standardized``: the encoder's z standardised per batch in training and with running statistics
  at inference (a BatchNorm without affine parameters after the encoder), as the authors'
  per-batch standardisation of the posterior sample;
- ``NoisyInput``: fresh noise mixed into the decoder's input through a learned linear map, so the
  decoder is stochastic given z;
- ``spectral_norm``: spectral normalisation of every linear and convolutional layer of D (Miyato
  et al. 2018), which bounds each layer's largest singular value by about 1;
- ``CategoricalDraws``: the decoder's entries of each categorical block of a table read as logits,
  and the block drawn as a one-hot code from their softmax (``draw_categories``); it also scores
  those logits against a row's true categories (``log_scores``), for the masked reconstruction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, get_args

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from gibbsnet_plugin.architectures.base import Architecture, Hierarchy

CategoryScore = Literal["log", "brier"]
"""How the masked reconstruction scores a categorical block (``CategoricalDraws.score``)."""
CATEGORY_SCORES: tuple[str, ...] = get_args(CategoryScore)
_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
           nn.ConvTranspose3d)


class Standardized(nn.Module):
    """``encoder(*inputs)`` standardised per latent dimension (per channel for a feature map):
    (B, *shape) -> (B, *shape)."""

    def __init__(self, encoder: nn.Module, shape: int | tuple[int, ...]) -> None:
        super().__init__()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.encoder = encoder
        self.standardize = (nn.BatchNorm1d(shape[0], affine=False) if len(shape) == 1
                            else nn.BatchNorm2d(shape[0], affine=False))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.standardize(self.encoder(*inputs))


class NoisyInput(nn.Module):
    """``decoder(z + W e)`` with e ~ N(0, I) of ``noise_dim`` fresh values per sample and a
    learned matrix W from the noise to z's shape; (B, *shape) -> the decoder's output."""

    def __init__(self, decoder: nn.Module, shape: int | tuple[int, ...], noise_dim: int) -> None:
        super().__init__()
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.decoder = decoder
        self.noise = nn.Linear(noise_dim, math.prod(self.shape), bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        e = z.new_empty(z.shape[0], self.noise.in_features).normal_()
        return self.decoder(z + self.noise(e).view(z.shape[0], *self.shape))


class CategoricalDraws(nn.Module):
    """``decoder(z)`` with each block of entries ``blocks[k] = (start, width)`` of its flattened
    output (B, n) replaced by a one-hot code (+1 for the drawn category, -1 for the others) drawn from
    the softmax of those entries: a categorical column sampled as a category, never a blend of
    two. The draw is the Gumbel-max trick, so gradients pass through its Gumbel-softmax relaxation
    at temperature ``temperature`` (straight-through, Jang et al. 2017); entries outside the
    blocks are returned as they are.

    ``score`` says how the masked reconstruction scores the blocks: ``log``, the cross-entropy of
    the logits (``log_scores``, the log score of the category probabilities), or ``brier``, the
    CRPS of the draws like any entry (for one-hot draws twice the Brier score)."""

    def __init__(self, decoder: nn.Module, blocks: list[tuple[int, int]],
                 temperature: float = 1.0, score: CategoryScore = "brier") -> None:
        super().__init__()
        if score not in CATEGORY_SCORES:
            raise ValueError(f"category_score must be 'log' or 'brier', got {score!r}")
        self.decoder = decoder
        self.blocks = [(int(start), int(width)) for start, width in blocks]
        self.temperature = temperature
        self.score = score

    def log_scores(self, logits: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross-entropy of each block of ``logits`` (the wrapped decoder's raw output, (B, ...))
        against the category that ``code`` (x's ±1 codes, same shape) holds, in nats, spread evenly
        over the block's entries: (B, n) with n = x's entries, 0 outside the blocks, and the (n,)
        bool mask of the blocks' entries."""
        raw, target = logits.flatten(1), code.flatten(1)
        scores = torch.zeros_like(raw)
        inside = torch.zeros(raw.shape[1], dtype=torch.bool, device=raw.device)
        for start, width in self.blocks:
            block = slice(start, start + width)
            ce = nn.functional.cross_entropy(raw[:, block], target[:, block].argmax(dim=1),
                                             reduction="none")
            scores[:, block] = (ce / width).unsqueeze(1)
            inside[block] = True
        return scores, inside

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """The wrapped decoder's raw output (B, ...) flattened to (B, n), each block's logits
        replaced by their softmax (its categories' probabilities), the other entries as they are."""
        out = logits.flatten(1).clone()
        for start, width in self.blocks:
            out[:, start:start + width] = torch.softmax(out[:, start:start + width], dim=1)
        return out

    @contextmanager
    def logits(self) -> Iterator[list[torch.Tensor]]:
        """Within the block, the raw output of every call of the wrapped decoder (the blocks'
        entries are logits) is appended to the list it yields."""
        outputs: list[torch.Tensor] = []
        hook = self.decoder.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        try:
            yield outputs
        finally:
            hook.remove()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z)
        x = out.flatten(1)
        parts, end = [], 0
        for start, width in self.blocks:
            parts.append(x[:, end:start])
            logits = x[:, start:start + width]
            exponential = torch.empty_like(logits).exponential_().clamp_(min=torch.finfo(logits.dtype).tiny)
            noisy = logits - exponential.log()  # + Gumbel(0, 1)
            soft = torch.softmax(noisy / self.temperature, dim=1)
            hard = nn.functional.one_hot(noisy.argmax(dim=1), width).to(soft.dtype)
            parts.append(2 * (hard - soft.detach() + soft) - 1)
            end = start + width
        parts.append(x[:, end:])
        return torch.cat(parts, dim=1).view_as(out)


def categorical_head(model: nn.Module) -> CategoricalDraws | None:
    """The ``CategoricalDraws`` inside ``model`` (a chain model or its decoder), None without one."""
    return next((m for m in model.modules() if isinstance(m, CategoricalDraws)), None)


def draw_categories(arch: Architecture | Hierarchy, blocks: list[tuple[int, int]],
                    score: CategoryScore = "brier") -> Architecture | Hierarchy:
    """``arch`` whose decoder of x (a hierarchy's first) draws each categorical block of ``blocks``
    (``(start, width)`` in x's entries, ascending, not overlapping) with ``CategoricalDraws``,
    whose reconstruction ``score`` is ``log`` or ``brier``."""
    if isinstance(arch, Hierarchy):
        decoders = [CategoricalDraws(arch.decoders[0], blocks, score=score), *arch.decoders[1:]]
        return Hierarchy(arch.encoders, decoders, arch.conditionals, arch.discriminator,
                         arch.latent_shapes)
    return Architecture(arch.encoder, CategoricalDraws(arch.decoder, blocks, score=score),
                        arch.discriminator, arch.latent_shape)


def spectral_norm(module: nn.Module) -> int:
    """Spectral-normalise, in place, every linear and convolutional layer inside ``module``;
    returns how many layers were normalised."""
    layers = [m for m in module.modules() if isinstance(m, _LAYERS)]
    for layer in layers:
        _spectral_norm(layer)
    return len(layers)


def stabilise(arch: Architecture | Hierarchy, z_dim: int | list[int], *, spectral: bool = False,
              standardize: bool = False, decoder_noise: int = 0) -> Architecture | Hierarchy:
    """``arch`` with the chosen wrappers; the networks are wrapped, not copied. In a
    ``Hierarchy`` every network that gives a latent layer is standardised, and every network that
    reads one gets the decoder noise.

    Raises:
        ValueError: ``spectral`` on a discriminator without linear or convolutional layers, or a
            negative ``decoder_noise``.
    """
    if decoder_noise < 0:
        raise ValueError(f"decoder_noise must be >= 0, got {decoder_noise}")
    if spectral and spectral_norm(arch.discriminator) == 0:
        raise ValueError("spectral_norm: the discriminator has no linear or convolutional layer")
    if isinstance(arch, Hierarchy):
        shapes = arch.shapes(list(z_dim))  # type: ignore[arg-type]

        def latent(net: nn.Module, i: int) -> nn.Module:
            return Standardized(net, shapes[i]) if standardize else net

        def noisy(net: nn.Module, i: int) -> nn.Module:
            return NoisyInput(net, shapes[i], decoder_noise) if decoder_noise else net

        return Hierarchy([latent(n, i) for i, n in enumerate(arch.encoders)],
                         [noisy(n, i) for i, n in enumerate(arch.decoders)],
                         [latent(n, i) for i, n in enumerate(arch.conditionals)],
                         arch.discriminator, arch.latent_shapes)
    shape = arch.shape(z_dim)  # type: ignore[arg-type]
    encoder = Standardized(arch.encoder, shape) if standardize else arch.encoder
    decoder = NoisyInput(arch.decoder, shape, decoder_noise) if decoder_noise else arch.decoder
    return Architecture(encoder, decoder, arch.discriminator, arch.latent_shape)


__all__ = ["CATEGORY_SCORES", "CategoricalDraws", "CategoryScore", "NoisyInput", "Standardized",
           "categorical_head", "draw_categories", "spectral_norm", "stabilise"]
