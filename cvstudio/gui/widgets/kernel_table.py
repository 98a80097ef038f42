"""An editable k×k table of kernel weights, coloured like the kernel viewer.

Cells accept numbers ("-1", "0.25", "2e-1") and simple fractions ("1/9");
anything else is refused with a message and the old value comes back.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSizePolicy, QTableWidget, QTableWidgetItem, QWidget

from cvstudio.gui.widgets.colormaps import colour_of, text_colour_on
from cvstudio.gui.widgets.mosaic_view import monospace_font

MAX_ABS_WEIGHT = 1000.0


def parse_weight(text: str) -> float | None:
    """A cell's text as a number: '0.5', '-1', '1e-2', '1/9', '-2/16'; None if it is not one."""
    t = text.strip().replace(",", ".").replace("−", "-")
    if not t:
        return None
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(t)
    except (ValueError, ZeroDivisionError):
        return None
    return value if np.isfinite(value) and abs(value) <= MAX_ABS_WEIGHT else None


def weight_text(value: float) -> str:
    text = f"{value:.4g}"
    return "0" if text in ("-0", "0") else text


class KernelTable(QTableWidget):
    kernel_edited = Signal(object)  # np.ndarray (k, k) float32, after a valid edit by the user
    entry_rejected = Signal(str)  # a message: what was typed and why it was refused

    CELL = 58  # pixels per cell side

    def __init__(self, parent: QWidget | None = None, size: int = 3):
        super().__init__(size, size, parent)
        self._kernel = np.zeros((size, size), np.float32)
        self._updating = False
        self.horizontalHeader().hide()
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        self.setFont(monospace_font(self.font(), 1.0))
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setToolTip("Type a weight in a cell: a number such as -1 or 0.25, or a fraction such as 1/9")
        self.itemChanged.connect(self._on_item_changed)
        self.set_kernel(self._kernel)

    def kernel(self) -> np.ndarray:
        return self._kernel.copy()

    def set_kernel(self, kernel: np.ndarray) -> None:
        kernel = np.asarray(kernel, np.float32)
        k = kernel.shape[0]
        self._kernel = kernel.copy()
        self._updating = True
        try:
            if self.rowCount() != k:
                self.setRowCount(k)
                self.setColumnCount(k)
            for i in range(k):
                for j in range(k):
                    item = self.item(i, j)
                    if item is None:
                        item = QTableWidgetItem()
                        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                        self.setItem(i, j, item)
                    item.setText(weight_text(float(kernel[i, j])))
            self._recolour()
        finally:
            self._updating = False
        self._fit_size()

    def _fit_size(self) -> None:
        k = self.rowCount()
        for i in range(k):
            self.setRowHeight(i, self.CELL * 2 // 3)
            self.setColumnWidth(i, self.CELL)
        frame = 2 * self.frameWidth()
        self.setFixedSize(k * self.CELL + frame, k * (self.CELL * 2 // 3) + frame)

    def _recolour(self) -> None:
        limit = float(np.abs(self._kernel).max()) or 1.0
        for i in range(self.rowCount()):
            for j in range(self.columnCount()):
                item = self.item(i, j)
                background = colour_of(float(self._kernel[i, j]), (-limit, limit))
                item.setBackground(QBrush(background))
                item.setForeground(QBrush(text_colour_on(background)))

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating:
            return
        i, j = item.row(), item.column()
        value = parse_weight(item.text())
        self._updating = True
        try:
            if value is None:
                self.entry_rejected.emit(
                    f"“{item.text().strip()}” is not a weight: type a number such as -1 or 0.25, or a fraction "
                    f"such as 1/9 (at most {MAX_ABS_WEIGHT:g} in size)."
                )
                item.setText(weight_text(float(self._kernel[i, j])))
                return
            self._kernel[i, j] = value
            item.setText(weight_text(value))
            self._recolour()
        finally:
            self._updating = False
        self.kernel_edited.emit(self.kernel())
