"""The metric ``loglik``: the exact test log-likelihood of an RBM, in nats per image.

For a model on the ``rbm`` architecture with one latent layer of at most
``architectures.rbm.MAX_EXACT_UNITS`` units, log p(x) = -F(x) - log Z with the partition function
Z summed over every hidden state: no sampling, no estimate. The test split must be binary
(pixels in {-1, 1}, e.g. ``data.options: {binarize: true}``), as the RBM's visible units are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gibbsnet_plugin.architectures.rbm import MAX_EXACT_UNITS, Boltzmann, bits, machine_of
from gibbsnet_plugin.data.base import batch_to_x
from gibbsnet_plugin.errors import GibbsnetError
from gibbsnet_plugin.metrics.base import Context, Metric, Result, register
from gibbsnet_plugin.metrics.data import in_order

BATCH = 1000


def mean_log_likelihood(machine: Boltzmann, data: torch.utils.data.Dataset) -> float:
    """Mean exact log p(x) over ``data`` (binary images in {-1, 1}), in nats per image.

    Raises:
        GibbsnetError: the data are not binary.
        ValueError: the machine is not an RBM small enough to sum.
    """
    total, count = 0.0, 0
    device = machine.biases[0].device
    with torch.no_grad():  # the sum over 2^H hidden states must not keep an autograd graph
        log_z = machine.log_partition()
        for items in in_order(data, BATCH):
            x = batch_to_x(items, device)
            if not bool(((x == 1) | (x == -1)).all()):
                raise GibbsnetError("the exact likelihood needs binary data (pixels -1 or 1); set "
                                 "data.options binarize: true")
            total += float((-machine.free_energy(bits(x)) - log_z).sum())
            count += x.shape[0]
    return total / count


@register("loglik")
class LogLikelihood(Metric):
    """``loglik``: mean exact log-likelihood of the test split (nats per image, higher is
    better)."""

    summary = "exact test log-likelihood of an RBM (nats per image)"
    needs_truth = True

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return ["loglik"]

    def lower_is_better(self, score: str) -> bool:
        return False

    def label(self, score: str) -> str:
        return "exact test log-likelihood (nats/image)"

    def cell(self, score: str, value: float) -> str:
        return f"{value:.2f}"

    def skip_reason(self, ctx: Context) -> str | None:
        machine = machine_of(ctx.model)
        if machine is None or len(machine.sizes) != 2:
            return "loglik needs an RBM: architecture rbm with one latent layer"
        if machine.sizes[1] > MAX_EXACT_UNITS:
            return f"loglik sums 2^z_dim hidden states: use at most {MAX_EXACT_UNITS} hidden units"
        return None

    def run(self, ctx: Context) -> Result:
        reason = self.skip_reason(ctx)
        if reason is not None:
            raise GibbsnetError(reason)
        machine = machine_of(ctx.model)
        assert machine is not None
        value = mean_log_likelihood(machine, ctx.data.test)
        return Result({"loglik": value}, {"loglik": {"items": len(ctx.data.test),  # type: ignore[arg-type]
                                                      "hidden": machine.sizes[1]}})


__all__ = ["LogLikelihood", "mean_log_likelihood"]
