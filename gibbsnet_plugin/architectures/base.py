"""The ``Architecture`` contract and the building blocks the built-in architectures share.

The blocks carry the GibbsNet authors' stabilising tricks (their ``undirected_matching`` code): a
posterior ``z = mu + sigma * eps`` with ``sigma = sigmoid(s)`` (or ALI's ``exp(log sigma)``)
standardised (per sample, or per batch as the authors did), fresh noise concatenated to the
decoder's input, and optional dropout in the joint discriminator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gibbsnet_plugin.limits import MAX_WIDTH

Posterior = Literal["sigmoid", "gaussian"]
POSTERIORS = ("sigmoid", "gaussian")
Norm = Literal["batch", "layer", "none"]
NORMS = ("batch", "layer", "none")
Standardize = Literal["sample", "batch", "none"]
STANDARDIZE = ("sample", "batch", "none")
Output = Literal["tanh", "clip", "linear"]
OUTPUTS = ("tanh", "clip", "linear")


@dataclass
class Architecture:
    """The three networks of a GibbsNet / ALI model.

    - ``encoder(x)``: (B, *x_shape) -> z of shape (B, z_dim), a reparameterised sample.
    - ``decoder(z)``: (B, z_dim) -> (B, *x_shape), in the data's value range.
    - ``discriminator(x, z)``: -> logits of shape (B,) or (B, 1).

    ``latent_shape``: z's shape without the batch when it is not a vector, e.g. a feature map
    (C, H, W) of C = ``z_dim`` channels; None means (z_dim,).
    """

    encoder: nn.Module
    decoder: nn.Module
    discriminator: nn.Module
    latent_shape: tuple[int, ...] | None = None

    def shape(self, z_dim: int) -> tuple[int, ...]:
        """z's shape (without the batch) for the recipe's ``z_dim``."""
        return tuple(self.latent_shape) if self.latent_shape else (z_dim,)


@dataclass
class Hierarchy:
    """The networks of a model with latent layers z1 ... zL (x is layer 0, L >= 2), built when the
    recipe's ``z_dim`` is a list ``[d1, ..., dL]`` (bottom first). With h_0 = x and h_l = z_l:

    - ``encoders[l]`` (l = 0 .. L-1): h_l -> h_(l+1), a sample of q(z_(l+1) | h_l), (B, d_(l+1));
    - ``decoders[l]`` (l = 0 .. L-1): h_(l+1) -> h_l, a sample of p(h_l | z_(l+1)); ``decoders[0]``
      gives x (B, *x_shape) in the data's range;
    - ``conditionals[l]`` (l = 0 .. L-2): (h_l, h_(l+2)) -> z_(l+1), the deep GibbsNet transition of
      a middle layer given both neighbours, (B, d_(l+1));
    - ``discriminator(x, [z1, ..., zL])``: -> logits of shape (B,) or (B, 1).

    HALI uses the encoders and decoders; deep GibbsNet ``decoders[0]``, the conditionals and the
    top encoder ``encoders[L-1]``. A model keeps only the networks its kind uses.

    ``latent_shapes``: the shape of each z_l without the batch, for spatial layers (e.g. z1 of
    shape (64, 16, 16) when ``z_dim`` names 64 channels); None means vectors, (d_l,) each.
    """

    encoders: list[nn.Module]
    decoders: list[nn.Module]
    conditionals: list[nn.Module]
    discriminator: nn.Module
    latent_shapes: list[tuple[int, ...]] | None = None

    def shapes(self, z_dims: list[int]) -> list[tuple[int, ...]]:
        """The shape of each latent layer (without the batch) for the recipe's ``z_dims``."""
        return [tuple(s) for s in self.latent_shapes] if self.latent_shapes else [(d,) for d in z_dims]


def check_common_options(posterior: str, decoder_noise: int, dropout: float, norm: str,
                         standardize: object = "none") -> None:
    """Raise ``ValueError`` naming the option when a shared option is out of range."""
    if standardize not in (*STANDARDIZE, True, False):
        raise ValueError(f"standardize must be one of {', '.join(STANDARDIZE)}, got '{standardize}'")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got '{norm}'")
    if posterior not in POSTERIORS:
        raise ValueError(f"posterior must be one of {', '.join(POSTERIORS)}, got '{posterior}'")
    if not 0 <= decoder_noise <= MAX_WIDTH:
        raise ValueError(f"decoder_noise must be between 0 and {MAX_WIDTH:,}, got {decoder_noise}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


class SampleStandardize(nn.Module):
    """Each sample standardised over all its entries: (B, ...) -> (B, ...) with mean 0 and
    variance 1 per sample, in training as at inference (no batch statistics)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(z, z.shape[1:])


def standardizer(kind: Standardize | bool, channels: int, spatial: bool) -> nn.Module:
    """The posterior's standardisation: ``sample`` (``SampleStandardize``: batch-independent),
    ``batch`` (a BatchNorm without affine parameters: per batch in training, running statistics
    in eval mode; the GibbsNet authors' form) or ``none``. ``True``/``False`` mean batch/none."""
    kind = "batch" if kind is True else "none" if kind is False else kind
    if kind == "sample":
        return SampleStandardize()
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=False) if spatial else nn.BatchNorm1d(channels, affine=False)
    return nn.Identity()


class GaussianEncoder(nn.Module):
    """``features(x)`` gives (B, 2 * z_dim) = (mu, s); returns ``z = mu + sigma(s) * eps``.

    ``posterior="sigmoid"``: sigma = sigmoid(s) (the GibbsNet authors'); ``"gaussian"``:
    sigma = exp(s) (ALI's). ``standardize`` (see ``standardizer``) then standardises the sample per
    sample (the default of the built-ins: an image's code never depends on its batch) or per batch.
    """

    def __init__(
        self, features: nn.Module, z_dim: int, posterior: Posterior, standardize: Standardize | bool
    ) -> None:
        super().__init__()
        self.features = features
        self.z_dim = z_dim
        self.posterior = posterior
        self.standardize = standardizer(standardize, z_dim, spatial=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, s = self.features(x).flatten(1).chunk(2, dim=1)
        # exp is clamped so an outlier logit cannot overflow to inf and poison training.
        sigma = torch.sigmoid(s) if self.posterior == "sigmoid" else torch.exp(s.clamp(max=10.0))
        return self.standardize(mu + sigma * torch.randn_like(mu))


class SpatialGaussian(nn.Module):
    """``features(*inputs)`` gives (B, 2C, H, W) = (mu, s); returns the feature map
    ``z = mu + sigma(s) * eps`` of shape (B, C, H, W), sigma as in ``GaussianEncoder``,
    standardised per sample or per channel over the batch (``standardizer``)."""

    def __init__(self, features: nn.Module, channels: int, posterior: Posterior,
                 standardize: Standardize | bool) -> None:
        super().__init__()
        self.features = features
        self.posterior = posterior
        self.standardize = standardizer(standardize, channels, spatial=True)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        mu, s = self.features(*inputs).chunk(2, dim=1)
        sigma = torch.sigmoid(s) if self.posterior == "sigmoid" else torch.exp(s.clamp(max=10.0))
        return self.standardize(mu + sigma * torch.randn_like(mu))


class BroadcastJoin(nn.Module):
    """``head(cat(lower_net(lower), upper_net(upper) broadcast over lower's map))``: a spatial
    layer given a map below it and a vector above it."""

    def __init__(self, lower_net: nn.Module, upper_net: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.lower_net, self.upper_net, self.head = lower_net, upper_net, head

    def forward(self, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
        h = self.lower_net(lower)
        u = self.upper_net(upper.flatten(1))[:, :, None, None].expand(-1, -1, *h.shape[2:])
        return self.head(torch.cat([h, u], dim=1))


class NoisyDecoder(nn.Module):
    """Concatenates ``noise_dim`` fresh N(0, 1) values to z, then applies ``body``.

    ``output="tanh"`` (the default) squashes the result into [-1, 1], the range of image data;
    ``"clip"`` clips it to [-1, 1] (hard tanh), so draws can sit exactly on a bound as an image's
    background does; ``"linear"`` returns it unbounded, for data in other units (e.g. the 2-D
    mixtures).
    """

    def __init__(self, body: nn.Module, noise_dim: int, output: Output = "tanh") -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got '{output}'")
        self.body = body
        self.noise_dim = noise_dim
        self.output = output

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.noise_dim:
            z = torch.cat([z, z.new_empty(z.shape[0], self.noise_dim).normal_()], dim=1)
        x = self.body(z)
        if self.output == "tanh":
            return torch.tanh(x)
        return F.hardtanh(x) if self.output == "clip" else x


class WithLinearPath(nn.Module):
    """``body(x) + linear(x[:, :n_in])``: a network with an affine map of the first ``n_in``
    entries of its (B, n) input beside it (a decoder's: z, not its noise).

    The affine map starts at zero, so the pair starts as ``body`` alone; it lets a linear
    relation between columns (one that is a sum of others) pass without the body's ReLUs.
    """

    def __init__(self, body: nn.Module, n_in: int, n_out: int) -> None:
        super().__init__()
        self.body = body
        self.n_in = n_in
        self.linear = nn.Linear(n_in, n_out)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.linear(x[:, :self.n_in])


_SHOWN: ContextVar[tuple[torch.Tensor, torch.Tensor] | None] = ContextVar("gibbsnet_shown_cells",
                                                                          default=None)


@contextmanager
def shown_cells(x: torch.Tensor, shown: torch.Tensor) -> Iterator[None]:
    """Everything computed inside is a step of partially clamped chains whose x (B, *x_shape) is
    known where the bool ``shown`` (x's shape) is True: a decoder that reads the shown cells
    (``WithShownCells``) is given them. Outside, it is given none (an unclamped chain)."""
    token = _SHOWN.set((x, torch.broadcast_to(shown.to(x.device) != 0, x.shape)))
    try:
        yield
    finally:
        _SHOWN.reset(token)


class WithShownCells(nn.Module):
    """``body(cat(h, x * m, m))``: a decoder network that also reads the cells of x that the
    partially clamped chain being computed holds fixed (``shown_cells``): their values x (0
    elsewhere) and the mask m (1 = shown), both flattened to ``n_x`` entries. In an unclamped
    chain both are zeros. So a relation between shown and hidden cells (a column that is a sum of
    others) need not pass through z."""

    def __init__(self, body: nn.Module, n_x: int) -> None:
        super().__init__()
        self.body = body
        self.n_x = n_x

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        cells = _SHOWN.get()
        if cells is None:
            return self.body(torch.cat([h, h.new_zeros(h.shape[0], 2 * self.n_x)], dim=1))
        x, shown = cells
        if x.shape[0] != h.shape[0] or x[0].numel() != self.n_x:
            raise ValueError(f"the shown cells are {tuple(x.shape)} for a decoder of {h.shape[0]} "
                             f"rows of {self.n_x} entries")
        known = torch.where(shown, x, torch.zeros_like(x)).flatten(1).to(h.dtype)
        return self.body(torch.cat([h, known, shown.flatten(1).to(h.dtype)], dim=1))


def reads_shown_cells(module: nn.Module) -> bool:
    """Whether ``module`` (a chain model or a decoder) holds a decoder that reads the shown cells
    (``WithShownCells``)."""
    return any(isinstance(m, WithShownCells) for m in module.modules())


class JointDiscriminator(nn.Module):
    """D(x, z) = joint(cat(x_net(x).flatten(1), z_net(z))) -> logits (B,)."""

    def __init__(self, x_net: nn.Module, z_net: nn.Module, joint: nn.Module) -> None:
        super().__init__()
        self.x_net = x_net
        self.z_net = z_net
        self.joint = joint

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.x_net(x).flatten(1), self.z_net(z)], dim=1)
        return self.joint(h).flatten()


class Conditional(nn.Module):
    """``encoder(cat(lower_net(lower).flatten(1), upper.flatten(1)))``: a layer given the layers
    below and above it, for a deep GibbsNet's middle layers (``lower_net``, e.g. convolutions of
    x, defaults to the identity)."""

    def __init__(self, encoder: nn.Module, lower_net: nn.Module | None = None) -> None:
        super().__init__()
        self.lower_net = lower_net or nn.Identity()
        self.encoder = encoder

    def forward(self, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.cat([self.lower_net(lower).flatten(1), upper.flatten(1)], dim=1))


class TupleDiscriminator(nn.Module):
    """D(x, [z1, ..., zL]) = joint(cat(x_net(x).flatten(1), z_nets[0](z1), ...)) -> logits (B,)."""

    def __init__(self, x_net: nn.Module, z_nets: list[nn.Module], joint: nn.Module) -> None:
        super().__init__()
        self.x_net = x_net
        self.z_nets = nn.ModuleList(z_nets)
        self.joint = joint

    def forward(self, x: torch.Tensor, zs: list[torch.Tensor]) -> torch.Tensor:
        parts = [self.x_net(x).flatten(1), *(net(z) for net, z in zip(self.z_nets, zs, strict=True))]
        return self.joint(torch.cat(parts, dim=1)).flatten()


def annealed(module: nn.Module) -> list[nn.Module]:
    """The submodules of ``module`` with an ``anneal(progress)`` method (e.g. the relaxed units of
    ``rbm``): training tells each how far it is, ``progress`` in [0, 1], before every iteration."""
    return [sub for sub in module.modules() if sub is not module and callable(getattr(sub, "anneal", None))]


def norm_layer(norm: Norm, channels: int, spatial: bool) -> nn.Module:
    """Batch norm, a per-sample layer norm (GroupNorm with one group on feature maps), or nothing.

    ``layer`` and ``none`` make a network's output for one sample independent of its batch in
    training as in eval mode; ``batch`` uses running statistics in eval mode.
    """
    if norm == "batch":
        return nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels) if spatial else nn.LayerNorm(channels)
    return nn.Identity()


def mlp(sizes: list[int], act: Callable[[], nn.Module], dropout: float = 0.0,
        norm: Norm = "none") -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``norm`` and ``act`` between them and
    optional dropout before each; the last layer is linear."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(norm_layer(norm, n_out, spatial=False))
            layers.append(act())
    return nn.Sequential(*layers)


def lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)
