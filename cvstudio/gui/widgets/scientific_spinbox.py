"""A spin box for small positive numbers such as weight decay (1e-3) or an L1 weight (1e-5).

A plain QDoubleSpinBox shows "0.001000" and steps linearly; this one shows the
shortest form ("0.001", "1e-05"), accepts anything Python's float() reads and
steps by factors of ten, the way such settings are tuned.
"""

from __future__ import annotations

import math

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QWidget


class ScientificSpinBox(QDoubleSpinBox):
    """Values 0 or in [smallest, maximum]; the arrows multiply or divide by 10."""

    def __init__(self, parent: QWidget | None = None, *, smallest: float = 1e-6, maximum: float = 1.0):
        super().__init__(parent)
        self._smallest = smallest
        self.setDecimals(12)  # internal precision; the text is formatted by textFromValue
        self.setRange(0.0, maximum)
        self.setSpecialValueText("off")
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:
        text = text.strip()
        if text in ("", self.specialValueText()):
            return 0.0
        return float(text)

    def validate(self, text: str, pos: int):
        stripped = text.strip()
        if stripped in ("", self.specialValueText()):
            return QValidator.State.Intermediate if not stripped else QValidator.State.Acceptable, text, pos
        try:
            value = float(stripped)
        except ValueError:
            # partial input such as "1e" or "1e-" may still become a number
            if all(ch in "0123456789.eE+-" for ch in stripped):
                return QValidator.State.Intermediate, text, pos
            return QValidator.State.Invalid, text, pos
        if not math.isfinite(value) or value < 0 or value > self.maximum():
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Acceptable, text, pos

    def fixup(self, text: str) -> str:
        try:
            value = min(max(float(text), 0.0), self.maximum())
        except ValueError:
            value = self.value()
        return self.textFromValue(value)

    def stepBy(self, steps: int) -> None:
        value = self.value()
        if value <= 0.0:
            new = self._smallest if steps > 0 else 0.0
            steps -= 1 if steps > 0 else 0
            value = new
        if value > 0.0:
            value = value * 10.0**steps
            # snap to a clean power-of-ten multiple (1e-3, 2e-3, ...) so repeated steps stay tidy
            value = float(f"{value:.6g}")
            if value < self._smallest:
                value = 0.0
        self.setValue(min(value, self.maximum()))
