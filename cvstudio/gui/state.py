"""The application's shared state: what the pages show and edit.

One ``AppState`` lives in the main window and is handed to every page in its
constructor (napari style: views receive their model and subscribe to its
signals; no widget owns the state). Setting a value emits the matching
``*_changed`` signal.

It is also the one door for models: :meth:`AppState.open_checkpoint` (used by
the File menu, a drop on the window, and the Evaluate, Inspect and Classify
pages) loads a checkpoint in a worker and makes it the current model *and*
spec, so every page, the Model page included, follows whatever was opened.

This module does not import torch, so the window can be painted before torch
has finished importing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from cvstudio.core.specs import DataConfig, ModelSpec, TrainConfig
from cvstudio.gui.tasks import Task, TaskError, TaskGroup


def load_checkpoint_file(path: str) -> Any:
    """Worker: the validated, pickle-free load of a checkpoint (core LoadedCheckpoint)."""
    from cvstudio.core.checkpoints import load_checkpoint

    return load_checkpoint(path)


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
    checkpoint_opened = Signal(object)  # Path of a checkpoint that became the current model (any door)
    model_init_changed = Signal(object)  # core.runs.ModelInit | None: where the next run's weights start

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
        self.tasks = TaskGroup(self)  # checkpoint loads
        self._opened_early: list[Any] = []  # checkpoints loaded before torch_ready, applied then
        self.model_init: Any = None  # core.runs.ModelInit of the next run (None: random weights from the seed)

    def mark_torch_ready(self) -> None:
        self.torch_loaded = True
        self.torch_ready.emit()
        for loaded in self._opened_early:  # pages wait for torch_ready before they use models; so does this
            self._apply_checkpoint(loaded)
        self._opened_early = []

    # --- the one door for models

    def open_checkpoint(self, path: str | Path, on_error: Callable[[TaskError], Any] | None = None) -> Task | None:
        """Load a checkpoint in a worker; it becomes the current model and spec (``checkpoint_opened`` then).

        ``on_error`` (GUI thread) tells the door the user came through why it failed; the model stays.
        """
        path = str(path)
        self.status_message.emit(f"Opening {Path(path).name}…")
        return self.tasks.start(load_checkpoint_file, path, on_result=self._on_checkpoint_loaded,
                                on_error=lambda error: self._on_checkpoint_failed(path, error, on_error))

    def _on_checkpoint_loaded(self, loaded: Any) -> None:
        if self.torch_loaded:
            self._apply_checkpoint(loaded)
        else:
            self._opened_early.append(loaded)

    def _apply_checkpoint(self, loaded: Any) -> None:
        meta = loaded.meta
        self.set_model(loaded.model, meta, Path(loaded.path))
        self.set_spec(meta.model_spec)
        acc = meta.metrics.get("val_acc")
        self.status_message.emit(
            f"Opened {Path(loaded.path).name}: {meta.model_spec.name} on {meta.dataset or 'unknown data'}"
            + (f", validation accuracy {acc:.3f}" if acc is not None and acc == acc else "")
        )
        self.checkpoint_opened.emit(Path(loaded.path))

    def _on_checkpoint_failed(self, path: str, error: TaskError, on_error: Callable[[TaskError], Any] | None) -> None:
        self.status_message.emit(f"Could not open {Path(path).name}")
        if on_error is not None:
            on_error(error)

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

    def set_model_init(self, init: Any) -> None:
        if init != self.model_init:
            self.model_init = init
            self.model_init_changed.emit(init)

    def set_model(self, model: Any, meta: Any, path: Path | None) -> None:
        self.model, self.checkpoint_meta, self.checkpoint_path = model, meta, path
        self.model_changed.emit()

    def set_training(self, running: bool) -> None:
        self.training = running
        self.training_changed.emit(running)

    @property
    def can_train(self) -> bool:
        return self.torch_loaded and self.dataset is not None and self.spec is not None and self.spec_error is None and not self.training
