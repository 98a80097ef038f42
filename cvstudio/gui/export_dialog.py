"""File > Export: the current model as PyTorch code, TorchScript or ONNX, verified.

:func:`export_current_model` asks for the format and the file, then runs
``core.export.export_model`` in a worker behind a busy indicator. The core
writes to a temporary file, runs the export on a sample batch, compares its
outputs with the in-app model and only then moves it into place; a failure
leaves no file behind. The result is reported in a message box: where the file
went, what ran it and the largest difference from the model's own outputs, or
the reason it failed.

The app's model is copied in the worker before exporting, so nothing an
exporter does (tracing, scripting, moving to the CPU) can touch the model the
other pages use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox, QProgressDialog, QWidget

from cvstudio.gui.dialogs import ask_save_path
from cvstudio.gui.errors import show_task_error
from cvstudio.gui.tasks import Task, TaskError, start_task

log = logging.getLogger(__name__)

# format key (core.export.FORMATS) -> (choice shown, file dialog filter, suffix)
EXPORT_CHOICES = {
    "python": ("PyTorch code (.py)", "Python files (*.py)", ".py"),
    "torchscript": ("TorchScript (.pt)", "TorchScript archives (*.pt)", ".pt"),
    "onnx": ("ONNX (.onnx)", "ONNX models (*.onnx)", ".onnx"),
}
FORMAT_TITLES = {"python": "PyTorch code", "torchscript": "TorchScript", "onnx": "ONNX"}

_active: set[Any] = set()  # (task, progress dialog) pairs kept alive while an export runs
_boxes: set[QMessageBox] = set()  # message boxes open now


def export_job(model: Any, meta: Any, fmt: str, out: str, checkpoint_path: str | None) -> Any:
    """Export a copy of ``model`` (worker thread); returns the core ExportReport."""
    import copy

    from cvstudio.core.export import export_model

    work = copy.deepcopy(model)
    return export_model(work, meta, fmt, out, checkpoint_path=Path(checkpoint_path) if checkpoint_path else None)


def ask_format(parent: QWidget | None) -> str | None:
    """The export format chosen by the user ("python", "torchscript", "onnx"), or None when cancelled."""
    labels = [choice for choice, _, _ in EXPORT_CHOICES.values()]
    label, ok = QInputDialog.getItem(parent, "Export model", "Export the current model as:", labels, 0, False)
    if not ok or not label:
        return None
    for fmt, (choice, _, _) in EXPORT_CHOICES.items():
        if choice == label:
            return fmt
    return None


def default_name(state: Any, fmt: str) -> str:
    suffix = EXPORT_CHOICES[fmt][2]
    if state.checkpoint_path:
        return Path(state.checkpoint_path).stem + suffix
    meta = state.checkpoint_meta
    return (meta.model_spec.name if meta is not None else "model") + suffix


def default_folder(state: Any) -> Path:
    """Where an export is proposed: next to the current checkpoint, else the exports folder (created)."""
    from cvstudio.core.paths import exports_dir

    if state.checkpoint_path and Path(state.checkpoint_path).parent.is_dir():
        return Path(state.checkpoint_path).parent
    folder = exports_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # the dialog then falls back to the last export folder or the home folder
    return folder


def export_current_model(parent: QWidget | None, state: Any, fmt: str | None = None) -> None:
    """Ask for a format (unless ``fmt`` is given) and a file, export ``state.model`` there and report the result.

    Returns at once; the export runs in a worker and the outcome appears in a message box.
    """
    if state.model is None or state.checkpoint_meta is None:
        _message(parent, QMessageBox.Icon.Information, "Export model",
                 "There is no model to export yet.", "Train a model or open a checkpoint first.")
        return
    if not getattr(state, "torch_loaded", True):
        _message(parent, QMessageBox.Icon.Information, "Export model", "PyTorch is still loading.",
                 "Try again in a moment.")
        return
    if fmt is None:
        fmt = ask_format(parent)
        if fmt is None:
            return
    if fmt not in EXPORT_CHOICES:
        raise ValueError(f"unknown export format {fmt!r}")
    _, file_filter, suffix = EXPORT_CHOICES[fmt]
    # An export belongs with its checkpoint: that folder wins over the last export folder.
    out = ask_save_path(parent, f"Export as {FORMAT_TITLES[fmt]}", default_name(state, fmt), file_filter, suffix,
                        "exports", default_folder(state), prefer_default=bool(state.checkpoint_path))
    if out is None:
        return

    busy = QProgressDialog(f"Exporting to {out.name} and checking that it reproduces the model…", "", 0, 0, parent)
    busy.setWindowTitle("Export model")
    busy.setCancelButton(None)  # an export cannot be interrupted halfway; it is short
    busy.setMinimumDuration(0)
    busy.setWindowModality(Qt.WindowModality.WindowModal)
    busy.setAutoClose(False)
    busy.setAutoReset(False)
    busy.show()

    path = str(state.checkpoint_path) if state.checkpoint_path else None
    task = start_task(export_job, state.model, state.checkpoint_meta, fmt, str(out), path)
    entry = (task, busy)
    _active.add(entry)
    # Plain functions, not the parent's methods: the parent may be gone before the export ends.
    status = getattr(state, "status_message", None)
    task.result.connect(lambda report: _on_exported(parent, report, path, status))
    task.error.connect(lambda error: _on_failed(parent, error, out, status))
    task.finished.connect(lambda: _on_finished(entry))
    if status is not None:
        status.emit(f"Exporting the model to {out}…")


def running_exports() -> list[Task]:
    """Exports still running (tests and shutdown wait for them)."""
    return [task for task, _ in _active]


def _alive(widget: QWidget | None) -> QWidget | None:
    return widget if widget is not None and shiboken6.isValid(widget) else None


def _message(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str, informative: str = "",
             name: str = "exportMessage") -> QMessageBox:
    """A window-modal message box that does not block (no nested event loop inside a slot)."""
    box = QMessageBox(_alive(parent))
    box.setObjectName(name)
    box.setIcon(icon)
    box.setWindowTitle(title)
    box.setText(text)
    if informative:
        box.setInformativeText(informative)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    _boxes.add(box)  # a box without a parent would be deleted with its last Python reference
    box.finished.connect(lambda _result: _forget_box(box))
    box.open()
    return box


def _forget_box(box: QMessageBox) -> None:
    _boxes.discard(box)
    if shiboken6.isValid(box):
        box.deleteLater()


def describe_report(report: Any, checkpoint_path: str | None) -> tuple[str, str]:
    """(headline, details) of a successful export."""
    title = FORMAT_TITLES.get(report.format, report.format)
    text = f"Exported the model as {title} to {report.path}."
    details = (f"Verified with {report.checked_with}: the largest difference from the model's own outputs on a "
               f"sample batch is {report.max_abs_diff:.2e}.")
    if report.format == "python":
        weights = getattr(report, "weights", None)
        if weights is not None:
            made = "wrote them next to it" if getattr(report, "wrote_weights", False) else "it is next to it"
            details += (f"\n\nThe file defines the network and load() reads its weights from {Path(weights).name} "
                        f"({made}): `python {Path(report.path).name}` runs as is; keep the two files together.")
        else:
            details += "\n\nThe file defines the network; load() needs the path of a checkpoint with its weights."
    elif report.format == "onnx":
        details += "\n\nInput \"image\": a normalized (batch, C, H, W) float tensor; output \"scores\"."
    return text, details


def _on_exported(parent: QWidget | None, report: Any, checkpoint_path: str | None, status: Any = None) -> None:
    text, details = describe_report(report, checkpoint_path)
    if status is not None:  # the "Exporting …" line must not outlive the export
        status.emit(f"Exported the model to {report.path}")
    _message(parent, QMessageBox.Icon.Information, "Export model", text, details, name="exportReport")


def _on_failed(parent: QWidget | None, error: TaskError, out: Path, status: Any = None) -> None:
    log.info("export to %s failed: %s", out, error.message)
    if status is not None:
        status.emit(f"Export to {out.name} failed: {error.message}")
    show_task_error(_alive(parent), error, "Export failed")


def _on_finished(entry: tuple[Task, QProgressDialog]) -> None:
    _active.discard(entry)
    busy = entry[1]
    if shiboken6.isValid(busy):
        busy.close()
        busy.deleteLater()


__all__ = ["EXPORT_CHOICES", "ask_format", "export_current_model", "export_job", "running_exports"]
