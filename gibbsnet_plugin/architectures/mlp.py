"""``mlp``: fully connected networks for data of any shape (flattened)."""

from __future__ import annotations

import math

from torch import nn

from gibbsnet_plugin.architectures.base import (
    Architecture,
    GaussianEncoder,
    JointDiscriminator,
    NoisyDecoder,
    Norm,
    Output,
    Posterior,
    check_common_options,
    lrelu,
    mlp,
)
from gibbsnet_plugin.registry import ARCHITECTURES


@ARCHITECTURES.register("mlp")
def build(
    x_shape: tuple[int, ...],
    z_dim: int,
    hidden: tuple[int, ...] | list[int] = (512, 512),
    posterior: Posterior = "sigmoid",
    standardize: bool = True,
    decoder_noise: int = 16,
    dropout: float = 0.2,
    norm: Norm = "batch",
    output: Output = "tanh",
) -> Architecture:
    """Encoder and decoder MLPs with ``hidden`` widths (``norm`` between layers) and a joint
    discriminator whose x and z branches meet after one hidden layer each.

    ``output``: the decoder's last activation, ``tanh`` (x in [-1, 1], for images) or ``linear``
    (unbounded x, e.g. the 2-D mixtures ``grid25`` and ``ring8``); checked by ``NoisyDecoder``.
    """
    check_common_options(posterior, decoder_noise, dropout, norm)
    hidden = list(hidden)
    if not hidden or any(h < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty list of positive widths, got {hidden}")
    n_x = math.prod(x_shape)
    encoder = GaussianEncoder(
        nn.Sequential(nn.Flatten(), mlp([n_x, *hidden, 2 * z_dim], lrelu, norm=norm)),
        z_dim, posterior, standardize,
    )
    decoder = NoisyDecoder(
        nn.Sequential(
            mlp([z_dim + decoder_noise, *hidden[::-1], n_x], nn.ReLU, norm=norm),
            nn.Unflatten(1, tuple(x_shape)),
        ),
        decoder_noise,
        output,
    )
    h = hidden[0]
    discriminator = JointDiscriminator(
        nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(n_x, h), lrelu()),
        nn.Sequential(nn.Linear(z_dim, h), lrelu()),
        mlp([2 * h, *hidden[1:], 1], lrelu, dropout=dropout),
    )
    return Architecture(encoder, decoder, discriminator)
