"""A whole run: build the model, fit it, save the checkpoint. The GUI worker and
``cvstudio train`` both call :func:`train_and_save`, so they cannot disagree on
what a run does or what its checkpoint holds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from torch import nn

import cvstudio
from cvstudio.core import paths
from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
from cvstudio.core.data.bundle import DatasetBundle
from cvstudio.core.errors import CheckpointError
from cvstudio.core.specs import DataConfig, ModelSpec, TrainConfig
from cvstudio.core.control import RunControl
from cvstudio.core.training.loop import FitResult, fit, new_model


@dataclass
class RunOutcome:
    result: FitResult
    model: nn.Module  # on the CPU, in eval mode, holding the best weights
    checkpoint: Path | None  # None when the run produced no usable weights or could not be saved
    meta: CheckpointMeta | None
    save_error: str | None = None  # why the checkpoint could not be written; model and meta are still here

    @property
    def unsaved(self) -> bool:
        """Usable weights that are in memory only: offer to save them elsewhere."""
        return self.checkpoint is None and self.meta is not None


def default_checkpoint_path(spec: ModelSpec, data: DatasetBundle) -> Path:
    """runs/<UTC time>-<model>-<dataset>.safetensors in the user data folder."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    source = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(data.source).name or data.source)[:40]
    base = paths.runs_dir() / f"{stamp}-{spec.name}-{source}"
    path = base.with_suffix(".safetensors")
    n = 2
    while path.exists():
        path = Path(f"{base}-{n}.safetensors")
        n += 1
    return path


def make_meta(
    spec: ModelSpec,
    data: DatasetBundle,
    data_config: DataConfig | None,
    train_config: TrainConfig | None,
    result: FitResult,
) -> CheckpointMeta:
    return CheckpointMeta(
        model_spec=spec,
        class_names=tuple(data.class_names),
        input_shape=data.input_shape,
        mean=tuple(data.mean),
        std=tuple(data.std),
        train_config=train_config,
        data_config=data_config,
        dataset=data.description,
        metrics=dict(result.metrics),
        history=result.history_dicts(),
        app_version=cvstudio.__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        status=result.status,
    )


def train_and_save(
    spec: ModelSpec,
    data: DatasetBundle,
    train_config: TrainConfig,
    data_config: DataConfig | None = None,
    *,
    out: str | Path | None = None,
    callbacks: Iterable[Any] | None = None,
    control: RunControl | None = None,
    model_callbacks: Iterable[Callable[[nn.Module], Any]] = (),
    tensorboard_dir: str | Path | None = None,
) -> RunOutcome:
    """Train a fresh model from ``spec`` and save its best weights (also when stopped early).

    ``model_callbacks`` are factories called with the new model, for callbacks
    that need to look at it (e.g. read kernels at each epoch end, in the
    training thread). ``tensorboard_dir`` additionally writes TensorBoard
    event files there.
    """
    model = new_model(spec, data, train_config.seed)
    callbacks = list(callbacks or [])
    callbacks += [make(model) for make in model_callbacks]
    if tensorboard_dir is not None:
        from cvstudio.core.training.tensorboard import TensorBoardLogger

        callbacks.append(TensorBoardLogger(tensorboard_dir, model))
    result = fit(
        model,
        data,
        train_config,
        loss=spec.loss,
        augment=data_config.augment if data_config else "none",
        callbacks=callbacks,
        control=control,
    )
    model.to("cpu").eval()
    if not result.metrics:  # diverged before a single usable epoch
        return RunOutcome(result, model, None, None)
    meta = make_meta(spec, data, data_config, train_config, result)
    path = Path(out) if out else default_checkpoint_path(spec, data)
    try:
        save_checkpoint(path, model, meta)
    except CheckpointError as exc:  # disk full, folder gone or read-only: the weights must not be lost
        return RunOutcome(result, model, None, meta, save_error=str(exc))
    return RunOutcome(result, model, path, meta)
