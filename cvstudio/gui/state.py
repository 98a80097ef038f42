"""The application's shared state: what the pages show and edit.

One ``AppState`` lives in the main window and is handed to every page in its
constructor (napari style: views receive their model and subscribe to its
signals; no widget owns the state). Setting a value emits the matching
``*_changed`` signal. This module does not import torch, so the window can be
painted before torch has finished importing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from cvstudio.core.specs import DataConfig, ModelSpec, TrainConfig


class AppState(QObject):
    torch_ready = Signal()  # torch (and the core) finished importing in the background
    data_config_changed = Signal(object)  # DataConfig
    dataset_changed = Signal(object)  # DatasetBundle | None (None while loading or after an error)
    spec_changed = Signal(object)  # ModelSpec
    spec_error_changed = Signal(object)  # SpecError | None: why the current spec cannot be built
    train_config_changed = Signal(object)  # TrainConfig
    model_changed = Signal()  # a trained or loaded model is available (see .model, .checkpoint_meta)
    training_changed = Signal(bool)  # a run started (True) / ended (False)
    epoch_weights = Signal(object)  # (epoch, {conv layer: float32 kernels}) from the run in progress
    status_message = Signal(str)  # short text for the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.torch_loaded = False
        self.data_config = DataConfig()
        self.dataset = None  # DatasetBundle of data_config, once loaded
        self.spec: ModelSpec | None = None
        self.spec_error = None
        # The convnet preset's recommended training (core.models.presets.PRESETS["convnet"]), which the
        # window opens with; kept here as literals because this module must not import torch.
        self.train_config = TrainConfig(epochs=10, lr=1e-2, momentum=0.9)
        self.model: Any = None  # nn.Module on the CPU in eval mode: the last trained or loaded model
        self.checkpoint_path: Path | None = None
        self.checkpoint_meta: Any = None  # CheckpointMeta of .model
        self.training = False

    def mark_torch_ready(self) -> None:
        self.torch_loaded = True
        self.torch_ready.emit()

    def set_data_config(self, config: DataConfig) -> None:
        if config != self.data_config:
            self.data_config = config
            self.data_config_changed.emit(config)

    def set_dataset(self, bundle: Any) -> None:
        self.dataset = bundle
        self.dataset_changed.emit(bundle)

    def set_spec(self, spec: ModelSpec) -> None:
        if spec != self.spec:
            self.spec = spec
            self.spec_changed.emit(spec)

    def set_spec_error(self, error: Any) -> None:
        self.spec_error = error
        self.spec_error_changed.emit(error)

    def set_train_config(self, config: TrainConfig) -> None:
        if config != self.train_config:
            self.train_config = config
            self.train_config_changed.emit(config)

    def set_model(self, model: Any, meta: Any, path: Path | None) -> None:
        self.model, self.checkpoint_meta, self.checkpoint_path = model, meta, path
        self.model_changed.emit()

    def set_training(self, running: bool) -> None:
        self.training = running
        self.training_changed.emit(running)

    @property
    def can_train(self) -> bool:
        return self.torch_loaded and self.dataset is not None and self.spec is not None and self.spec_error is None and not self.training
