"""The sweeps' parallel-coordinates plot stays quick for big sweeps: it is redrawn at every trial's end."""

from __future__ import annotations

import random

import numpy as np
import pyqtgraph as pg
import pytest

from cvstudio.gui.widgets.parallel_coords import COLOUR_BANDS, WIDE_LINES_UP_TO, ParallelCoordinatesPlot

GRID = [("lr", ["0.001", "0.01", "0.1"]), ("width", ["8", "16", "32", "64"]), ("optimizer", ["sgd", "adam"])]


def trials(n: int, seed: int = 0) -> list[tuple[dict[str, str], float]]:
    rnd = random.Random(seed)
    return [({name: rnd.choice(values) for name, values in GRID}, rnd.uniform(0.5, 0.9)) for _ in range(n)]


def drawn_items(plot: ParallelCoordinatesPlot) -> list[pg.PlotDataItem]:
    return [i for i in plot.getPlotItem().items if isinstance(i, pg.PlotDataItem)]


def test_many_trials_are_a_few_items_best_on_top_and_axes_kept(qtbot):
    plot = ParallelCoordinatesPlot()
    qtbot.addWidget(plot)
    plot.set_axes(GRID)
    value_labels = list(plot._labels)
    many = trials(300)
    plot.set_trials(many)
    assert len(drawn_items(plot)) <= COLOUR_BANDS  # not one item per trial
    assert plot._labels == value_labels  # the settings' axes are not made again at a trial's end
    assert plot.line_accuracies == sorted(a for _, a in many)
    best = plot.trial_heights[-1]
    best_settings = max(many, key=lambda t: t[1])[0]
    assert best[-1] == pytest.approx(1.0) and best[0] == ["0.001", "0.01", "0.1"].index(best_settings["lr"]) / 2
    top = drawn_items(plot)[-1]  # the last item added is drawn on top: the best band holds the best trial
    ys = top.getData()[1]
    assert any(np.array_equal(ys[k : k + len(best)], best) for k in range(0, len(ys), len(best) + 1))
    assert top.opts["pen"].widthF() == 1.0  # thin lines for a big sweep (Qt's fast path)
    shown = sum(np.isfinite(item.getData()[1]).sum() for item in drawn_items(plot) if item.getData()[1] is not None)
    assert shown == 300 * (len(GRID) + 1)  # every trial's every height, once

    plot.set_trials(many[:3])  # a new sweep's first trials: stale bands are emptied, lines are wide again
    shown = sum(np.isfinite(item.getData()[1]).sum() for item in drawn_items(plot)
                if item.getData()[1] is not None and len(item.getData()[1]))
    assert shown == 3 * (len(GRID) + 1) and len(plot.trial_heights) == 3 <= WIDE_LINES_UP_TO
    assert all(item.opts["pen"].widthF() == 2.5 for item in drawn_items(plot))
    assert plot._accuracy_labels[-1].toPlainText() == f"{max(a for _, a in many[:3]):.3f}"
