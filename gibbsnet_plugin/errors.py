"""Exceptions that carry a message meant for the user.

The command line prints these as one line (no traceback) and exits with status 2.
"""

from __future__ import annotations


class GibbsnetError(Exception):
    """Base class: something the user can fix (bad recipe, missing file, unknown name)."""


class RecipeError(GibbsnetError):
    """A recipe that cannot be loaded or does not validate; the message names the key path."""


class UnknownNameError(GibbsnetError):
    """A registry name that is neither built in nor provided by an installed plugin."""


class PluginLoadError(GibbsnetError):
    """A plugin's entry point failed to import or does not give a callable."""


class DatasetNotFoundError(GibbsnetError):
    """A data set that is not on disk and may not be downloaded."""


class RunDirectoryError(GibbsnetError):
    """A run directory that cannot be used as asked (exists, missing, or holds another run)."""


class TrainingDiverged(GibbsnetError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""
