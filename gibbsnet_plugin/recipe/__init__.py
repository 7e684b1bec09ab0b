"""Recipes: the schema (``schema``), reading YAML and ``--set`` overrides (``loading``) and
checking the values (``checks``). A recipe is validated completely before any work starts."""

from gibbsnet_plugin.recipe.checks import (
    check_masked_x,
    factory_defaults,
    recipe_differences,
    resolved,
    same_resolved,
)
from gibbsnet_plugin.recipe.loading import (
    MAX_RECIPE_BYTES,
    apply_overrides,
    load_recipe,
    parse_override,
    recipe_from_dict,
    shipped_recipe,
)
from gibbsnet_plugin.recipe.schema import (
    DEFAULT_MASKS,
    CorruptionConfig,
    DataConfig,
    EvalConfig,
    Logger,
    Loss,
    Matching,
    Missing,
    ModelConfig,
    Precision,
    Recipe,
    TrainConfig,
)

__all__ = ["DEFAULT_MASKS", "MAX_RECIPE_BYTES", "CorruptionConfig", "DataConfig", "EvalConfig",
           "Logger", "Loss", "Matching", "Missing", "ModelConfig", "Precision", "Recipe",
           "TrainConfig", "apply_overrides", "check_masked_x", "factory_defaults", "load_recipe",
           "parse_override", "recipe_differences", "recipe_from_dict", "resolved", "same_resolved",
           "shipped_recipe"]
