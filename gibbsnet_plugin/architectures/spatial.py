"""One latent layer with spatial structure, and discriminators that judge local neighbourhoods.

The GibbsNet talk's future work asks whether the chain still learns long-range structure once
the bottleneck is removed: z becomes a feature map of C channels at H/s × W/s (``z_stride`` s
of the built-in convolutional architectures), and D may judge (x, z) patch by patch
(PatchGAN, Isola et al. 2017) instead of, or besides, as a whole:

- ``global``: D convolves x and z, flattens both and judges the pair with an MLP;
- ``local``: a fully convolutional D over x brought down to z's resolution and joined with z
  gives one logit per location of z, each from a neighbourhood of (x, z) (its receptive field);
  D's logit is their mean (``LocalDiscriminator.patches`` gives them all);
- ``both``: the sum of the two logits.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from gibbsnet_plugin.architectures.base import (
    Architecture,
    JointDiscriminator,
    NoisyDecoder,
    Norm,
    Output,
    Posterior,
    SpatialGaussian,
    Standardize,
    lrelu,
    mlp,
    norm_layer,
)

Critic = Literal["global", "local", "both"]
CRITICS = ("global", "local", "both")


class LocalDiscriminator(nn.Module):
    """D(x, z) from neighbourhoods: ``x_net`` brings x (B, C, H, W) to z's grid, ``head`` reads
    it joined with z (B, C_z, h, w) and gives one logit per location.

    ``patches(x, z)``: (B, h * w) logits, one per neighbourhood; ``forward``: their mean (B,).
    """

    def __init__(self, x_net: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.x_net = x_net
        self.head = head

    def patches(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.x_net(x), z], dim=1)).flatten(1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.patches(x, z).mean(1)


class SummedCritics(nn.Module):
    """D(x, z) = sum of its critics' logits (B,): a global and a local judge together."""

    def __init__(self, *critics: nn.Module) -> None:
        super().__init__()
        self.critics = nn.ModuleList(critics)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return sum(critic(x, z).reshape(x.shape[0]) for critic in self.critics)  # type: ignore[return-value]


def _downs(stride: int) -> int:
    downs = int(math.log2(stride)) if stride >= 1 else -1
    if stride < 1 or 2 ** downs != stride:
        raise ValueError(f"z_stride must be a power of 2 (1, 2, 4, ...), got {stride}")
    return downs


def spatial_latent(
    x_shape: tuple[int, ...], channels: int, stride: int, width: int, posterior: Posterior,
    standardize: Standardize | bool, dropout: float, norm: Norm, critic: Critic = "global",
    output: Output = "tanh",
) -> Architecture:
    """Networks for a z of ``channels`` × H/``stride`` × W/``stride`` over C×H×W images.

    The encoder is a 3×3 convolution then log2(stride) stride-2 convolutions (doubling the width
    from ``width``) to the map's mean and scale (``SpatialGaussian``); the decoder mirrors it with
    transposed convolutions and an ``output`` activation (``NoisyDecoder``'s); D is ``critic``
    (see the module docstring).
    """
    if critic not in CRITICS:
        raise ValueError(f"critic must be one of {', '.join(CRITICS)}, got '{critic}'")
    c, height, w_x = x_shape
    downs = _downs(stride)
    if height % stride or w_x % stride:
        raise ValueError(f"z_stride {stride} does not divide the image sides {height}×{w_x}")
    widths = [width * 2 ** i for i in range(downs + 1)]
    h, w = height // stride, w_x // stride

    def down(dropout_in: float, first_norm: Norm) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.Dropout(dropout_in)] if dropout_in else []
        layers += [nn.Conv2d(c, widths[0], 3, 1, 1), norm_layer(first_norm, widths[0], True), lrelu()]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Conv2d(a, b, 4, 2, 1), norm_layer(first_norm, b, True), lrelu()]
        return layers

    encoder = SpatialGaussian(nn.Sequential(*down(0.0, norm), nn.Conv2d(widths[-1], 2 * channels, 3, 1, 1)),
                              channels, posterior, standardize)
    up: list[nn.Module] = [nn.Conv2d(channels, widths[-1], 3, 1, 1), norm_layer(norm, widths[-1], True),
                           nn.ReLU()]
    for a, b in zip(widths[:0:-1], widths[-2::-1], strict=True):
        up += [nn.ConvTranspose2d(a, b, 4, 2, 1), norm_layer(norm, b, True), nn.ReLU()]
    decoder = NoisyDecoder(nn.Sequential(*up, nn.Conv2d(widths[0], c, 3, 1, 1)), 0, output)

    top, hidden = widths[-1], 8 * width
    judges: list[nn.Module] = []
    if critic in ("global", "both"):
        judges.append(JointDiscriminator(
            nn.Sequential(*down(dropout, "none"), nn.Flatten()),
            nn.Sequential(nn.Conv2d(channels, top, 3, 1, 1), lrelu(), nn.Flatten(),
                          nn.Linear(top * h * w, hidden)),
            nn.Sequential(lrelu(), *mlp([top * h * w + hidden, hidden, 1], lrelu, dropout=dropout))))
    if critic in ("local", "both"):
        judges.append(LocalDiscriminator(
            nn.Sequential(*down(dropout, "none")),
            nn.Sequential(nn.Conv2d(top + channels, 2 * top, 3, 1, 1), lrelu(),
                          nn.Conv2d(2 * top, 2 * top, 1), lrelu(), nn.Conv2d(2 * top, 1, 1))))
    discriminator = judges[0] if len(judges) == 1 else SummedCritics(*judges)
    return Architecture(encoder, decoder, discriminator, latent_shape=(channels, h, w))


__all__ = ["CRITICS", "LocalDiscriminator", "SummedCritics", "spatial_latent"]
