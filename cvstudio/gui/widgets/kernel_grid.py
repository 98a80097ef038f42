"""The kernels of one conv layer as a grid, and one kernel enlarged with its numbers.

:class:`KernelGrid` shows every kernel of a layer in one image (see
mosaic_view.py): colour tiles for a first layer that sees RGB, one grey tile
per input channel, or the kernel averaged over its input channels. Hovering
names the kernel and shows its weights; clicking emits ``kernel_clicked``.
:class:`KernelNumbers` paints one kernel's weights as coloured cells with
their values, one block per input channel.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from cvstudio.gui.widgets.colormaps import colours_of, text_colour_on
from cvstudio.gui.widgets.mosaic_view import MosaicView, format_matrix, format_value, monospace_font

VIEW_LABELS = {
    "rgb": "Colour (RGB)",
    "channels": "Each input channel",
    "mean": "Averaged over input channels",
}
RGB_NAMES = ("R", "G", "B")


def channel_name(channel: int, in_channels: int) -> str:
    return RGB_NAMES[channel] if in_channels == 3 else str(channel)


class KernelGrid(MosaicView):
    """All kernels of one conv layer, with a shared symmetric colour scale."""

    kernel_clicked = Signal(int)  # kernel (output channel) index

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, colorbar_label="weight", placeholder="No kernels to show")
        self.weights: np.ndarray | None = None  # (out, in, kh, kw) of the layer shown
        self.layer = ""
        self.view_mode = "channels"
        self.selected: int | None = None
        self.tile_hovered.connect(self._on_tile_hovered)
        self.tile_clicked.connect(self._on_tile_clicked)

    def show_kernels(self, layer: str, weights: np.ndarray, view: str, relative: bool = False) -> None:
        """Draw ``weights`` (out, in, kh, kw) of conv ``layer`` in ``view`` ("rgb", "channels" or "mean")."""
        from cvstudio.core.inspect import kernel_display  # torch is loaded once there are weights

        weights = np.asarray(weights, np.float32)
        display = kernel_display(weights, view, relative)
        out, cin, kh, kw = weights.shape
        self.weights, self.layer, self.view_mode = weights, layer, view
        title = f"{layer}: {out} kernels of {cin}×{kh}×{kw}"
        self.set_display(display, title, self._scale_text(display, view))
        if self.selected is not None and self.selected >= out:
            self.selected = None
        self.select_kernel(self.selected)
        self.set_info("Hover over a kernel to read its weights; click it to see all its numbers.")

    def select_kernel(self, kernel: int | None) -> None:
        self.selected = kernel
        if kernel is None or self.weights is None:
            self.select_tile(None)
        elif self.view_mode == "channels":
            self.select_row(kernel)
        else:
            self.select_tile(kernel)

    def select_row(self, kernel: int) -> None:
        """Outline a whole row (all input channels of one kernel) in the per-channel view."""
        cin = self.weights.shape[1]
        self.select_tile(kernel * cin)
        rect = self._selection.rect()
        mosaic = self.display.mosaic
        span = (cin - 1) * (mosaic.tile_shape[1] + mosaic.gap)
        rect.setWidth(rect.width() + span)
        self._selection.setRect(rect)

    def kernel_at(self, tile: int) -> tuple[int, int | None]:
        """(kernel, input channel or None) of a tile index in the current view."""
        if self.view_mode == "channels" and self.weights is not None:
            return divmod(tile, self.weights.shape[1])
        return tile, None

    def describe(self, tile: int, row: int, col: int) -> tuple[str, str]:
        """(one-line summary, multi-line tooltip with the weights) of the tile under the mouse."""
        kernel, channel = self.kernel_at(tile)
        w = self.weights[kernel]
        cin = w.shape[0]
        if channel is not None:
            values = w[channel]
            name = channel_name(channel, cin)
            line = (f"kernel {kernel} · input channel {name} · weight [{row}, {col}] = {format_value(float(values[row, col]))}"
                    f" · range {format_value(float(values.min()))} … {format_value(float(values.max()))}")
            tip = f"{self.layer} kernel {kernel}, input channel {name}\n{format_matrix(values)}"
        elif self.view_mode == "mean":
            values = w.mean(axis=0)
            line = (f"kernel {kernel} · mean over {cin} input channels · [{row}, {col}] = "
                    f"{format_value(float(values[row, col]))}")
            tip = f"{self.layer} kernel {kernel}, averaged over {cin} input channels\n{format_matrix(values)}"
        else:
            pixel = " ".join(f"{RGB_NAMES[c]} {format_value(float(w[c, row, col]))}" for c in range(cin))
            line = f"kernel {kernel} · weight [{row}, {col}]: {pixel}"
            blocks = [f"{RGB_NAMES[c]}:\n{format_matrix(w[c], '  ')}" for c in range(cin)]
            tip = f"{self.layer} kernel {kernel}\n" + "\n".join(blocks)
        return line, tip

    def _scale_text(self, display, view: str) -> str:
        limit = display.levels[1]
        if display.relative:
            return "Each kernel scaled to its own largest weight: blue negative, white zero, red positive."
        if view == "rgb":
            return (f"Each kernel as a colour image: every channel's weight mapped from −{limit:.3g} (dark) to "
                    f"+{limit:.3g} (bright); grey is zero.")
        return f"Shared scale for the whole layer: blue −{limit:.3g}, white 0, red +{limit:.3g}."

    def _on_tile_hovered(self, hit) -> None:
        if hit is None or self.weights is None:
            self.show_tooltip("")
            return
        line, tip = self.describe(*hit)
        self.set_info(line)
        self.show_tooltip(tip)

    def _on_tile_clicked(self, tile: int, _row: int, _col: int) -> None:
        kernel, _ = self.kernel_at(tile)
        self.select_kernel(kernel)
        self.kernel_clicked.emit(kernel)


class KernelNumbers(QWidget):
    """One kernel, enlarged: a block of coloured cells with their weights per input channel.

    Put it in a QScrollArea (widgetResizable): the blocks wrap to the width and
    the widget asks for the height they need.
    """

    MARGIN = 6
    SPACING = 14

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kernel: np.ndarray | None = None  # (in, kh, kw)
        self.levels = (-1.0, 1.0)
        self._cells: list | None = None
        self._font = monospace_font(self.font(), 0.9)
        self._placeholder = "Click a kernel to see its weights."
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_kernel(self, kernel: np.ndarray | None, levels: tuple[float, float]) -> None:
        self.kernel = None if kernel is None else np.asarray(kernel, np.float32)
        self.levels = levels
        self._cells = None if self.kernel is None else self._prepare(self.kernel, levels)
        self._relayout()

    @staticmethod
    def _prepare(kernel: np.ndarray, levels: tuple[float, float]) -> list:
        """Per cell: (background, text colour, text), computed once per kernel rather than per paint."""
        colours = colours_of(kernel, levels)
        prepared = []
        for c in range(kernel.shape[0]):
            block = []
            for i in range(kernel.shape[1]):
                row = []
                for j in range(kernel.shape[2]):
                    background = QColor(*colours[c, i, j])
                    row.append((background, text_colour_on(background), format_value(float(kernel[c, i, j]))))
                block.append(row)
            prepared.append(block)
        return prepared

    def _cell(self) -> QSize:
        fm = QFontMetrics(self._font)
        return QSize(fm.horizontalAdvance("+0.000") + 8, fm.height() + 8)

    def _block(self) -> QSize:
        cell = self._cell()
        _, kh, kw = self.kernel.shape
        caption = QFontMetrics(self.font()).height() + 2
        return QSize(kw * cell.width(), caption + kh * cell.height())

    def _columns(self, width: int) -> int:
        block = self._block().width()
        return max(1, (width - 2 * self.MARGIN + self.SPACING) // (block + self.SPACING))

    def _relayout(self) -> None:
        if self.kernel is None:
            self.setMinimumSize(0, 0)
        else:
            block = self._block()
            rows = -(-self.kernel.shape[0] // self._columns(max(self.width(), block.width() + 2 * self.MARGIN)))
            self.setMinimumSize(block.width() + 2 * self.MARGIN, 2 * self.MARGIN + rows * (block.height() + self.SPACING))
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        if self.kernel is None:
            return QSize(240, 120)
        block = self._block()
        cols = min(self.kernel.shape[0], 3)
        rows = -(-self.kernel.shape[0] // cols)
        return QSize(2 * self.MARGIN + cols * (block.width() + self.SPACING),
                     2 * self.MARGIN + rows * (block.height() + self.SPACING))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.kernel is not None and event.oldSize().width() != event.size().width():
            self._relayout()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        pal = self.palette()
        if self.kernel is None:
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        cin, kh, kw = self.kernel.shape
        cell, block = self._cell(), self._block()
        cols = self._columns(self.width())
        caption_h = QFontMetrics(self.font()).height() + 2
        frame = pal.color(QPalette.ColorRole.Mid)
        bold = QFont(self.font())
        bold.setBold(True)
        exposed = event.rect()
        for c in range(cin):
            r, col = divmod(c, cols)
            x0 = self.MARGIN + col * (block.width() + self.SPACING)
            y0 = self.MARGIN + r * (block.height() + self.SPACING)
            if not exposed.intersects(QRect(x0, y0, block.width(), block.height())):
                continue  # large layers have hundreds of cells: paint only what is in view
            painter.setFont(bold)
            painter.setPen(pal.color(QPalette.ColorRole.WindowText))
            painter.drawText(QRect(x0, y0, block.width(), caption_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             f"input {channel_name(c, cin)}" if cin == 3 else f"input channel {c}")
            painter.setFont(self._font)
            for i in range(kh):
                for j in range(kw):
                    background, ink, text = self._cells[c][i][j]
                    rect = QRect(x0 + j * cell.width(), y0 + caption_h + i * cell.height(), cell.width(), cell.height())
                    painter.fillRect(rect, background)
                    painter.setPen(ink)
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
            painter.setPen(frame)
            painter.drawRect(QRect(x0, y0 + caption_h, kw * cell.width(), kh * cell.height()).adjusted(0, 0, -1, -1))
