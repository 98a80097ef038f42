"""What happens after the window is first painted: import torch, then get ready to train.

``import torch`` takes seconds (DESIGN.md section 6), so the window is shown
first and :class:`StartupLoader` does the rest in workers:

1. import torch and the core, and find the training device;
2. ``state.mark_torch_ready()``, and the convnet preset if no model is chosen yet;
3. load the dataset of ``state.data_config`` (the built-in shapes at first start).

A first-time user can press Train as soon as it is done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from cvstudio.gui.state import AppState, load_dataset_for
from cvstudio.gui.tasks import Task, TaskError, start_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TorchInfo:
    torch_version: str
    cuda_version: str | None  # the CUDA PyTorch was built with, None for CPU builds
    device: str  # what "auto" trains on, e.g. "cpu" or "cuda:0"
    device_label: str  # e.g. "CPU (8 threads)" or "NVIDIA H100 (80 GiB)"


def import_core() -> TorchInfo:
    """Import torch and the parts of the core the pages use (worker thread)."""
    import torch

    import cvstudio.core.checkpoints  # noqa: F401
    import cvstudio.core.data  # noqa: F401
    import cvstudio.core.models  # noqa: F401
    import cvstudio.core.runs  # noqa: F401
    from cvstudio.core.training.devices import describe_device, resolve_device

    device = resolve_device("auto")
    return TorchInfo(torch.__version__, torch.version.cuda, str(device), describe_device(device))


class StartupLoader(QObject):
    torch_loaded = Signal(object)  # TorchInfo
    dataset_loaded = Signal(object)  # DatasetBundle
    failed = Signal(object)  # TaskError
    finished = Signal()  # all steps done (or one failed)

    def __init__(self, state: AppState, parent: QObject | None = None, *, load_data: bool = True):
        super().__init__(parent)
        self.state = state
        self.load_data = load_data
        self.torch_info: TorchInfo | None = None
        self.task: Task | None = None
        self.done = False

    def start(self) -> None:
        self.state.status_message.emit("Loading PyTorch…")
        self._run(start_task(import_core), self._on_import_result)

    def _run(self, task: Task, on_result: Callable[[Any], None]) -> None:
        self.task = task
        task.result.connect(on_result)
        task.error.connect(self._on_task_error)
        task.progress.connect(self._on_task_progress)

    def _on_import_result(self, info: TorchInfo) -> None:
        self.torch_info = info
        log.info("PyTorch %s loaded; training device %s (%s)", info.torch_version, info.device, info.device_label)
        self.state.mark_torch_ready()
        self.torch_loaded.emit(info)
        if self.state.spec is None:
            from cvstudio.core.models import get_preset

            self.state.set_spec(get_preset("convnet"))
        if self.load_data and self.state.dataset is None:
            self.state.status_message.emit("Loading the dataset…")
            self._run(start_task(load_dataset_for, self.state.data_config, pass_callbacks=True),
                      self._on_dataset_result)
        else:
            self._finish("Ready")

    def _on_dataset_result(self, bundle: Any) -> None:
        if self.state.dataset is None:  # the Data page may have loaded another one meanwhile
            self.state.set_dataset(bundle)
        self.dataset_loaded.emit(bundle)
        self._finish(f"Ready · {bundle.description}")

    def _on_task_progress(self, event: Any) -> None:
        pct = f" {event.fraction:.0%}" if event.fraction is not None else ""
        text = event.message or event.stage
        self.state.status_message.emit(f"Loading the dataset: {text}{pct}")

    def _on_task_error(self, error: TaskError) -> None:
        self.failed.emit(error)
        self._finish(error.message)

    def _finish(self, message: str) -> None:
        self.done = True
        self.state.status_message.emit(message)
        self.finished.emit()
