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
- ``critique(x, zs)``: how its discriminator takes a (packed) state, and ``decode_level``.

From these the base runs the unclamped chain in training (``backprop_steps``, ``critic_states``,
``persistent``, ``random_steps``), samples and trajectories, the partially clamped chains
(inpainting and the modes of being), reconstruction and features; the losses (D's logits of a
state, ``judge``, PacGAN packing, R1, the z- and x-consistency terms) are ``ChainLosses``', in
``losses``. The settings are one ``ChainSettings`` (``config``); every setting works for every
kind.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from gibbsnet_plugin.architectures.base import shown_cells
from gibbsnet_plugin.architectures.norms import chain_step
from gibbsnet_plugin.chains.losses import ChainLosses
from gibbsnet_plugin.chains.settings import ChainSettings

State = tuple[torch.Tensor, ...]
SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(ChainSettings))
"""The chain settings, each read as an attribute of a model."""
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


class ChainModel(ChainLosses, nn.Module):
    """The base of every chain model: see the module docstring for what a kind supplies.

    Args:
        x_shape: shape of one data point, e.g. (1, 8, 8).
        latent_shapes: the shape of each latent layer without the batch, bottom first.
        config: the chain and loss settings (``ChainSettings``, which says what each means:
            ``chain_steps``, ``backprop_steps``, ``loss``, ``pack``, ...); default: its defaults.
        corruption: a known measurement y = f(x) of the data (see ``corruptions``): the model
            learns clean x from data y. Every update that reads x reads ``f(x)``, except in
            ``clamped``, whose data are measurements already.
        **settings: fields of ``ChainSettings`` that replace those of ``config``, e.g.
            ``chain_steps=5``.

    The model keeps its own copy of the settings as ``config`` and reads each one as an
    attribute too (``model.chain_steps``). Settings out of range raise ``ValueError``.
    """

    kind: ClassVar[str] = ""
    start_layers: ClassVar[tuple[int, ...]] = ()
    first_block: ClassVar[int] = 0
    one_step_training: ClassVar[bool] = False
    """True for a directed model (HALI) whose unclamped side in training is one pass, whatever
    ``chain_steps`` (then only the default length of test-time chains)."""

    def __init__(
        self, x_shape: Sequence[int], latent_shapes: Sequence[Sequence[int]], *,
        config: ChainSettings | None = None,
        corruption: Callable[[torch.Tensor], torch.Tensor] | None = None, **settings: Any,
    ) -> None:
        super().__init__()
        self.config = (ChainSettings() if config is None else config).chain_settings(**settings)
        self.config.check()
        self.x_shape = tuple(x_shape)
        self.latent_shapes = [tuple(s) for s in latent_shapes]
        self.corruption = corruption
        self.chains = PersistentChains(self.persistent) if self.persistent > 0 else None

    def __getattr__(self, name: str) -> Any:
        """A chain setting reads as an attribute: ``model.chain_steps`` is
        ``model.config.chain_steps``."""
        if name in SETTING_NAMES and "config" in self.__dict__:
            return getattr(self.__dict__["config"], name)
        return super().__getattr__(name)

    # -- what a kind supplies ---------------------------------------------------------------------

    def schedule(self) -> list[Block]:
        """One chain step: blocks of updates, run in order."""
        raise NotImplementedError

    def clamped(self, x: torch.Tensor) -> State:
        """The state D is shown for data x (with a corruption: the measurements y)."""
        raise NotImplementedError

    def critique(self, x: torch.Tensor, zs: list[torch.Tensor]) -> torch.Tensor:
        """The discriminator's logits for (packed) x and latents ``zs``; callers ask ``judge``."""
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
        """The chain and loss settings (``config``) and the kind's own (``settings``), as keyword
        arguments (to build a model that trains or samples like this one with other networks,
        e.g. averaged ones)."""
        return {**dataclasses.asdict(self.config), **self.settings()}

    def with_networks(self, encoder: nn.Module, decoder: nn.Module) -> ChainModel:
        """A model with these settings (``config``, shared) and this discriminator but the given
        ``encoder`` and ``decoder`` (e.g. their moving averages); it keeps no persistent chains."""
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
                    measured: bool = False, t: int | None = None) -> State:
        """Run ``blocks`` on ``state``, leaving the layers in ``clamp`` as they are.
        ``measured``: x holds measurements already (the clamped chain), so it is not observed.
        ``t``: the step of an unclamped chain these blocks compute (``norms.chain_step``)."""
        with chain_step(t):
            for block in blocks:
                state = self._run_block(state, block, state, clamp, measured)
        return state

    def _run_beside(self, state: State, free: State, blocks: Sequence[Block], clamp: Collection[int],
                    impotent: Collection[int], t: int | None = None) -> tuple[State, State]:
        """Run ``blocks`` on ``state`` and on ``free``, a chain run alongside without clamps
        (the free chain's block first): the neighbours of an ``impotent`` layer read its copy in
        ``free`` as it stood before the block. Returns both new states."""
        with chain_step(t):
            for block in blocks:
                view = tuple(free[i] if i in impotent else v for i, v in enumerate(state))
                free = self._run_block(free, block, free)
                state = self._run_block(state, block, view, clamp)
        return state, free

    def _run_block(self, state: State, block: Block, reads: State, clamp: Collection[int] = (),
                   measured: bool = False) -> State:
        """``state`` with the layers of ``block`` (but those in ``clamp``) computed from the state
        ``reads``, whose x is read as f(x) unless ``measured``."""
        if not measured and any(0 in u.reads for u in block):
            reads = (self.observe(reads[0]), *reads[1:])
        new = list(state)
        for update in block:
            if update.layer not in clamp:
                new[update.layer] = update.compute(reads)
        return tuple(new)

    def step(self, state: State, t: int | None = None, measured: bool = False) -> State:
        """One chain step from ``state``; ``t``, when known, is its number in an unclamped chain;
        ``measured``: the state's x holds measurements already (a clamped state of a model of a
        corruption), so the step reads it as it is instead of f(x)."""
        return self._run_blocks(state, self.schedule(), measured=measured, t=t)

    def start(self, n: int, z0: Sequence[torch.Tensor] | torch.Tensor | None = None) -> State:
        """Step 1 of ``n`` unclamped chains: from N(0, I) in the ``start_layers``, or from the
        latents ``z0`` ([z1, ..., zL], or one tensor for one layer; see ``enter``), whose batch
        size is then the number of chains."""
        if z0 is None:
            return self._run_blocks(self.noise(n, self.start_layers), self.schedule()[self.first_block:],
                                    t=1)
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
        return self._run_blocks(state, self.schedule()[self.first_block:])

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
                state = self._run_blocks(state, blocks[self.first_block:] if t == 1 else blocks, t=t)
            if t > n_steps - shown:
                kept.append(state)
        if self.chains is not None:
            with torch.no_grad():  # the layers the next step starts from
                self.chains.update(self._run_blocks(state, blocks[:self.first_block], t=n_steps + 1),
                                   self.start_layers)
        return kept[0] if shown == 1 else tuple(torch.cat(layer) for layer in zip(*kept, strict=True))

    def chain_pairs(self, real: State) -> State:
        """Pairs of states of one chain for D's packs of 2 (``stationarity`` M): chains start at the
        clamped states ``real`` of the first half of the batch (B items) and run m ~ U{1..M} steps,
        the last ``backprop_steps`` with autograd. Returns, per layer, (2 * (B // 2), ...) with
        items 2i and 2i + 1 one chain's (s_0, s_m), which D, packing consecutive items, judges
        together: a chain whose s_m still shows where it started is told from independent data."""
        half = real[0].shape[0] // 2
        start = tuple(t[:half] for t in real)
        m = int(torch.randint(1, self.stationarity + 1, ()).item())
        k = min(self.backprop_steps, m)
        grad = torch.is_grad_enabled()
        state = start
        for t in range(1, m + 1):
            with torch.set_grad_enabled(grad and t > m - k):
                state = self.step(state)
        return tuple(torch.stack([a, b], dim=1).flatten(0, 1) for a, b in zip(start, state, strict=True))

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
                state = self._run_blocks(state, blocks, t=t)
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
                step_blocks = blocks[self.first_block:] if t == 1 else blocks
                if free is None:
                    shown = self._run_blocks(shown, step_blocks, clamp, t=t)
                else:
                    shown, free = self._run_beside(shown, free, step_blocks, clamp, impotent, t)
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
        with torch.no_grad():
            state = self.partial_start(x_observed, observed)
            for t in range(1, steps + 1):
                state = self.partial_step(state, x_observed, observed)
                if callback is not None:
                    callback(t)
        return state[0]

    def partial_start(self, x_observed: torch.Tensor, observed: torch.Tensor) -> State:
        """Where partially clamped chains start (``inpaint``): x is ``x_observed`` (B, *x_shape)
        where the bool ``observed`` (its shape) is True and uniform noise in [-1, 1] elsewhere;
        the latent layers that a step reads before computing them (``inpaint_layers``) are
        N(0, I), the others empty until step 1 computes them."""
        x = torch.where(observed, x_observed, torch.rand_like(x_observed) * 2 - 1)
        return (x, *self.noise(x.shape[0], self.inpaint_layers())[1:])

    def partial_step(self, state: State, x_observed: torch.Tensor, observed: torch.Tensor) -> State:
        """One step of a partially clamped chain (``inpaint``): a chain step from ``state`` (not
        a numbered step of an unclamped chain), then x reset to ``x_observed`` where ``observed``
        is True, so those entries stay exactly the observed values. A decoder that reads the shown
        cells (``architectures.base.shown_cells``) is given the observed ones."""
        with shown_cells(x_observed, observed):
            state = self.step(state)
        return (torch.where(observed, x_observed, state[0]), *state[1:])

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

    def x_update(self, x: torch.Tensor) -> torch.Tensor:
        """One draw of x from the latents of the clamped chain at x (B, *x_shape), by the chain's
        own update of x (one layer: ``dec(enc(x))``); with autograd as the caller has it."""
        update = next(u for block in self.schedule() for u in block if u.layer == 0)
        return update.compute(tuple(self.clamped(x)))

    def check_level(self, level: int) -> None:
        if not 1 <= level <= self.levels:
            raise ValueError(f"level must be between 1 and {self.levels}, got {level}")


__all__ = ["MODES", "Block", "ChainModel", "ChainStates", "PersistentChains", "State",
           "StepCallback", "Update", "mode_layers"]
