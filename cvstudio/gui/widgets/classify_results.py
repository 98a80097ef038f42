"""Classification results: the table model, its sort/filter proxy, and how rows are drawn.

One :class:`ImageResult` per input (a file or a pasted image), as the worker
made it: the core's ``Prediction`` (label and top-k, or the plain reason the
input could not be used), a small thumbnail and the model's-eye view as uint8
numpy arrays. The GUI only wraps those arrays into QImages, lazily, for the
rows that are painted, and keeps the table's icons and the grid's cards of
the rows last painted (:mod:`cvstudio.gui.lru`).

:class:`ResultsModel` is a flat ``QAbstractTableModel`` that grows in batches
(``append``) while a folder is classified, in arrival order; :class:`ResultsProxy`
shows it filtered (text, "problems only") and sorted by typed keys
(:func:`sort_key`: probabilities as numbers, problems last), in Python lists.
The same proxy feeds a table (:data:`COLUMNS`) and a grid of cards
(:class:`ResultCardDelegate`), which share one selection.
"""

from __future__ import annotations

import dataclasses
import gc
import operator
from dataclasses import dataclass
from itertools import compress
from typing import Any, Iterable

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel, QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from cvstudio.gui.images import array_to_qimage
from cvstudio.gui.lru import LruCache
from cvstudio.gui.theme import draw_card, draw_cell_bar, is_dark, mix
from cvstudio.gui.widgets.probability_bars import percent_text

RESULT_ROLE = Qt.ItemDataRole.UserRole + 1  # the ImageResult of a row
KEY_ROLE = Qt.ItemDataRole.UserRole + 3  # ImageResult.key

COL_IMAGE, COL_LABEL, COL_PROB, COL_RUNNER_UP, COL_PROBLEM, COL_FOLDER = range(6)
COLUMNS = ("Image", "Prediction", "Probability", "Runner-up", "Problem", "Folder")
TABLE_ICON_SIDE = 40  # thumbnails in the table
CARD_SIZE = QSize(124, 138)  # one card of the grid view
CARD_ICON_SIDE = 64
ICONS_KEPT = 1024  # table icons cached at most (~6 KB each): far more rows than any screen shows
_CENTRED = Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextDontClip  # underscores sit below small fonts' height


@dataclass(frozen=True)
class ImageResult:
    """What the worker learned about one input."""

    key: int  # unique per page, in arrival order
    source: Any  # the file path (str) or, for a pasted image, the PIL image
    name: str  # file name, or "Pasted image 3"
    location: str  # folder of the file, or "clipboard"
    prediction: Any  # core.inference.Prediction (label/prob/top_k or error)
    thumbnail: np.ndarray | None = dataclasses.field(default=None, repr=False)  # uint8 (h, w, 3|1), <= 64 px
    model_view: np.ndarray | None = dataclasses.field(default=None, repr=False)  # uint8 (H, W, C): the model's input
    original_size: tuple[int, int] | None = None  # (width, height) as displayed (EXIF orientation applied)
    image_format: str | None = None  # e.g. "JPEG"
    model_name: str = ""  # the checkpoint (or "current model") that classified it

    @property
    def ok(self) -> bool:
        return self.prediction.error is None

    @property
    def path(self) -> str:
        return self.source if isinstance(self.source, str) else self.name

    @property
    def runner_up(self) -> tuple[str, float] | None:
        top = self.prediction.top_k
        return top[1] if len(top) > 1 else None


def problem_colour(palette: QPalette | None = None) -> QColor:
    """A red that reads on the palette's base colour (light or dark)."""
    palette = palette if palette is not None else QApplication.palette()
    return QColor("#ff7b72") if is_dark(palette) else QColor("#c62828")


def sort_key(r: ImageResult, column: int) -> Any:
    """What a column sorts by: probabilities as numbers, names without case, problems after every result."""
    pred = r.prediction
    if column == COL_IMAGE:
        return r.name.casefold()
    if column == COL_LABEL:
        return (0, pred.label.casefold()) if r.ok else (1, "")
    if column == COL_PROB:
        return float(pred.prob) if r.ok else -1.0
    if column == COL_RUNNER_UP:
        ru = r.runner_up
        return float(ru[1]) if ru else -1.0
    if column == COL_FOLDER:
        return (r.location.casefold(), r.name.casefold())
    if column == COL_PROBLEM:
        return (0, "") if r.ok else (1, pred.error)
    return r.key  # no column: the order of arrival


class _ResultsTable(QAbstractTableModel):
    """A flat table of ImageResults (``self._rows``) under the :data:`COLUMNS` headers."""

    _rows: list[ImageResult]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None


class ResultsModel(_ResultsTable):
    """All results of the page, in arrival order (the views show them through :class:`ResultsProxy`)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[ImageResult] = []
        self._row_of: dict[int, int] = {}  # key -> row
        # (key, side) -> icon: a folder of 100,000 photos scrolled through would otherwise keep ~0.6 GB of them
        self._icons: LruCache[tuple[int, int], QIcon] = LruCache(ICONS_KEPT)
        self._warning_icon: QIcon | None = None

    # --- editing ---

    def append(self, results: Iterable[ImageResult]) -> int:
        results = list(results)
        if not results:
            return 0
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(results) - 1)
        for i, r in enumerate(results):
            self._row_of[r.key] = first + i
        self._rows.extend(results)
        self.endInsertRows()
        # The results stay until the model is cleared and hold no reference cycles (refcounting frees them):
        # keep Python's full collections from walking them. 50,000 rows (~150,000 tracked objects) made each
        # full collection a 60-130 ms stall of the GUI thread while later rows arrived, as at training's start.
        gc.freeze()
        return len(results)

    def update(self, key: int, **changes: Any) -> bool:
        """Replace fields of the result ``key`` (e.g. a thumbnail that arrived later)."""
        row = self._row_of.get(key)
        if row is None:
            return False
        self._rows[row] = dataclasses.replace(self._rows[row], **changes)
        if "thumbnail" in changes or "model_view" in changes:
            for k in [k for k in self._icons if k[0] == key]:
                self._icons.pop(k)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        return True

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._row_of.clear()
        self._icons.clear()
        self.endResetModel()

    # --- reading ---

    def results(self) -> list[ImageResult]:
        return list(self._rows)

    def result(self, row: int) -> ImageResult:
        return self._rows[row]

    def row_of(self, key: int) -> int | None:
        return self._row_of.get(key)

    def counts(self) -> tuple[int, int]:
        """(classified, problems)."""
        bad = sum(1 for r in self._rows if not r.ok)
        return len(self._rows) - bad, bad

    def icon(self, result: ImageResult, side: int) -> QIcon:
        """The result's thumbnail (or, until it arrives, its model view) as an icon; a warning for problems."""
        if not result.ok:
            if self._warning_icon is None:
                self._warning_icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            return self._warning_icon
        cache_key = (result.key, side)
        icon = self._icons.get(cache_key)
        if icon is None:
            array = result.thumbnail if result.thumbnail is not None else result.model_view
            if array is None:
                icon = QIcon()
            else:
                image = array_to_qimage(array)
                pm = QPixmap.fromImage(image)
                if max(pm.width(), pm.height()) != side:  # fit the icon box, keep the aspect
                    pm = pm.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
                icon = QIcon(pm)
            self._icons.put(cache_key, icon)
        return icon

    # --- QAbstractTableModel ---

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        return self.cell(self._rows[index.row()], index.column(), role)

    def cell(self, r: ImageResult, col: int, role: int) -> Any:
        """What a view shows of ``r`` in column ``col`` for ``role`` (the model's and the proxy's data)."""
        pred = r.prediction
        if role == RESULT_ROLE:
            return r
        if role == KEY_ROLE:
            return r.key
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_IMAGE:
                return r.name
            if col == COL_LABEL:
                return pred.label if r.ok else "—"
            if col == COL_PROB:
                return percent_text(pred.prob) if r.ok else ""
            if col == COL_RUNNER_UP:
                ru = r.runner_up
                return f"{ru[0]} ({percent_text(ru[1])})" if ru else ""
            if col == COL_FOLDER:
                return r.location
            if col == COL_PROBLEM:
                return pred.error or ""
        elif role == Qt.ItemDataRole.DecorationRole and col == COL_IMAGE:
            return self.icon(r, TABLE_ICON_SIDE)
        elif role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_PROBLEM or not r.ok:
                return f"{r.path}\n{pred.error}" if not r.ok else None
            if col in (COL_IMAGE, COL_FOLDER):
                return r.path
            if col in (COL_LABEL, COL_PROB, COL_RUNNER_UP):
                return "\n".join(f"{label}: {percent_text(p)}" for label, p in pred.top_k)
        elif role == Qt.ItemDataRole.ForegroundRole:
            if col == COL_PROBLEM or (col == COL_LABEL and not r.ok):
                return QBrush(problem_colour())
        elif role == Qt.ItemDataRole.TextAlignmentRole:
            if col in (COL_PROB,):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return None


def _haystack(r: ImageResult) -> str:
    """What the text filter searches: the name, the folder, the label and the problem, without case."""
    pred = r.prediction
    return "\n".join((r.name, r.location, pred.label or "", pred.error or "")).casefold()


class ResultsProxy(_ResultsTable):
    """What the views show of a :class:`ResultsModel`: its rows filtered and sorted, kept in Python lists.

    Qt's ``QSortFilterProxyModel`` asks Python for cells one call at a time: sorting 50,000 rows
    took 3.4 s (two cells per comparison), and each keystroke in the filter box ~200 ms (a cell per
    row, then an update per run of rows kept). Here a sort computes each row's key once for Python's
    sort, and a filter is one pass over the results: the views get one layout change, and keep
    their selection where its row stays.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._source: ResultsModel | None = None
        self._rows: list[ImageResult] = []  # shown, in the order shown
        self._keys: list[Any] = []  # sort_key of each shown row, while sorted
        self._all_keys: list[Any] = []  # sort_key of every result in arrival order, while sorted
        self._all_order: list[int] | None = None  # every result's index in sorted order; None until asked
        # every result and its key in sorted order, and their search texts, gathered when first asked and kept
        # until rows arrive: a keystroke then reads them in memory order (through the permutation it took ~3x)
        self._all_sorted: tuple[list[ImageResult], list[Any]] | None = None
        self._sorted_haystacks: list[str] | None = None
        self._haystacks: list[str] | None = None  # what the text filter searches, per result; made when first asked
        self._row_of: dict[int, int] | None = {}  # key -> shown row; None after a reorder, until asked
        self._text = ""
        self._problems_only = False
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    # --- the source ---

    def setSourceModel(self, model: ResultsModel) -> None:  # noqa: N802 - Qt's name for it
        self._source = model
        model.rowsInserted.connect(self._on_source_rows_inserted)
        model.dataChanged.connect(self._on_source_data_changed)
        model.modelReset.connect(self._on_source_model_reset)
        self._on_source_model_reset()

    def sourceModel(self) -> ResultsModel | None:  # noqa: N802
        return self._source

    def _on_source_rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        arrived = [self._source.result(i) for i in range(first, last + 1)]
        keys = [sort_key(r, self._sort_column) for r in arrived] if self._sort_column >= 0 else []
        self._all_keys.extend(keys)
        self._forget_order()
        texts = list(map(_haystack, arrived)) if self._text or self._haystacks is not None else []
        if self._haystacks is not None:
            self._haystacks.extend(texts)
        if self._filtering():
            text, problems = self._text, self._problems_only
            kept = [i for i, r in enumerate(arrived) if not (problems and r.ok) and (not text or text in texts[i])]
            arrived, keys = [arrived[i] for i in kept], [keys[i] for i in kept] if keys else []
        if not arrived:
            return
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(arrived) - 1)
        if self._row_of is not None:
            for i, r in enumerate(arrived):
                self._row_of[r.key] = start + i
        self._rows.extend(arrived)
        self._keys.extend(keys)
        self.endInsertRows()
        if self._sort_column >= 0:  # the new rows move to their places: a merge of two sorted runs
            self._arrange(self._rows, self._keys)

    def _on_source_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, _roles: Any = ()) -> None:
        self._all_sorted = None  # it holds the results as they were, shown or not; their order stays
        for source_row in range(top_left.row(), bottom_right.row() + 1):
            r = self._source.result(source_row)
            row = self.row_of(r.key)
            if row is None:
                continue
            self._rows[row] = r  # what the filter and the sort look at does not change after arrival
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def _on_source_model_reset(self) -> None:
        self.beginResetModel()
        self._all_keys, self._haystacks = self._keys_of_all(), None
        self._forget_order()
        self._rows, self._keys = self._filtered()
        self._row_of = None
        self.endResetModel()

    # --- filter and sort ---

    def set_filter_text(self, text: str) -> None:
        self._text = text.strip().casefold()
        self._arrange(*self._filtered(), ordered=True)

    def set_problems_only(self, on: bool) -> None:
        self._problems_only = bool(on)
        self._arrange(*self._filtered(), ordered=True)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by ``column`` (ties, and ``column`` -1, in the order of arrival), keeping the selection."""
        self._sort_column = column if 0 <= column < len(COLUMNS) else -1
        self._sort_order = order
        self._all_keys = self._keys_of_all()
        self._forget_order()
        self._arrange(*self._filtered(), ordered=True)

    def _filtering(self) -> bool:
        return bool(self._text) or self._problems_only

    def _keys_of_all(self) -> list[Any]:
        """The sort keys of every result, in arrival order (none while unsorted): computed once a sort."""
        if self._sort_column < 0 or self._source is None:
            return []
        return [sort_key(r, self._sort_column) for r in self._source.results()]

    def _forget_order(self) -> None:
        self._all_order = self._all_sorted = self._sorted_haystacks = None

    def _filtered(self) -> tuple[list[ImageResult], list[Any]]:
        """The results the filter keeps, in the order shown, with their sort keys. All results are sorted
        once and kept in that order until rows arrive: typing in the filter is then one pass in memory order."""
        every = self._source.results() if self._source is not None else []
        sorted_ = self._sort_column >= 0
        rows, keys = self._in_sorted_order(every) if sorted_ else (every, [])
        if not self._filtering():
            return (list(rows), list(keys)) if sorted_ else (rows, keys)  # copies: the sorted lists are kept
        text = self._text
        hay = (self._sorted_haystacks_of(every) if sorted_ else self._haystacks_of(every)) if text else None
        if text and self._problems_only:
            kept = [text in h and not r.ok for h, r in zip(hay, rows)]
        elif text:
            kept = [text in h for h in hay]
        else:
            kept = [not r.ok for r in rows]
        return list(compress(rows, kept)), (list(compress(keys, kept)) if keys else [])

    def _in_sorted_order(self, every: list[ImageResult]) -> tuple[list[ImageResult], list[Any]]:
        """Every result and its sort key, in the order of the sort (kept until rows arrive)."""
        if self._all_order is None:
            self._all_order = self._sorted_positions(self._all_keys)
        if self._all_sorted is None:
            order = self._all_order
            self._all_sorted = [every[i] for i in order], [self._all_keys[i] for i in order]
        return self._all_sorted

    def _haystacks_of(self, every: list[ImageResult]) -> list[str]:
        if self._haystacks is None:
            self._haystacks = [_haystack(r) for r in every]
        return self._haystacks

    def _sorted_haystacks_of(self, every: list[ImageResult]) -> list[str]:
        if self._sorted_haystacks is None:
            hay = self._haystacks_of(every)
            self._sorted_haystacks = [hay[i] for i in self._all_order]
        return self._sorted_haystacks

    def _in_order(self, rows: list[ImageResult], keys: list[Any]) -> tuple[list[ImageResult], list[Any]]:
        """``rows`` and their ``keys`` in the order shown."""
        if self._sort_column < 0:
            return rows, keys
        order = self._sorted_positions(keys)
        return [rows[i] for i in order], [keys[i] for i in order]

    def _sorted_positions(self, keys: list[Any]) -> list[int]:
        """The positions of ``keys`` in the order of the sort: stable both ways, so rows of equal keys
        keep their arrival order."""
        return sorted(range(len(keys)), key=keys.__getitem__, reverse=self._sort_order == Qt.SortOrder.DescendingOrder)

    def _arrange(self, rows: list[ImageResult], keys: list[Any], ordered: bool = False) -> None:
        """Show ``rows`` in the order of the sort (``ordered``: they are), as one layout change that keeps
        the selection's rows."""
        shown, keys = (rows, keys) if ordered else self._in_order(rows, keys)
        if len(shown) == len(self._rows) and all(map(operator.is_, shown, self._rows)):  # nothing moved
            self._keys = keys
            return
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()  # the selection and the current row of both views
        keys_before = [self._rows[i.row()].key for i in before]
        self._rows, self._keys = shown, keys
        self._row_of = None  # made again when asked: touching 50,000 rows costs ~20 ms
        after = []
        for index, key in zip(before, keys_before):
            row = self.row_of(key)
            after.append(self.index(row, index.column()) if row is not None else QModelIndex())
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    # --- reading ---

    def result(self, row: int) -> ImageResult:
        return self._rows[row]

    def results(self) -> list[ImageResult]:
        """The rows shown, in their order."""
        return list(self._rows)

    def row_of(self, key: int) -> int | None:
        """The shown row of result ``key``; None when the filter hides it."""
        if self._row_of is None:
            self._row_of = {r.key: i for i, r in enumerate(self._rows)}
        return self._row_of.get(key)

    def mapFromSource(self, source_index: QModelIndex) -> QModelIndex:  # noqa: N802 - as Qt's proxies
        if not source_index.isValid() or self._source is None:
            return QModelIndex()
        row = self.row_of(self._source.result(source_index.row()).key)
        return self.index(row, source_index.column()) if row is not None else QModelIndex()

    # --- QAbstractTableModel ---

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._source is None:
            return None
        return self._source.cell(self._rows[index.row()], index.column(), role)


class ProbabilityDelegate(QStyledItemDelegate):
    """The probability column: a thin bar under the percentage."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().paint(painter, option, index)
        r: ImageResult | None = index.data(RESULT_ROLE)
        if r is None or not r.ok:
            return
        draw_cell_bar(painter, option, float(r.prediction.prob), inset=8, bottom_gap=5)


class ResultCardDelegate(QStyledItemDelegate):
    """A card of the grid view: the thumbnail, the predicted label with its probability, the file name."""

    CACHE_LIMIT = 128  # cards kept as pixmaps at least (~70 KB each, 4x that on a 2x screen)

    def __init__(self, model: ResultsModel, parent=None):
        super().__init__(parent)
        self._model = model
        # result key -> (the ImageResult drawn, how it was drawn, the card): while a folder streams
        # in, every batch repaints every visible card, and a pixmap costs a fraction of the drawing
        self._cards: LruCache[int, tuple[ImageResult, tuple, QPixmap]] = LruCache(self.CACHE_LIMIT)
        model.modelReset.connect(self._cards.clear)
        # the view's font key -> (metrics, bold, its metrics, small, its metrics): made per card, the fonts
        # and their metrics cost ~45 us of each new card's ~190 while a folder streams in
        self._fonts: dict[str, tuple[QFontMetrics, QFont, QFontMetrics, QFont, QFontMetrics]] = {}

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return CARD_SIZE

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        r: ImageResult | None = index.data(RESULT_ROLE)
        if r is None:
            return
        dpr = painter.device().devicePixelRatioF()
        state = option.state & (QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_MouseOver)
        look = (int(state.value), option.rect.size().toTuple(), dpr, option.palette.cacheKey(), option.font.key())
        cached = self._cards.get(r.key)
        if cached is not None and cached[0] is r and cached[1] == look:
            painter.drawPixmap(option.rect.topLeft(), cached[2])
            return
        pm = QPixmap(option.rect.size() * dpr)
        pm.setDevicePixelRatio(dpr)
        pm.fill(option.palette.color(QPalette.ColorRole.Base))  # the view's background: an opaque pixmap blits fast
        local = QStyleOptionViewItem(option)
        local.rect = QRect(QPoint(0, 0), option.rect.size())
        card_painter = QPainter(pm)
        try:
            self._draw(card_painter, local, r)
        finally:
            card_painter.end()
        view = self.parent()
        if hasattr(view, "viewport"):  # never fewer than two screens' worth, or every repaint would miss
            size = view.viewport().size()
            self._cards.limit = max(self.CACHE_LIMIT, 2 * (size.width() // CARD_SIZE.width() + 1)
                                    * (size.height() // CARD_SIZE.height() + 1))
        self._cards.put(r.key, (r, look, pm))
        painter.drawPixmap(option.rect.topLeft(), pm)

    def _draw(self, painter: QPainter, option: QStyleOptionViewItem, r: ImageResult) -> None:
        pal = option.palette
        text = pal.color(QPalette.ColorRole.Text)
        base = pal.color(QPalette.ColorRole.Base)
        card = draw_card(painter, option, 0.18)

        side = CARD_ICON_SIDE
        icon_rect = QRect(int(card.center().x() - side / 2), int(card.top() + 8), side, side)
        if r.ok:
            pixels = r.thumbnail if r.thumbnail is not None else r.model_view
            if pixels is not None:  # drawn straight into the cached card: no icon to make and keep per row
                h, w = pixels.shape[:2]
                scale = side / max(w, h)
                tw, th = max(1, round(w * scale)), max(1, round(h * scale))
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                painter.drawImage(QRect(icon_rect.left() + (side - tw) // 2, icon_rect.top() + (side - th) // 2, tw, th),
                                  array_to_qimage(pixels, copy=False))
        else:
            warning_rect = QRect(icon_rect.center().x() - 16, icon_rect.center().y() - 16, 32, 32)
            self._model.icon(r, 32).paint(painter, warning_rect, Qt.AlignmentFlag.AlignCenter)

        fm, bold, bold_fm, small, sfm = self._fonts_for(option.font)
        y = icon_rect.bottom() + 6
        inner_w = int(card.width()) - 12
        x = int(card.left()) + 6
        if r.ok:
            painter.setFont(bold)
            painter.setPen(text)
            label = bold_fm.elidedText(r.prediction.label, Qt.TextElideMode.ElideRight, inner_w)
            painter.drawText(QRect(x, y, inner_w, fm.height()), _CENTRED, label)
            painter.setFont(option.font)
            painter.setPen(mix(text, base, 0.3))
            painter.drawText(QRect(x, y + fm.height(), inner_w, fm.height()), _CENTRED,
                             percent_text(r.prediction.prob))
        else:
            painter.setFont(bold)
            painter.setPen(problem_colour(pal))
            painter.drawText(QRect(x, y, inner_w, fm.height()), _CENTRED, "Not classified")
            painter.setFont(option.font)
            reason = fm.elidedText(r.prediction.error or "", Qt.TextElideMode.ElideRight, inner_w)
            painter.drawText(QRect(x, y + fm.height(), inner_w, fm.height()), _CENTRED, reason)
        painter.setFont(small)
        painter.setPen(mix(text, base, 0.45))
        name = sfm.elidedText(r.name, Qt.TextElideMode.ElideMiddle, inner_w)
        painter.drawText(QRect(x, y + 2 * fm.height() + 1, inner_w, sfm.height()), _CENTRED, name)
        painter.restore()

    def _fonts_for(self, font: QFont) -> tuple[QFontMetrics, QFont, QFontMetrics, QFont, QFontMetrics]:
        key = font.key()
        fonts = self._fonts.get(key)
        if fonts is None:
            bold = QFont(font)
            bold.setWeight(QFont.Weight.DemiBold)
            small = QFont(font)
            small.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
            fonts = self._fonts[key] = (QFontMetrics(font), bold, QFontMetrics(bold), small, QFontMetrics(small))
        return fonts

    def helpEvent(self, event, view, option, index) -> bool:  # noqa: N802 - tooltips for cards
        from PySide6.QtWidgets import QToolTip

        r: ImageResult | None = index.data(RESULT_ROLE)
        if r is None:
            return False
        if r.ok:
            lines = [r.path] + [f"{label}: {percent_text(p)}" for label, p in r.prediction.top_k]
        else:
            lines = [r.path, r.prediction.error or ""]
        QToolTip.showText(event.globalPos(), "\n".join(lines), view)
        return True


__all__ = [
    "CARD_SIZE",
    "COLUMNS",
    "COL_FOLDER",
    "COL_IMAGE",
    "COL_LABEL",
    "COL_PROB",
    "COL_PROBLEM",
    "COL_RUNNER_UP",
    "ImageResult",
    "KEY_ROLE",
    "ProbabilityDelegate",
    "RESULT_ROLE",
    "ResultCardDelegate",
    "ResultsModel",
    "ResultsProxy",
    "sort_key",
    "problem_colour",
]
