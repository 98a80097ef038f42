"""The Train page's plots: the legend keeps its size as runs come and go (overlaid runs, Clear runs)."""

from __future__ import annotations

import pytest

from cvstudio.gui.widgets.plots import TrainingPlots


def legend_height(plots: TrainingPlots, qtbot) -> float:
    qtbot.wait(10)
    return plots.loss_plot.legend.height()


def test_the_legend_fits_its_entries_after_many_runs_were_cleared(qtbot):
    fresh = TrainingPlots()
    qtbot.addWidget(fresh)
    fresh.resize(900, 700)
    fresh.show()
    for i in range(3):
        fresh.add_run(f"run {i}")
    expected = legend_height(fresh, qtbot)

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(900, 700)
    plots.show()
    for i in range(40):
        plots.add_run(f"earlier {i}")
    forty = legend_height(plots, qtbot)
    assert forty < 42 * 20  # a row per entry, no more (was 3,516 px: ~84 a row)
    plots.clear_runs()
    for i in range(3):
        plots.add_run(f"run {i}")
    assert legend_height(plots, qtbot) == pytest.approx(expected, abs=1)  # was 399 px for these 5 rows, gapped
    heights = [label.height() for _, label in plots.loss_plot.legend.items]
    assert max(heights) < 30
