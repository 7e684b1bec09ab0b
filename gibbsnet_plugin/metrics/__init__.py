"""Evaluation metrics: one object per metric in a registry (see ``base``), one module each:
``reconstruction``, ``inpainting``, ``imputation`` and ``coverage`` (``scores``, with
``uncertainty``), ``probe``, ``fid`` and
``fidelity`` (``fid``, with ``inception``), ``modes``, ``critic``, ``tsne`` (``latent_maps``) and
``loglik`` (``likelihood``), each imported when its name is first used. Third-party packages add
metrics through the ``gibbsnet.metrics`` entry-point group.
"""

from gibbsnet_plugin.metrics.base import (
    Context,
    Data,
    Metric,
    NoOptions,
    Result,
    Settings,
    check_options,
    get,
    lower_is_better,
    names,
    option,
    option_fields,
    owner,
    register,
)

__all__ = ["Context", "Data", "Metric", "NoOptions", "Result", "Settings", "check_options", "get",
           "lower_is_better", "names", "option", "option_fields", "owner", "register"]
