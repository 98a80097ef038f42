"""A confusion matrix drawn as a heatmap of clickable cells.

Rows are the true classes, columns the predicted ones. Every cell shows its
count and the share of its row (how often images of that true class got that
prediction), the larger of the two chosen with :meth:`ConfusionMatrixView.set_mode`.
The colour always follows the row share, so a rare class's mistakes are as
visible as a common class's: correct predictions (the diagonal) in blue,
mistakes in red, both fading to the window's own background at zero, which
reads on light and dark palettes alike.

Painted with QPainter (crisp text at any size, one paint for the whole grid);
for many classes (CIFAR-100) the numbers and names thin out and the tooltip
carries them. A click, or Enter on the keyboard-selected cell, emits
:attr:`ConfusionMatrixView.cell_clicked`. The view does no maths: it is given
the counts and the row-normalized rates (``core.evaluate.normalized_rows``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from cvstudio.gui.theme import is_dark, mix
from cvstudio.gui.widgets.colormaps import text_colour_on

COUNTS, RATES = "counts", "rates"
MAX_CELL = 96  # pixels: a 2-class matrix does not fill a whole screen with two squares
MIN_TEXT_CELL = 30  # smaller cells show no numbers (the tooltip has them)
MIN_TWO_LINE_CELL = 50  # smaller cells show only the chosen number, not both
MIN_LABEL_CELL = 11  # smaller rows/columns show every n-th class name only
MAX_LABEL_CHARS = 18  # longer class names are elided
CORRECT_HUE = QColor(47, 111, 222)  # the diagonal
WRONG_HUE = QColor(214, 64, 52)  # mistakes
CORRECT_HUE_DARK = QColor(62, 128, 238)  # brighter on a dark window, where dim tints all look alike
WRONG_HUE_DARK = QColor(240, 92, 76)
MIN_TINT = 0.16  # the faintest colour of a non-empty cell, so a single mistake stands out from zero
GAMMA = 0.5  # colour intensity = rate ** GAMMA: a 4 % confusion is already clearly tinted


def percent(rate: float) -> str:
    """12.3% style text; small non-zero shares never read as 0%."""
    if rate <= 0:
        return "0%"
    if rate >= 0.9995:
        return "100%"
    return f"{rate:.1%}" if rate >= 0.001 else "<0.1%"


class ConfusionMatrixView(QWidget):
    """counts[true, predicted] as a grid of coloured cells; click a cell to pick those images."""

    cell_clicked = Signal(int, int)  # true class, predicted class

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.counts: np.ndarray | None = None  # int (K, K)
        self.rates: np.ndarray | None = None  # float (K, K), rows sum to 1 (or 0 for an empty row)
        self.class_names: tuple[str, ...] = ()
        self.mode = COUNTS
        self.selected: tuple[int, int] | None = None
        self._hover: tuple[int, int] | None = None
        self._placeholder = ""
        self._geometry: tuple[float, float, float, int, int, bool] | None = None  # x0, y0, cell, label steps, rotated
        self._colours: np.ndarray | None = None  # see cell_colours
        self._cells_image: QImage | None = None  # every cell's colour, drawn at once (see _cells_picture)

    # ------------------------------------------------------------------ public API

    def set_matrix(self, counts: np.ndarray, rates: np.ndarray, class_names: tuple[str, ...] | list[str]) -> None:
        counts = np.asarray(counts)
        k = len(class_names)
        if counts.shape != (k, k) or np.shape(rates) != (k, k):
            raise ValueError(f"expected ({k}, {k}) counts and rates, got {counts.shape} and {np.shape(rates)}")
        self.counts = counts.astype(np.int64, copy=False)
        self.rates = np.asarray(rates, np.float64)
        self.class_names = tuple(class_names)
        if self.selected is not None and not (self.selected[0] < k and self.selected[1] < k):
            self.selected = None
        self._hover = None
        self._placeholder = ""
        self._geometry = self._cells_image = self._colours = None
        self.updateGeometry()
        self.update()

    def clear(self, message: str = "") -> None:
        self.counts = self.rates = None
        self.class_names = ()
        self.selected = self._hover = None
        self._placeholder = message
        self._geometry = self._cells_image = self._colours = None
        self.update()

    def set_mode(self, mode: str) -> None:
        """COUNTS: the number of images is the big number; RATES: the share of the row is."""
        if mode not in (COUNTS, RATES):
            raise ValueError(f"unknown mode {mode!r}")
        if mode != self.mode:
            self.mode = mode
            self.update()

    def select_cell(self, true: int | None, predicted: int | None = None) -> None:
        self.selected = None if true is None or predicted is None else (int(true), int(predicted))
        self.update()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def cell_texts(self, true: int, predicted: int) -> tuple[str, str]:
        """(big, small) text of a cell in the current mode, whether or not the cell is large enough to show it."""
        count = int(self.counts[true, predicted])
        rate = percent(float(self.rates[true, predicted]))
        return (f"{count:,}", rate) if self.mode == COUNTS else (rate, f"{count:,}")

    def cell_colours(self) -> np.ndarray:
        """Every cell's colour, (K, K, 3) uint8 RGB: the empty colour for no images, else blended towards the
        diagonal's or the mistakes' hue by the row's share (``theme.mix`` with its rounding), kept until the
        results, size or palette change."""
        if self._colours is not None:
            return self._colours
        base = self._empty_colour()
        dark = is_dark(self.palette())
        correct, wrong = (CORRECT_HUE_DARK, WRONG_HUE_DARK) if dark else (CORRECT_HUE, WRONG_HUE)
        k = self.num_classes
        tint = MIN_TINT + (1 - MIN_TINT) * np.minimum(1.0, self.rates ** GAMMA)
        base_rgb = np.array(base.getRgb()[:3], np.float64)
        hue = np.where(np.eye(k, dtype=bool)[..., None], np.array(correct.getRgb()[:3], np.float64),
                       np.array(wrong.getRgb()[:3], np.float64))
        blended = np.round(base_rgb + (hue - base_rgb) * tint[..., None])
        blended[self.counts == 0] = base_rgb
        self._colours = blended.astype(np.uint8)
        return self._colours

    def _cells_picture(self, cell: float, gap: int) -> QImage:
        """The grid of cells as one image: K x K pixels that the painter scales, or, with gaps between cells
        (whole-pixel cells of 8 px and more), each cell drawn at its size with a transparent gap. Filling the
        cells one by one took ~8 us each: 80 ms a paint for 100 classes (every hover), 8 s for 1,000."""
        if self._cells_image is None:
            rgb = self.cell_colours()
            rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
            if gap:
                side = int(cell)
                rgba = np.repeat(np.repeat(rgba, side, axis=0), side, axis=1)
                in_gap = np.arange(rgba.shape[0]) % side >= side - gap
                rgba[in_gap] = 0  # transparent: the background shows between cells, as before
                rgba[:, in_gap] = 0
            rgba = np.ascontiguousarray(rgba)
            height, width = rgba.shape[:2]
            self._cells_image = QImage(rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()
        return self._cells_image

    def cell_rect(self, true: int, predicted: int) -> QRect:
        """Where a cell is drawn, in widget coordinates (tests click its centre)."""
        x0, y0, cell, *_ = self._layout()
        return QRectF(x0 + predicted * cell, y0 + true * cell, cell, cell).toAlignedRect()

    def cell_at(self, pos: QPoint | QPointF) -> tuple[int, int] | None:
        if self.counts is None:
            return None
        x0, y0, cell, *_ = self._layout()
        col = int(np.floor((pos.x() - x0) / cell))
        row = int(np.floor((pos.y() - y0) / cell))
        k = self.num_classes
        return (row, col) if 0 <= row < k and 0 <= col < k else None

    def describe_cell(self, true: int, predicted: int) -> str:
        names = self.class_names
        count = int(self.counts[true, predicted])
        total = int(self.counts[true].sum())
        share = percent(float(self.rates[true, predicted]))
        images = "image" if count == 1 else "images"
        if true == predicted:
            head = f"{names[true]} correctly predicted: {count:,} {images}"
        else:
            head = f"True {names[true]}, predicted {names[predicted]}: {count:,} {images}"
        text = f"{head}\n{share} of the {total:,} {names[true]} images"
        if count:
            text += "\nClick to see them"
        return text

    def sizeHint(self) -> QSize:
        return QSize(460, 420)

    def minimumSizeHint(self) -> QSize:
        return QSize(220, 200)

    # ------------------------------------------------------------------ geometry

    def _fonts(self) -> tuple[QFont, QFont, QFont]:
        label = QFont(self.font())
        bold = QFont(self.font())
        bold.setWeight(QFont.Weight.DemiBold)
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, self.font().pointSizeF() * 0.82))
        return label, bold, small

    def _short(self, name: str) -> str:
        return name if len(name) <= MAX_LABEL_CHARS else name[: MAX_LABEL_CHARS - 1] + "…"

    def _layout(self) -> tuple[float, float, float, int, int, bool]:
        """x0, y0 (top-left of the grid), cell side, row-label step, column-label step, rotated column labels."""
        if self._geometry is not None:
            return self._geometry
        k = max(1, self.num_classes)
        label_font, _, _ = self._fonts()
        fm = QFontMetrics(label_font)
        names = [self._short(n) for n in self.class_names] or [""]
        name_w = max(fm.horizontalAdvance(n) for n in names)
        title_h = fm.height() + 6  # "Predicted" above the columns / "True" rotated left of the rows
        totals_w = fm.horizontalAdvance("n = 00,000") + 10
        margin = 8
        avail_w = self.width() - 2 * margin - title_h - name_w - 8 - totals_w
        # column labels: horizontal when they fit in a cell, else rotated (they then need name_w of height)
        cell_h_flat = (self.height() - 2 * margin - title_h - fm.height() - 6) / k
        cell_flat = max(1.0, min(MAX_CELL, avail_w / k, cell_h_flat))
        rotated = name_w + 6 > cell_flat
        if rotated:
            cell_h_rot = (self.height() - 2 * margin - title_h - name_w - 6) / k
            cell = max(1.0, min(MAX_CELL, avail_w / k, cell_h_rot))
            header_h = title_h + name_w + 6
        else:
            cell = cell_flat
            header_h = title_h + fm.height() + 6
        cell = float(np.floor(cell)) if cell >= 4 else cell  # whole pixels keep the gaps even; tiny cells may not
        row_step = max(1, int(np.ceil(fm.height() / max(cell, 1.0)))) if cell < MIN_LABEL_CELL else 1
        col_step = row_step if rotated else 1
        grid_w = cell * k
        left = margin + title_h + name_w + 8
        # centre the grid and its labels in the space that is left
        extra = max(0.0, self.width() - (left + grid_w + totals_w + margin))
        x0 = left + extra / 2
        extra_h = max(0.0, self.height() - (margin + header_h + grid_w + margin))
        y0 = margin + header_h + extra_h / 3
        self._geometry = (x0, y0, cell, row_step, col_step, rotated)
        return self._geometry

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._geometry = self._cells_image = None  # the colours stay
        super().resizeEvent(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._geometry = self._cells_image = self._colours = None
            self.update()
        super().changeEvent(event)

    # ------------------------------------------------------------------ painting

    def _empty_colour(self) -> QColor:
        pal = self.palette()
        return mix(pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text), 0.05)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.Text)
        window = pal.color(QPalette.ColorRole.Window)
        dim = pal.color(QPalette.ColorRole.PlaceholderText)
        label_font, bold, small = self._fonts()
        if self.counts is None:
            if self._placeholder:
                painter.setPen(dim)
                painter.drawText(self.rect().adjusted(20, 20, -20, -20),
                                 int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._placeholder)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        x0, y0, cell, row_step, col_step, rotated = self._layout()
        k = self.num_classes
        fm = QFontMetrics(label_font)
        gap = 1 if cell >= 8 else 0

        # cells
        picture = self._cells_picture(cell, gap)
        painter.drawImage(QRectF(x0, y0, k * cell, k * cell), picture)  # (scaled without smoothing: sharp cells)
        colours = self.cell_colours() if cell >= MIN_TEXT_CELL else None
        # numbers
        if cell >= MIN_TEXT_CELL:
            bfm, sfm = QFontMetrics(bold), QFontMetrics(small)
            two_lines = cell >= MIN_TWO_LINE_CELL
            for i in range(k):
                for j in range(k):
                    big, little = self.cell_texts(i, j)
                    colour = QColor(*colours[i, j])
                    ink = text_colour_on(colour) if self.counts[i, j] else dim
                    r = QRectF(x0 + j * cell, y0 + i * cell, cell - gap, cell - gap)
                    if bfm.horizontalAdvance(big) > cell - 4:
                        continue  # a huge count in a small cell: the tooltip has it
                    painter.setPen(ink)
                    if two_lines and self.counts[i, j]:
                        block = bfm.height() + sfm.height()
                        top = r.center().y() - block / 2
                        painter.setFont(bold)
                        painter.drawText(QRectF(r.left(), top, r.width(), bfm.height()), int(Qt.AlignmentFlag.AlignCenter), big)
                        painter.setFont(small)
                        faded = QColor(ink)
                        faded.setAlphaF(0.78)
                        painter.setPen(faded)
                        painter.drawText(QRectF(r.left(), top + bfm.height(), r.width(), sfm.height()),
                                         int(Qt.AlignmentFlag.AlignCenter), little)
                    else:
                        painter.setFont(bold)
                        painter.drawText(r, int(Qt.AlignmentFlag.AlignCenter), big if self.counts[i, j] else "0")
        # selection and hover outlines
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self._hover is not None and self._hover != self.selected:
            i, j = self._hover
            pen = QPen(mix(text, window, 0.35), 1.5)
            painter.setPen(pen)
            painter.drawRect(QRectF(x0 + j * cell + 0.75, y0 + i * cell + 0.75, cell - gap - 1.5, cell - gap - 1.5))
        if self.selected is not None:
            i, j = self.selected
            pen = QPen(text, 2.5)
            painter.setPen(pen)
            painter.drawRect(QRectF(x0 + j * cell + 1.25, y0 + i * cell + 1.25, cell - gap - 2.5, cell - gap - 2.5))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

        # class names
        painter.setFont(label_font)
        painter.setPen(text)
        names = [self._short(n) for n in self.class_names]
        for i in range(0, k, row_step):
            r = QRectF(0, y0 + (i + 0.5) * cell - fm.height() / 2, x0 - 8, fm.height())
            painter.drawText(r, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), names[i])
        for j in range(0, k, col_step):
            if rotated:
                painter.save()
                painter.translate(x0 + j * cell + cell / 2 + fm.ascent() / 2 - 1, y0 - 6)
                painter.rotate(-90)
                painter.drawText(QPointF(0, 0), names[j])
                painter.restore()
            else:
                r = QRectF(x0 + j * cell, y0 - fm.height() - 4, cell, fm.height())
                painter.drawText(r, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom), names[j])
        # row totals
        if cell >= MIN_LABEL_CELL:
            painter.setFont(small)
            painter.setPen(dim)
            for i in range(k):
                r = QRectF(x0 + k * cell + 6, y0 + i * cell, 200, cell)
                painter.drawText(r, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                                 f"n = {int(self.counts[i].sum()):,}")
        # axis titles
        title_font = QFont(label_font)
        title_font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(title_font)
        painter.setPen(mix(text, window, 0.2))
        header_top = y0 - (max(fm.horizontalAdvance(n) for n in names) + 6 if rotated else fm.height() + 6)
        painter.drawText(QRectF(x0, header_top - fm.height() - 6, k * cell, fm.height()),
                         int(Qt.AlignmentFlag.AlignCenter), "Predicted class →")
        name_w = max(fm.horizontalAdvance(n) for n in names)
        painter.save()
        painter.translate(x0 - 8 - name_w - 8, y0 + k * cell / 2)
        painter.rotate(-90)
        painter.drawText(QRectF(-k * cell / 2, -fm.height(), k * cell, fm.height()),
                         int(Qt.AlignmentFlag.AlignCenter), "← True class")
        painter.restore()
        painter.end()

    # ------------------------------------------------------------------ interaction

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        hit = self.cell_at(event.position())
        if hit != self._hover:
            self._hover = hit
            self.setCursor(Qt.CursorShape.PointingHandCursor if hit else Qt.CursorShape.ArrowCursor)
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._hover is not None:
            self._hover = None
            self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        hit = self.cell_at(event.position())
        if hit is not None and event.button() == Qt.MouseButton.LeftButton:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self.select_cell(*hit)
            self.cell_clicked.emit(*hit)
            event.accept()
            return
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.counts is None:
            super().keyPressEvent(event)
            return
        k = self.num_classes
        i, j = self.selected if self.selected is not None else (0, 0)
        moves = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0)}
        key = event.key()
        if key in moves:
            di, dj = moves[Qt.Key(key)]
            if self.selected is not None:
                i, j = min(k - 1, max(0, i + di)), min(k - 1, max(0, j + dj))
            self.select_cell(i, j)
            self.cell_clicked.emit(i, j)
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.select_cell(i, j)
            self.cell_clicked.emit(i, j)
            return
        super().keyPressEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            hit = self.cell_at(event.pos())
            if hit is not None:
                QToolTip.showText(event.globalPos(), self.describe_cell(*hit), self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)


__all__ = ["COUNTS", "RATES", "ConfusionMatrixView", "percent"]
