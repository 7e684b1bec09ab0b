"""gibbsnet: GibbsNet, ALI and latent hierarchies (deep GibbsNet, HALI) on PyTorch and
pytorch-ignite.

The Python API (see docs/api.md)::

    import gibbsnet_plugin as gn
    recipe = gn.load_recipe("recipes/digits.yaml", overrides=["train.iterations=100"])
    run_dir = gn.train(recipe)
    model = gn.load_model(run_dir)
    x = model.sample(64, steps=10)
    chains = gn.sample(model, 64, steps=1000, seed=0)
    scores = gn.evaluate(run_dir, ["reconstruction", "inpainting"])

Names are imported on first use, so ``import gibbsnet_plugin`` (and ``gibbsnet --help``) stays
fast and does not load PyTorch until something needs it, and using a trained model never loads
the training modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Architecture": "gibbsnet_plugin.architectures",
    "Hierarchy": "gibbsnet_plugin.architectures",
    "ChainModel": "gibbsnet_plugin.chains",
    "GibbsNet": "gibbsnet_plugin.chains",
    "DeepGibbsNet": "gibbsnet_plugin.chains",
    "HALI": "gibbsnet_plugin.chains",
    "Recipe": "gibbsnet_plugin.recipe",
    "load_recipe": "gibbsnet_plugin.recipe",
    "GibbsnetError": "gibbsnet_plugin.errors",
    "TrainingInterrupted": "gibbsnet_plugin.errors",
    "train": "gibbsnet_plugin.training",
    "default_run_dir": "gibbsnet_plugin.training",
    "TrainingStatus": "gibbsnet_plugin.engines.handlers",
    "RunSummary": "gibbsnet_plugin.engines.handlers",
    "load_model": "gibbsnet_plugin.checkpoint",
    "export_model": "gibbsnet_plugin.checkpoint",
    "resolve_checkpoint": "gibbsnet_plugin.checkpoint",
    "RECIPE_FILE": "gibbsnet_plugin.rundir",
    "RunDir": "gibbsnet_plugin.rundir",
    "Run": "gibbsnet_plugin.testtime",
    "load_run": "gibbsnet_plugin.testtime",
    "sample": "gibbsnet_plugin.testtime",
    "inpaint": "gibbsnet_plugin.testtime",
    "reconstruct": "gibbsnet_plugin.testtime",
    "interpolate": "gibbsnet_plugin.testtime",
    "dataset_images": "gibbsnet_plugin.testtime",
    "modes": "gibbsnet_plugin.testtime",
    "modes_need_images": "gibbsnet_plugin.testtime",
    "imagined": "gibbsnet_plugin.testtime",
    "default_record": "gibbsnet_plugin.testtime",
    "gif_steps": "gibbsnet_plugin.testtime",
    "impute": "gibbsnet_plugin.imputation",
    "impute_file": "gibbsnet_plugin.imputation",
    "Imputation": "gibbsnet_plugin.imputation",
    "GibbsNetImputer": "gibbsnet_plugin.estimator",
    "read_table": "gibbsnet_plugin.data.table_files",
    "TableCodec": "gibbsnet_plugin.data.tables",
    "load_images": "gibbsnet_plugin.data.images",
    "resolve_mask": "gibbsnet_plugin.data.masks",
    "evaluate": "gibbsnet_plugin.evaluation",
    "check_metrics": "gibbsnet_plugin.evaluation",
    "plugin_entries": "gibbsnet_plugin.registry",
    "score_label": "gibbsnet_plugin.evaluation",
    "score_text": "gibbsnet_plugin.evaluation",
    "run_label": "gibbsnet_plugin.evaluation",
    "build_report": "gibbsnet_plugin.report",
    "write_report": "gibbsnet_plugin.report",
    "fid_of_paths": "gibbsnet_plugin.metrics.folders",
    "save_fid_statistics": "gibbsnet_plugin.metrics.folders",
}
_MODULES = {"architectures": "gibbsnet_plugin.architectures", "chains": "gibbsnet_plugin.chains",
            "data": "gibbsnet_plugin.data",
            "datasets": "gibbsnet_plugin.data", "corruptions": "gibbsnet_plugin.corruptions",
            "errors": "gibbsnet_plugin.errors",
            "figures": "gibbsnet_plugin.figures", "limits": "gibbsnet_plugin.limits",
            "report": "gibbsnet_plugin.report", "rundir": "gibbsnet_plugin.rundir",
            "testtime": "gibbsnet_plugin.testtime"}

__all__ = sorted([*_LAZY, *_MODULES])

if TYPE_CHECKING:
    from gibbsnet_plugin import (
        architectures,
        chains,
        corruptions,
        data,
        errors,
        figures,
        limits,
        report,
        testtime,
    )
    from gibbsnet_plugin import data as datasets
    from gibbsnet_plugin.architectures import Architecture, Hierarchy
    from gibbsnet_plugin.chains import HALI, ChainModel, DeepGibbsNet, GibbsNet
    from gibbsnet_plugin.checkpoint import export_model, load_model, resolve_checkpoint
    from gibbsnet_plugin.data.images import load_images
    from gibbsnet_plugin.data.masks import resolve_mask
    from gibbsnet_plugin.data.table_files import read_table
    from gibbsnet_plugin.data.tables import TableCodec
    from gibbsnet_plugin.engines.handlers import RunSummary, TrainingStatus
    from gibbsnet_plugin.errors import GibbsnetError, TrainingInterrupted
    from gibbsnet_plugin.estimator import GibbsNetImputer
    from gibbsnet_plugin.evaluation import check_metrics, evaluate, run_label, score_label, score_text
    from gibbsnet_plugin.imputation import Imputation, impute, impute_file
    from gibbsnet_plugin.metrics.folders import fid_of_paths, save_fid_statistics
    from gibbsnet_plugin.recipe import Recipe, load_recipe
    from gibbsnet_plugin.registry import plugin_entries
    from gibbsnet_plugin.report import build_report, write_report
    from gibbsnet_plugin.rundir import RECIPE_FILE, RunDir
    from gibbsnet_plugin.testtime import (
        Run,
        dataset_images,
        default_record,
        gif_steps,
        imagined,
        inpaint,
        interpolate,
        load_run,
        modes,
        modes_need_images,
        reconstruct,
        sample,
    )
    from gibbsnet_plugin.training import default_run_dir, train


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gibbsnet_plugin' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
