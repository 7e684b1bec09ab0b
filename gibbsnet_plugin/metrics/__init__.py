"""Evaluation metrics: one object per metric in a registry (see ``base``), one module each:
``reconstruction``, ``inpainting`` and ``imputation`` (``scores``), ``probe``, ``fid`` (with
``inception``), ``modes``, ``critic`` and ``tsne`` (``latent_maps``), each imported when its name
is first used. Third-party packages add metrics through the ``gibbsnet.metrics`` entry-point
group.
"""

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

__all__ = ["Context", "Data", "Metric", "Result", "Settings", "get", "lower_is_better", "names",
           "owner", "register"]
