"""GibbsNet: the chains (unclamped, clamped, partially clamped) and the adversarial losses.

Unclamped chain of N steps: ``z0 ~ N(0, I)``, ``x1 = dec(z0)``, then for t = 2..N
``z(t-1) = enc(x(t-1))``, ``x(t) = dec(z(t-1))``; the pair shown to D is ``(x_N, z_(N-1))``, so
N = 1 is exactly ALI's ``(dec(z0), z0)``. The clamped chain is ``(x, enc(x))`` for data x. Only the
last ``backprop_steps`` steps of the unclamped chain carry gradient (the authors' code: 1).

Stabilisers that work for any architecture live here too: D shown the last ``critic_states`` chain
states, persistent chains, a random chain length per batch, and the R1 gradient penalty (the
network wrappers, spectral norm, standardisation and decoder noise, are in
``architectures.wrappers``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gibbsnet_plugin.architectures import Architecture
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.recipe import Loss

Pair = tuple[torch.Tensor, torch.Tensor]
StepCallback = Callable[[int], None]
"""Called with the step number t (1-based) after each chain step; e.g. to advance a progress bar."""


@dataclass
class LossOutput:
    """A scalar loss to backpropagate and the mean D outputs on both chains (for logging).

    ``d_real``/``d_fake`` are probabilities for ``bce`` and raw scores for ``lsgan``.
    """

    loss: torch.Tensor
    d_real: torch.Tensor
    d_fake: torch.Tensor


def pack_items(t: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN's packing: (B, d0, d1, ...) -> (B/m, m*d0, d1, ...), each m consecutive items stacked
    along the first non-batch axis (their channels, or their entries for vectors)."""
    if m == 1:
        return t
    if t.shape[0] % m:
        raise ValueError(f"a batch of {t.shape[0]} items does not split into packs of {m} "
                         "(model.pack); use a batch size that is a multiple of it")
    return t.reshape(t.shape[0] // m, m * t.shape[1], *t.shape[2:])


def check_architecture(arch: Architecture, x_shape: tuple[int, ...], z_dim: int, name: str,
                       pack: int = 1) -> None:
    """Probe the networks with a batch of 2 (D: 2 packs of ``pack`` pairs) and raise
    ``GibbsnetError`` on a contract violation."""
    for role in ("encoder", "decoder", "discriminator"):
        if not isinstance(getattr(arch, role, None), nn.Module):
            raise GibbsnetError(f"architecture '{name}': {role} must be a torch.nn.Module")
    nets = (arch.encoder, arch.decoder, arch.discriminator)
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(2, *x_shape)
            z = arch.encoder(x)
            if tuple(z.shape) != (2, z_dim):
                raise GibbsnetError(
                    f"architecture '{name}': encoder maps x of shape {tuple(x.shape)} to "
                    f"{tuple(z.shape)}; expected (batch, z_dim) = (2, {z_dim})"
                )
            x2 = arch.decoder(z)
            if tuple(x2.shape) != tuple(x.shape):
                raise GibbsnetError(
                    f"architecture '{name}': decoder maps z of shape {tuple(z.shape)} to "
                    f"{tuple(x2.shape)}; expected (batch, *x_shape) = {tuple(x.shape)}"
                )
            x, z = (pack_items(t.repeat_interleave(pack, 0), pack) for t in (x, z))
            d = arch.discriminator(x, z)
            if tuple(d.shape) not in ((2,), (2, 1)):
                raise GibbsnetError(
                    f"architecture '{name}': discriminator returns shape {tuple(d.shape)}; "
                    "expected logits of shape (batch,) or (batch, 1)"
                )
    finally:
        for net, mode in zip(nets, modes, strict=True):
            net.train(mode)


class PersistentChains:
    """Unclamped-chain states carried from one training iteration to the next (the authors'
    ``persist_p_chain``): each chain continues from where the previous batch's chain stopped with
    probability ``keep`` and restarts from the prior otherwise, so D also sees long-run states.

    ``state_dict``/``load_state_dict`` put the states in checkpoints, so a resumed run continues
    the same chains.
    """

    def __init__(self, keep: float) -> None:
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"persistent chains need 0 < keep <= 1, got {keep}")
        self.keep = keep
        self.z: torch.Tensor | None = None

    def start(self, fresh: torch.Tensor) -> torch.Tensor:
        """The chains' starting z, (n, z_dim): the stored states where kept, else ``fresh``."""
        if self.z is None or self.z.shape != fresh.shape:
            return fresh
        kept = torch.rand(fresh.shape[0], device=fresh.device) < self.keep
        return torch.where(kept[:, None], self.z.to(fresh.device), fresh)

    def update(self, z: torch.Tensor) -> None:
        """Store the chains' next z, (n, z_dim)."""
        self.z = z.detach()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"z": torch.empty(0) if self.z is None else self.z.cpu()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.z = state["z"] if state["z"].numel() else None


class GibbsNet(nn.Module):
    """Encoder q(z|x), decoder p(x|z) and joint discriminator D(x, z), with their chains.

    Args:
        architecture: the three networks (see ``Architecture`` for their shapes).
        x_shape: shape of one data point, e.g. (1, 8, 8).
        z_dim: latent size.
        chain_steps: N, steps of the unclamped chain in training and the default for sampling.
        backprop_steps: k, how many of the last chain steps carry gradient (1 <= k <= N).
        loss: ``bce`` (non-saturating, ALI's swapped labels) or ``lsgan``.
        z_consistency: weight of ``||z_(N-1) - enc(x_N)||^2`` in the encoder/decoder loss.
        critic_states: s, how many of the unclamped chain's last states D is shown (each a pair
            ``(x_t, z_(t-1))``, all against the clamped pairs; the authors showed 2).
        persistent: probability that a training chain continues from the previous batch's chain
            instead of the prior (0 = off; see ``PersistentChains``).
        random_steps: draw each training batch's chain length uniformly from 1..chain_steps.
        r1: weight gamma of the R1 penalty ``gamma/2 * E ||grad_(x,z) D(x, z)||^2`` on clamped
            pairs in D's loss (Mescheder et al. 2018; 0 = off).
        corruption: a known measurement y = f(x) of the data (see ``corruptions``): the model
            learns clean x from data y. The encoder then reads measurements: every chain step
            and every method that takes images x encodes ``f(x)``, except ``clamped``, whose
            data are measurements already.
        pack: m, how many pairs D judges together (PacGAN, Lin et al. 2018): D then takes packs
            of m pairs stacked along their first axis (``pack_items``), x of shape
            (m*C, H, W) and z of (m*z_dim), and gives one logit per pack; 1 = off.
    """

    def __init__(
        self, architecture: Architecture, x_shape: tuple[int, ...], z_dim: int,
        chain_steps: int = 3, backprop_steps: int = 1, loss: Loss = "bce",
        z_consistency: float = 0.0, critic_states: int = 1, persistent: float = 0.0,
        random_steps: bool = False, r1: float = 0.0,
        corruption: Callable[[torch.Tensor], torch.Tensor] | None = None, pack: int = 1,
    ) -> None:
        super().__init__()
        if chain_steps < 1 or not 1 <= backprop_steps <= chain_steps:
            raise ValueError(
                f"need chain_steps >= 1 and 1 <= backprop_steps <= chain_steps, "
                f"got {chain_steps} and {backprop_steps}"
            )
        if loss not in ("bce", "lsgan"):
            raise ValueError(f"loss must be 'bce' or 'lsgan', got {loss!r}")
        if not 1 <= critic_states <= chain_steps:
            raise ValueError(f"critic_states must be between 1 and chain_steps ({chain_steps}), "
                             f"got {critic_states}")
        if r1 < 0:
            raise ValueError(f"r1 must be >= 0, got {r1}")
        if pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        self.encoder = architecture.encoder
        self.decoder = architecture.decoder
        self.discriminator = architecture.discriminator
        self.x_shape = tuple(x_shape)
        self.z_dim = z_dim
        self.chain_steps = chain_steps
        self.backprop_steps = backprop_steps
        self.loss = loss
        self.z_consistency = z_consistency
        self.critic_states = critic_states
        self.random_steps = random_steps
        self.r1 = r1
        self.corruption = corruption
        self.pack = pack
        self.chains = PersistentChains(persistent) if persistent > 0 else None

    def options(self) -> dict[str, object]:
        """The chain and loss settings, as keyword arguments of ``GibbsNet`` (to build a model
        that trains or samples like this one with other networks, e.g. averaged ones)."""
        return {"chain_steps": self.chain_steps, "backprop_steps": self.backprop_steps,
                "loss": self.loss, "z_consistency": self.z_consistency,
                "critic_states": self.critic_states, "random_steps": self.random_steps,
                "r1": self.r1, "persistent": self.chains.keep if self.chains else 0.0,
                "pack": self.pack}

    def with_networks(self, encoder: nn.Module, decoder: nn.Module) -> GibbsNet:
        """A model with these settings and this discriminator but the given encoder and decoder
        (e.g. their moving averages)."""
        return GibbsNet(Architecture(encoder, decoder, self.discriminator), self.x_shape, self.z_dim,
                        **self.options(), corruption=self.corruption)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def prior(self, n: int) -> torch.Tensor:
        """``n`` draws of z0 ~ N(0, I), shape (n, z_dim), on the model's device."""
        return torch.randn(n, self.z_dim, device=self.device)

    def observe(self, x: torch.Tensor) -> torch.Tensor:
        """The measurement ``f(x)`` of the model's ``corruption``; x itself without one."""
        return x if self.corruption is None else self.corruption(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *x_shape) -> (B, z_dim): one sample of q(z|x) (of q(z|f(x)) with a corruption)."""
        return self.encoder(self.observe(x))

    def features(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        """``encode(x)``, (B, z_dim): the features of images x, e.g. for a linear probe (one
        layer: ``level`` must be 1)."""
        if level != 1:
            raise ValueError(f"level must be 1 for a model with one latent layer, got {level}")
        return self.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, z_dim) -> (B, *x_shape): one sample of p(x|z)."""
        return self.decoder(z)

    def decode_level(self, z: torch.Tensor, level: int = 1) -> torch.Tensor:
        """``decode(z)`` without autograd (one layer: ``level`` must be 1)."""
        if level != 1:
            raise ValueError(f"level must be 1 for a model with one latent layer, got {level}")
        with torch.no_grad():
            return self.decoder(z)

    def burn(self, n: int, steps: int) -> None:
        """Run ``n`` unclamped chains for ``steps`` steps of ``x = dec(z)``, ``z = enc(x)`` (each
        network sees ``steps`` batches, e.g. for batch-norm calibration); keeps nothing."""
        z = self.prior(n)
        for _ in range(steps):
            z = self.encode(self.decoder(z))

    def critic(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """D's logits for pairs (x, z): shape (B,), or (B/m,) for packs of m = ``pack`` pairs."""
        return self.discriminator(pack_items(x, self.pack), pack_items(z, self.pack)).reshape(-1)

    # -- chains ---------------------------------------------------------------------------------

    def unclamped(self, n: int) -> Pair:
        """The training pairs of ``n`` unclamped chains: ``(x_N, z_(N-1))``, shapes (n, *x_shape)
        and (n, z_dim), or with ``critic_states`` s > 1 the last s states ``(x_t, z_(t-1))``
        concatenated along the batch, shapes (s*n, ...), oldest first.

        The chains start from the prior (or, with ``persistent``, partly from the previous call's
        chains). In training mode with ``random_steps`` the chain length N is drawn from
        1..chain_steps. Only the last k = backprop_steps steps run with autograd, so gradient
        reaches only them (each an encoder pass, except step 1, and a decoder pass); shown states
        before that window are detached.
        """
        n_steps = self.chain_steps
        if self.random_steps and self.training:
            n_steps = int(torch.randint(1, self.chain_steps + 1, ()).item())
        k, shown = min(self.backprop_steps, n_steps), min(self.critic_states, n_steps)
        z = self.prior(n)
        if self.chains is not None:
            z = self.chains.start(z)
        xs, zs = [], []
        x = z
        grad = torch.is_grad_enabled()
        for t in range(1, n_steps + 1):
            with torch.set_grad_enabled(grad and t > n_steps - k):
                if t > 1:
                    z = self.encode(x)
                x = self.decoder(z)
            if t > n_steps - shown:
                xs.append(x)
                zs.append(z)
        if self.chains is not None:
            with torch.no_grad():
                self.chains.update(self.encode(x))
        if shown == 1:
            return x, z
        return torch.cat(xs), torch.cat(zs)

    def clamped(self, x: torch.Tensor) -> Pair:
        """The data pair ``(x, enc(x))``; with a corruption x are the data's measurements y."""
        return x, self.encoder(x)

    def iterate(self, z0: torch.Tensor) -> Iterator[Pair]:
        """Endless unclamped chain from ``z0``: yields ``(x_t, z_(t-1))`` for t = 1, 2, ...

        Keeps no history and builds no autograd graph, so memory stays flat however long it runs.
        """
        z = z0
        with torch.no_grad():
            while True:
                x = self.decoder(z)
                yield x, z
                z = self.encode(x)

    def sample(
        self, n: int, steps: int | None = None, z0: torch.Tensor | None = None,
        callback: StepCallback | None = None,
    ) -> torch.Tensor:
        """``x_steps`` of ``n`` unclamped chains (default: ``chain_steps``), shape (n, *x_shape).

        ``steps=1`` is one decoder pass from the prior. ``z0`` (n, z_dim) replaces the prior draw
        (e.g. encodings of images, to see where the chain takes them). Keeps no history and builds
        no autograd graph. Uses the modules' current mode: a model from ``load_model`` is in eval
        mode.
        """
        steps = self.chain_steps if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        return self.trajectory(n, [steps], z0, callback)[:, 0]

    def trajectory(
        self, n: int, record: Sequence[int], z0: torch.Tensor | None = None,
        callback: StepCallback | None = None,
    ) -> torch.Tensor:
        """The states ``x_t`` at the chosen steps of ``n`` unclamped chains, shape
        (n, len(steps), *x_shape) with steps = ``sorted(set(record))``.

        The chain runs to the last recorded step and keeps only the recorded states, so memory
        grows with ``len(record)``, not with the chain's length. ``z0`` and the modules' mode as
        in ``sample``; ``callback(t)`` is called after each step t.
        """
        return torch.stack([x for x, _ in self.states(n, record, z0, callback)], dim=1)

    def states(
        self, n: int, record: Sequence[int], z0: torch.Tensor | None = None,
        callback: StepCallback | None = None,
    ) -> list[Pair]:
        """The pairs ``(x_t, z_(t-1))`` that D would judge, at the steps ``sorted(set(record))``
        of ``n`` unclamped chains (as ``trajectory``, which keeps only x)."""
        wanted = sorted(set(record))
        if not wanted or wanted[0] < 1:
            raise ValueError(f"recorded steps must be at least 1, got {list(record)}")
        z0 = self.prior(n) if z0 is None else z0.to(self.device)
        kept: list[Pair] = []
        # closing(): ending the generator early restores the grad mode it switched off.
        with closing(self.iterate(z0)) as chain:
            for t, state in enumerate(chain, start=1):
                if callback is not None:
                    callback(t)
                if t == wanted[len(kept)]:
                    kept.append(state)
                    if len(kept) == len(wanted):
                        break
        return kept

    def judge(self, state: Sequence[torch.Tensor]) -> torch.Tensor:
        """D's logits for pairs ``state = (x, z)`` (as ``states`` and ``clamped`` give them)."""
        return self.critic(*state)

    def reconstruct(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        """``dec(enc(x))`` without autograd, shape of x (one layer: ``level`` must be 1)."""
        if level != 1:
            raise ValueError(f"level must be 1 for a model with one latent layer, got {level}")
        with torch.no_grad():
            return self.decoder(self.encode(x))

    def inpaint(
        self, x_observed: torch.Tensor, mask: torch.Tensor, steps: int = 20,
        callback: StepCallback | None = None,
    ) -> torch.Tensor:
        """Partially clamped chain: entries where ``mask`` is 1 stay exactly ``x_observed``.

        Args:
            x_observed: (B, *x_shape); values where mask is 0 are ignored.
            mask: x_observed's shape, or one (*x_shape) mask for the batch; 1 = observed, 0 = fill.
            steps: K chain steps; each is ``z = enc(x)``, ``x' = dec(z)``, observed entries reset.
            callback: called with t after each step t.
        Returns:
            (B, *x_shape), starting from uniform noise in [-1, 1] at the hidden entries.
        """
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        x_observed = x_observed.to(self.device)
        observed = torch.broadcast_to(mask.to(self.device) != 0, x_observed.shape)
        noise = torch.rand_like(x_observed) * 2 - 1
        x = torch.where(observed, x_observed, noise)
        with torch.no_grad():
            for t in range(1, steps + 1):
                x = torch.where(observed, x_observed, self.decoder(self.encode(x)))
                if callback is not None:
                    callback(t)
        return x

    # -- losses ---------------------------------------------------------------------------------

    def _scores(self, real: Pair, fake: Pair, noise_std: float) -> tuple[torch.Tensor, torch.Tensor]:
        (xr, zr), (xf, zf) = real, fake
        if noise_std > 0:
            xr = xr + noise_std * torch.randn_like(xr)
            xf = xf + noise_std * torch.randn_like(xf)
        return self.critic(xr, zr), self.critic(xf, zf)

    def discriminator_loss(self, real: Pair, fake: Pair, noise_std: float = 0.0) -> LossOutput:
        """D's loss: clamped pairs labelled 1, unclamped pairs 0. The pairs are detached here."""
        real = (real[0].detach().requires_grad_(self.r1 > 0), real[1].detach().requires_grad_(self.r1 > 0))
        fake = (fake[0].detach(), fake[1].detach())
        s_real, s_fake = self._scores(real, fake, noise_std)
        loss = target_loss(self.loss, s_real, 1.0) + target_loss(self.loss, s_fake, 0.0)
        if self.r1 > 0:
            loss = loss + self.r1 / 2 * self.r1_penalty(real, s_real)
        return LossOutput(loss, score_summary(self.loss, s_real), score_summary(self.loss, s_fake))

    @staticmethod
    def r1_penalty(real: Pair, scores: torch.Tensor) -> torch.Tensor:
        """``E ||grad_(x,z) D(x, z)||^2`` over the pairs ``real`` (which require grad) that gave
        ``scores``; differentiable in D's parameters."""
        gx, gz = torch.autograd.grad(scores.sum(), real, create_graph=True)
        return (gx.flatten(1).pow(2).sum(1) + gz.flatten(1).pow(2).sum(1)).mean()

    def generator_loss(self, real: Pair, fake: Pair, noise_std: float = 0.0) -> LossOutput:
        """Encoder and decoder loss with swapped labels (non-saturating), plus the optional
        z-consistency term. Call it after D's update so that D's outputs are fresh."""
        s_real, s_fake = self._scores(real, fake, noise_std)
        loss = target_loss(self.loss, s_real, 0.0) + target_loss(self.loss, s_fake, 1.0)
        if self.z_consistency > 0:
            x_n, z_prev = fake
            # x_n is what D sees: a measurement already when the model has a corruption
            loss = loss + self.z_consistency * (z_prev - self.encoder(x_n)).pow(2).sum(1).mean()
        return LossOutput(loss, score_summary(self.loss, s_real), score_summary(self.loss, s_fake))


def target_loss(loss: Loss, scores: torch.Tensor, target: float) -> torch.Tensor:
    """The ``bce`` or ``lsgan`` loss of D's logits ``scores`` (B,) against the label ``target``."""
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, target))
    return ((scores - target) ** 2).mean()


def score_summary(loss: Loss, scores: torch.Tensor) -> torch.Tensor:
    """D's mean output for logging: the probability (``bce``) or the raw score (``lsgan``)."""
    scores = scores.detach()
    return (torch.sigmoid(scores) if loss == "bce" else scores).mean()


def instance_noise_std(start: float, iteration: int, iterations: int) -> float:
    """Instance-noise std annealed linearly from ``start`` to 0 over the run."""
    return start * max(0.0, 1.0 - iteration / max(1, iterations)) if start > 0 else 0.0
