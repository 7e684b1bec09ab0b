"""Upper bounds on what a user may ask for, so that a typo refuses at once instead of running for
days or exhausting memory: chain lengths, counts, and the memory a request needs against what the
machine has.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gibbsnet_plugin.errors import GibbsnetError

if TYPE_CHECKING:
    import torch

MAX_STEPS = 1_000_000
"""Longest chain (sampling, inpainting, calibration, evaluation): about 20 minutes of the digits
model on one CPU thread."""
MAX_ITERATIONS = 1_000_000_000
"""Most training iterations a recipe may ask for."""
MAX_COUNT = 10_000_000
"""Most images, samples or labels one command or metric may ask for."""
MAX_DRAWS = 1000
"""Most draws of the linear probe's labelled set (``eval.draws``, ``--draws``)."""
MAX_BATCH = 65_536
"""Largest batch: data.batch_size, train.calibration_chains."""
MAX_WIDTH = 65_536
"""Largest latent layer (model.z_dim) or network width option."""
MAX_PACK = 64
"""Most items D may judge together (``model.pack``, PacGAN's m)."""
MAX_LR = 1.0
"""Largest learning rate: Adam and RMSprop take steps of about lr per weight, and a step of 1 or
more on weights of size ~0.1 destroys the network at once."""


def memory_bytes(device: torch.device | None = None) -> int:
    """Total memory of ``device``: the GPU's for CUDA, else this machine's physical memory, in
    bytes."""
    if device is not None and device.type == "cuda":
        import torch  # noqa: PLC0415

        return int(torch.cuda.get_device_properties(device).total_memory)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(needed: int, what: str, hint: str, device: torch.device | None = None) -> None:
    """Refuse a request that needs more than the device's total memory.

    Args:
        needed: bytes the request would hold at once (an estimate from below).
        what: the request, for the message (``"10,000,000 chains"``).
        hint: what to lower (``"lower `num`"``: backticked parameters, see ``errors``).

    Raises:
        GibbsnetError: ``needed`` exceeds the total memory.
    """
    total = memory_bytes(device)
    if needed > total:
        where = "the GPU" if device is not None and device.type == "cuda" else "this machine"
        raise GibbsnetError(f"{what} needs at least {_gib(needed)} of memory and {where} has "
                            f"{_gib(total)}; {hint}")


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"
