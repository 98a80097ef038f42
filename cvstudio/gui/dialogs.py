"""File dialogs shared by the pages and the main window, and saving a checkpoint copy.

Every "save" asks for a path (adding the right suffix when the user left it
out) and reports failure in words; copying a checkpoint runs in a worker so a
large model on a slow disk never freezes the window.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from cvstudio.core.atomic import replacing
from cvstudio.core.errors import UserError
from cvstudio.gui import settings as prefs
from cvstudio.gui.errors import show_task_error
from cvstudio.gui.tasks import Task, start_task

CHECKPOINT_FILTER = "CV Studio checkpoints (*.safetensors);;All files (*)"
PNG_FILTER = "PNG images (*.png)"
CSV_FILTER = "CSV tables (*.csv)"


def ask_open_checkpoint(parent: QWidget | None) -> str | None:
    s = prefs.make_settings()
    path, _ = QFileDialog.getOpenFileName(parent, "Open checkpoint", prefs.last_dir(s, "checkpoints"), CHECKPOINT_FILTER)
    if not path:
        return None
    prefs.remember_dir(s, path, "checkpoints")
    return path


def ask_save_path(
    parent: QWidget | None,
    title: str,
    suggested_name: str,
    file_filter: str,
    suffix: str,
    kind: str = "exports",
    default_dir: str | Path | None = None,
    prefer_default: bool = False,
) -> Path | None:
    """A path to write, always ending in ``suffix`` (e.g. '.png'); None when cancelled.

    The dialog opens in the folder the last ``kind`` dialog used (settings.DIR_KINDS), else in
    ``default_dir``; with ``prefer_default`` an existing ``default_dir`` wins over the remembered folder.
    """
    s = prefs.make_settings()
    if prefer_default and default_dir is not None and Path(default_dir).is_dir():
        folder = str(default_dir)
    else:
        folder = prefs.last_dir(s, kind, default_dir)
    start = str(Path(folder) / suggested_name)
    path, _ = QFileDialog.getSaveFileName(parent, title, start, file_filter)
    if not path:
        return None
    out = Path(path)
    if out.suffix.lower() != suffix:
        out = out.with_name(out.name + suffix)
    prefs.remember_dir(s, out, kind)
    return out


def confirm_discard(parent: QWidget | None, question: str) -> bool:
    """Ask before losing something unsaved; True only for an explicit "Discard" (Cancel is the default)."""
    answer = QMessageBox.warning(
        parent, "Unsaved checkpoint", question,
        QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Discard


def offer_save_as(parent: QWidget, title: str, text: str, detail: str, save: Callable[[], object]) -> QMessageBox:
    """A non-blocking warning with "Save as…" (runs ``save``) and "Later"; returned so callers can close it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(detail)
    save_button = box.addButton("Save as…", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(save_button)
    box.buttonClicked.connect(lambda button: save() if button is save_button else None)
    box.open()  # not exec(): the window, and a quit in progress, stay responsive
    return box


def save_model_as(
    parent: QWidget | None,
    model: object,
    meta: object,
    suggested_name: str,
    on_saved: Callable[[Path], None] | None = None,
) -> Task | None:
    """Ask where to save weights that exist only in memory, and write the checkpoint in a worker."""
    from cvstudio.core.checkpoints import save_checkpoint

    dst = ask_save_path(parent, "Save checkpoint as", suggested_name, CHECKPOINT_FILTER, ".safetensors", "checkpoints")
    if dst is None:
        return None
    task = start_task(save_checkpoint, dst, model, meta)
    task.error.connect(lambda err: show_task_error(parent, err, "Save checkpoint"))
    if on_saved is not None:
        task.result.connect(on_saved)
    return task


def copy_checkpoint(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy a checkpoint file (worker thread); UserError with the reason when it cannot."""
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise UserError(f"the checkpoint {src} no longer exists")
    if dst.resolve() == src.resolve():
        return dst
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with replacing(dst) as tmp:  # a half-written copy never carries the final name
            shutil.copyfile(src, tmp)
    except OSError as exc:
        raise UserError(f"could not save the checkpoint to {dst}: {exc.strerror or exc}") from None
    return dst


def save_checkpoint_as(
    parent: QWidget | None,
    src: str | os.PathLike[str],
    on_saved: Callable[[Path], None] | None = None,
) -> Task | None:
    """Ask where to save a copy of checkpoint ``src`` and copy it there in a worker."""
    dst = ask_save_path(parent, "Save checkpoint as", Path(src).name, CHECKPOINT_FILTER, ".safetensors", "checkpoints",
                        default_dir=Path(src).parent)
    if dst is None:
        return None
    task = start_task(copy_checkpoint, src, dst)
    task.error.connect(lambda err: show_task_error(parent, err, "Save checkpoint"))
    if on_saved is not None:
        task.result.connect(on_saved)
    return task
