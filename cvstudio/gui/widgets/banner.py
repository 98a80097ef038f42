"""An inline message strip: errors, warnings and notes shown where they happened.

Dialogs are easy to dismiss and forget; a banner stays on the page next to the
thing that is wrong until it is fixed. Colours are semantic (red, amber, the
palette's highlight) drawn translucent over the window colour, so they read on
light and dark palettes alike.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStyle, QToolButton, QWidget

ERROR, WARNING, INFO = "error", "warning", "info"

_COLOURS = {  # semantic colours that read on light and dark windows
    ERROR: QColor(220, 53, 69),
    WARNING: QColor(230, 160, 0),
}
_ICONS = {
    ERROR: QStyle.StandardPixmap.SP_MessageBoxCritical,
    WARNING: QStyle.StandardPixmap.SP_MessageBoxWarning,
    INFO: QStyle.StandardPixmap.SP_MessageBoxInformation,
}


class MessageBanner(QFrame):
    """A hidden-by-default strip with an icon, a wrapped message and an optional action button."""

    action_triggered = Signal()
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None, *, closable: bool = True):
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._level = INFO
        self._action: Callable[[], None] | None = None
        self._recolouring = False

        self._icon = QLabel(self)
        self._icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self._text = QLabel(self)
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._button = QPushButton(self)
        self._button.hide()
        self._button.clicked.connect(self._on_button_clicked)
        self._close = QToolButton(self)
        self._close.setText("✕")
        self._close.setAutoRaise(True)
        self._close.setToolTip("Hide this message")
        self._close.setVisible(closable)
        self._close.clicked.connect(self._on_close_clicked)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.setSpacing(8)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self._text, 1)
        layout.addWidget(self._button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self._close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    # --- public API ---

    @property
    def level(self) -> str:
        return self._level

    def text(self) -> str:
        """The message shown, or "" while the banner is hidden."""
        return "" if self.isHidden() else self._text.text()

    def show_message(
        self,
        text: str,
        level: str = ERROR,
        *,
        action_text: str | None = None,
        action: Callable[[], None] | None = None,
    ) -> None:
        self._level = level
        self._text.setText(text)
        self._action = action
        self._button.setVisible(bool(action_text and action))
        if action_text:
            self._button.setText(action_text)
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        self._icon.setPixmap(self.style().standardIcon(_ICONS[level]).pixmap(size, size))
        self._apply_colours()
        self.show()

    def clear(self) -> None:
        self._text.setText("")
        self._action = None
        self.hide()

    # --- internals ---

    def changeEvent(self, event) -> None:  # palette switches (light <-> dark) recolour the info banner
        super().changeEvent(event)
        if event.type() in (event.Type.PaletteChange, event.Type.ApplicationPaletteChange) and not self._recolouring:
            self._apply_colours()

    def _apply_colours(self) -> None:
        base = _COLOURS.get(self._level, self.palette().highlight().color())
        bg = QColor(base)
        bg.setAlpha(40)
        border = QColor(base)
        border.setAlpha(170)
        sheet = (
            "#messageBanner { background-color: rgba(%d, %d, %d, %d); border: 1px solid rgba(%d, %d, %d, %d);"
            " border-radius: 4px; }" % (bg.red(), bg.green(), bg.blue(), bg.alpha(), border.red(), border.green(),
                                        border.blue(), border.alpha())
        )
        if sheet != self.styleSheet():
            self._recolouring = True  # setting a style sheet sends a palette change of its own
            try:
                self.setStyleSheet(sheet)
            finally:
                self._recolouring = False

    def _on_button_clicked(self) -> None:
        self.action_triggered.emit()
        if self._action is not None:
            self._action()

    def _on_close_clicked(self) -> None:
        self.hide()
        self.dismissed.emit()
