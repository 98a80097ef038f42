"""Labels with a role: secondary hints in the palette's placeholder colour, page titles."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QLabel, QWidget


class HintLabel(QLabel):
    """Secondary text (why a button is disabled, what a page is waiting for), dimmed on any theme."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self._recolouring = False
        self._recolour()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) and not self._recolouring:
            self._recolour()

    def _recolour(self) -> None:
        parent = self.parentWidget()
        base = parent.palette() if parent is not None else self.palette()
        pal = QPalette(base)
        dim = base.color(QPalette.ColorRole.PlaceholderText)
        pal.setColor(QPalette.ColorRole.WindowText, dim)
        pal.setColor(QPalette.ColorRole.Text, dim)
        self._recolouring = True
        try:
            self.setPalette(pal)
        finally:
            self._recolouring = False


def title_font(base: QFont, scale: float = 1.45) -> QFont:
    font = QFont(base)
    font.setPointSizeF(base.pointSizeF() * scale)
    font.setWeight(QFont.Weight.DemiBold)
    return font
