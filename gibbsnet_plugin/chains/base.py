"""``ChainModel``: what every chain model shares, written once.

A model has layers x = h_0, z1 = h_1, ..., zL = h_L and a *state* is the tuple of their values,
``(x, z1, ..., zL)`` with shapes (B, *x_shape), (B, *shape of z_l). A kind (one-layer GibbsNet
and ALI, deep GibbsNet, HALI, or a plugin's) supplies only:

- ``schedule()``: one chain step as blocks of ``Update``s (a layer and the function that computes
  its new value from the state); the layers of a block are computed from the same state, the
  blocks one after the other;
- ``start_layers`` and ``first_block``: step 1 of an unclamped chain draws N(0, I) in the layers
  ``start_layers`` and runs the blocks from ``first_block`` on (one layer: z0 ~ N(0, I), then
  x1 = dec(z0));
- ``clamped(x)``: the state D is shown for data x;
- ``critique(x, zs)``: how its discriminator takes a state, and ``decode_level``.

From these the base runs the unclamped chain in training (``backprop_steps``, ``critic_states``,
``persistent``, ``random_steps``), samples and trajectories, the partially clamped chains
(inpainting and the modes of being), reconstruction, features, and the adversarial losses with
PacGAN packing, R1 and the z-consistency term. Every setting works for every kind.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
from torch import nn

from gibbsnet_plugin.architectures.norms import chain_step
from gibbsnet_plugin.chains.losses import (
    LOSSES,
    Loss,
    LossOutput,
    pack_items,
    score_summary,
    target_loss,
)

State = tuple[torch.Tensor, ...]
StepCallback = Callable[[int], None]
"""Called with the step number t (1-based) after each chain step; e.g. to advance a progress bar."""
MODES = {"dreaming": ((), ()), "ready-to-hand": (("top",), ()),
         "daydreaming": ((0,), (0,)), "present-at-hand": ((0,), ("top",))}
"""The modes of being of the GibbsNet talk: (clamped layers, impotent layers); 0 is x, "top" the
top latent layer."""


class Update(NamedTuple):
    """How one layer is computed in a chain step: ``layer``'s new value is ``compute(state)``,
    which reads the layers ``reads`` (x, layer 0, is read as f(x) by a model of a corruption f)."""

    layer: int
    compute: Callable[[State], torch.Tensor]
    reads: tuple[int, ...]


Block = tuple[Update, ...]


def mode_layers(mode: str, levels: int) -> tuple[set[int], set[int]]:
    """(clamped layers, impotent layers) of the mode called ``mode`` for ``levels`` latent layers
    (0 = x, l = z_l): dreaming (all free), ready-to-hand (the top layer clamped), daydreaming (x
    clamped and impotent) and present-at-hand (x clamped, the top layer free and impotent)."""
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


class PersistentChains:
    """Unclamped-chain states carried from one training iteration to the next (the authors'
    ``persist_p_chain``): each chain continues from where the previous batch's chain stopped with
    probability ``keep`` and restarts from the prior otherwise, so D also sees long-run states.

    What is kept are the start layers of the chain's next step; ``state_dict``/``load_state_dict``
    put them in checkpoints, so a resumed run continues the same chains.
    """

    def __init__(self, keep: float) -> None:
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"persistent chains need 0 < keep <= 1, got {keep}")
        self.keep = keep
        self.layers: dict[int, torch.Tensor] = {}

    def start(self, fresh: State, layers: Sequence[int]) -> State:
        """``fresh`` with the stored values in ``layers`` where a chain is kept."""
        if not self.layers or any(self.layers[i].shape != fresh[i].shape for i in layers):
            return fresh
        kept = torch.rand(fresh[layers[0]].shape[0], device=fresh[layers[0]].device) < self.keep
        out = list(fresh)
        for i in layers:
            where = kept.view(-1, *[1] * (fresh[i].dim() - 1))
            out[i] = torch.where(where, self.layers[i].to(fresh[i].device), fresh[i])
        return tuple(out)

    def update(self, state: State, layers: Sequence[int]) -> None:
        self.layers = {i: state[i].detach() for i in layers}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"layer{i}": t.cpu() for i, t in self.layers.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if "z" in state:  # gibbsnet 0.1: the one-layer model's z
            state = {"layer1": state["z"]} if state["z"].numel() else {}
        self.layers = {int(k.removeprefix("layer")): v for k, v in state.items()}


class ChainModel(nn.Module):
    """The base of every chain model: see the module docstring for what a kind supplies.

    Args:
        x_shape: shape of one data point, e.g. (1, 8, 8).
        latent_shapes: the shape of each latent layer without the batch, bottom first.
        chain_steps: N, steps of the unclamped chain in training and the default for sampling.
        backprop_steps: k, how many of the last chain steps carry gradient (1 <= k <= N).
        loss: ``bce`` (non-saturating, ALI's swapped labels) or ``lsgan``.
        z_consistency: weight of the squared distance between the latents of the last unclamped
            state and those the clamped chain gives its x, in the encoder/decoder loss.
        x_consistency: weight of ``reconstruction_error`` (the squared error between the data's
            observed entries and x recomputed from the latents of the data with half of them
            hidden) in that loss.
        critic_states: s, how many of the unclamped chain's last states D is shown (each against
            the clamped states; the authors showed 2).
        persistent: probability that a training chain continues from the previous batch's chain
            instead of the prior (0 = off; see ``PersistentChains``).
        random_steps: draw each training batch's chain length uniformly from 1..chain_steps.
        r1: weight gamma of the R1 penalty ``gamma/2 * E ||grad D||^2`` on clamped states in D's
            loss (Mescheder et al. 2018; 0 = off).
        pack: m, how many states D judges together (PacGAN, Lin et al. 2018): D then takes packs
            of m states stacked along each layer's first axis (``pack_items``); 1 = off.
        corruption: a known measurement y = f(x) of the data (see ``corruptions``): the model
            learns clean x from data y. Every update that reads x reads ``f(x)``, except in
            ``clamped``, whose data are measurements already.
    """

    kind: ClassVar[str] = ""
    start_layers: ClassVar[tuple[int, ...]] = ()
    first_block: ClassVar[int] = 0
    one_step_training: ClassVar[bool] = False
    """True for a directed model (HALI) whose unclamped side in training is one pass, whatever
    ``chain_steps`` (then only the default length of test-time chains)."""

    def __init__(
        self, x_shape: Sequence[int], latent_shapes: Sequence[Sequence[int]], *, chain_steps: int = 3,
        backprop_steps: int = 1, loss: Loss = "bce", z_consistency: float = 0.0,
        x_consistency: float = 0.0, critic_states: int = 1, persistent: float = 0.0,
        random_steps: bool = False, r1: float = 0.0,
        pack: int = 1, corruption: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        if chain_steps < 1 or not 1 <= backprop_steps <= chain_steps:
            raise ValueError(f"need chain_steps >= 1 and 1 <= backprop_steps <= chain_steps, "
                             f"got {chain_steps} and {backprop_steps}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be 'bce' or 'lsgan', got {loss!r}")
        if not 1 <= critic_states <= chain_steps:
            raise ValueError(f"critic_states must be between 1 and chain_steps ({chain_steps}), "
                             f"got {critic_states}")
        if min(r1, z_consistency, x_consistency) < 0:
            raise ValueError(f"r1, z_consistency and x_consistency must be >= 0, got {r1}, "
                             f"{z_consistency} and {x_consistency}")
        if pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        self.x_shape = tuple(x_shape)
        self.latent_shapes = [tuple(s) for s in latent_shapes]
        self.chain_steps = chain_steps
        self.backprop_steps = backprop_steps
        self.loss = loss
        self.z_consistency = z_consistency
        self.x_consistency = x_consistency
        self.critic_states = critic_states
        self.random_steps = random_steps
        self.r1 = r1
        self.pack = pack
        self.corruption = corruption
        self.chains = PersistentChains(persistent) if persistent > 0 else None

    # -- what a kind supplies ---------------------------------------------------------------------

    def schedule(self) -> list[Block]:
        """One chain step: blocks of updates, run in order."""
        raise NotImplementedError

    def clamped(self, x: torch.Tensor) -> State:
        """The state D is shown for data x (with a corruption: the measurements y)."""
        raise NotImplementedError

    def critique(self, x: torch.Tensor, zs: list[torch.Tensor]) -> torch.Tensor:
        """The discriminator's logits for (packed) x and latents ``zs``."""
        raise NotImplementedError

    def decode_level(self, z: torch.Tensor, level: int = 1) -> torch.Tensor:
        """x from layer ``level`` alone (z of its shape, or flattened), without autograd."""
        raise NotImplementedError

    def settings(self) -> dict[str, object]:
        """Keyword arguments of the kind's constructor besides the base's (see ``options``)."""
        return {}

    # -- layers ---------------------------------------------------------------------------------

    @property
    def levels(self) -> int:
        """L, the number of latent layers."""
        return len(self.latent_shapes)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The shape of every layer without the batch: x first."""
        return [self.x_shape, *self.latent_shapes]

    def layer_names(self) -> list[str]:
        """``["x", "z1", ..., "zL"]`` (one layer: ``["x", "z"]``): layer l's name."""
        return ["x", "z"] if self.levels == 1 else ["x", *(f"z{i}" for i in range(1, self.levels + 1))]

    @property
    def trained_steps(self) -> int:
        """How many steps the unclamped chain runs in training (its states' batch-norm statistics
        are measured there): ``chain_steps``, or 1 for a directed model (HALI)."""
        return 1 if self.one_step_training else self.chain_steps

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def options(self) -> dict[str, object]:
        """The chain and loss settings, as keyword arguments (to build a model that trains or
        samples like this one with other networks, e.g. averaged ones)."""
        return {"chain_steps": self.chain_steps, "backprop_steps": self.backprop_steps,
                "loss": self.loss, "z_consistency": self.z_consistency,
                "x_consistency": self.x_consistency,
                "critic_states": self.critic_states, "random_steps": self.random_steps,
                "r1": self.r1, "persistent": self.chains.keep if self.chains else 0.0,
                "pack": self.pack, **self.settings()}

    def with_networks(self, encoder: nn.Module, decoder: nn.Module) -> ChainModel:
        """A model with these settings and this discriminator but the given ``encoder`` and
        ``decoder`` (e.g. their moving averages); it keeps no persistent chains."""
        model = copy.copy(self)
        model._modules = {**self._modules, "encoder": encoder, "decoder": decoder}
        model.chains = None
        return model

    def observe(self, x: torch.Tensor) -> torch.Tensor:
        """The measurement ``f(x)`` of the model's ``corruption``; x itself without one."""
        return x if self.corruption is None else self.corruption(x)

    def noise(self, n: int, layers: Collection[int] | None = None) -> State:
        """A state with N(0, I) in ``layers`` (default: every layer, x first); the other layers
        hold empty tensors, to be computed before they are read."""
        empty = torch.empty(0, device=self.device)
        return tuple(torch.randn(n, *shape, device=self.device) if layers is None or i in layers
                     else empty for i, shape in enumerate(self.shapes))

    # -- chain steps -----------------------------------------------------------------------------

    def _run_blocks(self, state: State, blocks: Sequence[Block], clamp: Collection[int] = (),
                    impotent: Collection[int] = (), free: State | None = None,
                    measured: bool = False, t: int | None = None) -> tuple[State, State | None]:
        """Run ``blocks`` on ``state``, leaving the layers in ``clamp`` as they are; neighbours of
        an ``impotent`` layer read its copy in ``free``, a chain run alongside without clamps.
        ``measured``: x holds measurements already (the clamped chain), so it is not observed.
        ``t``: the step of an unclamped chain these blocks compute (``norms.chain_step``)."""
        with chain_step(t):
            return self._blocks(state, blocks, clamp, impotent, free, measured)

    def _blocks(self, state: State, blocks: Sequence[Block], clamp: Collection[int],
                impotent: Collection[int], free: State | None,
                measured: bool) -> tuple[State, State | None]:
        new, copies = list(state), list(free) if free is not None else None
        for block in blocks:
            view = [copies[i] if i in impotent else v for i, v in enumerate(new)] if copies else list(new)
            if copies is not None:
                copy_view = list(copies)
                if not measured and any(0 in u.reads for u in block):
                    copy_view[0] = self.observe(copy_view[0])
                for update in block:
                    copies[update.layer] = update.compute(tuple(copy_view))
            if not measured and any(0 in u.reads for u in block):
                view[0] = self.observe(view[0])
            for update in block:
                if update.layer not in clamp:
                    new[update.layer] = update.compute(tuple(view))
        return tuple(new), tuple(copies) if copies is not None else None

    def step(self, state: State, t: int | None = None) -> State:
        """One chain step from ``state``; ``t``, when known, is its number in an unclamped chain."""
        return self._run_blocks(state, self.schedule(), t=t)[0]

    def start(self, n: int, z0: Sequence[torch.Tensor] | torch.Tensor | None = None) -> State:
        """Step 1 of ``n`` unclamped chains: from N(0, I) in the ``start_layers``, or from the
        latents ``z0`` ([z1, ..., zL], or one tensor for one layer; see ``enter``), whose batch
        size is then the number of chains."""
        if z0 is None:
            return self._run_blocks(self.noise(n, self.start_layers), self.schedule()[self.first_block:],
                                    t=1)[0]
        zs = [z0] if isinstance(z0, torch.Tensor) else list(z0)
        n = zs[0].shape[0] if zs and zs[0].dim() else n
        expected = [(n, *shape) for shape in self.latent_shapes]
        if [tuple(z.shape) for z in zs] != expected:
            raise ValueError(f"z0 must be {self.levels} tensor(s) of shape(s) {expected}, got "
                             f"{[tuple(z.shape) for z in zs]}")
        return self.enter(tuple(z.to(self.device) for z in zs))

    def enter(self, zs: State) -> State:
        """Step 1 of chains that start from the given latents: the blocks from ``first_block``
        on, run from them (one layer: x = dec(z0)). Such a chain is not the prior's, so its steps
        are not numbered (``norms.chain_step``): one step from an image's code is its
        reconstruction."""
        state = (torch.empty(0, device=self.device), *zs)
        return self._run_blocks(state, self.schedule()[self.first_block:])[0]

    # -- chains ---------------------------------------------------------------------------------

    def unclamped(self, n: int) -> State:
        """The training states of ``n`` unclamped chains: the last state, or with
        ``critic_states`` s > 1 the last s states concatenated along the batch, oldest first.

        The chains start from the prior (or, with ``persistent``, partly from the previous call's
        chains). In training mode with ``random_steps`` the chain length N is drawn from
        1..chain_steps. Only the last k = backprop_steps steps run with autograd; shown states
        before that window are detached.
        """
        n_steps = 1 if self.one_step_training else self.chain_steps
        if self.random_steps and self.training and n_steps > 1:
            n_steps = int(torch.randint(1, n_steps + 1, ()).item())
        k, shown = min(self.backprop_steps, n_steps), min(self.critic_states, n_steps)
        blocks = self.schedule()
        state = self.noise(n, self.start_layers)
        if self.chains is not None:
            state = self.chains.start(state, self.start_layers)
        kept: list[State] = []
        grad = torch.is_grad_enabled()
        for t in range(1, n_steps + 1):
            with torch.set_grad_enabled(grad and t > n_steps - k):
                state = self._run_blocks(state, blocks[self.first_block:] if t == 1 else blocks, t=t)[0]
            if t > n_steps - shown:
                kept.append(state)
        if self.chains is not None:
            with torch.no_grad():  # the layers the next step starts from
                self.chains.update(self._run_blocks(state, blocks[:self.first_block], t=n_steps + 1)[0],
                                   self.start_layers)
        return kept[0] if shown == 1 else tuple(torch.cat(layer) for layer in zip(*kept, strict=True))

    def iterate(self, start: State, numbered: bool = True) -> Iterator[State]:
        """Endless unclamped chain from the step-1 state ``start``: yields the state of step 1, 2,
        ... Keeps no history and builds no autograd graph, so memory stays flat however long it
        runs. ``numbered``: the chain started from the prior, so its steps are numbered
        (``norms.chain_step``)."""
        state = start
        with torch.no_grad():
            for t in itertools.count(2):
                yield state
                state = self.step(state, t if numbered else None)

    def states(self, n: int, record: Sequence[int], z0: Sequence[torch.Tensor] | torch.Tensor | None = None,
               callback: StepCallback | None = None) -> list[State]:
        """The whole states that D would judge, at the steps ``sorted(set(record))`` of ``n``
        unclamped chains (from the prior, or from the latents ``z0``); ``callback(t)`` is called
        after each step t. Memory grows with ``len(record)``, not with the chain's length."""
        wanted = sorted(set(record))
        if not wanted or wanted[0] < 1:
            raise ValueError(f"recorded steps must be at least 1, got {list(record)}")
        with torch.no_grad():
            first = self.start(n, z0)
        kept: list[State] = []
        # closing(): ending the generator early restores the grad mode it switched off.
        with closing(self.iterate(first, numbered=z0 is None)) as chain:
            for t, state in enumerate(chain, start=1):
                if callback is not None:
                    callback(t)
                if t == wanted[len(kept)]:
                    kept.append(state)
                    if len(kept) == len(wanted):
                        break
        return kept

    def trajectory(self, n: int, record: Sequence[int],
                   z0: Sequence[torch.Tensor] | torch.Tensor | None = None,
                   callback: StepCallback | None = None) -> torch.Tensor:
        """x at the chosen steps of ``n`` unclamped chains, shape (n, len(steps), *x_shape) with
        steps = ``sorted(set(record))`` (see ``states``)."""
        return torch.stack([state[0] for state in self.states(n, record, z0, callback)], dim=1)

    def sample(self, n: int, steps: int | None = None,
               z0: Sequence[torch.Tensor] | torch.Tensor | None = None,
               callback: StepCallback | None = None) -> torch.Tensor:
        """x after ``steps`` (default ``chain_steps``) of ``n`` unclamped chains, (n, *x_shape).

        ``steps=1`` is step 1 from the prior (one layer: one decoder pass). ``z0`` replaces the
        prior draw (e.g. encodings of images, to see where the chain takes them). Keeps no
        history and builds no autograd graph; uses the modules' current mode (a model from
        ``load_model`` is in eval mode).
        """
        steps = self.chain_steps if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        return self.trajectory(n, [steps], z0, callback)[:, 0]

    def burn(self, n: int, steps: int, callback: StepCallback | None = None) -> None:
        """Run ``n`` unclamped chains for ``steps`` steps and the start of the next (every
        network sees ``steps`` batches, e.g. for batch-norm calibration); keeps nothing.
        ``callback(t)`` is called after each step t."""
        blocks = self.schedule()
        state = self.start(n)
        for t in range(1, steps + 1):
            if t > 1:
                state = self._run_blocks(state, blocks, t=t)[0]
            if callback is not None:
                callback(t)
        self._run_blocks(state, blocks[:self.first_block], t=steps + 1)

    def _clamps(self, n: int, clamp: Mapping[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        out = {}
        for layer, value in clamp.items():
            if not 0 <= layer <= self.levels:
                raise ValueError(f"layer {layer} does not exist: this model has layers "
                                 f"{', '.join(self.layer_names())} (0 ... {self.levels})")
            shape = self.shapes[layer]
            value = value.to(self.device, torch.float32)
            if tuple(value.shape) == shape:
                value = value.expand(n, *shape)
            if tuple(value.shape) != (n, *shape):
                raise ValueError(f"the value clamped to {self.layer_names()[layer]} has shape "
                                 f"{tuple(value.shape)}; expected {shape} or {(n, *shape)}")
            out[layer] = value
        return out

    def run_chain(
        self, n: int, record: Sequence[int], clamp: Mapping[int, torch.Tensor] | None = None,
        impotent: Collection[int] = (), callback: StepCallback | None = None,
    ) -> ChainStates:
        """``n`` chains in a mode of being, without autograd: the layers in ``clamp`` (layer ->
        value of shape (n, *shape) or (*shape)) are held at their values; the neighbours of an
        ``impotent`` layer read, instead of its value, its free-running copy: that layer in a
        parallel unclamped chain (dreaming) that runs alongside, so the layer is shown but does
        not steer the others. Both chains start as unclamped chains do. Returns every layer at
        the steps in ``record`` (see ``ChainStates``)."""
        wanted = sorted(set(record))
        if not wanted or wanted[0] < 1:
            raise ValueError(f"recorded steps must be at least 1, got {list(record)}")
        impotent = set(impotent)
        if not impotent <= set(range(self.levels + 1)):
            raise ValueError(f"impotent layers {sorted(impotent)}: this model has layers "
                             f"{', '.join(self.layer_names())} (0 ... {self.levels})")
        blocks = self.schedule()
        kept: list[tuple[State, State]] = []
        with torch.no_grad():
            clamp = self._clamps(n, clamp or {})
            shown = self.noise(n, self.start_layers)
            free = self.noise(n, self.start_layers) if impotent else None
            shown = tuple(clamp.get(i, t) for i, t in enumerate(shown))
            for t in range(1, wanted[-1] + 1):
                shown, free = self._run_blocks(shown, blocks[self.first_block:] if t == 1 else blocks,
                                               clamp, impotent, free, t=t)
                if callback is not None:
                    callback(t)
                if t in wanted:
                    kept.append((shown, free or shown))
        layers = [torch.stack([state[i] for state, _ in kept], dim=1) for i in range(self.levels + 1)]
        copies = {i: torch.stack([copy[i] for _, copy in kept], dim=1) for i in sorted(impotent)}
        return ChainStates(wanted, layers, copies)

    def inpaint(self, x_observed: torch.Tensor, mask: torch.Tensor, steps: int = 20,
                callback: StepCallback | None = None) -> torch.Tensor:
        """Partially clamped chain: entries where ``mask`` is 1 stay exactly ``x_observed``.

        Args:
            x_observed: (B, *x_shape); values where mask is 0 are ignored.
            mask: x_observed's shape, or one (*x_shape) mask for the batch; 1 = observed, 0 = fill.
            steps: K chain steps, each followed by resetting the observed entries.
            callback: called with t after each step t.
        Returns:
            (B, *x_shape): the chain starts from uniform noise in [-1, 1] at the hidden entries
            (and N(0, I) in the latent layers that a step reads before computing them).
        """
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        x_observed = x_observed.to(self.device)
        observed = torch.broadcast_to(mask.to(self.device) != 0, x_observed.shape)
        x = torch.where(observed, x_observed, torch.rand_like(x_observed) * 2 - 1)
        blocks = self.schedule()
        with torch.no_grad():
            state = (x, *self.noise(x.shape[0], self.inpaint_layers())[1:])
            for t in range(1, steps + 1):
                state = self._run_blocks(state, blocks)[0]
                state = (torch.where(observed, x_observed, state[0]), *state[1:])
                if callback is not None:
                    callback(t)
        return state[0]

    def inpaint_layers(self) -> set[int]:
        """The latent layers a chain step reads before it computes them: they start as noise when
        a chain starts from x."""
        written, needed = {0}, set()
        for block in self.schedule():
            needed |= {i for u in block for i in u.reads} - written
            written |= {u.layer for u in block}
        return needed

    # -- encoding and decoding --------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """The latents [z1, ..., zL] of images x (B, *x_shape): the clamped chain's (one layer:
        the tensor z, a sample of q(z|x))."""
        zs = list(self.clamped(self.observe(x))[1:])
        return zs[0] if self.levels == 1 else zs

    def features(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        """z_level of images x, flattened to (B, number of its entries), e.g. for a linear probe."""
        self.check_level(level)
        return self.clamped(self.observe(x))[level].flatten(1)

    def reconstruct(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        """x rebuilt from its layer ``level`` (``features``) alone, without autograd."""
        with torch.no_grad():
            return self.decode_level(self.features(x, level), level)

    def check_level(self, level: int) -> None:
        if not 1 <= level <= self.levels:
            raise ValueError(f"level must be between 1 and {self.levels}, got {level}")

    # -- losses ---------------------------------------------------------------------------------

    def judge(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        """D's logits for states (as ``states`` and ``clamped`` give them): (B,), or (B/m,) for
        packs of m = ``pack``."""
        x, *zs = (pack_items(t, self.pack) for t in state)
        return self.critique(x, zs).reshape(-1)

    def _scores(self, real: State, fake: State, noise_std: float) -> tuple[torch.Tensor, torch.Tensor]:
        """D's logits for both sides, with instance noise of std ``noise_std`` added to their x."""
        if noise_std > 0:
            real = (real[0] + noise_std * torch.randn_like(real[0]), *real[1:])
            fake = (fake[0] + noise_std * torch.randn_like(fake[0]), *fake[1:])
        return self.judge(real), self.judge(fake)

    def discriminator_loss(self, real: State, fake: State, noise_std: float = 0.0) -> LossOutput:
        """D's loss: clamped states labelled 1, unclamped states 0 (both detached here)."""
        real = tuple(t.detach().requires_grad_(self.r1 > 0) for t in real)
        fake = tuple(t.detach() for t in fake)
        s_real, s_fake = self._scores(real, fake, noise_std)
        loss = target_loss(self.loss, s_real, 1.0) + target_loss(self.loss, s_fake, 0.0)
        if self.r1 > 0:
            loss = loss + self.r1 / 2 * r1_penalty(real, s_real)
        return LossOutput(loss, score_summary(self.loss, s_real), score_summary(self.loss, s_fake))

    def generator_loss(self, real: State, fake: State, noise_std: float = 0.0) -> LossOutput:
        """The encoder and decoder loss with swapped labels (non-saturating), plus the optional
        z-consistency term. Call it after D's update so that D's outputs are fresh."""
        s_real, s_fake = self._scores(real, fake, noise_std)
        loss = target_loss(self.loss, s_real, 0.0) + target_loss(self.loss, s_fake, 1.0)
        if self.z_consistency > 0:
            # fake[0] is what D sees: a measurement already when the model has a corruption
            again = self.clamped(fake[0])
            gap = sum((a - b).flatten(1).pow(2).sum(1).mean() for a, b in zip(fake[1:], again[1:],
                                                                              strict=True))
            loss = loss + self.z_consistency * gap
        return LossOutput(loss, score_summary(self.loss, s_real), score_summary(self.loss, s_fake))


    def reconstruction_error(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                             steps: int = 5, hide: float = 0.5) -> torch.Tensor:
        """The masked reconstruction term of ``x_consistency``: a random ``hide`` share of x's
        observed entries (where ``mask`` is 1; every entry without one) is hidden as well, the
        partially clamped chain fills everything hidden (``steps`` steps, no gradient), and x is
        recomputed, with gradient, from the latents of the filled x by the chain's own x update
        (one layer: ``dec(enc(x))``); returns the mean squared error over all observed entries, so
        the networks learn to predict entries they were not shown (a model of a corruption f
        compares f of it with the measurements). Hidden entries are only selected away."""
        observed = torch.ones_like(x, dtype=torch.bool) if mask is None else \
            torch.broadcast_to(mask != 0, x.shape)
        shown = observed & (torch.rand(x.shape, device=x.device) >= hide)
        x_known = torch.where(observed, x, torch.zeros_like(x))
        filled = self.inpaint(x_known, shown, steps) if steps > 0 else x_known
        update = next(u for block in self.schedule() for u in block if u.layer == 0)
        x_hat = self.observe(update.compute(tuple(self.clamped(filled))))
        gap = torch.where(observed, x_hat - x_known, torch.zeros_like(x_hat))
        return gap.pow(2).sum() / observed.sum().clamp(min=1)


def r1_penalty(real: State, scores: torch.Tensor) -> torch.Tensor:
    """``E ||grad D||^2`` over every layer of the states ``real`` (which require grad) that gave
    ``scores``; differentiable in D's parameters."""
    grads = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return sum(g.flatten(1).pow(2).sum(1) for g in grads).mean()


__all__ = ["MODES", "Block", "ChainModel", "ChainStates", "PersistentChains", "State",
           "StepCallback", "Update", "mode_layers", "r1_penalty"]
