"""Small helpers every layer uses: devices, seeding and atomic file writes.

torch is imported where it is used, so that the recipe (which checks device names with
``DEVICE_NAME``) loads without it.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gibbsnet_plugin.errors import DeviceError

if TYPE_CHECKING:
    import torch

DEVICES = "auto, cpu, cuda, cuda:N or mps"
"""The device names ``resolve_device`` accepts, for messages and help texts."""
DEVICE_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
"""The grammar of ``DEVICES``."""


def resolve_device(name: str | torch.device | None = "auto", key: str = "device") -> torch.device:
    """``None`` or ``auto`` -> CUDA when available, else CPU; otherwise the named device, checked
    against this machine.

    Raises:
        DeviceError: a name that is not a device, or CUDA, a CUDA index or MPS that this machine
            does not have; the message starts with ``key`` (e.g. ``train.device``).
    """
    import torch  # noqa: PLC0415  (see the module docstring)

    if isinstance(name, torch.device):
        return name
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not DEVICE_NAME.match(name):
        raise DeviceError(f"{key} '{name}': expected {DEVICES}")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{key} '{name}': CUDA is not available here; use cpu or auto")
        if (device.index or 0) >= torch.cuda.device_count():
            raise DeviceError(f"{key} '{name}': this machine has {torch.cuda.device_count()} CUDA "
                              "devices (cuda:0 ...)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"{key} '{name}': Apple's MPS is not available here (it needs a Mac "
                          "with Apple silicon and a PyTorch built with MPS); use cpu or auto")
    return device


@contextmanager
def seeded(seed: int | None, device: torch.device | None = None) -> Iterator[None]:
    """Run the block with torch's generators (CPU, and ``device`` when it is a GPU) seeded with
    ``seed``, and restore them afterwards; ``None`` leaves the generators alone."""
    import torch  # noqa: PLC0415

    if seed is None:
        yield
        return
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def seed_everything(seed: int) -> None:
    """Seed torch, Python and NumPy's global generators with ``seed``."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


SHOWN = 60
"""Characters of a bad value that an error message shows."""


def short(value: Any, limit: int = SHOWN) -> str:
    """``repr(value)``, cut to ``limit`` characters (with ``…``) so a message stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


NAME_LIMIT = 200
"""Longest file or directory name (bytes) accepted for an output: file systems allow 255, and
``atomic_output`` writes through a temporary name ``.<name>.<pid>.tmp`` that is longer."""


def unwritable(path: str | Path) -> str | None:
    """Why a file or directory cannot be created at ``path`` (a name too long, a file where a
    directory must be, no permission to write), or None when it can, as far as can be told
    without writing; ``path`` itself may exist."""
    path = Path(os.path.expanduser(path))
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_LIMIT:
            return f"the name '{part[:40]}…' is longer than {NAME_LIMIT} bytes"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"no permission to write in {ancestor}"
    return None


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; renames it to ``path`` when the block succeeds and
    deletes it when the block raises, so ``path`` is never left half written. Creates missing
    parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace the contents of ``path`` with ``text`` (UTF-8) atomically (see ``atomic_output``)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
