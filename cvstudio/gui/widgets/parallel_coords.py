"""A parallel-coordinates plot: one vertical axis per swept setting plus validation accuracy, one line per trial.

Every setting's values are placed evenly along its axis in their natural order
(numbers by value, words as the grid lists them), so ``lr = 0.001, 0.01, 0.1``
and ``optimizer = sgd, adam`` read the same way. The accuracy axis spans the
accuracies seen. Each finished trial is a line coloured by its accuracy (viridis:
dark is worse, yellow is better), so the settings of good trials stand out as
bundles of bright lines.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget

from cvstudio.gui.theme import mix
from cvstudio.gui.widgets.colormaps import sequential
from cvstudio.gui.widgets.plots import ThemedPlot

ACCURACY_AXIS = "val acc"


def ordered_values(values: Sequence[str]) -> list[str]:
    """Distinct values in axis order: by number when all are numbers, else as given."""
    distinct = list(dict.fromkeys(values))
    try:
        numbers = [float(v) for v in distinct]
    except ValueError:
        return distinct
    if not all(math.isfinite(n) for n in numbers):
        return distinct
    return [v for _, v in sorted(zip(numbers, distinct))]


def axis_positions(values: Sequence[str]) -> dict[str, float]:
    """Each value's height on its axis, evenly spaced in [0, 1] (a lone value sits in the middle)."""
    ordered = ordered_values(values)
    if len(ordered) == 1:
        return {ordered[0]: 0.5}
    return {v: i / (len(ordered) - 1) for i, v in enumerate(ordered)}


class ParallelCoordinatesPlot(ThemedPlot):
    """``set_axes(grid)`` once per sweep, then ``set_trials([(settings, val_acc), ...])`` as trials finish."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Settings against validation accuracy", "", "", parent, legend_offset=None)
        item = self.getPlotItem()
        item.hideAxis("left")
        item.showGrid(x=False, y=False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self.setMinimumHeight(200)
        self.names: list[str] = []
        self.positions: dict[str, dict[str, float]] = {}
        self.lines: list[pg.PlotDataItem] = []  # one per trial drawn, best last (on top)
        self.line_accuracies: list[float] = []
        self._labels: list[pg.TextItem] = []
        self._axis_lines: list[pg.InfiniteLine] = []
        self._trials: list[tuple[dict[str, str], float]] = []

    def set_axes(self, grid: Sequence[tuple[str, Sequence[str]]]) -> None:
        """The swept settings and their values; clears the lines."""
        self.names = [name for name, _ in grid]
        self.positions = {name: axis_positions(values) for name, values in grid}
        self.set_trials([])

    def set_trials(self, trials: Sequence[tuple[dict[str, str], float]]) -> None:
        """Redraw with these (settings, validation accuracy) pairs; a few dozen lines at most per sweep."""
        self._trials = [(dict(s), float(a)) for s, a in trials if a is not None and math.isfinite(a)]
        self._redraw()

    def apply_palette(self) -> None:
        super().apply_palette()
        if hasattr(self, "_trials"):
            self._redraw()

    def _accuracy_range(self) -> tuple[float, float]:
        accs = [a for _, a in self._trials]
        if not accs:
            return 0.0, 1.0
        low, high = min(accs), max(accs)
        if high - low < 1e-9:
            return low - 0.05, high + 0.05  # one accuracy (or all equal): its line sits in the middle
        return low, high

    def _redraw(self) -> None:
        item = self.getPlotItem()
        for old in (*self.lines, *self._labels, *self._axis_lines):
            item.removeItem(old)
        self.lines, self._labels, self._axis_lines, self.line_accuracies = [], [], [], []
        pal = self.palette()
        fg, bg = pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base)
        axes = [*self.names, ACCURACY_AXIS]
        axis_pen = pg.mkPen(mix(fg, bg, 0.35), width=1.5)
        for x, name in enumerate(axes):
            line = pg.InfiniteLine(pos=x, angle=90, pen=axis_pen, movable=False)
            item.addItem(line)
            self._axis_lines.append(line)
            ticks = self._ticks(name)
            for text, y in ticks:
                label = pg.TextItem(text, color=fg, fill=pg.mkBrush(mix(bg, fg, 0.08)),  # readable over lines
                                    anchor=(0, 0.5) if x < len(axes) - 1 else (1, 0.5))
                label.setZValue(10)
                label.setPos(x + (0.03 if x < len(axes) - 1 else -0.03), y)
                item.addItem(label)
                self._labels.append(label)
        item.getAxis("bottom").setTicks([[(x, name) for x, name in enumerate(axes)]])
        low, high = self._accuracy_range()
        cmap = sequential()
        xs = np.arange(len(axes), dtype=float)
        for settings, acc in sorted(self._trials, key=lambda t: t[1]):  # the best drawn last, on top
            ys = [self.positions.get(n, {}).get(settings.get(n, ""), math.nan) for n in self.names]
            ys.append((acc - low) / (high - low))
            colour = cmap.map(min(1.0, max(0.0, ys[-1])), mode="qcolor")
            line = pg.PlotDataItem(xs, np.array(ys, dtype=float), pen=pg.mkPen(colour, width=2.5),
                                   symbol="o", symbolSize=6, symbolBrush=colour, symbolPen=pg.mkPen(colour))
            item.addItem(line)
            self.lines.append(line)
            self.line_accuracies.append(acc)
        item.setXRange(-0.15, len(axes) - 1 + 0.15, padding=0)
        item.setYRange(-0.08, 1.08, padding=0)

    def _ticks(self, name: str) -> list[tuple[str, float]]:
        if name == ACCURACY_AXIS:
            low, high = self._accuracy_range()
            return [(f"{low + (high - low) * f:.3f}", f) for f in (0.0, 0.5, 1.0)]
        return [(value, y) for value, y in self.positions.get(name, {}).items()]


__all__ = ["ACCURACY_AXIS", "ParallelCoordinatesPlot", "axis_positions", "ordered_values"]
