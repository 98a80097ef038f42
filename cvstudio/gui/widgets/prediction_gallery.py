"""A gallery of dataset images with what the model predicted for each.

Used by the Evaluate page for the most confidently wrong images (top losses)
and for the images of a clicked confusion-matrix cell. Each card shows the
image exactly as the dataset stores it (uint8 pixels, enlarged by a whole
factor without smoothing, so nothing is invented), the predicted class with
its probability (red when wrong, green when right) and the true class with
the probability the model gave it.

The list is virtual (``QListView`` over a small model holding index arrays):
a cell of thousands of images costs nothing until cards are scrolled into
view, and each card's pixmap is made once, on demand. Nothing here imports
torch or the core: the page hands over numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.images import array_to_qimage
from cvstudio.gui.lru import LruCache
from cvstudio.gui.theme import draw_card, is_dark, mix
from cvstudio.gui.widgets.confusion_matrix import percent
from cvstudio.gui.widgets.mosaic_view import SecondaryLabel

IMAGE_TARGET = 72  # pixels: small images are enlarged by a whole factor up to about this side
IMAGE_MAX = 96  # larger images are scaled down smoothly to this side
CARD_WIDTH = 132  # at least; wider when the class names need it
MAX_CARD_WIDTH = 260  # longer captions are elided in the middle (the tooltip has them whole)
PIXMAP_CACHE = 600  # cards whose pixmaps are kept
ITEM_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class GallerySource:
    """The images of one split and the model's probabilities for them (all numpy)."""

    images: np.ndarray  # uint8 (N, C, H, W), as the dataset stores them
    labels: np.ndarray  # (N,) true classes
    probs: np.ndarray  # (N, K) class probabilities
    class_names: tuple[str, ...]
    split_title: str  # e.g. "Validation"
    paths: tuple[str, ...] | None = None  # the file of each image (folder datasets), else None


@dataclass(frozen=True)
class GalleryItem:
    index: int  # position of the image in its split
    true: int
    predicted: int
    p_predicted: float
    p_true: float
    runner_up: int | None  # second most likely class (for correct predictions)
    p_runner_up: float

    @property
    def correct(self) -> bool:
        return self.true == self.predicted


def scale_for(height: int, width: int) -> float:
    side = max(height, width, 1)
    if side > IMAGE_MAX:
        return IMAGE_MAX / side
    return float(max(1, IMAGE_TARGET // side))


def right_colour(palette: QPalette) -> QColor:
    return QColor("#56d364") if is_dark(palette) else QColor("#1a7f37")


def wrong_colour(palette: QPalette) -> QColor:
    return QColor("#ff7b72") if is_dark(palette) else QColor("#c62828")


class GalleryModel(QAbstractListModel):
    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.source: GallerySource | None = None
        self._indices = np.zeros(0, np.int64)
        self._pixmaps: LruCache[int, QPixmap] = LruCache(PIXMAP_CACHE)
        self.moved: dict[str, str] = {}  # original path -> a note on where it went (shared by the page's galleries)

    def set_items(self, source: GallerySource | None, indices: np.ndarray) -> None:
        self.beginResetModel()
        if source is not self.source:
            self._pixmaps.clear()
        self.source = source
        self._indices = np.asarray(indices, np.int64) if source is not None else np.zeros(0, np.int64)
        self.endResetModel()

    @property
    def indices(self) -> np.ndarray:
        return self._indices.copy()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._indices)

    def item(self, row: int) -> GalleryItem:
        s = self.source
        i = int(self._indices[row])
        p = s.probs[i]
        order = np.argsort(-p, kind="stable")
        predicted, true = int(order[0]), int(s.labels[i])
        runner = int(order[1]) if len(order) > 1 else None
        return GalleryItem(i, true, predicted, float(p[predicted]), float(p[true]), runner,
                           float(p[runner]) if runner is not None else 0.0)

    def caption(self, row: int) -> tuple[str, str]:
        """(predicted line, true line) of a card."""
        it, names = self.item(row), self.source.class_names
        mark = "✓" if it.correct else "✗"
        first = f"{mark} {names[it.predicted]} {percent(it.p_predicted)}"
        if it.correct and it.runner_up is not None:
            second = f"next: {names[it.runner_up]} {percent(it.p_runner_up)}"
        else:
            second = f"true: {names[it.true]} {percent(it.p_true)}"
        return first, second

    def path(self, row: int) -> str | None:
        """The file of a card's image, or None when the dataset has no files (built-in, torchvision)."""
        s = self.source
        if s is None or s.paths is None:
            return None
        return s.paths[int(self._indices[row])]

    def tooltip(self, row: int) -> str:
        it, s = self.item(row), self.source
        p = s.probs[it.index]
        top = np.argsort(-p, kind="stable")[:5]
        path = self.path(row)
        first = [path] if path else [f"{s.split_title} image {it.index + 1:,} of {len(s.labels):,}"]
        if path and path in self.moved:
            first.append(self.moved[path])
        lines = [*first, f"True class: {s.class_names[it.true]}", f"Predicted: {s.class_names[it.predicted]}", ""]
        lines += [f"{s.class_names[k]}: {percent(float(p[k]))}" for k in top]
        return "\n".join(lines)

    def pixmap(self, row: int) -> QPixmap:
        i = int(self._indices[row])
        pm = self._pixmaps.get(i)
        if pm is not None:
            return pm
        image = np.asarray(self.source.images[i])
        c, h, w = image.shape
        qimage = array_to_qimage(image if c == 1 else image[:3], channels_first=True)
        f = scale_for(h, w)
        mode = Qt.TransformationMode.FastTransformation if f >= 1 else Qt.TransformationMode.SmoothTransformation
        qimage = qimage.scaled(max(1, round(w * f)), max(1, round(h * f)), Qt.AspectRatioMode.IgnoreAspectRatio, mode)
        pm = QPixmap.fromImage(qimage)
        self._pixmaps.put(i, pm)
        return pm

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.source is None:
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            return "  ".join(self.caption(row))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(row)
        if role == ITEM_ROLE:
            return self.item(row)
        return None


class GalleryDelegate(QStyledItemDelegate):
    """A card: the image centred on top, the prediction and the truth below."""

    def __init__(self, model: GalleryModel, parent: Any = None):
        super().__init__(parent)
        self._model = model

    def card_size(self, font: QFont) -> QSize:
        s = self._model.source
        side = IMAGE_TARGET
        width = CARD_WIDTH
        if s is not None and s.images.ndim == 4:
            h, w = s.images.shape[2:]
            f = scale_for(h, w)
            side = max(round(h * f), 32)
        if s is not None and s.class_names:
            # wide enough for the longest caption ("✗ <name> 100.0%", "next: <name> 100.0%") in bold
            bold = QFont(font)
            bold.setWeight(QFont.Weight.DemiBold)
            longest = max(s.class_names, key=lambda n: QFontMetrics(bold).horizontalAdvance(n))
            text = max((f"✗ {longest} 100.0%", f"next: {longest} 100.0%"), key=QFontMetrics(bold).horizontalAdvance)
            width = min(MAX_CARD_WIDTH, max(CARD_WIDTH, QFontMetrics(bold).horizontalAdvance(text) + 18))
        fm = QFontMetrics(font)
        return QSize(width, 10 + side + 8 + 2 * fm.height() + 12)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return self.card_size(option.font)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        model = self._model
        if model.source is None:
            return
        row = index.row()
        it = model.item(row)
        pal = option.palette
        text = pal.color(QPalette.ColorRole.Text)
        base = pal.color(QPalette.ColorRole.Base)
        card = draw_card(painter, option, 0.16)

        pm = model.pixmap(row)
        dpr = pm.devicePixelRatio() or 1.0
        pw, ph = round(pm.width() / dpr), round(pm.height() / dpr)
        target = QRect(round(card.center().x() - pw / 2), round(card.top() + 7), pw, ph)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawPixmap(target, pm)
        painter.setPen(mix(base, text, 0.25))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(target).adjusted(-0.5, -0.5, 0.5, 0.5))

        first, second = model.caption(row)
        fm = QFontMetrics(option.font)
        inner_w = int(card.width()) - 10
        x = int(card.left()) + 5
        y = target.bottom() + 8
        bold = QFont(option.font)
        bold.setWeight(QFont.Weight.DemiBold)
        painter.setFont(bold)
        painter.setPen(right_colour(pal) if it.correct else wrong_colour(pal))
        centred = int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter)
        painter.drawText(QRect(x, y, inner_w, fm.height()), centred,
                         QFontMetrics(bold).elidedText(first, Qt.TextElideMode.ElideMiddle, inner_w))
        painter.setFont(option.font)
        painter.setPen(mix(text, base, 0.35))
        painter.drawText(QRect(x, y + fm.height(), inner_w, fm.height()), centred,
                         fm.elidedText(second, Qt.TextElideMode.ElideMiddle, inner_w))
        painter.restore()

    def helpEvent(self, event, view, option, index) -> bool:  # noqa: N802 - card tooltips
        if not index.isValid():
            return False
        QToolTip.showText(event.globalPos(), self._model.tooltip(index.row()), view)
        return True


class PredictionGallery(QWidget):
    """A placeholder text or a wrapping grid of prediction cards."""

    item_activated = Signal(int)  # dataset index of a double-clicked card
    context_menu_requested = Signal(int, QPoint)  # dataset index of a right-clicked card, global position

    def __init__(self, parent: QWidget | None = None, placeholder: str = ""):
        super().__init__(parent)
        self.model = GalleryModel(self)
        self.view = QListView(self)
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setSpacing(0)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setMouseTracking(True)
        self.view.setWordWrap(False)
        self.view.setModel(self.model)
        self.delegate = GalleryDelegate(self.model, self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_view_custom_context_menu_requested)
        self.view.viewport().installEventFilter(self)
        self.placeholder = SecondaryLabel(placeholder, self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setMargin(16)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    def set_items(self, source: GallerySource, indices: np.ndarray, empty_text: str = "No images.") -> None:
        self.model.set_items(source, indices)
        self.view.scrollToTop()
        if len(indices):
            self._fit_grid()
            self.stack.setCurrentWidget(self.view)
        else:
            self.placeholder.setText(empty_text)
            self.stack.setCurrentWidget(self.placeholder)

    def _fit_grid(self) -> None:
        """Cards share the row's width evenly, so the grid has no ragged gap on the right."""
        card = self.delegate.card_size(self.view.font())
        width = self.view.viewport().width() - 2
        columns = max(1, width // card.width())
        self.view.setGridSize(QSize(max(card.width(), width // columns), card.height()))

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - Qt override
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize and self.model.rowCount():
            self._fit_grid()  # also when the scroll bar comes or goes
        return super().eventFilter(watched, event)

    def clear(self, message: str = "") -> None:
        self.model.set_items(None, np.zeros(0, np.int64))
        self.placeholder.setText(message)
        self.stack.setCurrentWidget(self.placeholder)

    @property
    def indices(self) -> np.ndarray:
        """Dataset indices of the cards, in the order shown."""
        return self.model.indices

    def captions(self) -> list[tuple[str, str]]:
        return [self.model.caption(r) for r in range(self.model.rowCount())]

    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.item_activated.emit(int(self.model.indices[index.row()]))

    def _on_view_custom_context_menu_requested(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if index.isValid():
            self.view.setCurrentIndex(index)
            self.context_menu_requested.emit(int(self.model.indices[index.row()]), self.view.viewport().mapToGlobal(pos))


__all__ = ["GalleryItem", "GalleryModel", "GallerySource", "PredictionGallery"]
