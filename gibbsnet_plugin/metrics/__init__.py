"""Evaluation metrics: one object per metric in a registry (see ``base``), one module each:
``reconstruction``, ``inpainting`` and ``imputation`` (``scores``), ``probe``, ``fid`` (with
``inception``), ``modes``, ``critic`` and ``tsne`` (``latent_maps``). Third-party packages add
metrics through the ``gibbsnet.metrics`` entry-point group.
"""

# registers the built-ins
from gibbsnet_plugin.metrics import critic, fid, latent_maps, modes, probe, scores  # noqa: E402,F401,I001
from gibbsnet_plugin.metrics.base import (
    Context,
    Data,
    Metric,
    Result,
    Settings,
    get,
    lower_is_better,
    names,
    owner,
    register,
)
from gibbsnet_plugin.registry import METRICS

metric_entries = METRICS.entries
"""Every registered metric (built in, from plugins, and broken plugins), for ``gibbsnet plugins``."""

__all__ = ["Context", "Data", "Metric", "Result", "Settings", "get", "lower_is_better",
           "metric_entries", "names", "owner", "register"]
