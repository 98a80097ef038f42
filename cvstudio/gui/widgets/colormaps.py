"""Colour maps for weights and activations.

Signed values (kernel weights, conv outputs, tanh activations) use a
diverging map centred on zero: blue for negative, near-white for zero, red for
positive, always with symmetric levels so that equal magnitudes get equal
intensity. Non-negative values (after ReLU or pooling of ReLU) use a
perceptually uniform sequential map. Both read on light and dark windows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

DIVERGING_NAME = "CET-D1"  # blue - white - red, perceptually balanced (colorcet)
SEQUENTIAL_NAME = "viridis"


@lru_cache(maxsize=None)
def diverging() -> pg.ColorMap:
    return pg.colormap.get(DIVERGING_NAME)


@lru_cache(maxsize=None)
def sequential() -> pg.ColorMap:
    return pg.colormap.get(SEQUENTIAL_NAME)


def colormap_for(diverging_values: bool) -> pg.ColorMap:
    return diverging() if diverging_values else sequential()


@lru_cache(maxsize=None)
def _lut(name: str) -> np.ndarray:
    cmap = diverging() if name == DIVERGING_NAME else sequential()
    return cmap.getLookupTable(0.0, 1.0, 256, alpha=False)


def lookup_table(diverging_values: bool) -> np.ndarray:
    """A uint8 (256, 3) table for ``ImageItem.setLookupTable`` (cached: the same array every time)."""
    return _lut(DIVERGING_NAME if diverging_values else SEQUENTIAL_NAME)


def colour_of(value: float, levels: tuple[float, float], diverging_values: bool = True) -> QColor:
    """The colour a value gets with ``levels`` (for tables and painted numbers)."""
    lo, hi = levels
    t = 0.5 if hi <= lo or not np.isfinite(value) else (float(value) - lo) / (hi - lo)
    r, g, b = lookup_table(diverging_values)[int(round(min(max(t, 0.0), 1.0) * 255))]
    return QColor(int(r), int(g), int(b))


def colours_of(values: np.ndarray, levels: tuple[float, float], diverging_values: bool = True) -> np.ndarray:
    """uint8 (..., 3) colours of many values at once (vectorized :func:`colour_of`)."""
    lo, hi = levels
    span = hi - lo if hi > lo else 1.0
    t = np.nan_to_num((np.asarray(values, np.float64) - lo) / span, nan=0.5)
    index = np.rint(np.clip(t, 0.0, 1.0) * 255).astype(np.intp)
    return lookup_table(diverging_values)[index]


def text_colour_on(background: QColor) -> QColor:
    """Black or white, whichever reads better on ``background``."""
    luma = 0.299 * background.redF() + 0.587 * background.greenF() + 0.114 * background.blueF()
    return QColor("#111111") if luma > 0.55 else QColor("#ffffff")
