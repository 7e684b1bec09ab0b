"""Latent hierarchies x - z1 - ... - zL: deep GibbsNet (undirected) and HALI (directed).

A state is a tuple ``(x, z1, ..., zL)``: x of shape (B, *x_shape), z_l of shape (B, d_l).

- ``kind="gibbsnet"``: each layer has one transition given its neighbours (x from z1, a middle
  layer from the layers below and above, the top layer from the one below). One chain step is a
  blocked Gibbs sweep: the odd layers (z1, z3, ...) from the even ones, then the even layers (x,
  z2, ...) from the new odd ones. The unclamped chain starts every layer from N(0, I) noise and
  runs ``chain_steps`` sweeps; the clamped chain holds x at the data and sweeps the latents
  ``clamped_steps`` times (default ``chain_steps``). Gradient flows through the last
  ``backprop_steps`` sweeps of each chain. The same transitions serve both chains.
- ``kind="hali"``: inference q(z1|x) q(z2|z1) ..., generation p(zL) = N(0, I), p(z_(L-1)|zL),
  ..., p(x|z1); training uses one pass each way. At test time a chain of N steps is the pass down
  from the prior followed by N - 1 cycles of a pass up to zL and a pass down (``chain_steps`` is
  the default N).

D sees the whole tuple; the losses are the one-layer model's (``bce`` or ``lsgan``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import get_args

import torch
from torch import nn

from gibbsnet_plugin.architectures.base import Hierarchy
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.model import (
    GibbsNet,
    LossOutput,
    StepCallback,
    pack_items,
    score_summary,
    target_loss,
)
from gibbsnet_plugin.recipe import Kind, Loss

State = tuple[torch.Tensor, ...]
KINDS = get_args(Kind)
MODES = {"dreaming": ((), ()), "ready-to-hand": (("top",), ()),
         "daydreaming": ((0,), (0,)), "present-at-hand": ((0,), ("top",))}
"""The slides' four modes of being: (clamped layers, impotent layers); 0 is x, "top" is zL."""


def mode_layers(mode: str, levels: int) -> tuple[set[int], set[int]]:
    """(clamped layers, impotent layers) of the mode called ``mode`` for ``levels`` latent layers
    (0 = x, l = z_l): dreaming (all free), ready-to-hand (zL clamped), daydreaming (x clamped and
    impotent) and present-at-hand (x clamped, zL free and impotent)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode '{mode}'; expected one of {', '.join(MODES)}")
    clamped, impotent = MODES[mode]
    return ({levels if c == "top" else c for c in clamped},
            {levels if i == "top" else i for i in impotent})


@dataclass
class ChainStates:
    """The states of a chain at the recorded ``steps``: ``layers[l]`` of shape
    (n, len(steps), *shape of layer l) for l = 0 (x) ... L, and ``copies[l]`` (same shapes) the
    free-running copy of each impotent layer l, the value its neighbours read."""

    steps: list[int]
    layers: list[torch.Tensor]
    copies: dict[int, torch.Tensor]


def check_hierarchy(networks: object, x_shape: tuple[int, ...], z_dims: list[int], name: str,
                    pack: int = 1) -> None:
    """Probe every network of a ``Hierarchy`` with a batch of 2 (D: 2 packs of ``pack`` tuples;
    eval mode, no autograd) and raise ``GibbsnetError`` naming the network and the expected shape
    on a contract violation."""
    if not isinstance(networks, Hierarchy):
        raise GibbsnetError(
            f"architecture '{name}' returned {type(networks).__name__}, not a Hierarchy, for the "
            f"list model.z_dim {z_dims}; it supports one latent layer: set model.z_dim to an int")
    nets = [*networks.encoders, *networks.decoders, *networks.conditionals, networks.discriminator]
    if not all(isinstance(net, nn.Module) for net in nets):
        raise GibbsnetError(f"architecture '{name}': every network of a Hierarchy must be a torch.nn.Module")
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    shapes = [tuple(x_shape), *networks.shapes(z_dims)]
    if len(shapes) != len(z_dims) + 1:
        raise GibbsnetError(f"architecture '{name}': latent_shapes has {len(shapes) - 1} layers; "
                            f"model.z_dim has {len(z_dims)}")
    layers = [torch.zeros(2, *shape) for shape in shapes]

    def expect(out: torch.Tensor, role: str, shape: tuple[int, ...]) -> None:
        if tuple(out.shape) != (2, *shape):
            raise GibbsnetError(f"architecture '{name}': {role} gives shape {tuple(out.shape)}; "
                                f"expected (batch, ...) = {(2, *shape)}")

    try:
        with torch.no_grad():
            for i in range(len(z_dims)):
                expect(networks.encoders[i](layers[i]), f"encoders[{i}]", shapes[i + 1])
                expect(networks.decoders[i](layers[i + 1]), f"decoders[{i}]", shapes[i])
            for i in range(len(z_dims) - 1):
                expect(networks.conditionals[i](layers[i], layers[i + 2]), f"conditionals[{i}]",
                       shapes[i + 1])
            packed = [pack_items(t.repeat_interleave(pack, 0), pack) for t in layers]
            d = networks.discriminator(packed[0], packed[1:])
            if tuple(d.shape) not in ((2,), (2, 1)):
                raise GibbsnetError(f"architecture '{name}': discriminator returns shape "
                                    f"{tuple(d.shape)}; expected logits of shape (batch,) or (batch, 1)")
    finally:
        for net, mode in zip(nets, modes, strict=True):
            net.train(mode)


class HierarchicalGibbsNet(nn.Module):
    """A deep GibbsNet or HALI over ``x_shape`` data and latent layers of sizes ``z_dims``.

    ``encoder`` and ``decoder`` hold the networks the encoder/decoder optimizer trains (for
    ``gibbsnet`` the latent transitions and the x transition; for ``hali`` the inference and the
    generation networks), so training, EMA and checkpoints treat both kinds like a one-layer model.
    """

    def __init__(
        self, networks: Hierarchy, x_shape: tuple[int, ...], z_dims: Sequence[int],
        kind: Kind = "gibbsnet", chain_steps: int = 3, backprop_steps: int = 1,
        loss: Loss = "bce", clamped_steps: int | None = None, pack: int = 1,
    ) -> None:
        super().__init__()
        z_dims = list(z_dims)
        if len(z_dims) < 2:
            raise ValueError(f"a hierarchy needs at least 2 latent layers, got {z_dims}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not 1 <= backprop_steps <= chain_steps:
            raise ValueError(f"backprop_steps must be between 1 and chain_steps ({chain_steps}), "
                             f"got {backprop_steps}")
        if loss not in ("bce", "lsgan"):
            raise ValueError(f"loss must be 'bce' or 'lsgan', got {loss!r}")
        levels = len(z_dims)
        for name, nets, count in (("encoders", networks.encoders, levels),
                                  ("decoders", networks.decoders, levels),
                                  ("conditionals", networks.conditionals, levels - 1)):
            if len(nets) != count:
                raise ValueError(f"the hierarchy has {len(nets)} {name}; {levels} layers need {count}")
        self.kind = kind
        self.x_shape = tuple(x_shape)
        self.z_dim = z_dims
        self.latent_shapes = networks.shapes(z_dims)
        self.chain_steps = chain_steps
        self.backprop_steps = backprop_steps
        self.loss = loss
        self.clamped_steps = clamped_steps or chain_steps
        self.pack = pack
        if kind == "gibbsnet":  # transitions of z1 .. zL, and of x
            self.encoder = nn.ModuleList([*networks.conditionals, networks.encoders[-1]])
            self.decoder = nn.ModuleList([networks.decoders[0]])
        else:
            self.encoder = nn.ModuleList(networks.encoders)
            self.decoder = nn.ModuleList(networks.decoders)
        self.discriminator = networks.discriminator
        self.chains = None

    @property
    def levels(self) -> int:
        """L, the number of latent layers."""
        return len(self.z_dim)

    def options(self) -> dict[str, object]:
        """The settings, as keyword arguments of this class (see ``with_networks``)."""
        return {"kind": self.kind, "chain_steps": self.chain_steps,
                "backprop_steps": self.backprop_steps, "loss": self.loss,
                "clamped_steps": self.clamped_steps, "pack": self.pack}

    def with_networks(self, encoder: nn.Module, decoder: nn.Module) -> HierarchicalGibbsNet:
        """A model like this one whose ``encoder`` and ``decoder`` are the given module lists (e.g.
        moving averages of these), sharing this model's discriminator."""
        model = HierarchicalGibbsNet.__new__(HierarchicalGibbsNet)
        nn.Module.__init__(model)
        for name in ("kind", "x_shape", "z_dim", "latent_shapes", "chain_steps", "backprop_steps",
                     "loss", "clamped_steps", "pack", "chains"):
            setattr(model, name, getattr(self, name))
        model.encoder, model.decoder, model.discriminator = encoder, decoder, self.discriminator
        return model

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- transitions ----------------------------------------------------------------------------

    def latent_noise(self, n: int) -> State:
        """N(0, I) noise in every latent layer: (z1, ..., zL)."""
        return tuple(torch.randn(n, *shape, device=self.device) for shape in self.latent_shapes)

    def noise(self, n: int) -> State:
        """A state of N(0, I) noise in every layer."""
        return (torch.randn(n, *self.x_shape, device=self.device), *self.latent_noise(n))

    def _transition(self, state: State, layer: int) -> torch.Tensor:
        """Deep GibbsNet: a new value of ``layer`` (0 = x) given its neighbours in ``state``."""
        if layer == 0:
            return self.decoder[0](state[1])
        if layer == self.levels:
            return self.encoder[-1](state[layer - 1])
        return self.encoder[layer - 1](state[layer - 1], state[layer + 1])

    def sweep(self, state: State, fixed: Sequence[int] = ()) -> State:
        """One blocked Gibbs sweep (deep GibbsNet): odd layers, then even layers; the layers in
        ``fixed`` keep their values."""
        new = list(state)
        for parity in (1, 0):
            for layer in range(parity, self.levels + 1, 2):
                if layer not in fixed:
                    new[layer] = self._transition(tuple(new), layer)
        return tuple(new)

    def up(self, x: torch.Tensor, top: int | None = None) -> list[torch.Tensor]:
        """HALI inference: [z1, ..., z_top] from x (default top: L)."""
        zs, h = [], x
        for net in self.encoder[: top or self.levels]:
            h = net(h)
            zs.append(h)
        return zs

    def down(self, z: torch.Tensor, level: int) -> list[torch.Tensor]:
        """HALI generation from z_level: [x, z1, ..., z_(level-1)]."""
        below = [z]
        for net in reversed(self.decoder[:level]):
            below.insert(0, net(below[0]))
        return below[:-1]

    def _hali_generate(self, n: int, top: torch.Tensor | None = None) -> State:
        z_top = torch.randn(n, *self.latent_shapes[-1], device=self.device) if top is None else top
        return (*self.down(z_top, self.levels), z_top)

    def _hali_cycle(self, state: State) -> State:
        """A test-time step of HALI: up from x to zL, then down from zL."""
        return self._hali_generate(state[0].shape[0], self.up(state[0])[-1])

    def _run(self, state: State, steps: int, fixed: Sequence[int] = ()) -> State:
        """``steps`` sweeps with autograd only in the last ``backprop_steps`` (when enabled)."""
        grad = torch.is_grad_enabled()
        for t in range(1, steps + 1):
            with torch.set_grad_enabled(grad and t > steps - self.backprop_steps):
                state = self.sweep(state, fixed)
        return state

    # -- chains ---------------------------------------------------------------------------------

    def unclamped(self, n: int) -> State:
        """The training tuples of ``n`` unclamped chains (the last state of each)."""
        if self.kind == "hali":
            return self._hali_generate(n)
        return self._run(self.noise(n), self.chain_steps)

    def clamped(self, x: torch.Tensor) -> State:
        """The data tuples: x and its latents (HALI: one pass up; deep GibbsNet: ``clamped_steps``
        sweeps of the latents from noise with x held)."""
        if self.kind == "hali":
            return (x, *self.up(x))
        start = (x, *self.latent_noise(x.shape[0]))
        return self._run(start, self.clamped_steps, fixed=(0,))

    def observe(self, x: torch.Tensor) -> torch.Tensor:
        """x itself: a hierarchy has no corruption (see ``GibbsNet.observe``)."""
        return x

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The latents [z1, ..., zL] of images x (B, *x_shape) (the clamped chain's last state)."""
        return list(self.clamped(x)[1:])

    def features(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        """z_level of images x, flattened to (B, number of its entries), e.g. for a linear probe."""
        if not 1 <= level <= self.levels:
            raise ValueError(f"level must be between 1 and {self.levels}, got {level}")
        return self.encode(x)[level - 1].flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x from z1 (B, d1): one pass of the x transition (HALI: p(x|z1))."""
        return self.decoder[0](z)

    def burn(self, n: int, steps: int) -> None:
        """Run ``n`` unclamped chains for ``steps`` steps (for batch-norm calibration); keeps
        nothing. The chains start from N(0, I) latents with x decoded from z1 (HALI: the pass down
        from the prior), so no network is fed pixel noise: the networks in ``encoder`` see
        ``steps`` batches, those in ``decoder`` one more."""
        if self.kind == "hali":
            state = self._hali_generate(n)
            for _ in range(steps):
                state = self._hali_cycle(state)
            return
        latents = self.latent_noise(n)
        state = (self.decode(latents[0]), *latents)
        for _ in range(steps):
            state = self.sweep(state)

    def iterate(self, start: State | None = None, n: int = 0) -> Iterator[State]:
        """Endless unclamped chain without autograd; yields the state of step 1, 2, .... Step 1 is
        ``start`` when given, else a sweep of ``n`` noise states (HALI: the pass down from the
        prior)."""
        with torch.no_grad():
            if start is not None:
                state = start
            else:
                state = self._hali_generate(n) if self.kind == "hali" else self.sweep(self.noise(n))
            while True:
                yield state
                state = self._hali_cycle(state) if self.kind == "hali" else self.sweep(state)

    def trajectory(
        self, n: int, record: Sequence[int], z0: Sequence[torch.Tensor] | None = None,
        callback: StepCallback | None = None,
    ) -> torch.Tensor:
        """x at the chosen steps of ``n`` unclamped chains, (n, len(steps), *x_shape), steps =
        ``sorted(set(record))``. ``z0`` ([z1, ..., zL], each (n, d_l)) starts the chains from
        these latents: step 1 is x decoded from them (deep GibbsNet: from z1, with z0 as the
        latents; HALI: the pass down from zL), as a one-layer model's step 1 is dec(z0)."""
        return torch.stack([state[0] for state in self.states(n, record, z0, callback)], dim=1)

    def states(self, n: int, record: Sequence[int], z0: Sequence[torch.Tensor] | None = None,
               callback: StepCallback | None = None) -> list[State]:
        """The whole states ``(x, z1, ..., zL)`` that D would judge, at the steps
        ``sorted(set(record))`` of ``n`` unclamped chains (``z0`` as in ``trajectory``)."""
        wanted = sorted(set(record))
        if not wanted or wanted[0] < 1:
            raise ValueError(f"recorded steps must be at least 1, got {list(record)}")
        start = None
        if z0 is not None:
            zs = [z.to(self.device) for z in z0]
            expected = [(n, *shape) for shape in self.latent_shapes]
            if [tuple(z.shape) for z in zs] != expected:
                raise ValueError(f"z0 must be {self.levels} tensors of shapes {expected}, got "
                                 f"{[tuple(z.shape) for z in zs]}")
            with torch.no_grad():
                start = self._hali_generate(n, zs[-1]) if self.kind == "hali" else (self.decode(zs[0]), *zs)
        kept: list[State] = []
        with closing(self.iterate(start, n)) as chain:
            for t, state in enumerate(chain, start=1):
                if callback is not None:
                    callback(t)
                if t == wanted[len(kept)]:
                    kept.append(state)
                    if len(kept) == len(wanted):
                        break
        return kept

    def judge(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        """D's logits for tuples ``state = (x, z1, ..., zL)`` (as ``states`` and ``clamped`` give
        them): (B,), or (B/m,) for packs of m = ``pack``."""
        return self._scores(tuple(state), 0.0)

    def layer_names(self) -> list[str]:
        """``["x", "z1", ..., "zL"]``: layer l's name."""
        return ["x", *(f"z{i}" for i in range(1, self.levels + 1))]

    def _clamps(self, n: int, clamp: Mapping[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        shapes = [self.x_shape, *self.latent_shapes]
        out = {}
        for layer, value in clamp.items():
            if not 0 <= layer <= self.levels:
                raise ValueError(f"layer {layer} does not exist: this model has layers "
                                 f"{', '.join(self.layer_names())} (0 ... {self.levels})")
            value = value.to(self.device, torch.float32)
            if tuple(value.shape) == shapes[layer]:
                value = value.expand(n, *shapes[layer])
            if tuple(value.shape) != (n, *shapes[layer]):
                raise ValueError(f"the value clamped to {self.layer_names()[layer]} has shape "
                                 f"{tuple(value.shape)}; expected {shapes[layer]} or "
                                 f"{(n, *shapes[layer])}")
            out[layer] = value
        return out

    def run_chain(
        self, n: int, record: Sequence[int], clamp: Mapping[int, torch.Tensor] | None = None,
        impotent: Collection[int] = (), callback: StepCallback | None = None,
    ) -> ChainStates:
        """``n`` chains in a mode of being, without autograd: the layers in ``clamp`` (layer ->
        value of shape (n, *shape) or (*shape)) are held at their values; the neighbours of an
        ``impotent`` layer read, instead of its value, its free-running copy: that layer in a
        parallel unclamped chain (dreaming) that runs alongside, so the layer is shown but does not
        steer the others. Every other layer starts from N(0, I) noise and follows the sweeps
        (HALI: passes up and down, clamped layers kept; impotent layers need deep GibbsNet).
        Returns every layer at the steps in ``record`` (see ``ChainStates``)."""
        wanted = sorted(set(record))
        if not wanted or wanted[0] < 1:
            raise ValueError(f"recorded steps must be at least 1, got {list(record)}")
        impotent = set(impotent)
        if not impotent <= set(range(self.levels + 1)):
            raise ValueError(f"impotent layers {sorted(impotent)}: this model has layers "
                             f"{', '.join(self.layer_names())} (0 ... {self.levels})")
        if impotent and self.kind == "hali":
            raise ValueError("impotent layers need kind gibbsnet (an undirected hierarchy)")
        kept: list[tuple[State, State]] = []
        with torch.no_grad():
            clamp = self._clamps(n, clamp or {})
            shown = self.noise(n)
            free = self.noise(n) if impotent else shown  # read only for impotent layers
            shown = tuple(clamp.get(i, t) for i, t in enumerate(shown))
            for t in range(1, wanted[-1] + 1):
                if self.kind == "hali":
                    shown = self._hali_cycle_clamped(shown, clamp, up=t > 1)
                else:
                    shown, free = self._sweep_modes(shown, free, clamp, impotent)
                if callback is not None:
                    callback(t)
                if t in wanted:
                    kept.append((shown, free))
        layers = [torch.stack([state[i] for state, _ in kept], dim=1) for i in range(self.levels + 1)]
        copies = {i: torch.stack([copy[i] for _, copy in kept], dim=1) for i in sorted(impotent)}
        return ChainStates(wanted, layers, copies)

    def _sweep_modes(self, shown: State, free: State, clamp: Mapping[int, torch.Tensor],
                     impotent: set[int]) -> tuple[State, State]:
        """One sweep of the shown chain and, block by block with it, of the free chain whose
        layers the neighbours of impotent layers read."""
        new, copy = list(shown), list(free)
        for parity in (1, 0):
            view = tuple(copy[i] if i in impotent else new[i] for i in range(len(new)))
            block = range(parity, self.levels + 1, 2)
            if impotent:
                copy_view = tuple(copy)
                for layer in block:
                    copy[layer] = self._transition(copy_view, layer)
            for layer in block:
                if layer not in clamp:
                    new[layer] = self._transition(view, layer)
        return tuple(new), tuple(copy)

    def _hali_cycle_clamped(self, state: State, clamp: Mapping[int, torch.Tensor],
                            up: bool = True) -> State:
        """A pass up (unless ``up`` is False: step 1 starts from the prior) and a pass down, both
        keeping the clamped layers."""
        layers = list(state)
        if not up and self.levels not in clamp:
            layers[self.levels] = torch.randn_like(layers[self.levels])
        for i, net in enumerate(self.encoder, start=1):
            if not up:
                break
            layers[i] = clamp[i] if i in clamp else net(layers[i - 1])
        for i in range(self.levels - 1, -1, -1):
            layers[i] = clamp[i] if i in clamp else self.decoder[i](layers[i + 1])
        return tuple(layers)

    def sample(self, n: int, steps: int | None = None, z0: Sequence[torch.Tensor] | None = None,
               callback: StepCallback | None = None) -> torch.Tensor:
        """x after ``steps`` (default ``chain_steps``) of ``n`` unclamped chains, (n, *x_shape)."""
        steps = self.chain_steps if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        return self.trajectory(n, [steps], z0, callback)[:, 0]

    def decode_level(self, z: torch.Tensor, level: int) -> torch.Tensor:
        """x from layer ``level`` alone, z (B, *its shape, or flattened), without autograd. HALI:
        the pass down from it. Deep GibbsNet: z1 decoded (level 1), or z_level held at z while
        the other layers run ``clamped_steps`` sweeps from noise, then x."""
        if not 1 <= level <= self.levels:
            raise ValueError(f"level must be between 1 and {self.levels}, got {level}")
        z = z.reshape(z.shape[0], *self.latent_shapes[level - 1])  # features are flattened
        with torch.no_grad():
            if self.kind == "hali":
                return self.down(z, level)[0]
            if level == 1:
                return self.decode(z)
            return self.run_chain(z.shape[0], [self.clamped_steps], clamp={level: z}).layers[0][:, 0]

    def reconstruct(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        """x rebuilt from its layer ``level`` (``features``) alone (``decode_level``)."""
        with torch.no_grad():
            return self.decode_level(self.features(x, level), level)

    def inpaint(self, x_observed: torch.Tensor, mask: torch.Tensor, steps: int = 20,
                callback: StepCallback | None = None) -> torch.Tensor:
        """Partially clamped chain: entries where ``mask`` is 1 stay exactly ``x_observed``; the
        others start as uniform noise in [-1, 1] and follow the chain (each step a sweep, HALI: a
        pass up and down), with the observed entries reset after it."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        x_observed = x_observed.to(self.device)
        observed = torch.broadcast_to(mask.to(self.device) != 0, x_observed.shape)
        x = torch.where(observed, x_observed, torch.rand_like(x_observed) * 2 - 1)
        with torch.no_grad():
            state = (x, *self.latent_noise(x.shape[0]))
            for t in range(1, steps + 1):
                state = self._hali_cycle(state) if self.kind == "hali" else self.sweep(state)
                state = (torch.where(observed, x_observed, state[0]), *state[1:])
                if callback is not None:
                    callback(t)
        return state[0]

    # -- losses ---------------------------------------------------------------------------------

    def _scores(self, state: State, noise_std: float) -> torch.Tensor:
        """D's logits for the tuples ``state``: (B,), or (B/m,) for packs of m = ``pack``."""
        x = state[0] + noise_std * torch.randn_like(state[0]) if noise_std > 0 else state[0]
        return self.discriminator(pack_items(x, self.pack),
                                  [pack_items(z, self.pack) for z in state[1:]]).reshape(-1)

    def discriminator_loss(self, real: State, fake: State, noise_std: float = 0.0) -> LossOutput:
        """D's loss: clamped tuples labelled 1, unclamped tuples 0 (detached here)."""
        s_real = self._scores(tuple(t.detach() for t in real), noise_std)
        s_fake = self._scores(tuple(t.detach() for t in fake), noise_std)
        loss = target_loss(self.loss, s_real, 1.0) + target_loss(self.loss, s_fake, 0.0)
        return LossOutput(loss, score_summary(self.loss, s_real), score_summary(self.loss, s_fake))

    def generator_loss(self, real: State, fake: State, noise_std: float = 0.0) -> LossOutput:
        """The transitions' loss with swapped labels (non-saturating)."""
        s_real, s_fake = self._scores(real, noise_std), self._scores(fake, noise_std)
        loss = target_loss(self.loss, s_real, 0.0) + target_loss(self.loss, s_fake, 1.0)
        return LossOutput(loss, score_summary(self.loss, s_real), score_summary(self.loss, s_fake))


Model = GibbsNet | HierarchicalGibbsNet
"""Either model: one latent layer or a hierarchy."""

__all__ = ["KINDS", "MODES", "ChainStates", "HierarchicalGibbsNet", "Kind", "Model", "State",
           "check_hierarchy", "mode_layers"]
