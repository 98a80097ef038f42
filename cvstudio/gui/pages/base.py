"""What every page shares (Orange's widget base, as composition where it can be).

``Page(state)`` holds the app state and a :class:`~cvstudio.gui.tasks.TaskGroup`
(the page's background work, shut down with the page), builds the "Loading
PyTorch…" placeholder that stands in for the content until torch is ready,
shuts down on close, and opens itself alone for development
(``python -m cvstudio.gui.pages.<name>``, Orange's ``WidgetPreview``).
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QStackedWidget, QVBoxLayout, QWidget

from cvstudio.gui.state import AppState
from cvstudio.gui.tasks import TaskGroup
from cvstudio.gui.widgets.loading import LoadingPlaceholder


class Page(QWidget):
    """Base of the window's pages: ``state``, ``tasks``, a loading skeleton, ``shutdown``, ``preview``."""

    title = "Page"  # the stand-alone preview window's title
    opens_checkpoints = False  # the preview takes a checkpoint argument and opens it once torch is in
    loading_detail = "This page opens as soon as PyTorch has been imported."

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.tasks = TaskGroup(self)

    # --- the loading skeleton

    def build_loading_stack(self) -> QWidget:
        """The page's content widget, shown in place of a "Loading PyTorch…" placeholder by :meth:`show_content`."""
        self._stack = QStackedWidget(self)
        self._loading = LoadingPlaceholder("Loading PyTorch…", self.loading_detail, self._stack)
        self._content = QWidget(self._stack)
        self._stack.addWidget(self._loading)
        self._stack.addWidget(self._content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._stack)
        return self._content

    def settings_column(self, controls: QWidget, parent: QWidget | None = None) -> QScrollArea:
        """A vertical scroll area for a page's settings, never narrower than their widest row (nothing clipped)."""
        scroll = QScrollArea(parent)
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(controls.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        return scroll

    def show_content(self) -> None:
        self._stack.setCurrentWidget(self._content)

    # --- ending

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel this page's work and wait for its threads (closing the page or the window)."""
        return self.tasks.shutdown(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    # --- alone, for development

    @classmethod
    def preview(cls, argv: Sequence[str] | None = None) -> int:
        """Show this page alone until its window is closed; returns the exit code."""
        from cvstudio.gui.preview import run_checkpoint_preview, run_preview

        if cls.opens_checkpoints:
            return run_checkpoint_preview(cls, cls.title, argv)
        return run_preview(cls, cls.title)


__all__ = ["Page"]
