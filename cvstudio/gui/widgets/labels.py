"""Labels with a role: secondary hints in the palette's placeholder colour, page titles."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QFont, QPainter, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


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


class ElidedLabel(QLabel):
    """One line of plain text, shortened in the middle ("/home/…/run.safetensors") when it does not fit;
    the full text is the tooltip and can be copied from the context menu."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def paintEvent(self, event) -> None:  # noqa: ANN001
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle, rect.width())
        painter.drawText(rect, int(self.alignment()) | int(Qt.AlignmentFlag.AlignVCenter), text)
        painter.end()
