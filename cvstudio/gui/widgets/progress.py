"""Progress widgets that update often without costing the window: a bar that repaints with the next frame,
and a line of text that never re-lays out the window."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QWidget


class ProgressBar(QProgressBar):
    """A QProgressBar whose new value is painted with the window's next frame.

    ``QProgressBar.setValue`` repaints the bar at once, before returning (a
    synchronous paint and flush of the window on each visible step). Updated
    5-10 times a second by a background task, that was a fifth of the Classify
    page's GUI-thread time while a folder streamed in. Here a new value only
    schedules a paint, which Qt merges with the other changes of that frame.
    """

    def setValue(self, value: int) -> None:  # noqa: N802 - Qt's name
        if value == self.value() or not self.updatesEnabled():
            super().setValue(value)
            return
        self.setUpdatesEnabled(False)  # repaint() does nothing now; enabling again schedules update()
        try:
            super().setValue(value)
        finally:
            self.setUpdatesEnabled(True)


class ProgressLabel(QLabel):
    """One line of progress text ("1,234 of 5,000 images") that does not re-lay out the window at each update.

    A label whose size changes makes its window lay out again (with every
    view in it) at each new text; a fixed size does not. The width grows to
    fit the text and shrinks only when the text becomes much shorter (another
    stage), so a counter's digits never move the layout.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self._fit_height()
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        if text != self.text():
            self._fit_width(text)
            super().setText(text)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit_height()
            self._fit_width(self.text(), always=True)

    def _fit_width(self, text: str, always: bool = False) -> None:
        margins = self.contentsMargins()
        needed = self.fontMetrics().horizontalAdvance(text) + margins.left() + margins.right() + 2 * self.margin()
        width = self.maximumWidth()
        if always or needed > width or 3 * needed < 2 * width:
            self.setFixedWidth(needed + self.fontMetrics().horizontalAdvance("0,000"))  # room for a counter to grow

    def _fit_height(self) -> None:
        margins = self.contentsMargins()
        self.setFixedHeight(self.fontMetrics().height() + margins.top() + margins.bottom() + 2 * self.margin())
