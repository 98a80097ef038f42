"""One grid of small maps (kernels, feature maps, a playground output) drawn fast.

The core packs all tiles into a single array (``core.inspect.Mosaic``, NaN in
the gaps); this view draws it as ONE ``pg.ImageItem`` with a colour map and
explicit levels, plus a ``pg.ColorBarItem``. Drawing 64 kernels therefore
costs the same as drawing one picture. Hover and click are resolved with
``Mosaic.locate`` and reported as tile indices; what the tiles mean is up to
the subclass (see kernel_grid.py, feature_grid.py).

This module never imports torch or the core: it receives plain objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QFont, QFontDatabase, QPalette, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QStackedWidget, QToolTip, QVBoxLayout, QWidget

from cvstudio.gui.widgets.colormaps import colormap_for, lookup_table

VIEW_PADDING = 0.04  # room around the grid for the selection outline
EXPORT_MIN_SIZE = QSize(720, 560)  # pixels of a PNG saved from a view that is not on screen

pg.setConfigOptions(imageAxisOrder="row-major")  # harmless if the main window set it already


class SecondaryLabel(QLabel):
    """Quieter explanatory text in the palette's placeholder colour (reads on light and dark palettes)."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, wrap: bool = True):
        super().__init__(text, parent)
        self.setWordWrap(wrap)
        self.setForegroundRole(QPalette.ColorRole.PlaceholderText)


def monospace_font(base: QFont | None = None, scale: float = 0.95) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if base is not None and base.pointSizeF() > 0:
        font.setPointSizeF(base.pointSizeF() * scale)
    return font


class MosaicView(QWidget):
    """A title, the mosaic with its colour bar, and a line describing what the mouse is over."""

    tile_hovered = Signal(object)  # (tile index, row, column) or None
    tile_clicked = Signal(int, int, int)  # tile index, row, column

    def __init__(self, parent: QWidget | None = None, *, colorbar_label: str = "", placeholder: str = ""):
        super().__init__(parent)
        self.display: Any = None  # the core MapDisplay shown, or None
        self._hovered: tuple[int, int, int] | None = None
        self._shape: tuple[int, ...] | None = None
        self._diverging: bool | None = None

        self.title = QLabel(self)
        bold = QFont(self.title.font())
        bold.setBold(True)
        self.title.setFont(bold)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.subtitle = SecondaryLabel("", self)

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.graphics.ci.layout.setHorizontalSpacing(10)
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(VIEW_PADDING)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)
        self._selection = QGraphicsRectItem()
        self._selection.setZValue(10)
        self._selection.hide()
        self.view.addItem(self._selection, ignoreBounds=True)
        self.colorbar = pg.ColorBarItem(
            values=(-1.0, 1.0), colorMap=colormap_for(True), label=colorbar_label or None, interactive=False,
            width=14, colorMapMenu=False,
        )
        self.graphics.addItem(self.view, 0, 0)
        self.graphics.addItem(self.colorbar, 0, 1)

        self._placeholder = SecondaryLabel(placeholder, self)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._stack = QStackedWidget(self)
        self._stack.addWidget(self._placeholder)
        self._stack.addWidget(self.graphics)

        self.info = QLabel(self)
        self.info.setFont(monospace_font(self.info.font()))
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # two lines, always: a hover text longer than the view wraps instead of being cut, and the view
        # does not jump as texts of one or two lines come and go
        self.info.setWordWrap(True)
        self.info.setFixedHeight(2 * self.info.fontMetrics().lineSpacing() + 4)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self._stack, 1)
        layout.addWidget(self.info)

        scene = self.graphics.scene()
        scene.sigMouseMoved.connect(self._on_scene_mouse_moved)
        scene.sigMouseClicked.connect(self._on_scene_mouse_clicked)
        self._apply_palette()

    # --- public API -----------------------------------------------------------------

    def set_display(self, display: Any, title: str | None = None, subtitle: str | None = None) -> None:
        """Show a core ``MapDisplay``; the zoom is kept when the mosaic has the same shape as before."""
        self.display = display
        mosaic = display.mosaic
        if display.rgb:
            self.image_item.setLookupTable(None)
            self.image_item.setImage(mosaic.image, levels=display.levels, autoLevels=False)
            self.colorbar.hide()
        else:
            if self._diverging is not display.diverging:
                self._diverging = display.diverging
                self.colorbar.setColorMap(colormap_for(display.diverging))
            self.image_item.setLookupTable(lookup_table(display.diverging))
            self.image_item.setImage(mosaic.image, levels=display.levels, autoLevels=False)
            self.colorbar.setLevels(display.levels)
            self.colorbar.show()
        if title is not None:
            self.title.setText(title)
        if subtitle is not None:
            self.subtitle.setText(subtitle)
        self.subtitle.setVisible(bool(self.subtitle.text()))
        self._stack.setCurrentWidget(self.graphics)
        shape = tuple(mosaic.image.shape[:2])
        if shape != self._shape:
            self._shape = shape
            self.view.autoRange(padding=VIEW_PADDING)
        self._hovered = None

    def clear(self, message: str = "") -> None:
        self.display = None
        self._shape = None
        self.image_item.clear()
        self._selection.hide()
        self._placeholder.setText(message)
        self._stack.setCurrentWidget(self._placeholder)
        self.info.setText("")

    def set_info(self, text: str) -> None:
        self.info.setText(text)

    def select_tile(self, index: int | None) -> None:
        """Outline tile ``index`` (None removes the outline)."""
        if self.display is None or index is None or not 0 <= index < self.display.mosaic.count:
            self._selection.hide()
            return
        mosaic = self.display.mosaic
        top, left = mosaic.tile_origin(index)
        h, w = mosaic.tile_shape
        pad = max(0.15, mosaic.gap * 0.5)
        self._selection.setRect(QRectF(left - pad, top - pad, w + 2 * pad, h + 2 * pad))
        self._selection.show()

    def reset_zoom(self) -> None:
        self.view.autoRange(padding=VIEW_PADDING)

    def export_png(self, path: str | Path) -> bool:
        """Save what the view shows (title excluded, colour bar included) as a PNG; False if it failed."""
        graphics = self.graphics
        if not graphics.isVisible() or graphics.width() < EXPORT_MIN_SIZE.width() // 2:
            # a view on a hidden tab may never have been laid out: give it a size to render at
            graphics.resize(graphics.size().expandedTo(EXPORT_MIN_SIZE))
            if self.display is not None:
                self.view.autoRange(padding=VIEW_PADDING)
        return graphics.grab().save(str(path), "PNG")

    # --- events ---------------------------------------------------------------------

    def locate_scene(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        if self.display is None or not self.view.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.image_item.mapFromScene(scene_pos)
        return self.display.mosaic.locate(p.x(), p.y())

    def _on_scene_mouse_moved(self, pos: QPointF) -> None:
        hit = self.locate_scene(pos)
        if hit != self._hovered:
            self._hovered = hit
            self.tile_hovered.emit(hit)

    def _on_scene_mouse_clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if event.double():
            self.reset_zoom()
            return
        hit = self.locate_scene(event.scenePos())
        if hit is not None:
            self.tile_clicked.emit(*hit)

    def show_tooltip(self, text: str) -> None:
        if text:
            QToolTip.showText(QCursor.pos(), text, self.graphics)
        else:
            QToolTip.hideText()

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        pal = self.palette()
        self.graphics.setBackground(pal.color(QPalette.ColorRole.Base))
        text = pal.color(QPalette.ColorRole.Text)
        frame = pal.color(QPalette.ColorRole.Mid)
        for key in ("left", "right", "top", "bottom"):
            axis = self.colorbar.getAxis(key)
            axis.setPen(pg.mkPen(frame))
            axis.setTextPen(pg.mkPen(text))
        pen = QPen(pal.color(QPalette.ColorRole.Highlight))
        pen.setCosmetic(True)
        pen.setWidthF(2.5)
        self._selection.setPen(pen)
        self._selection.setBrush(QColor(0, 0, 0, 0))


def format_value(value: float) -> str:
    """A weight or activation in a fixed width: '+0.123', '-0.000', '-12.35', '+123.4', '+1.2e+04'."""
    if not np.isfinite(value):
        return f"{value}"
    a = abs(value)
    if a >= 1e4:
        return f"{value:+.1e}"
    if a >= 100:
        return f"{value:+.1f}"
    if a >= 10:
        return f"{value:+.2f}"
    return f"{value:+.3f}"


def format_matrix(values: np.ndarray, indent: str = "") -> str:
    """A small 2-D array as aligned rows of numbers."""
    rows = [" ".join(f"{format_value(float(v)):>7}" for v in row) for row in np.atleast_2d(values)]
    return "\n".join(indent + r for r in rows)
