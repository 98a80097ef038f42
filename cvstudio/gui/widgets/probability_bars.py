"""Top-k class probabilities as horizontal bars: class name, bar, percentage.

Plain QPainter rather than a plot: class names can be long, the bars must be
readable at a glance, and there is nothing to zoom. The first bar (the
prediction) is drawn in the palette's highlight colour, the others in a
quieter tone; every colour comes from the palette.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from cvstudio.gui.theme import mix

ROW_HEIGHT_EM = 1.9  # row height in multiples of the font height
MAX_LABEL_FRACTION = 0.42  # class names take at most this share of the width


def percent_text(p: float) -> str:
    """99.95 % -> '>99.9 %', tiny -> '<0.1 %': never round a real probability to 100 or 0."""
    pct = 100.0 * float(p)
    if pct >= 99.95 and p < 1.0:
        return ">99.9 %"
    if 0.0 < pct < 0.05:
        return "<0.1 %"
    return f"{pct:.1f} %"


class ProbabilityBars(QWidget):
    """Shows ``[(label, probability), ...]`` as one bar per row, first row highlighted."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._values: list[tuple[str, float]] = []
        self._placeholder = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)

    def set_values(self, values: Sequence[tuple[str, float]]) -> None:
        self._values = [(str(label), float(p)) for label, p in values]
        self.updateGeometry()
        self.update()

    def values(self) -> list[tuple[str, float]]:
        return list(self._values)

    def set_placeholder(self, text: str) -> None:
        """Text shown when there are no values."""
        self._placeholder = text
        self.update()

    def _row_height(self) -> int:
        return int(self.fontMetrics().height() * ROW_HEIGHT_EM)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        rows = max(1, len(self._values))
        return QSize(260, rows * self._row_height() + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(160, self.sizeHint().height())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        window = pal.color(QPalette.ColorRole.Window)
        if not self._values:
            if self._placeholder:
                p.setPen(mix(text, window, 0.45))
                p.drawText(self.rect(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self._placeholder)
            p.end()
            return
        fm = QFontMetrics(self.font())
        row_h = self._row_height()
        pct_w = fm.horizontalAdvance(">99.9 %") + 10
        label_w = min(max(fm.horizontalAdvance(label) for label, _ in self._values) + 12,
                      int(self.width() * MAX_LABEL_FRACTION))
        bar_x = label_w
        bar_w = max(10, self.width() - label_w - pct_w)
        bar_h = max(6, int(fm.height() * 0.75))
        highlight = pal.color(QPalette.ColorRole.Highlight)
        other = mix(highlight, mix(text, window, 0.5), 0.55)
        track = mix(window, text, 0.08)
        for i, (label, prob) in enumerate(self._values):
            top = i * row_h + 2
            mid = top + row_h / 2
            p.setPen(text)
            name = fm.elidedText(label, Qt.TextElideMode.ElideRight, label_w - 10)
            p.drawText(QRectF(0, top, label_w - 10, row_h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            bar = QRectF(bar_x, mid - bar_h / 2, bar_w, bar_h)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(track)
            p.drawRoundedRect(bar, bar_h / 2, bar_h / 2)
            frac = min(1.0, max(0.0, prob))
            if frac > 0:
                fill = QRectF(bar.left(), bar.top(), max(bar_h, bar_w * frac), bar_h)
                p.setBrush(highlight if i == 0 else other)
                p.drawRoundedRect(fill, bar_h / 2, bar_h / 2)
            p.setPen(text)
            p.drawText(QRectF(bar_x + bar_w, top, pct_w, row_h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       percent_text(prob))
        p.end()


__all__ = ["ProbabilityBars", "percent_text"]
