"""Model specs -> nn.Modules, presets, summaries and code export."""

from cvstudio.core.models.builder import (
    LayerSummary,
    ModelSummary,
    PlannedLayer,
    build_model,
    count_params,
    plan_model,
    summarize,
)
from cvstudio.core.models.presets import PRESETS, PresetInfo, add_regularization, get_preset

__all__ = [
    "PRESETS",
    "LayerSummary",
    "ModelSummary",
    "PlannedLayer",
    "PresetInfo",
    "add_regularization",
    "build_model",
    "count_params",
    "get_preset",
    "plan_model",
    "summarize",
]
