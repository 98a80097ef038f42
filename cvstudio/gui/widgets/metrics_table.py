"""The Evaluate page's table and tiles: per-class metrics as a sortable table with rate bars, and stat tiles."""

from __future__ import annotations

import math
from typing import Any, Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QFont, QPainter, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.theme import draw_cell_bar, mix
from cvstudio.gui.widgets.confusion_matrix import percent
from cvstudio.gui.widgets.mosaic_view import SecondaryLabel

BAR_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
CLASS_COLUMNS = ("Class", "Precision", "Recall", "F1", "Images")
CLASS_TIPS = (
    "The true class",
    "Of the images the model called this class, the share that really are (blank: it never predicted it)",
    "Of the images of this class, the share the model recognized: the class's accuracy",
    "The harmonic mean of precision and recall",
    "Images of this class in the split (support)",
)


class ClassMetricsModel(QAbstractTableModel):
    """The core's per-class metrics (``ClassMetrics`` rows) as a sortable table."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.rows: list[Any] = []

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(CLASS_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return CLASS_COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return CLASS_TIPS[section]
            if role == Qt.ItemDataRole.TextAlignmentRole and section > 0:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _value(row: Any, column: int) -> Any:
        return (row.name, row.precision, row.recall, row.f1, row.support)[column]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], index.column()
        value = self._value(row, col)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return value
            if col == 4:
                return f"{value:,}"
            if isinstance(value, float) and math.isnan(value):
                return "—"
            return percent(value) if col in (1, 2) else f"{value:.3f}"
        if role == SORT_ROLE:
            if isinstance(value, float) and math.isnan(value):
                return -1.0
            return value
        if role == BAR_ROLE and col in (1, 2, 3):
            return None if math.isnan(value) else float(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 1 and math.isnan(row.precision):
                return f"The model never predicted {row.name}, so its precision is undefined."
            if col == 2 and not math.isnan(row.recall):
                return f"{percent(row.recall)} of the {row.support:,} {row.name} images were recognized."
        return None


class RateBarDelegate(QStyledItemDelegate):
    """A number with a thin bar under it showing the value on a 0–1 scale."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().paint(painter, option, index)
        value = index.data(BAR_ROLE)
        if value is None:
            return
        draw_cell_bar(painter, option, value, inset=6, bottom_gap=3)


class StatTile(QFrame):
    """A caption, a big number and a line of detail."""

    def __init__(self, caption: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("statTile")
        self.caption = SecondaryLabel(caption, self, wrap=False)
        self.value = QLabel("–", self)
        font = QFont(self.value.font())
        font.setPointSizeF(font.pointSizeF() * 1.9)
        font.setWeight(QFont.Weight.DemiBold)
        self.value.setFont(font)
        self.value.setTextFormat(Qt.TextFormat.PlainText)
        self.detail = SecondaryLabel("", self, wrap=False)
        small = QFont(self.detail.font())
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.detail.setFont(small)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(0)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)
        self._apply_palette()

    def set_values(self, value: str, detail: str = "", colour: Any = None) -> None:
        self.value.setText(value)
        self.detail.setText(detail)
        pal = self.value.palette()
        pal.setColor(QPalette.ColorRole.WindowText, colour if colour is not None else self.palette().color(QPalette.ColorRole.WindowText))
        self.value.setPalette(pal)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() in (event.Type.PaletteChange, event.Type.ApplicationPaletteChange) and not getattr(self, "_busy", False):
            self._apply_palette()

    def _apply_palette(self) -> None:
        pal = self.palette()
        base, text = pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text)
        bg, border = mix(base, text, 0.02), mix(base, text, 0.14)
        sheet = (f"#statTile {{ background-color: {bg.name()}; border: 1px solid {border.name()};"
                 " border-radius: 6px; }")
        if sheet != self.styleSheet():
            self._busy = True
            try:
                self.setStyleSheet(sheet)
            finally:
                self._busy = False


__all__ = ["BAR_ROLE", "CLASS_COLUMNS", "ClassMetricsModel", "RateBarDelegate", "SORT_ROLE", "StatTile"]
