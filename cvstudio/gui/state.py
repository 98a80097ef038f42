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

import dataclasses
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from cvstudio.core.specs import DataConfig, ModelSpec, TrainConfig
from cvstudio.gui.tasks import Task, TaskError, TaskGroup


def load_checkpoint_file(path: str) -> Any:
    """Worker: the validated, pickle-free load of a checkpoint (core LoadedCheckpoint)."""
    from cvstudio.core.checkpoints import load_checkpoint

    return load_checkpoint(path)


def load_checkpoint_in_context(path: str) -> tuple[Any, str | None]:
    """Worker: the checkpoint, and why its recorded dataset cannot be loaded here (None when it can)."""
    from cvstudio.core.projects import data_source_problem

    loaded = load_checkpoint_file(path)
    config = loaded.meta.data_config
    return loaded, (data_source_problem(config) if config is not None else "it does not record its data settings")


def load_dataset_for(config: DataConfig, callbacks: Any = None) -> Any:
    """Worker: decode (or read from the cache) the dataset of ``config``."""
    from cvstudio.core.data import load_dataset

    return load_dataset(config, callbacks=callbacks)


class AppState(QObject):
    torch_ready = Signal()  # torch (and the core) finished importing in the background
    data_config_changed = Signal(object)  # DataConfig
    dataset_changed = Signal(object)  # DatasetBundle | None (None while loading or after an error)
    spec_changed = Signal(object)  # ModelSpec
    spec_error_changed = Signal(object)  # SpecError | None: why the current spec cannot be built
    train_config_changed = Signal(object)  # TrainConfig
    model_changed = Signal()  # a trained or loaded model is available (see .model, .checkpoint_meta)
    training_changed = Signal(bool)  # a run started (True) / ended (False)
    epoch_weights = Signal(object)  # (epoch, {conv layer: float32 kernels}, "during"|"after" the epoch): live run
    status_message = Signal(str)  # short text for the status bar
    checkpoint_opened = Signal(object)  # Path of a checkpoint that became the current model (any door)
    checkpoint_data_offered = Signal(object)  # DataConfig a just-opened checkpoint was trained on, loadable here
    data_load_failed = Signal(str)  # load_data_config failed (one line); the previous data stays
    model_init_changed = Signal(object)  # core.runs.ModelInit | None: where the next run's weights start
    runs_folder_changed = Signal(object)  # Path | None: another project was opened (None: the default folder)

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
        self.tasks = TaskGroup(self)  # checkpoint and dataset loads
        self._runs_folder: Path | None = None
        self._opened_early: list[Any] = []  # checkpoints loaded before torch_ready, applied then
        self.model_init: Any = None  # core.runs.ModelInit of the next run (None: random weights from the seed)

    @property
    def runs_folder(self) -> Path | None:
        """Where the Train page saves runs: the open project's runs/ (None: the default folder)."""
        return self._runs_folder

    @runs_folder.setter
    def runs_folder(self, folder: Path | None) -> None:
        if folder != self._runs_folder:
            self._runs_folder = folder
            self.runs_folder_changed.emit(folder)

    def mark_torch_ready(self) -> None:
        self.torch_loaded = True
        self.torch_ready.emit()
        for opened in self._opened_early:  # pages wait for torch_ready before they use models; so does this
            self._apply_checkpoint(*opened)
        self._opened_early = []

    # --- the one door for models

    def open_checkpoint(self, path: str | Path, on_error: Callable[[TaskError], Any] | None = None, *,
                        load_data: bool | None = None, adopt_settings: bool = True) -> Task | None:
        """Load a checkpoint in a worker; it becomes the current model and spec (``checkpoint_opened`` then).

        Its training settings become the current ones. Its recorded dataset, when
        it differs from the loaded one and is available here, is loaded
        (``load_data`` True), offered (None: ``checkpoint_data_offered``) or left
        (False). ``adopt_settings`` False makes it only the current model (a
        project restoring its model keeps its own, maybe hand-edited, settings).
        ``on_error`` (GUI thread) tells the door the user came through why it
        failed; the model stays.
        """
        path = str(path)
        if not adopt_settings:
            load_data = False
        self.status_message.emit(f"Opening {Path(path).name}…")
        return self.tasks.start(load_checkpoint_in_context, path,
                                on_result=lambda result: self._on_checkpoint_loaded(result, load_data, adopt_settings),
                                on_error=lambda error: self._on_checkpoint_failed(path, error, on_error))

    def _on_checkpoint_loaded(self, result: tuple[Any, str | None], load_data: bool | None, adopt: bool) -> None:
        if self.torch_loaded:
            self._apply_checkpoint(*result, load_data, adopt)
        else:
            self._opened_early.append((*result, load_data, adopt))

    def _apply_checkpoint(self, loaded: Any, data_problem: str | None = None, load_data: bool | None = None,
                          adopt: bool = True) -> None:
        meta = loaded.meta
        self.set_model(loaded.model, meta, Path(loaded.path))
        if adopt:
            self.set_spec(meta.model_spec)
        not_taken = None
        if adopt and meta.train_config is not None and not self.training:
            not_taken = self._adopt_train_config(meta.train_config)
        acc = meta.metrics.get("val_acc")
        self.status_message.emit(
            f"Opened {Path(loaded.path).name}: {meta.model_spec.name} on {meta.dataset or 'unknown data'}"
            + (f", validation accuracy {acc:.3f}" if acc is not None and acc == acc else "")
            + (f"; its training settings were not taken: {not_taken}" if not_taken else "")
        )
        self.checkpoint_opened.emit(Path(loaded.path))
        recorded = meta.data_config
        if recorded is None or recorded == self.data_config or load_data is False:
            return
        if data_problem is not None:
            self.status_message.emit(f"Its dataset cannot be loaded here: {data_problem}")
        elif load_data:
            self.load_data_config(recorded)
        else:
            self.checkpoint_data_offered.emit(recorded)

    def _adopt_train_config(self, config: TrainConfig) -> str | None:
        """Make a checkpoint's training settings current; returns why not when they are out of range."""
        from cvstudio.core.errors import ConfigError
        from cvstudio.core.projects import check_limits

        try:
            check_limits(config)  # a checkpoint is a file from anywhere: the Train page's fields have limits
        except ConfigError as e:
            return str(e)
        # the device belongs to this machine, not to the run: a GPU run opened on a laptop stays trainable
        self.set_train_config(dataclasses.replace(config, device=self.train_config.device))
        return None

    def load_data_config(self, config: DataConfig) -> Task | None:
        """Make ``config`` the data settings and load its dataset (from the cache when it is there).

        On failure the previous settings and dataset come back and ``data_load_failed`` says why.
        """
        if self.training:
            self.data_load_failed.emit("a run is training; load the dataset once it has ended")
            return None
        previous = (self.data_config, self.dataset)
        self.set_data_config(config)
        self.set_dataset(None)
        self.status_message.emit("Loading the dataset…")
        return self.tasks.start(load_dataset_for, config, key="load_data", pass_callbacks=True,
                                on_result=lambda bundle: self._on_data_loaded(config, bundle),
                                on_error=lambda error: self._on_data_load_failed(previous, error))

    def _on_data_loaded(self, config: DataConfig, bundle: Any) -> None:
        if self.data_config == config:  # nothing else was chosen meanwhile
            self.set_dataset(bundle)
            self.status_message.emit(f"Loaded {bundle.description}")

    def _on_data_load_failed(self, previous: tuple[DataConfig, Any], error: TaskError) -> None:
        config, bundle = previous
        self.set_data_config(config)
        self.set_dataset(bundle)
        self.data_load_failed.emit(error.message)

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

    def next_run_path(self, spec: ModelSpec, data: Any) -> Path:
        """Where a run of ``spec`` on ``data`` saves its checkpoint (needs torch imported)."""
        from cvstudio.core.runs import default_checkpoint_path

        return default_checkpoint_path(spec, data, folder=self.runs_folder)

    @property
    def can_train(self) -> bool:
        return self.torch_loaded and self.dataset is not None and self.spec is not None and self.spec_error is None and not self.training
