"""Convolutional architectures for fixed image sizes: ``conv8``, ``conv28`` and ``conv32``.

``conv32`` follows ALI's SVHN networks (Dumoulin et al. 2016, appendix), with a tanh output for
data in [-1, 1]; ``conv8`` and ``conv28`` are smaller nets of the same pattern for 8×8 digits and
28×28 MNIST.
"""

from __future__ import annotations

from torch import nn

from gibbsnet_plugin.architectures.base import (
    Architecture,
    BroadcastJoin,
    Conditional,
    GaussianEncoder,
    Hierarchy,
    JointDiscriminator,
    NoisyDecoder,
    Norm,
    Output,
    Posterior,
    SpatialGaussian,
    Standardize,
    TupleDiscriminator,
    check_common_options,
    lrelu,
    mlp,
    norm_layer,
)
from gibbsnet_plugin.architectures.spatial import Critic, spatial_latent
from gibbsnet_plugin.limits import MAX_WIDTH
from gibbsnet_plugin.registry import ARCHITECTURES


def _conv(c_in: int, c_out: int, k: int, s: int, p: int, norm: Norm) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, s, p), norm_layer(norm, c_out, spatial=True), lrelu()]


def _deconv(c_in: int, c_out: int, k: int, s: int, p: int, norm: Norm) -> list[nn.Module]:
    return [nn.ConvTranspose2d(c_in, c_out, k, s, p), norm_layer(norm, c_out, spatial=True), nn.ReLU()]


def _dconv(c_in: int, c_out: int, k: int, s: int, p: int, dropout: float) -> list[nn.Module]:
    return [nn.Dropout(dropout), nn.Conv2d(c_in, c_out, k, s, p), lrelu()]


def _check_shape(name: str, x_shape: tuple[int, ...], size: int) -> int:
    """The number of channels C of ``x_shape`` when it is C×size×size, else ``ValueError``."""
    if len(x_shape) != 3 or tuple(x_shape[1:]) != (size, size):
        raise ValueError(
            f"architecture '{name}' needs images of C×{size}×{size}, got data of shape "
            f"{'×'.join(map(str, x_shape))}; use 'mlp' or an architecture made for this shape"
        )
    return x_shape[0]


def _check_width(width: int) -> None:
    if not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"width must be between 1 and {MAX_WIDTH:,}, got {width}")


def _spatial(x_shape: tuple[int, ...], z_dim: int | list[int], z_stride: int | None, critic: str,
             width: int, posterior: Posterior, standardize: Standardize | bool, dropout: float,
             norm: Norm, output: Output) -> Architecture | None:
    """The one-layer networks with a spatial z when ``z_stride`` is set (``spatial_latent``),
    else None; refuses a local ``critic`` without a spatial z."""
    if z_stride is None:
        if critic != "global":
            raise ValueError(f"critic '{critic}' judges neighbourhoods of (x, z) and needs a spatial "
                             "z: set z_stride (e.g. 2)")
        return None
    if isinstance(z_dim, list):
        raise ValueError("z_stride shapes the z of one latent layer; a list z_dim builds its own "
                         "hierarchy: remove z_stride or give one z_dim")
    check_common_options(posterior, 0, dropout, norm, standardize)
    return spatial_latent(x_shape, z_dim, z_stride, width, posterior, standardize, dropout, norm,
                          critic, output)  # type: ignore[arg-type]


def _small_conv(
    z_dim: int, enc: list[nn.Module], dec: list[nn.Module],
    bottleneck: tuple[int, int, int], dx: list[nn.Module], dx_out: int, hidden: int,
    posterior: Posterior, standardize: Standardize | bool, decoder_noise: int, dropout: float,
    norm: Norm, output: Output,
) -> Architecture:
    """Encoder ``enc`` to a ``bottleneck`` (C, H, W) map, its mirror ``dec`` and a joint
    discriminator whose x branch ``dx`` gives ``dx_out`` features."""
    check_common_options(posterior, decoder_noise, dropout, norm, standardize)
    c, h, w = bottleneck
    encoder = GaussianEncoder(
        nn.Sequential(*enc, nn.Flatten(), nn.Linear(c * h * w, 2 * z_dim)), z_dim, posterior, standardize
    )
    decoder = NoisyDecoder(
        nn.Sequential(
            nn.Linear(z_dim + decoder_noise, c * h * w),
            norm_layer(norm, c * h * w, spatial=False), nn.ReLU(), nn.Unflatten(1, (c, h, w)), *dec,
        ),
        decoder_noise, output,
    )
    discriminator = JointDiscriminator(
        nn.Sequential(*dx, nn.Flatten()),
        mlp([z_dim, hidden], lrelu, dropout=dropout),
        nn.Sequential(lrelu(), *mlp([dx_out + hidden, hidden, 1], lrelu, dropout=dropout)),
    )
    return Architecture(encoder, decoder, discriminator)


@ARCHITECTURES.register("conv8")
def build_conv8(
    x_shape: tuple[int, ...], z_dim: int | list[int], width: int = 32, posterior: Posterior = "sigmoid",
    standardize: Standardize | bool = True, decoder_noise: int = 16, dropout: float = 0.0,
    norm: Norm = "batch", z_stride: int | None = None, critic: Critic = "global",
    output: Output = "tanh",
) -> Architecture | Hierarchy:
    """For C×8×8 images (the bundled digits are 1×8×8): two stride-2 convolutions each way, ``width``
    channels in the first layer.

    ``z_stride`` s: a spatial z of ``z_dim`` channels at 8/s × 8/s (s = 1, 2, 4, 8) and D as
    ``critic`` says (``global``, ``local`` or ``both``; see ``spatial``) instead of a vector z.

    With a list ``z_dim`` [d1, ..., dL]: a ``Hierarchy`` whose x <-> z1 transitions are these
    convolutional networks (the conditional of z1 given x and z2 convolves x the same way) and
    whose transitions between latent layers are MLPs of ``8 * width`` units; D convolves x as
    here and gives each latent layer its own branch.

    ``output``: the decoder's last activation, ``tanh`` or ``clip`` (hard tanh: pixels can sit
    exactly on -1 or 1, as a background does).
    """
    c = _check_shape("conv8", x_shape, 8)
    _check_width(width)
    spatial = _spatial(x_shape, z_dim, z_stride, critic, width, posterior, standardize, dropout, norm,
                       output)
    if spatial is not None:
        return spatial
    w = width

    def enc() -> list[nn.Module]:
        return [*_conv(c, w, 3, 1, 1, "none"), *_conv(w, 2 * w, 4, 2, 1, norm),
                *_conv(2 * w, 4 * w, 4, 2, 1, norm)]

    parts = dict(
        enc=enc(),
        dec=[*_deconv(4 * w, 2 * w, 4, 2, 1, norm), *_deconv(2 * w, w, 4, 2, 1, norm),
             nn.Conv2d(w, c, 3, 1, 1)],
        bottleneck=(4 * w, 2, 2),
        dx=[*_dconv(c, w, 4, 2, 1, dropout), *_dconv(w, 2 * w, 4, 2, 1, dropout)],
        dx_out=2 * w * 2 * 2, hidden=8 * w,
        posterior=posterior, standardize=standardize, decoder_noise=decoder_noise, dropout=dropout,
        norm=norm, output=output,
    )
    if not isinstance(z_dim, list):
        return _small_conv(z_dim, **parts)
    bottom = _small_conv(z_dim[0], **parts)
    return _conv_hierarchy(bottom, z_dim, nn.Sequential(*enc()), 4 * w * 2 * 2, parts)


def _conv_hierarchy(bottom: Architecture, z_dims: list[int], x_trunk: nn.Module, trunk_out: int,
                    parts: dict) -> Hierarchy:
    """A ``Hierarchy`` from a one-layer convolutional ``bottom`` (x <-> z1) and MLPs above it."""
    hidden, norm = parts["hidden"], parts["norm"]
    posterior, standardize = parts["posterior"], parts["standardize"]
    noise, dropout = parts["decoder_noise"], parts["dropout"]

    def gaussian(n_in: int, d: int) -> GaussianEncoder:
        return GaussianEncoder(mlp([n_in, hidden, 2 * d], lrelu, norm=norm), d, posterior, standardize)

    above = range(1, len(z_dims))
    conditionals = [Conditional(gaussian(trunk_out + z_dims[1], z_dims[0]), x_trunk)]
    conditionals += [Conditional(gaussian(z_dims[i - 1] + z_dims[i + 1], z_dims[i]))
                     for i in range(1, len(z_dims) - 1)]
    x_net = bottom.discriminator.x_net
    return Hierarchy(
        encoders=[bottom.encoder, *(gaussian(z_dims[i - 1], z_dims[i]) for i in above)],
        decoders=[bottom.decoder, *(NoisyDecoder(mlp([z_dims[i] + noise, hidden, z_dims[i - 1]],
                                                     nn.ReLU, norm=norm), noise, "linear")
                                    for i in above)],
        conditionals=conditionals,
        discriminator=TupleDiscriminator(
            x_net, [mlp([d, hidden], lrelu, dropout=dropout) for d in z_dims],
            nn.Sequential(lrelu(), *mlp([parts["dx_out"] + hidden * len(z_dims), hidden, 1], lrelu,
                                        dropout=dropout)),
        ),
    )


@ARCHITECTURES.register("conv28")
def build_conv28(
    x_shape: tuple[int, ...], z_dim: int | list[int], width: int = 32, posterior: Posterior = "sigmoid",
    standardize: Standardize | bool = True, decoder_noise: int = 16, dropout: float = 0.0,
    norm: Norm = "batch", z_stride: int | None = None, critic: Critic = "global",
    output: Output = "tanh",
) -> Architecture | Hierarchy:
    """For C×28×28 images (MNIST is 1×28×28): 28 -> 14 -> 7 -> 4 and back. With a list ``z_dim`` a
    ``Hierarchy`` with a spatial z1 of ``z_dim[0]`` channels at 14×14 (see ``spatial_hierarchy``).
    ``z_stride`` (1, 2 or 4), ``critic`` and ``output``: as for ``conv8``."""
    c = _check_shape("conv28", x_shape, 28)
    _check_width(width)
    spatial = _spatial(x_shape, z_dim, z_stride, critic, width, posterior, standardize, dropout, norm,
                       output)
    if spatial is not None:
        return spatial
    if isinstance(z_dim, list):
        return spatial_hierarchy(x_shape, z_dim, width, posterior, standardize, decoder_noise,
                                 dropout, norm, output)
    w = width
    return _small_conv(
        z_dim,
        enc=[*_conv(c, w, 4, 2, 1, "none"), *_conv(w, 2 * w, 4, 2, 1, norm),
             *_conv(2 * w, 4 * w, 3, 2, 1, norm)],
        dec=[*_deconv(4 * w, 2 * w, 3, 2, 1, norm), *_deconv(2 * w, w, 4, 2, 1, norm),
             nn.ConvTranspose2d(w, c, 4, 2, 1)],
        bottleneck=(4 * w, 4, 4),
        dx=[*_dconv(c, w, 4, 2, 1, dropout), *_dconv(w, 2 * w, 4, 2, 1, dropout),
            *_dconv(2 * w, 4 * w, 3, 2, 1, dropout)],
        dx_out=4 * w * 4 * 4, hidden=16 * w,
        posterior=posterior, standardize=standardize, decoder_noise=decoder_noise, dropout=dropout,
        norm=norm, output=output,
    )


@ARCHITECTURES.register("conv32")
def build_conv32(
    x_shape: tuple[int, ...], z_dim: int | list[int], posterior: Posterior = "gaussian",
    standardize: Standardize | bool = False, decoder_noise: int = 0, dropout: float = 0.2,
    norm: Norm = "batch", z_stride: int | None = None, critic: Critic = "global", width: int = 32,
    output: Output = "tanh",
) -> Architecture | Hierarchy:
    """ALI's SVHN networks for C×32×32 images (SVHN and CIFAR-10 are 3×32×32): 32 -> 28 -> 13 ->
    10 -> 4 -> 1 and back.

    Defaults are ALI's (exp(log sigma) posterior, no decoder noise, dropout 0.2 on D's inputs and
    0.5 inside); set ``posterior: sigmoid``, ``standardize: true`` and ``decoder_noise`` for the
    GibbsNet authors' tricks. With a list ``z_dim`` a ``Hierarchy`` with a spatial z1 of
    ``z_dim[0]`` channels at 16×16, as the public HALI ports have (see ``spatial_hierarchy``).
    ``z_stride`` (1, 2, 4, 8, ...) and ``critic``: one spatial layer, as for ``conv8``, its
    networks ``width`` channels wide; ``output`` as for ``conv8``.
    """
    c = _check_shape("conv32", x_shape, 32)
    check_common_options(posterior, decoder_noise, dropout, norm, standardize)
    _check_width(width)
    spatial = _spatial(x_shape, z_dim, z_stride, critic, width, posterior, standardize, dropout, norm,
                       output)
    if spatial is not None:
        return spatial
    if isinstance(z_dim, list):
        return spatial_hierarchy(x_shape, z_dim, 64, posterior, standardize, decoder_noise,
                                 dropout, norm, output)

    def act() -> nn.Module:
        return nn.LeakyReLU(0.01)

    def conv(c_in: int, c_out: int, k: int, s: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, k, s), norm_layer(norm, c_out, spatial=True), act()]

    def deconv(c_in: int, c_out: int, k: int, s: int) -> list[nn.Module]:
        return [nn.ConvTranspose2d(c_in, c_out, k, s), norm_layer(norm, c_out, spatial=True), act()]

    def dconv(c_in: int, c_out: int, k: int, s: int, p: float) -> list[nn.Module]:
        return [nn.Dropout(p), nn.Conv2d(c_in, c_out, k, s), act()]

    inner = 0.5 if dropout else 0.0
    encoder = GaussianEncoder(
        nn.Sequential(
            *conv(c, 32, 5, 1), *conv(32, 64, 4, 2), *conv(64, 128, 4, 1), *conv(128, 256, 4, 2),
            *conv(256, 512, 4, 1), *conv(512, 512, 1, 1), nn.Conv2d(512, 2 * z_dim, 1),
        ),
        z_dim, posterior, standardize,
    )
    decoder = NoisyDecoder(
        nn.Sequential(
            nn.Unflatten(1, (z_dim + decoder_noise, 1, 1)),
            *deconv(z_dim + decoder_noise, 256, 4, 1), *deconv(256, 128, 4, 2),
            *deconv(128, 64, 4, 1), *deconv(64, 32, 4, 2), *deconv(32, 32, 5, 1),
            *conv(32, 32, 1, 1), nn.Conv2d(32, c, 1),
        ),
        decoder_noise, output,
    )
    discriminator = JointDiscriminator(
        nn.Sequential(
            *dconv(c, 32, 5, 1, dropout), *dconv(32, 64, 4, 2, inner), *dconv(64, 128, 4, 1, inner),
            *dconv(128, 256, 4, 2, inner), *dconv(256, 512, 4, 1, inner),
        ),
        nn.Sequential(nn.Dropout(dropout), nn.Linear(z_dim, 512), act(),
                      nn.Dropout(inner), nn.Linear(512, 512), act()),
        nn.Sequential(nn.Dropout(inner), nn.Linear(1024, 1024), act(), nn.Dropout(inner),
                      nn.Linear(1024, 1024), act(), nn.Dropout(inner), nn.Linear(1024, 1)),
    )
    return Architecture(encoder, decoder, discriminator)


def spatial_hierarchy(x_shape: tuple[int, ...], z_dims: list[int], width: int, posterior: Posterior,
                      standardize: Standardize | bool, decoder_noise: int, dropout: float,
                      norm: Norm, output: Output = "tanh") -> Hierarchy:
    """A ``Hierarchy`` for C×H×W images whose z1 is a feature map of ``z_dims[0]`` channels at
    H/2 × W/2 and whose higher layers are vectors: x <-> z1 by one stride-2 convolution each
    way, z1 <-> z2 through a stride-2 convolution and a linear layer, the conditional of z1 given
    (x, z2) from x's convolution joined with z2 broadcast over the map, MLPs above; D convolves x
    and z1 and reads the vectors with MLPs. Decoder noise enters the vector layers' decoders."""
    check_common_options(posterior, decoder_noise, dropout, norm, standardize)
    c, height, w_x = x_shape
    if height % 4 or w_x % 4:
        raise ValueError(f"a spatial z1 needs image sides divisible by 4, got {height}×{w_x}")
    c1, w = z_dims[0], width
    h1, w1 = height // 2, w_x // 2
    n_down = 2 * w * (h1 // 2) * (w1 // 2)
    hidden = 8 * w

    def down_z1() -> nn.Sequential:  # z1 map -> flat features
        return nn.Sequential(nn.Conv2d(c1, 2 * w, 4, 2, 1), lrelu(), nn.Flatten())

    def gaussian(n_in: int, d: int, features: nn.Module | None = None) -> GaussianEncoder:
        head = mlp([n_in, hidden, 2 * d], lrelu, norm=norm)
        return GaussianEncoder(nn.Sequential(features, head) if features else head, d, posterior,
                               standardize)

    above = range(2, len(z_dims))
    x_to_z1 = SpatialGaussian(nn.Sequential(*_conv(c, w, 4, 2, 1, "none"),
                                            nn.Conv2d(w, 2 * c1, 3, 1, 1)), c1, posterior, standardize)
    z1_to_x = NoisyDecoder(nn.Sequential(*_deconv(c1, w, 4, 2, 1, norm), nn.Conv2d(w, c, 3, 1, 1)), 0,
                           output)
    z2_to_z1 = NoisyDecoder(nn.Sequential(
        nn.Linear(z_dims[1] + decoder_noise, n_down), nn.ReLU(), nn.Unflatten(1, (2 * w, h1 // 2, w1 // 2)),
        nn.ConvTranspose2d(2 * w, c1, 4, 2, 1)), decoder_noise, "linear")
    conditionals: list[nn.Module] = [SpatialGaussian(
        BroadcastJoin(nn.Sequential(*_conv(c, w, 4, 2, 1, "none")), nn.Linear(z_dims[1], w),
                      nn.Conv2d(2 * w, 2 * c1, 3, 1, 1)), c1, posterior, standardize)]
    for i in range(1, len(z_dims) - 1):  # z_(i+1) given z_i (the map when i = 1) and z_(i+2)
        lower, n_lower = (down_z1(), n_down) if i == 1 else (None, z_dims[i - 1])
        conditionals.append(Conditional(gaussian(n_lower + z_dims[i + 1], z_dims[i]), lower))
    x_net = nn.Sequential(nn.Dropout(dropout), *_dconv(c, w, 4, 2, 1, 0.0),
                          *_dconv(w, 2 * w, 4, 2, 1, dropout), nn.Flatten())
    n_x = 2 * w * (height // 4) * (w_x // 4)
    return Hierarchy(
        encoders=[x_to_z1, gaussian(n_down, z_dims[1], down_z1()),
                  *(gaussian(z_dims[i - 1], z_dims[i]) for i in above)],
        decoders=[z1_to_x, z2_to_z1,
                  *(NoisyDecoder(mlp([z_dims[i] + decoder_noise, hidden, z_dims[i - 1]], nn.ReLU,
                                     norm=norm), decoder_noise, "linear") for i in above)],
        conditionals=conditionals,
        discriminator=TupleDiscriminator(
            x_net, [nn.Sequential(down_z1(), nn.Linear(n_down, hidden), lrelu()),
                    *(mlp([d, hidden], lrelu, dropout=dropout) for d in z_dims[1:])],
            nn.Sequential(lrelu(), *mlp([n_x + hidden * len(z_dims), hidden, 1], lrelu, dropout=dropout)),
        ),
        latent_shapes=[(c1, h1, w1), *((d,) for d in z_dims[1:])],
    )
