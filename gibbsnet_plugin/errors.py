"""Every exception the package raises for the user, in one place.

All derive from ``GibbsnetError``: something the user can fix. The command line prints these as
one line (no traceback) and exits with their ``exit_status``: 2, except 1 for
``EnvironmentFailure`` and 130 for ``TrainingInterrupted``.

Messages speak Python: they name the parameters to change in backticks (```force```, ```level```,
```overrides``` for recipe keys); ``with_flags`` shows the command line's flags instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PARAMETER = re.compile(r"`([a-z_]+)`")


def with_flags(message: str, flags: Mapping[str, str]) -> str:
    """``message`` with each backticked parameter name replaced by its command-line flag (or by
    the bare name when ``flags`` has none)."""
    return _PARAMETER.sub(lambda m: flags.get(m.group(1), m.group(1)), message)


class GibbsnetError(Exception):
    """Base class: something the user can fix (bad recipe, missing file, unknown name)."""

    exit_status = 2


class RecipeError(GibbsnetError):
    """A recipe that cannot be loaded or does not validate; the message names the key path."""


class UnknownNameError(GibbsnetError):
    """A registry name that is neither built in nor provided by an installed plugin."""


class PluginLoadError(GibbsnetError):
    """A plugin's entry point failed to import or does not give a callable."""


class DatasetNotFoundError(GibbsnetError):
    """A data set that is not on disk and may not be downloaded, or whose files on disk cannot be
    read (a download cut short); the message says what to place or delete."""


class DeviceError(GibbsnetError):
    """A device or a number of devices that this machine does not have (CUDA, MPS, GPU count)."""


class RunDirectoryError(GibbsnetError):
    """A run directory that cannot be used as asked (exists, missing, or holds another run)."""


class TrainingDiverged(GibbsnetError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(GibbsnetError):
    """Ctrl-C stopped training; the message says where the checkpoint is. ``resumable``: a
    checkpoint of the run exists to continue from."""

    exit_status = 130

    def __init__(self, message: str, resumable: bool = False) -> None:
        super().__init__(message)
        self.resumable = resumable


class DistributedError(GibbsnetError):
    """A training process failed or died; the others were stopped."""


class ImageReadError(GibbsnetError):
    """An image file or directory that is missing, unreadable, or does not fit the model."""


class MaskError(GibbsnetError):
    """A mask that is unknown, unreadable, of the wrong size, or hides nothing or everything."""


class OutputError(GibbsnetError):
    """An output path that cannot be written as asked (wrong extension, a directory)."""


class FigureError(GibbsnetError):
    """Data that cannot be drawn as images (not 1- or 3-channel C×H×W)."""


class InceptionWeightsError(GibbsnetError):
    """The Inception weights file is missing or unreadable; the message says where to put it."""


class ProbeError(GibbsnetError):
    """A data set without labels, or too few labelled images for the probe asked for."""


class EnvironmentFailure(GibbsnetError):
    """The machine failed the run (a full disk, a write that was refused, a download that did not
    arrive); the message says what was kept and how to continue."""

    exit_status = 1


class DownloadFailed(EnvironmentFailure):
    """A download (data set, Inception weights) failed or arrived damaged; nothing was kept and
    the message says where to place the file by hand."""


class TableError(GibbsnetError):
    """A table that cannot be read, or does not fit the run (a column it models missing, text in
    a numeric column, a category never seen in training)."""
