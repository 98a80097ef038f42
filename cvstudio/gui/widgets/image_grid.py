"""A grid of sample images, one row per class, with the class name and label.

The images of a dataset are stored as uint8 (N, C, H, W), exactly the pixels
that were decoded, so they are shown as they are: no de-normalization is
needed. :func:`sample_sheet` picks a few images per class and turns them into
QImages; it does array work only and is meant to run in a worker thread
(QImage, unlike QPixmap, may be made outside the GUI thread). The widget then
only turns the small QImages into pixmaps and paints them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from cvstudio.gui.images import array_to_qimage

MAX_SOURCE_SIDE = 128  # larger samples are scaled down on the worker before reaching the GUI thread


@dataclass(frozen=True)
class SampleRow:
    """A few images of one class."""

    name: str
    subtitle: str  # e.g. "label 0 · 1,667 train"
    images: tuple[QImage, ...]


@dataclass(frozen=True)
class SampleSheet:
    rows: tuple[SampleRow, ...]
    image_size: tuple[int, int]  # (height, width) of the dataset's images


def sample_sheet(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    per_class: int,
    seed: int = 0,
    counts: list[int] | None = None,
) -> SampleSheet:
    """Pick up to ``per_class`` random images of every class (worker thread).

    ``images`` uint8 (N, C, H, W), ``labels`` int (N,) in 0..k-1. ``counts``
    (images per class) only feeds the row subtitles.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    rows = []
    for k, name in enumerate(class_names):
        idx = np.flatnonzero(labels == k)
        if idx.size > per_class:
            idx = np.sort(rng.choice(idx, size=per_class, replace=False))
        thumbs = []
        for i in idx:
            qimage = array_to_qimage(np.asarray(images[int(i)]), channels_first=True)
            if max(qimage.width(), qimage.height()) > MAX_SOURCE_SIDE:
                qimage = qimage.scaled(
                    MAX_SOURCE_SIDE,
                    MAX_SOURCE_SIDE,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            thumbs.append(qimage)
        n = counts[k] if counts is not None else int(idx.size)
        rows.append(SampleRow(name, f"label {k} · {n:,} train", tuple(thumbs)))
    h, w = (int(images.shape[2]), int(images.shape[3])) if images.ndim == 4 else (0, 0)
    return SampleSheet(tuple(rows), (h, w))


class ImageGrid(QWidget):
    """Paints rows of thumbnails with the class name on the left; put it in a QScrollArea."""

    MARGIN = 8
    GAP = 6

    def __init__(self, parent: QWidget | None = None, thumb_size: int = 64):
        super().__init__(parent)
        self._thumb = thumb_size
        self._rows: list[tuple[str, str, list[QPixmap]]] = []
        self._image_size = (0, 0)
        self._placeholder = "No samples to show"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)

    # --- public API ---

    def set_sheet(self, sheet: SampleSheet | None) -> None:
        self._rows = []
        if sheet is not None:
            self._image_size = sheet.image_size
            for row in sheet.rows:
                self._rows.append((row.name, row.subtitle, [self._to_pixmap(img) for img in row.images]))
        self._relayout()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_thumb_size(self, size: int) -> None:
        self._thumb = int(size)
        self._relayout()

    @property
    def row_names(self) -> list[str]:
        return [name for name, _, _ in self._rows]

    @property
    def image_count(self) -> int:
        return sum(len(p) for _, _, p in self._rows)

    # --- painting and layout ---

    def _to_pixmap(self, image: QImage) -> QPixmap:
        side = self._thumb
        # Small images (CIFAR's 32 px) are magnified crisply; larger ones are scaled smoothly.
        mode = (
            Qt.TransformationMode.FastTransformation
            if max(image.width(), image.height()) <= side
            else Qt.TransformationMode.SmoothTransformation
        )
        return QPixmap.fromImage(image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode))

    def _name_width(self) -> int:
        bold = QFont(self.font())
        bold.setBold(True)
        fm_bold, fm = QFontMetrics(bold), QFontMetrics(self._small_font())
        widest = max((max(fm_bold.horizontalAdvance(n), fm.horizontalAdvance(s)) for n, s, _ in self._rows), default=0)
        return min(max(widest + 12, 90), 200)

    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        return font

    def _row_height(self) -> int:
        text = QFontMetrics(self.font()).height() + QFontMetrics(self._small_font()).height()
        return max(self._thumb, text) + self.GAP

    def _relayout(self) -> None:
        self.updateGeometry()
        size = self.sizeHint()
        self.setMinimumSize(size if self._rows else QSize(0, 0))
        self.update()

    def sizeHint(self) -> QSize:
        if not self._rows:
            return QSize(320, 160)
        per_row = max(len(p) for _, _, p in self._rows)
        width = 2 * self.MARGIN + self._name_width() + per_row * (self._thumb + self.GAP)
        height = 2 * self.MARGIN + len(self._rows) * self._row_height()
        return QSize(width, height)

    def _thumb_rect(self, row: int, col: int) -> QRect:
        x = self.MARGIN + self._name_width() + col * (self._thumb + self.GAP)
        y = self.MARGIN + row * self._row_height()
        return QRect(x, y, self._thumb, self._thumb)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        pal = self.palette()
        if not self._rows:
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        bold = QFont(self.font())
        bold.setBold(True)
        small = self._small_font()
        fm_bold = QFontMetrics(bold)
        name_w = self._name_width() - 12
        frame = pal.color(QPalette.ColorRole.Mid)
        for r, (name, subtitle, pixmaps) in enumerate(self._rows):
            top = self.MARGIN + r * self._row_height()
            if top > event.rect().bottom() or top + self._row_height() < event.rect().top():
                continue
            text_top = top + max(0, (self._thumb - fm_bold.height() - QFontMetrics(small).height()) // 2)
            painter.setFont(bold)
            painter.setPen(pal.color(QPalette.ColorRole.WindowText))
            painter.drawText(
                QRect(self.MARGIN, text_top, name_w, fm_bold.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                fm_bold.elidedText(name, Qt.TextElideMode.ElideRight, name_w),
            )
            painter.setFont(small)
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                QRect(self.MARGIN, text_top + fm_bold.height(), name_w, QFontMetrics(small).height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                subtitle,
            )
            for c, pixmap in enumerate(pixmaps):
                cell = self._thumb_rect(r, c)
                target = QRect(QPoint(0, 0), pixmap.size())
                target.moveCenter(cell.center())
                painter.drawPixmap(target, pixmap)
                painter.setPen(frame)
                painter.drawRect(target.adjusted(0, 0, -1, -1))

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            pos = event.pos()
            for r, (name, _, pixmaps) in enumerate(self._rows):
                for c in range(len(pixmaps)):
                    if self._thumb_rect(r, c).contains(pos):
                        h, w = self._image_size
                        QToolTip.showText(event.globalPos(), f"{name} (label {r}), {w}×{h} pixels", self)
                        return True
            QToolTip.hideText()
            event.ignore()
            return True
        return super().event(event)
