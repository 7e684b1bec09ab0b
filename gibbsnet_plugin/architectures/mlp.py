"""``mlp``: fully connected networks for data of any shape (flattened)."""

from __future__ import annotations

import math

from torch import nn

from gibbsnet_plugin.architectures.base import (
    Architecture,
    Conditional,
    GaussianEncoder,
    Hierarchy,
    JointDiscriminator,
    NoisyDecoder,
    Norm,
    Output,
    Posterior,
    Standardize,
    TupleDiscriminator,
    WithLinearPath,
    WithShownCells,
    check_common_options,
    lrelu,
    mlp,
)
from gibbsnet_plugin.limits import MAX_WIDTH
from gibbsnet_plugin.registry import ARCHITECTURES


@ARCHITECTURES.register("mlp")
def build(
    x_shape: tuple[int, ...],
    z_dim: int | list[int],
    hidden: tuple[int, ...] | list[int] = (512, 512),
    posterior: Posterior = "sigmoid",
    standardize: Standardize | bool = True,
    decoder_noise: int = 16,
    dropout: float = 0.0,
    norm: Norm = "batch",
    output: Output = "tanh",
    critic_hidden: tuple[int, ...] | list[int] | None = None,
    linear_path: bool = False,
    shown_cells: bool = False,
) -> Architecture | Hierarchy:
    """Encoder and decoder MLPs with ``hidden`` widths (``norm`` between layers) and a joint
    discriminator whose x and z branches meet after one hidden layer each.

    ``critic_hidden``: D's widths (default: ``hidden``): its x and z branches have
    ``critic_hidden[0]`` units each, then the joint layers ``critic_hidden[1:]``.
    ``output``: the decoder's last activation, ``tanh`` (x in [-1, 1], for images), ``clip``
    (hard tanh: x in [-1, 1], exactly on a bound where the data are) or ``linear`` (unbounded x,
    e.g. the 2-D mixtures ``grid25`` and ``ring8``); checked by ``NoisyDecoder``.
    ``linear_path``: the decoder's output gets an affine map of z (not of its noise) added
    (``WithLinearPath``; it starts at zero).
    ``shown_cells``: the decoder of x also reads the cells a partially clamped chain holds fixed
    (their values and mask; zeros in an unclamped chain), ``WithShownCells``.
    With a list ``z_dim`` the same blocks make a ``Hierarchy``: every transition is such an MLP
    (on the flattened, concatenated inputs for the middle layers' conditionals), latent layers are
    decoded without a final activation, and D has one branch per layer.
    """
    check_common_options(posterior, decoder_noise, dropout, norm, standardize)
    hidden = _widths("hidden", hidden)
    critic = hidden if critic_hidden is None else _widths("critic_hidden", critic_hidden)
    for name, value in (("linear_path", linear_path), ("shown_cells", shown_cells)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
    if isinstance(z_dim, list):
        return _hierarchy(x_shape, z_dim, hidden, critic, posterior, standardize, decoder_noise,
                          dropout, norm, output, linear_path, shown_cells)
    n_x = math.prod(x_shape)
    encoder = GaussianEncoder(
        nn.Sequential(nn.Flatten(), mlp([n_x, *hidden, 2 * z_dim], lrelu, norm=norm)),
        z_dim, posterior, standardize,
    )
    decoder = NoisyDecoder(
        nn.Sequential(
            _decoder_net([z_dim + decoder_noise, *hidden[::-1], n_x], z_dim, norm, linear_path,
                         shown_cells),
            nn.Unflatten(1, tuple(x_shape)),
        ),
        decoder_noise,
        output,
    )
    h = critic[0]
    discriminator = JointDiscriminator(
        nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(n_x, h), lrelu()),
        nn.Sequential(nn.Linear(z_dim, h), lrelu()),
        mlp([2 * h, *critic[1:], 1], lrelu, dropout=dropout),
    )
    return Architecture(encoder, decoder, discriminator)


def _decoder_net(sizes: list[int], z_dim: int, norm: Norm, linear_path: bool,
                 shown_cells: bool = False) -> nn.Module:
    """The decoder's MLP of ``sizes`` (its input: z, then the noise), with an affine map of z
    beside it when ``linear_path``, reading the shown cells of x (``sizes[-1]`` entries) too when
    ``shown_cells``."""
    n_x = sizes[-1]
    sizes = [sizes[0] + 2 * n_x, *sizes[1:]] if shown_cells else sizes
    body = mlp(sizes, nn.ReLU, norm=norm)
    body = WithLinearPath(body, z_dim, n_x) if linear_path else body
    return WithShownCells(body, n_x) if shown_cells else body


def _widths(name: str, widths: tuple[int, ...] | list[int]) -> list[int]:
    widths = list(widths)
    if not widths or any(not isinstance(h, int) or not 1 <= h <= MAX_WIDTH for h in widths):
        raise ValueError(f"{name} must be a non-empty list of widths between 1 and {MAX_WIDTH:,}, "
                         f"got {widths}")
    return widths


def _hierarchy(x_shape: tuple[int, ...], z_dims: list[int], hidden: list[int], critic: list[int],
               posterior: Posterior,
               standardize: Standardize | bool, decoder_noise: int, dropout: float, norm: Norm,
               output: Output, linear_path: bool, shown_cells: bool) -> Hierarchy:
    sizes = [math.prod(x_shape), *z_dims]

    def encoder(n_in: int, d: int) -> GaussianEncoder:
        return GaussianEncoder(nn.Sequential(nn.Flatten(), mlp([n_in, *hidden, 2 * d], lrelu, norm=norm)),
                               d, posterior, standardize)

    def decoder(level: int) -> NoisyDecoder:
        d, n_out = sizes[level + 1], sizes[level]
        body = nn.Sequential(_decoder_net([d + decoder_noise, *hidden[::-1], n_out], d, norm, linear_path,
                                          shown_cells and level == 0),
                             nn.Unflatten(1, tuple(x_shape) if level == 0 else (n_out,)))
        return NoisyDecoder(body, decoder_noise, output if level == 0 else "linear")

    levels = range(len(z_dims))
    h = critic[0]
    return Hierarchy(
        encoders=[encoder(sizes[i], sizes[i + 1]) for i in levels],
        decoders=[decoder(i) for i in levels],
        conditionals=[Conditional(encoder(sizes[i] + sizes[i + 2], sizes[i + 1]))
                      for i in range(len(z_dims) - 1)],
        discriminator=TupleDiscriminator(
            nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(sizes[0], h), lrelu()),
            [nn.Sequential(nn.Linear(d, h), lrelu()) for d in z_dims],
            mlp([h * (1 + len(z_dims)), *critic[1:], 1], lrelu, dropout=dropout),
        ),
    )
