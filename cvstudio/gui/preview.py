"""Open one page alone, for development (Orange's ``WidgetPreview`` idea).

``python -m cvstudio.gui.pages.data`` calls :func:`run_preview`, which does in
miniature what the main window does: paint the page at once, import torch and
the core in a worker thread, mark the state ready, then load the built-in
dataset and set the default model preset. ``--dark`` shows the page with a
dark palette.
"""

from __future__ import annotations

import sys
from typing import Callable

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from cvstudio.gui.state import AppState
from cvstudio.gui.workers import Task, start_task


def _import_core() -> None:
    """Worker thread: import torch and the core modules the pages use."""
    import cvstudio.core.data  # noqa: F401
    import cvstudio.core.models  # noqa: F401
    import cvstudio.core.models.codegen  # noqa: F401


def _load_default_dataset(callbacks=None):
    from cvstudio.core.data import load_dataset
    from cvstudio.core.specs import DataConfig

    return load_dataset(DataConfig(), callbacks=callbacks)


def dark_palette() -> QPalette:
    """A plain dark Fusion palette (the main window has its own; this one is for previews)."""
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(225, 225, 225)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor(40, 40, 43))
    p.setColor(QPalette.ColorRole.ToolTipBase, window)
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, window)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 80, 80))
    p.setColor(QPalette.ColorRole.Highlight, QColor(42, 130, 218))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Link, QColor(90, 160, 240))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(150, 150, 150))
    p.setColor(QPalette.ColorRole.Mid, QColor(70, 70, 74))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(130, 130, 130))
    return p


class PreviewBoot(QObject):
    """Imports torch in the background, then loads the default dataset and preset into ``state``."""

    def __init__(self, state: AppState, load_data: bool = True, parent: QObject | None = None):
        super().__init__(parent)
        self._state = state
        self._load_data = load_data
        self.tasks: list[Task] = []

    def start(self) -> None:
        task = start_task(_import_core, parent=self)
        task.result.connect(self._on_import_task_result)
        task.error.connect(self._on_task_error)
        self.tasks.append(task)

    @Slot(object)
    def _on_import_task_result(self, _result) -> None:
        from cvstudio.core.models import get_preset

        self._state.mark_torch_ready()
        self._state.set_spec(get_preset("convnet"))
        if self._load_data:
            task = start_task(_load_default_dataset, pass_callbacks=True, parent=self)
            task.result.connect(self._on_data_task_result)
            task.error.connect(self._on_task_error)
            self.tasks.append(task)

    @Slot(object)
    def _on_data_task_result(self, bundle) -> None:
        self._state.set_dataset(bundle)

    @Slot(object)
    def _on_task_error(self, error) -> None:
        self._state.status_message.emit(error.message)
        print(error.traceback, file=sys.stderr)

    def wait(self) -> None:
        for task in self.tasks:
            task.wait()


def run_preview(make_page: Callable[[AppState], QWidget], title: str, size: tuple[int, int] = (1240, 780)) -> int:
    """Show ``make_page(state)`` in its own window until it is closed."""
    app = QApplication.instance() or QApplication(sys.argv)
    app.setStyle("Fusion")
    if "--dark" in sys.argv:
        app.setPalette(dark_palette())
    state = AppState()
    state.status_message.connect(lambda text: print(text, file=sys.stderr))
    page = make_page(state)
    page.setWindowTitle(f"CV Studio — {title} (preview)")
    page.resize(*size)
    page.show()
    boot = PreviewBoot(state)
    boot.start()
    code = app.exec()
    boot.wait()
    return code
