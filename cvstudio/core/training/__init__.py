"""The fit loop, its stop rules (callbacks), control flags and device selection."""

from cvstudio.core.control import RunControl
from cvstudio.core.training.callbacks import FitState, TrainingCallback
from cvstudio.core.training.devices import available_devices, describe_device, resolve_device
from cvstudio.core.training.loop import FitResult, evaluate, fit, new_model, seed_everything

__all__ = [
    "FitResult",
    "FitState",
    "RunControl",
    "TrainingCallback",
    "available_devices",
    "describe_device",
    "evaluate",
    "fit",
    "new_model",
    "resolve_device",
    "seed_everything",
]
