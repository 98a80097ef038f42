"""The confusion matrix draws its cells as one image: the same colours as cell by cell, quick for many classes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage, QPalette

from cvstudio.gui.theme import apply_theme, is_dark, mix
from cvstudio.gui.widgets.confusion_matrix import (
    CORRECT_HUE, CORRECT_HUE_DARK, GAMMA, MIN_TINT, WRONG_HUE, WRONG_HUE_DARK, ConfusionMatrixView,
)


def random_matrix(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 40, (k, k)) * (rng.random((k, k)) < 0.6)  # many empty cells
    counts[3] = 0  # a class with no images: its row of rates is 0
    totals = counts.sum(1, keepdims=True)
    return counts, np.divide(counts, totals, out=np.zeros((k, k)), where=totals > 0)


def cell_colour(view: ConfusionMatrixView, true: int, predicted: int) -> QColor:
    """One cell's colour as the view had drawn it cell by cell: the reference for its vectorized colours."""
    base = view._empty_colour()
    if view.counts[true, predicted] == 0:
        return base
    dark = is_dark(view.palette())
    if true == predicted:
        hue = CORRECT_HUE_DARK if dark else CORRECT_HUE
    else:
        hue = WRONG_HUE_DARK if dark else WRONG_HUE
    t = float(view.rates[true, predicted]) ** GAMMA
    return mix(base, hue, MIN_TINT + (1 - MIN_TINT) * min(1.0, t))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_cell_colours_are_each_cells_colour(qtbot, theme):
    apply_theme(theme)
    try:
        view = ConfusionMatrixView()
        qtbot.addWidget(view)
        counts, rates = random_matrix(23)
        view.set_matrix(counts, rates, [f"c{i}" for i in range(23)])
        colours = view.cell_colours()
        expected = np.array([[cell_colour(view, i, j).getRgb()[:3] for j in range(23)] for i in range(23)])
        np.testing.assert_array_equal(colours, expected)
    finally:
        apply_theme("light")


@pytest.mark.parametrize("classes, size", [(6, (700, 600)), (100, (900, 800))])
def test_the_grid_shows_each_cells_colour_with_gaps_where_cells_are_large(qtbot, classes, size):
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(*size)
    counts, rates = random_matrix(classes, seed=classes)
    view.set_matrix(counts, rates, [f"class {i}" for i in range(classes)])
    view.show()
    qtbot.waitExposed(view)
    shot = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    ratio = shot.devicePixelRatio()
    x0, y0, cell, *_ = view._layout()
    colours = view.cell_colours()
    for i, j in [(0, 0), (1, 2), (3, 1), (classes - 1, classes - 1), (classes - 1, 0), (2, classes // 2)]:
        r = view.cell_rect(i, j)
        centre = shot.pixelColor(int(r.center().x() * ratio), int(r.center().y() * ratio))
        assert centre.getRgb()[:3] == tuple(colours[i, j]), (i, j)
    if cell >= 8:  # a cell's last pixel column is the gap: the background, not the cell's colour
        r = view.cell_rect(1, 1)
        gap = shot.pixelColor(int((x0 + 2 * cell - 1) * ratio), int(r.center().y() * ratio))
        background = view.palette().color(QPalette.ColorRole.Window)
        assert gap.getRgb()[:3] == background.getRgb()[:3]
