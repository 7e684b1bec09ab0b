"""``ChainSettings``: the chain and loss settings every chain kind takes, each defined once.

A field here is all a new setting needs besides its use: ``ChainModel`` keeps the settings as
``config`` (each one also read as an attribute, ``model.chain_steps``) and reports them in
``options()``; the factory hands the recipe's to the chain kind as one object; the recipe's
``model`` section inherits the fields (the YAML key ``model.chain_steps``), and
docs/recipes.md documents each from its ``doc``. Its range goes in ``problems``, which both the
model and the recipe check.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from gibbsnet_plugin.chains.losses import LOSSES, RECONSTRUCTIONS, Loss, Reconstruction
from gibbsnet_plugin.limits import MAX_PACK, MAX_STEPS
from gibbsnet_plugin.utils import short


def _doc(text: str) -> dict[str, str]:
    """A field's metadata: what it means (the recipe reference shows it as ``model.<name>``)."""
    return {"doc": text}


@dataclass
class ChainSettings:
    """The chain and loss settings of a chain model, with their defaults; each field's ``doc``
    (in its metadata) says what it means. ``problems`` lists the settings out of their range.

    Not frozen, because the recipe's ``ModelConfig``, which inherits these fields, is edited in
    place; a model keeps its own copy (``chain_settings``).
    """

    chain_steps: int = field(default=3, metadata=_doc("N, steps of the unclamped chain; 1 = ALI"))
    backprop_steps: int = field(default=1, metadata=_doc(
        "gradient flows through the last k chain steps (1 = the authors' code, N = all)"))
    loss: Loss = field(default="bce", metadata=_doc(
        "`bce` (non-saturating, ALI's swapped labels) or `lsgan` (the authors' code)"))
    z_consistency: float = field(default=0.0, metadata=_doc(
        "weight of `‖z_(N-1) − enc(x_N)‖²` (the authors' code uses 1e-4)"))
    x_consistency: float = field(default=0.0, metadata=_doc(
        "weight of a masked reconstruction term: a `hide` share of the observed entries hidden as "
        "well, the chain (`train.missing_steps` steps) fills them, and `dec(enc(x))` is scored on "
        "every observed entry; teaches imputation"))
    hide: float = field(default=0.5, metadata=_doc(
        "the share of the observed entries that `x_consistency` hides from the chain (each entry "
        "independently), which the networks learn to predict"))
    reconstruction: Reconstruction = field(default="squared", metadata=_doc(
        "how `x_consistency` scores `dec(enc(x))` on the observed entries: `squared` error of one "
        "draw (rewards the conditional mean: draws come out too alike) or `crps`, the continuous "
        "ranked probability score of two independent draws (a proper scoring rule: rewards draws "
        "spread as the true conditional)"))
    bounded: bool = field(default=False, metadata=_doc(
        "`x_consistency` scores the draws clipped to [-1, 1], the range of a table's coded numbers "
        "(their observed minimum and maximum) and of images, as imputations are decoded: draws "
        "can sit exactly on a bound, e.g. the zeros of a column of counts or frequencies"))
    critic_states: int = field(default=1, metadata=_doc(
        "D is shown the unclamped chain's last s states `(x_t, z_(t-1))`, each against the clamped "
        "pairs (the authors showed 2); states before the `backprop_steps` window are shown detached"))
    pack: int = field(default=1, metadata=_doc(
        "PacGAN packing: D judges packs of this many states at once (its network is the "
        "architecture's own, built for m times the channels and latent entries); 1 = off"))
    persistent: float = field(default=0.0, metadata=_doc(
        "persistent unclamped chains: the chance that a training chain continues from where the "
        "previous batch's chain stopped instead of restarting from the prior (the authors' "
        "`persist_p_chain`; 0 = off); the states are saved in checkpoints"))
    random_steps: bool = field(default=False, metadata=_doc(
        "draw each training batch's chain length uniformly from 1 to `chain_steps`"))
    stationarity: int = field(default=0, metadata=_doc(
        "M > 0: D also judges pairs `(s_0, s_m)` of one chain, started at the clamped state of a "
        "data item and run m ~ U{1..M} steps, as unclamped, against pairs of independent data, so a "
        "chain that stays where it started is caught (the pairwise discriminator of A-NICE-MC, "
        "Song, Zhao and Ermon 2017); needs `pack: 2`, D's packs being the pairs; 0 = off"))
    walkback: float = field(default=0.0, metadata=_doc(
        "weight of a walkback term (the walkback of generative stochastic networks, Bengio et al. "
        "2013; Variational Walkback, Goyal et al. 2017): chains start at the clamped state of each "
        "data item, run k ~ U{1..`walkback_steps`} steps without gradient, and the chain's x "
        "update from where they got to (one layer: `dec(enc(x_k))`) is scored against the item "
        "as `reconstruction` says, so chains that wander off are trained to come back; with "
        "missing entries the walk starts from the partially clamped chain's fill and only "
        "observed entries are scored; with a corruption f it starts from the measurements and f "
        "of the x update is scored against them; 0 = off"))
    walkback_steps: int = field(default=10, metadata=_doc(
        "the most steps a walkback chain walks away from its data item before it is scored"))
    r1: float = field(default=0.0, metadata=_doc(
        "gamma of the R1 penalty `gamma/2 · E‖∇_(x,z) D(x, z)‖²` on clamped pairs (0 = off)"))

    def problems(self) -> dict[str, str]:
        """What is wrong with each setting out of its range, by field name (empty: all valid)."""
        n = self.chain_steps
        ranges = {
            "chain_steps": (1 <= n <= MAX_STEPS,
                            f"must be between 1 (ALI) and {MAX_STEPS:,}, got {short(n)}"),
            "backprop_steps": (1 <= self.backprop_steps <= n,
                               f"must be between 1 and chain_steps ({n}), got {self.backprop_steps}"),
            "loss": (self.loss in LOSSES, f"must be 'bce' or 'lsgan', got {short(self.loss)}"),
            "z_consistency": (0 <= self.z_consistency < math.inf,
                              f"must be finite and >= 0, got {self.z_consistency}"),
            "x_consistency": (0 <= self.x_consistency < math.inf,
                              f"must be finite and >= 0, got {self.x_consistency}"),
            "hide": (0 < self.hide < 1, f"must be in (0, 1), the share of observed entries hidden, "
                                        f"got {short(self.hide)}"),
            "reconstruction": (self.reconstruction in RECONSTRUCTIONS,
                               f"must be 'squared' or 'crps', got {short(self.reconstruction)}"),
            "critic_states": (1 <= self.critic_states <= n,
                              f"must be between 1 and chain_steps ({n}), got {self.critic_states}"),
            "pack": (1 <= self.pack <= MAX_PACK,
                     f"must be between 1 (off) and {MAX_PACK} (items D judges together), got "
                     f"{short(self.pack)}"),
            "persistent": (0.0 <= self.persistent <= 1.0,
                           f"must be in [0, 1] (0 = off; the chance a chain continues), got "
                           f"{self.persistent}"),
            "stationarity": (0 <= self.stationarity <= MAX_STEPS
                             and (self.stationarity == 0 or self.pack == 2),
                             f"must be between 0 (off) and {MAX_STEPS:,} chain steps, with pack 2 "
                             f"(D judges the pairs as its packs), got {short(self.stationarity)} "
                             f"with pack {short(self.pack)}"),
            "walkback": (0 <= self.walkback < math.inf,
                         f"must be finite and >= 0 (0 = off), got {self.walkback}"),
            "walkback_steps": (1 <= self.walkback_steps <= MAX_STEPS,
                               f"must be between 1 and {MAX_STEPS:,} chain steps, got "
                               f"{short(self.walkback_steps)}"),
            "r1": (0 <= self.r1 < math.inf, f"must be finite and >= 0 (0 = off), got {self.r1}"),
        }
        return {name: problem for name, (ok, problem) in ranges.items() if not ok}

    def check(self) -> None:
        """Raise ``ValueError`` naming every setting out of its range."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(f"{name} {problem}" for name, problem in problems.items()))

    def chain_settings(self, **changes: Any) -> ChainSettings:
        """These settings alone (of a recipe's ``ModelConfig``: without its other keys), as a new
        ``ChainSettings`` with ``changes`` made; an unknown name raises ``TypeError``."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(ChainSettings)}
        return ChainSettings(**{**values, **changes})


__all__ = ["ChainSettings"]
