"""One layer's output for one image: its channels as a grid of maps (or a vector as a strip).

Built on :class:`~cvstudio.gui.widgets.mosaic_view.MosaicView`: the whole
grid is one image. Signed outputs get a diverging colour map centred on zero,
non-negative ones (after ReLU) a sequential map from zero; the scale is shared
by all channels of the layer unless "relative" scales each channel on its own.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget

from cvstudio.gui.widgets.mosaic_view import MosaicView, format_value


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


class FeatureGrid(MosaicView):
    """The output channels of one layer for one image."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, colorbar_label="activation", placeholder="Pick an image to see what each layer makes of it.")
        self.values: np.ndarray | None = None
        self.name = ""
        self.unit_names: tuple[str, ...] | None = None  # names of the units of a vector output (the classes)
        self._labels: list[pg.TextItem] = []
        self.tile_hovered.connect(self._on_tile_hovered)

    def show_map(
        self,
        name: str,
        kind: str,
        values: np.ndarray,
        relative: bool = False,
        unit_names: tuple[str, ...] | None = None,
    ) -> None:
        """Draw ``values`` — (C, H, W) maps or a vector — the output of layer ``name`` (a ``kind`` module)."""
        from cvstudio.core.inspect import feature_display  # torch is loaded once there are feature maps

        values = np.asarray(values, np.float32)
        display = feature_display(values, relative)
        self.values, self.name = values, name
        self.unit_names = unit_names if unit_names and values.ndim == 1 and len(unit_names) == values.size else None
        what = f"{values.shape[0]} channels of {values.shape[1]}×{values.shape[2]}" if values.ndim == 3 else f"{values.size} values"
        title = f"{name} ({kind}) → {shape_text(values.shape)}: {what}"
        self.set_display(display, title, self._scale_text(display, values))
        self._label_units()
        self.set_info("Hover over a map to read its values.")

    def clear(self, message: str = "") -> None:
        super().clear(message)
        self._label_units()

    def _label_units(self) -> None:
        """Name the cells of a class-score vector (one row of at most VECTOR_COLUMNS cells) below them."""
        for item in self._labels:
            self.view.removeItem(item)
        self._labels = []
        names = self.unit_names if self.display is not None else None
        if not names or self.display.mosaic.tile_shape[0] != 1:
            return
        colour = self.palette().color(QPalette.ColorRole.Text)
        for i, name in enumerate(names):
            item = pg.TextItem(name, color=colour, anchor=(0.5, 0.0))
            item.setPos(i + 0.5, 1.05)
            self.view.addItem(item, ignoreBounds=True)
            self._labels.append(item)

    def describe(self, tile: int, row: int, col: int) -> str | None:
        v = self.values
        if v is None:
            return None
        if v.ndim == 3:
            return f"channel {tile} · row {row}, column {col} · value {format_value(float(v[tile, row, col]))}"
        columns = self.display.mosaic.tile_shape[1]
        unit = row * columns + col
        flat = v.ravel()
        if unit >= flat.size:
            return None
        label = f"class {self.unit_names[unit]!r}" if self.unit_names else f"unit {unit}"
        return f"{label} · value {format_value(float(flat[unit]))}"

    def _scale_text(self, display, values: np.ndarray) -> str:
        lo, hi = display.levels
        finite = values[np.isfinite(values)]
        actual = f"values {format_value(float(finite.min()))} … {format_value(float(finite.max()))}" if finite.size else ""
        if display.relative:
            scale = "each channel scaled to its own largest value"
        elif display.diverging:
            scale = f"shared scale: blue −{hi:.3g}, white 0, red +{hi:.3g}"
        else:
            scale = f"shared scale from 0 (dark) to {hi:.3g} (bright)"
        if values.ndim != 3:
            scale += f"; read row by row, {display.mosaic.tile_shape[1]} to a row"
        return f"{actual} · {scale}" if actual else scale

    def _on_tile_hovered(self, hit) -> None:
        text = self.describe(*hit) if hit is not None else None
        if text:
            self.set_info(text)
