"""``rbm``: a restricted Boltzmann machine whose two conditionals are GibbsNet's encoder and
decoder, and, for a list ``z_dim``, a deep Boltzmann machine through the hierarchy machinery.

One energy over binary layers h_0 = x, h_1 = z1, ..., h_L (0/1 bits),
``E(h) = -sum_l h_l^T W_l h_(l+1) - sum_l b_l^T h_l``, gives every transition: layer l given its
neighbours is Bernoulli(sigmoid(b_l + W_(l-1)^T h_(l-1) + W_l h_(l+1))). With one latent layer
that is the RBM of the GibbsNet talk's future work: q(z|x) = Bernoulli(sigmoid(W^T x + c)),
p(x|z) = Bernoulli(sigmoid(W z + b)) with one tied W. The chain's layers carry the bits as
spins 2h - 1 in {-1, 1} (images live in [-1, 1]; the N(0, I) start of a chain then has the
mean and variance of fair coins once mapped back to bits).

Training reaches the weights through the discrete samples by a ``straight-through`` estimator
(the forward pass samples bits, the backward pass uses the probabilities) or a ``relaxed``
Bernoulli (Maddison et al. 2017) whose temperature is annealed geometrically from
``temperature[0]`` to ``temperature[1]`` over training. In eval mode the units are sampled
exactly. D is an MLP over (x, z) like ``mlp``'s.

With at most ``MAX_EXACT_UNITS`` hidden units the partition function of the RBM is a sum over
its hidden states, so ``log_likelihood`` is exact (``metrics.likelihood``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gibbsnet_plugin.architectures.base import (
    Architecture,
    Hierarchy,
    JointDiscriminator,
    TupleDiscriminator,
    lrelu,
    mlp,
)
from gibbsnet_plugin.limits import MAX_WIDTH
from gibbsnet_plugin.registry import ARCHITECTURES

ESTIMATORS = ("straight-through", "relaxed")
MAX_EXACT_UNITS = 24
"""Largest number of hidden units whose 2^n states ``log_partition`` sums (16.7 million)."""


def bits(spins: torch.Tensor) -> torch.Tensor:
    """Spins in {-1, 1} (B, ...) -> bits in {0, 1}, flattened to (B, n)."""
    return (spins.flatten(1) + 1) / 2


class Boltzmann(nn.Module):
    """A layered Boltzmann machine over binary layers of ``sizes`` (x first): ``weights[l]`` of
    shape (n_l, n_(l+1)) couples layers l and l + 1, ``biases[l]`` (n_l,) is layer l's bias.

    ``estimator`` and ``temperature`` say how training samples reach the weights (see the module
    docstring); ``anneal(progress)`` sets the temperature for a point of training in [0, 1].
    """

    def __init__(self, sizes: list[int], estimator: str = "straight-through",
                 temperature: tuple[float, float] = (1.0, 1.0), init_std: float = 0.01) -> None:
        super().__init__()
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got '{estimator}'")
        if len(temperature) != 2 or min(temperature) <= 0:
            raise ValueError(f"temperature must be [start, end], both > 0, got {list(temperature)}")
        self.sizes = list(sizes)
        self.estimator = estimator
        self.schedule = (float(temperature[0]), float(temperature[1]))
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(a, b) * init_std)
                                        for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(n)) for n in sizes)
        self.register_buffer("temperature", torch.tensor(self.schedule[0]))

    def anneal(self, progress: float) -> None:
        """The relaxed units' temperature at ``progress`` in [0, 1] of training (geometric)."""
        start, end = self.schedule
        self.temperature.fill_(start * (end / start) ** min(max(progress, 0.0), 1.0))

    def logits(self, layer: int, below: torch.Tensor | None, above: torch.Tensor | None) -> torch.Tensor:
        """Layer ``layer``'s logits (B, n_layer) given the spins of the layers below and above it."""
        out = self.biases[layer]
        if below is not None:
            out = out + bits(below) @ self.weights[layer - 1]
        if above is not None:
            out = out + bits(above) @ self.weights[layer].T
        return out

    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        """Spins drawn from Bernoulli(sigmoid(logits)): exact in eval mode; in training with
        gradient by the ``estimator``."""
        p = torch.sigmoid(logits)
        if not self.training:
            return 2 * torch.bernoulli(p) - 1
        if self.estimator == "relaxed":
            u = torch.rand_like(p).clamp(1e-6, 1 - 1e-6)
            soft = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / self.temperature)
            return 2 * soft - 1
        hard = torch.bernoulli(p.detach())
        return 2 * (hard + p - p.detach()) - 1

    # -- the RBM's exact likelihood (two layers) --------------------------------------------------

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -b^T v - sum_j softplus(c_j + (W^T v)_j) of bits v (B, n_x) -> (B,) in nats."""
        self._check_rbm()
        w, b, c = self.weights[0], self.biases[0], self.biases[1]
        return -(v @ b) - F.softplus(v @ w + c).sum(1)

    def log_partition(self, chunk: int = 1 << 14) -> torch.Tensor:
        """log Z, summed exactly over the 2^n_h hidden states (a scalar, in nats)."""
        self._check_rbm()
        n_h = self.sizes[1]
        if n_h > MAX_EXACT_UNITS:
            raise ValueError(f"the exact partition function sums 2^{n_h} hidden states; use at "
                             f"most {MAX_EXACT_UNITS} hidden units (model.z_dim)")
        w, b, c = self.weights[0], self.biases[0], self.biases[1]
        powers = 2 ** torch.arange(n_h, device=w.device)
        parts = []
        for start in range(0, 2 ** n_h, chunk):
            index = torch.arange(start, min(start + chunk, 2 ** n_h), device=w.device)
            h = ((index[:, None] & powers) > 0).to(w.dtype)
            parts.append(torch.logsumexp(h @ c + F.softplus(h @ w.T + b).sum(1), 0))
        return torch.logsumexp(torch.stack(parts), 0)

    def log_likelihood(self, v: torch.Tensor) -> torch.Tensor:
        """Exact log p(v) of bits v (B, n_x) -> (B,), in nats."""
        return -self.free_energy(v) - self.log_partition()

    def _check_rbm(self) -> None:
        if len(self.sizes) != 2:
            raise ValueError(f"the exact likelihood is that of an RBM (one latent layer); this "
                             f"machine has {len(self.sizes) - 1}")


class BinaryUnits(nn.Module):
    """Layer ``layer`` of ``machine`` sampled given the spins of its neighbours: ``forward(below)``,
    ``forward(above)`` or ``forward(below, above)`` as ``reads`` says; returns spins of
    ``shape`` (B, *shape)."""

    def __init__(self, machine: Boltzmann, layer: int, reads: tuple[str, ...],
                 shape: tuple[int, ...]) -> None:
        super().__init__()
        self.machine = machine
        self.layer = layer
        self.reads = reads
        self.shape = shape

    def forward(self, *neighbours: torch.Tensor) -> torch.Tensor:
        given = dict(zip(self.reads, neighbours, strict=True))
        logits = self.machine.logits(self.layer, given.get("below"), given.get("above"))
        return self.machine.sample(logits).view(logits.shape[0], *self.shape)


def load_init(path: str | Path, n_x: int, n_h: int) -> dict[str, np.ndarray]:
    """W (n_x, n_h), b (n_x,) and c (n_h,) from an ``.npz`` file (0/1 units, e.g. scikit-learn's
    ``BernoulliRBM``: W = components_.T, b = intercept_visible_, c = intercept_hidden_)."""
    try:
        with np.load(Path(path).expanduser()) as f:
            init = {k: np.asarray(f[k], dtype=np.float32) for k in ("W", "b", "c")}
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"init: cannot read W, b and c from {path} ({exc})") from None
    want = {"W": (n_x, n_h), "b": (n_x,), "c": (n_h,)}
    for key, shape in want.items():
        if init[key].shape != shape:
            raise ValueError(f"init: {path} holds {key} of shape {init[key].shape}; this model "
                             f"needs {shape}")
    return init


@ARCHITECTURES.register("rbm")
def build_rbm(
    x_shape: tuple[int, ...], z_dim: int | list[int], hidden: int = 256,
    estimator: str = "straight-through", temperature: list[float] | None = None,
    init: str | None = None, init_std: float = 0.01, dropout: float = 0.0,
) -> Architecture | Hierarchy:
    """An RBM (int ``z_dim``: hidden units) or a deep Boltzmann machine (list ``z_dim``) over
    binary data of any shape, D an MLP of ``hidden`` units over x and the latents.

    ``temperature``: [start, end] of the relaxed units (default [1.0, 0.1]); ``init``: an ``.npz``
    with W, b, c to start an RBM from (e.g. a PCD-trained one); ``init_std``: the std of random
    initial weights.
    """
    if not 1 <= hidden <= MAX_WIDTH:
        raise ValueError(f"hidden must be between 1 and {MAX_WIDTH:,}, got {hidden}")
    if temperature is not None and estimator != "relaxed":
        raise ValueError("temperature is the relaxed units' setting; set estimator: relaxed")
    n_x = math.prod(x_shape)
    z_dims = z_dim if isinstance(z_dim, list) else [z_dim]
    machine = Boltzmann([n_x, *z_dims], estimator, tuple(temperature or (1.0, 0.1)), init_std)
    if init is not None:
        if len(z_dims) != 1:
            raise ValueError("init starts an RBM (one latent layer), not a deep Boltzmann machine")
        values = load_init(init, n_x, z_dims[0])
        with torch.no_grad():
            machine.weights[0].copy_(torch.from_numpy(values["W"]))
            machine.biases[0].copy_(torch.from_numpy(values["b"]))
            machine.biases[1].copy_(torch.from_numpy(values["c"]))
    shapes = [tuple(x_shape), *((d,) for d in z_dims)]

    def units(layer: int, *reads: str) -> BinaryUnits:
        return BinaryUnits(machine, layer, reads, shapes[layer])

    if len(z_dims) == 1:
        return Architecture(
            encoder=units(1, "below"), decoder=units(0, "above"),
            discriminator=JointDiscriminator(
                nn.Sequential(nn.Flatten(), *mlp([n_x, hidden], lrelu, dropout=dropout)),
                mlp([z_dims[0], hidden], lrelu, dropout=dropout),
                nn.Sequential(lrelu(), *mlp([2 * hidden, hidden, 1], lrelu, dropout=dropout))))
    levels = len(z_dims)
    return Hierarchy(
        encoders=[units(i, "below") for i in range(1, levels + 1)],
        decoders=[units(i, "above") for i in range(levels)],
        conditionals=[units(i, "below", "above") for i in range(1, levels)],
        discriminator=TupleDiscriminator(
            nn.Sequential(nn.Flatten(), *mlp([n_x, hidden], lrelu, dropout=dropout)),
            [mlp([d, hidden], lrelu, dropout=dropout) for d in z_dims],
            nn.Sequential(lrelu(), *mlp([hidden * (levels + 1), hidden, 1], lrelu, dropout=dropout))))


def machine_of(model: nn.Module) -> Boltzmann | None:
    """The Boltzmann machine inside ``model`` (e.g. a chain model on ``rbm``), or None."""
    return next((m for m in model.modules() if isinstance(m, Boltzmann)), None)


__all__ = ["ESTIMATORS", "MAX_EXACT_UNITS", "BinaryUnits", "Boltzmann", "bits", "build_rbm",
           "load_init", "machine_of"]
