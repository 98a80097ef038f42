"""Input widgets for numbers that span orders of magnitude (learning rates, penalties)."""

from __future__ import annotations

import math

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QWidget

_MANTISSAS = (1.0, 2.0, 5.0)  # arrow keys walk 1e-3, 2e-3, 5e-3, 1e-2, ...


def _ladder_step(value: float, steps: int, minimum_positive: float) -> float:
    """``value`` moved ``steps`` rungs along the 1-2-5 ladder (0 sits below the smallest rung)."""
    if value <= 0:
        if steps <= 0:
            return 0.0
        value, steps = minimum_positive, steps - 1
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10**exponent
    # the rung at or below the value
    index = max(i for i, m in enumerate(_MANTISSAS) if m <= mantissa + 1e-9)
    if steps < 0 and mantissa > _MANTISSAS[index] + 1e-9:
        steps += 1  # a value between rungs first goes down to the rung below it
    position = exponent * len(_MANTISSAS) + index + steps
    exponent, index = divmod(position, len(_MANTISSAS))
    return _MANTISSAS[index] * 10.0**exponent


class ScientificSpinBox(QDoubleSpinBox):
    """A spin box showing values like ``0.01`` or ``1e-05``; arrows step 1-2-5 per decade.

    With ``allow_zero`` the value 0 sits below the smallest positive rung
    (``minimum_positive``), as "off" for penalties such as weight decay.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        minimum_positive: float = 1e-6,
        maximum: float = 10.0,
        allow_zero: bool = False,
    ):
        super().__init__(parent)
        self._minimum_positive = minimum_positive
        self._allow_zero = allow_zero
        self.setDecimals(12)  # the displayed text comes from textFromValue; this only keeps precision
        self.setRange(0.0 if allow_zero else minimum_positive, maximum)
        self.setKeyboardTracking(False)
        self.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        self.setAccelerated(True)

    def textFromValue(self, value: float) -> str:
        if value == 0:
            return "0"
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip().replace(",", "."))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: ANN201 - Qt's signature
        t = text.strip().replace(",", ".")
        if t in ("", ".", "-", "e", "+"):
            return QValidator.State.Intermediate, text, pos
        try:
            value = float(t)
        except ValueError:
            # partial exponents such as "1e" or "1e-" are on their way to a number
            if t.lower().endswith(("e", "e-", "e+")) and _is_number(t.lower().rstrip("e+-")):
                return QValidator.State.Intermediate, text, pos
            return QValidator.State.Invalid, text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:
        value = _ladder_step(self.value(), steps, self._minimum_positive)
        if not self._allow_zero and value < self._minimum_positive:
            value = self._minimum_positive
        self.setValue(min(self.maximum(), max(self.minimum(), value)))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
