"""Model specs -> nn.Modules (presets and torchvision architectures), starting weights, summaries and code export."""

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
from cvstudio.core.models.torchvision_models import ARCH_INFO, arch_spec

__all__ = [
    "ARCH_INFO",
    "PRESETS",
    "LayerSummary",
    "ModelSummary",
    "PlannedLayer",
    "PresetInfo",
    "add_regularization",
    "arch_spec",
    "build_model",
    "count_params",
    "get_preset",
    "plan_model",
    "summarize",
]
