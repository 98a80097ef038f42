"""A parallel-coordinates plot: one vertical axis per swept setting plus validation accuracy, one line per trial.

Every setting's values are placed evenly along its axis in their natural order
(numbers by value, words as the grid lists them), so ``lr = 0.001, 0.01, 0.1``
and ``optimizer = sgd, adam`` read the same way. The accuracy axis spans the
accuracies seen. Each finished trial is a line coloured by its accuracy (viridis:
dark is worse, yellow is better), so the settings of good trials stand out as
bundles of bright lines. The lines of one colour band are one plot item (broken
between trials), so a sweep of hundreds of trials redraws as fast as one of ten.
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
COLOUR_BANDS = 32  # trials are drawn in this many colours, one plot item each, whatever the sweep's size
WIDE_LINES_UP_TO = 24  # trials drawn 2.5 px wide; more are drawn 1 px wide: a bundle stays readable, and
# thin lines are Qt's fast path (wide antialiased ones took 150 ms for 180 trials at every trial's end)


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
        self.trial_heights: list[np.ndarray] = []  # each trial drawn: its height on every axis; best last (on top)
        self.line_accuracies: list[float] = []  # and its accuracy
        self._bands: list[pg.PlotDataItem] = []  # one item per colour band, made once, the best band on top
        self._band_width = 0.0
        cmap = sequential()
        self._band_colours = [cmap.map((band + 0.5) / COLOUR_BANDS, mode="qcolor") for band in range(COLOUR_BANDS)]
        self._labels: list[pg.TextItem] = []  # the settings' values along their axes
        self._accuracy_labels: list[pg.TextItem] = []  # low, middle, high of the accuracy axis
        self._axis_lines: list[pg.InfiniteLine] = []
        self._trials: list[tuple[dict[str, str], float]] = []

    def set_axes(self, grid: Sequence[tuple[str, Sequence[str]]]) -> None:
        """The swept settings and their values; clears the lines."""
        self.names = [name for name, _ in grid]
        self.positions = {name: axis_positions(values) for name, values in grid}
        self._trials = []
        self._draw_axes()

    def set_trials(self, trials: Sequence[tuple[dict[str, str], float]]) -> None:
        """Draw these (settings, validation accuracy) pairs: at every trial's end, so the axes stay and only
        the lines and the accuracy axis's numbers change."""
        self._trials = [(dict(s), float(a)) for s, a in trials if a is not None and math.isfinite(a)]
        self._draw_trials()

    def apply_palette(self) -> None:
        super().apply_palette()
        if hasattr(self, "_trials"):
            self._draw_axes()

    def _accuracy_range(self) -> tuple[float, float]:
        accs = [a for _, a in self._trials]
        if not accs:
            return 0.0, 1.0
        low, high = min(accs), max(accs)
        if high - low < 1e-9:
            return low - 0.05, high + 0.05  # one accuracy (or all equal): its line sits in the middle
        return low, high

    def _draw_axes(self) -> None:
        item = self.getPlotItem()
        for old in (*self._labels, *self._accuracy_labels, *self._axis_lines):
            item.removeItem(old)
        self._labels, self._accuracy_labels, self._axis_lines = [], [], []
        pal = self.palette()
        fg, bg = pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base)
        axes = [*self.names, ACCURACY_AXIS]
        axis_pen = pg.mkPen(mix(fg, bg, 0.35), width=1.5)
        for x, name in enumerate(axes):
            line = pg.InfiniteLine(pos=x, angle=90, pen=axis_pen, movable=False)
            line.setZValue(-1)  # under the trials' lines
            item.addItem(line)
            self._axis_lines.append(line)
            for text, y in self._ticks(name):
                label = pg.TextItem(text, color=fg, fill=pg.mkBrush(mix(bg, fg, 0.08)),  # readable over lines
                                    anchor=(0, 0.5) if x < len(axes) - 1 else (1, 0.5))
                label.setZValue(10)
                label.setPos(x + (0.03 if x < len(axes) - 1 else -0.03), y)
                item.addItem(label)
                (self._accuracy_labels if name == ACCURACY_AXIS else self._labels).append(label)
        item.getAxis("bottom").setTicks([[(x, name) for x, name in enumerate(axes)]])
        item.setXRange(-0.15, len(axes) - 1 + 0.15, padding=0)
        item.setYRange(-0.08, 1.08, padding=0)
        self._draw_trials()

    def _draw_trials(self) -> None:
        item = self.getPlotItem()
        if not self._bands:
            for colour in self._band_colours:  # added in order: the best band is drawn last, on top
                band_item = pg.PlotDataItem(connect="finite", symbol="o", symbolSize=6, symbolBrush=colour,
                                            symbolPen=pg.mkPen(colour))
                item.addItem(band_item)
                self._bands.append(band_item)
        for label, (text, _) in zip(self._accuracy_labels, self._ticks(ACCURACY_AXIS)):
            label.setText(text)
        low, high = self._accuracy_range()
        self.trial_heights, self.line_accuracies = [], []
        bands: list[list[np.ndarray]] = [[] for _ in range(COLOUR_BANDS)]
        for settings, acc in sorted(self._trials, key=lambda t: t[1]):  # the best drawn last, on top
            ys = [self.positions.get(n, {}).get(settings.get(n, ""), math.nan) for n in self.names]
            ys.append((acc - low) / (high - low))
            heights = np.array(ys, dtype=float)
            self.trial_heights.append(heights)
            self.line_accuracies.append(acc)
            bands[min(COLOUR_BANDS - 1, max(0, int(ys[-1] * COLOUR_BANDS)))].append(heights)
        width = 2.5 if len(self._trials) <= WIDE_LINES_UP_TO else 1.0
        xs = np.append(np.arange(len(self.names) + 1, dtype=float), math.nan)  # a NaN after each line breaks it
        for band_item, colour, lines in zip(self._bands, self._band_colours, bands):
            if width != self._band_width:
                band_item.setPen(pg.mkPen(colour, width=width))
            if lines:
                band_item.setData(np.tile(xs, len(lines)), np.concatenate([np.append(h, math.nan) for h in lines]))
            elif band_item.xData is not None and len(band_item.xData):  # emptied once, not at every redraw
                band_item.setData([], [])
        self._band_width = width

    def _ticks(self, name: str) -> list[tuple[str, float]]:
        if name == ACCURACY_AXIS:
            low, high = self._accuracy_range()
            return [(f"{low + (high - low) * f:.3f}", f) for f in (0.0, 0.5, 1.0)]
        return [(value, y) for value, y in self.positions.get(name, {}).items()]


__all__ = ["ACCURACY_AXIS", "ParallelCoordinatesPlot", "axis_positions", "ordered_values"]
