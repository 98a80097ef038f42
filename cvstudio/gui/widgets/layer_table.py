"""The layer table of the model builder: a ModelSpec's layers as editable rows.

``LayerTableModel`` holds the layers (frozen ``LayerSpec`` values; an edit
replaces one) plus, per row, the live summary that the page computes: output
shape and parameter count, or the error that makes the row impossible.
``LayerDelegate`` edits cells with combo boxes and spin boxes and commits
every change as it is typed, so the summary follows the keyboard.

Nothing here imports torch: the specs are plain dataclasses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QHeaderView,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QTableView,
    QWidget,
)

from cvstudio.core.specs import ACTIVATIONS, LAYER_KINDS, LayerSpec

ERROR_BACKGROUND = QColor(220, 53, 69, 80)  # semantic red, translucent: reads on light and dark palettes

# Human names of the layer kinds, as PyTorch calls the modules.
KIND_LABELS = {
    "conv": "Conv2d",
    "linear": "Linear",
    "activation": "Activation",
    "maxpool": "MaxPool2d",
    "avgpool": "AvgPool2d",
    "global_avgpool": "Global avg pool",
    "batchnorm": "BatchNorm",
    "dropout": "Dropout",
    "flatten": "Flatten",
    "residual": "Residual block",
    "logsoftmax": "LogSoftmax",
}
assert set(KIND_LABELS) == set(LAYER_KINDS)

KIND_HELP = {
    "conv": "2-D convolution: learns out-channels kernels of kernel×kernel pixels",
    "linear": "fully connected layer; image inputs are flattened first",
    "activation": "element-wise non-linearity",
    "maxpool": "keeps the largest value of each window (MaxPool2d(2) halves each side)",
    "avgpool": "averages each window",
    "global_avgpool": "averages each channel over the whole map, then flattens",
    "batchnorm": "normalizes each channel over the batch (BatchNorm1d/2d by input shape)",
    "dropout": "zeroes each value with probability p while training",
    "flatten": "turns a C×H×W map into one vector",
    "residual": "ResNet basic block: two 3×3 convs plus a skip connection",
    "logsoftmax": "log-probabilities; the last layer, for the NLL loss",
}

(COL_INDEX, COL_KIND, COL_OUT, COL_KERNEL, COL_STRIDE, COL_PADDING, COL_FN, COL_P, COL_SHAPE, COL_PARAMS) = range(10)
HEADERS = ("#", "Type", "Channels/units", "Kernel", "Stride", "Padding", "Activation", "Dropout p", "Output", "Params")
HEADER_TIPS = (
    "position in the network",
    "the kind of layer",
    "output channels of a convolution or residual block, units of a linear layer "
    "('classes' = one per class: the output layer)",
    "side of the square convolution or pooling window, in pixels",
    "step of the window in pixels; pooling defaults to the window size",
    "zeros added on each side before a convolution (padding 1 keeps a 3×3 conv's size)",
    "activation function",
    "probability of zeroing a value while training",
    "shape of this layer's output for one image",
    "trainable parameters",
)
EDITABLE_COLUMNS = (COL_KIND, COL_OUT, COL_KERNEL, COL_STRIDE, COL_PADDING, COL_FN, COL_P)

# Which columns apply to which kinds (the rest are blank and read-only).
_APPLIES = {
    COL_OUT: {"conv", "linear", "residual"},
    COL_KERNEL: {"conv", "maxpool", "avgpool"},
    COL_STRIDE: {"conv", "maxpool", "avgpool", "residual"},
    COL_PADDING: {"conv"},
    COL_FN: {"activation"},
    COL_P: {"dropout"},
}

# Ranges of the spin boxes (the builder reports shapes that do not fit).
MAX_CHANNELS = 65_536
MAX_WINDOW = 512


def default_layer(kind: str) -> LayerSpec:
    """A sensible new layer of ``kind`` (what "Add" inserts)."""
    return {
        "conv": LayerSpec("conv", out=16, kernel=3, padding=1),
        "linear": LayerSpec("linear", out=32),
        "activation": LayerSpec("activation", fn="relu"),
        "maxpool": LayerSpec("maxpool", kernel=2),
        "avgpool": LayerSpec("avgpool", kernel=2),
        "dropout": LayerSpec("dropout", p=0.5),
        "residual": LayerSpec("residual", out=32),
    }.get(kind, LayerSpec(kind))


def retype(layer: LayerSpec, kind: str) -> LayerSpec:
    """``layer`` turned into ``kind``: the new kind's defaults, keeping the channel/unit count."""
    new = default_layer(kind)
    if kind in _APPLIES[COL_OUT] and layer.kind in _APPLIES[COL_OUT]:
        out = layer.out
        if out is None and kind != "linear":  # "classes" only means something for a linear layer
            out = new.out
        new = dataclasses.replace(new, out=out)
    return new


def applies(kind: str, column: int) -> bool:
    return column in (COL_INDEX, COL_KIND, COL_SHAPE, COL_PARAMS) or kind in _APPLIES.get(column, ())


@dataclass(frozen=True)
class RowSummary:
    """What the builder says about one spec layer."""

    out_shape: str  # e.g. "16×32×32"
    params: int
    note: str = ""  # e.g. "a Flatten is inserted before it: 8×8×8 → 512"


class LayerTableModel(QAbstractTableModel):
    """The layers of a spec as rows; every edit emits ``layers_edited``."""

    layers_edited = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._layers: list[LayerSpec] = []
        self._summary: dict[int, RowSummary] = {}
        self._error_row: int | None = None
        self._error = ""
        self._num_classes = 2
        self._read_only = False
        self.last_edit: tuple = ()  # what the last edit did: ("insert"|"remove", row), ("move", row, to), ("set", row, col)

    # --- the layers ---

    @property
    def read_only(self) -> bool:
        return self._read_only

    def set_read_only(self, read_only: bool) -> None:
        """No cell can be edited (a run is training this network)."""
        self._read_only = bool(read_only)
        self._emit_all_changed()

    @property
    def layers(self) -> tuple[LayerSpec, ...]:
        return tuple(self._layers)

    def set_layers(self, layers) -> None:
        """Replace every row (a new spec was loaded); does not emit ``layers_edited``."""
        self.beginResetModel()
        self._layers = list(layers)
        self._summary = {}
        self._error_row, self._error = None, ""
        self.endResetModel()

    def set_num_classes(self, k: int) -> None:
        self._num_classes = int(k)
        self._emit_column_changed(COL_OUT)

    def insert_layer(self, row: int, layer: LayerSpec) -> int:
        row = max(0, min(row, len(self._layers)))
        self.beginInsertRows(QModelIndex(), row, row)
        self._layers.insert(row, layer)
        self.endInsertRows()
        self._shift_summary()
        self.last_edit = ("insert", row)
        self.layers_edited.emit()
        return row

    def remove_layer(self, row: int) -> None:
        if not 0 <= row < len(self._layers):
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._layers[row]
        self.endRemoveRows()
        self._shift_summary()
        self.last_edit = ("remove", row)
        self.layers_edited.emit()

    def move_layer(self, row: int, delta: int) -> int:
        """Move a row up (delta -1) or down (+1); returns its new row."""
        target = row + delta
        if not (0 <= row < len(self._layers) and 0 <= target < len(self._layers)) or delta == 0:
            return row
        # Qt's moveRows destination is the row *before which* the moved row lands.
        dest = target + 1 if delta > 0 else target
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), dest)
        self._layers.insert(target, self._layers.pop(row))
        self.endMoveRows()
        self._shift_summary()
        self.last_edit = ("move", row, target)
        self.layers_edited.emit()
        return target

    def set_layer(self, row: int, layer: LayerSpec, column: int = COL_KIND) -> None:
        if self._layers[row] == layer:
            return
        self._layers[row] = layer
        self.last_edit = ("set", row, column)
        self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))
        self.layers_edited.emit()

    # --- what the builder said ---

    def set_summary(self, rows: dict[int, RowSummary]) -> None:
        self._summary = dict(rows)
        self._error_row, self._error = None, ""
        self._emit_all_changed()

    def set_error(self, row: int | None, message: str, rows_before: dict[int, RowSummary] | None = None) -> None:
        """Mark ``row`` (or none) as the layer that cannot work; ``rows_before`` summarizes the layers above it."""
        self._summary = {i: s for i, s in (rows_before or {}).items() if row is None or i < row}
        self._error_row = row if row is not None and 0 <= row < len(self._layers) else None
        self._error = message
        self._emit_all_changed()

    @property
    def error_row(self) -> int | None:
        return self._error_row

    def summary(self, row: int) -> RowSummary | None:
        return self._summary.get(row)

    def _shift_summary(self) -> None:
        # Row indices changed; the page recomputes the summary shortly (debounced). Until then show nothing stale.
        self._summary = {}
        self._error_row = None
        self._emit_all_changed()

    def _emit_all_changed(self) -> None:
        if self._layers:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._layers) - 1, self.columnCount() - 1))

    def _emit_column_changed(self, column: int) -> None:
        if self._layers:
            self.dataChanged.emit(self.index(0, column), self.index(len(self._layers) - 1, column))

    # --- Qt model interface ---

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._layers)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return HEADER_TIPS[section]
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        kind = self._layers[index.row()].kind
        if not self._read_only and index.column() in EDITABLE_COLUMNS and applies(kind, index.column()):
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        layer = self._layers[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col, layer)
        if role == Qt.ItemDataRole.EditRole:
            return self._edit_value(col, layer)
        if role == Qt.ItemDataRole.BackgroundRole and row == self._error_row:
            return ERROR_BACKGROUND
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col, layer)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col in (COL_INDEX, COL_OUT, COL_KERNEL, COL_STRIDE, COL_PADDING, COL_P, COL_PARAMS):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole:
            defaulted = (col == COL_STRIDE and layer.stride is None) or (col == COL_OUT and layer.kind == "linear" and layer.out is None)
            if defaulted and applies(layer.kind, col):
                font = QFont()
                font.setItalic(True)
                return font
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_INDEX:
            return QApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        if role == Qt.ItemDataRole.DecorationRole and col == COL_INDEX and row == self._error_row:
            return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        return None

    def _display(self, row: int, col: int, layer: LayerSpec):
        kind = layer.kind
        if col == COL_INDEX:
            return str(row + 1)
        if col == COL_KIND:
            return KIND_LABELS.get(kind, kind)
        if col == COL_SHAPE:
            s = self._summary.get(row)
            return s.out_shape if s else ("—" if row == self._error_row else "")
        if col == COL_PARAMS:
            s = self._summary.get(row)
            return f"{s.params:,}" if s else ""
        if not applies(kind, col):
            return ""
        if col == COL_OUT:
            if kind == "linear" and layer.out is None:
                return f"classes ({self._num_classes})"
            return str(layer.out)
        if col == COL_KERNEL:
            return str(layer.kernel)
        if col == COL_STRIDE:
            if layer.stride is None:
                return str(layer.kernel) if kind in ("maxpool", "avgpool") else "1"
            return str(layer.stride)
        if col == COL_PADDING:
            return str(layer.padding)
        if col == COL_FN:
            return layer.fn
        if col == COL_P:
            return f"{layer.p:g}"
        return ""

    def _edit_value(self, col: int, layer: LayerSpec):
        if col == COL_KIND:
            return layer.kind
        if col == COL_OUT:
            return 0 if layer.out is None else int(layer.out)  # 0 = "classes" in the spin box
        if col == COL_KERNEL:
            return int(layer.kernel)
        if col == COL_STRIDE:
            if layer.stride is None:
                return int(layer.kernel) if layer.kind in ("maxpool", "avgpool") else 1
            return int(layer.stride)
        if col == COL_PADDING:
            return int(layer.padding)
        if col == COL_FN:
            return layer.fn
        if col == COL_P:
            return float(layer.p)
        return None

    def _tooltip(self, row: int, col: int, layer: LayerSpec) -> str | None:
        if row == self._error_row and self._error:
            return self._error
        if col == COL_KIND:
            return f"{layer.describe()}: {KIND_HELP.get(layer.kind, '')}"
        s = self._summary.get(row)
        if col in (COL_SHAPE, COL_PARAMS) and s and s.note:
            return s.note
        if col == COL_STRIDE and layer.stride is None and applies(layer.kind, col):
            return "default: the window size" if layer.kind in ("maxpool", "avgpool") else "default: 1"
        if col == COL_OUT and layer.kind == "linear" and layer.out is None:
            return "one output per class: this is the output layer"
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid() or not (index.flags() & Qt.ItemFlag.ItemIsEditable):
            return False
        row, col = index.row(), index.column()
        layer = self._layers[row]
        try:
            new = self._with_value(layer, col, value)
        except (TypeError, ValueError):
            return False
        self.set_layer(row, new, col)
        return True

    @staticmethod
    def _with_value(layer: LayerSpec, col: int, value) -> LayerSpec:
        replace = dataclasses.replace
        if col == COL_KIND:
            kind = str(value)
            if kind not in LAYER_KINDS:
                raise ValueError(kind)
            return layer if kind == layer.kind else retype(layer, kind)
        if col == COL_OUT:
            n = int(value)
            if n <= 0:
                if layer.kind != "linear":
                    raise ValueError("only a linear layer can have one output per class")
                return replace(layer, out=None)
            return replace(layer, out=n)
        if col == COL_KERNEL:
            return replace(layer, kernel=max(1, int(value)))
        if col == COL_STRIDE:
            stride = max(1, int(value))
            if layer.stride is None:
                default = layer.kernel if layer.kind in ("maxpool", "avgpool") else 1
                if stride == default:
                    return layer  # keep "default" so a pooling stride follows its window
            return replace(layer, stride=stride)
        if col == COL_PADDING:
            return replace(layer, padding=max(0, int(value)))
        if col == COL_FN:
            fn = str(value)
            if fn not in ACTIVATIONS:
                raise ValueError(fn)
            return replace(layer, fn=fn)
        if col == COL_P:
            return replace(layer, p=float(value))
        raise ValueError(col)


class LayerDelegate(QStyledItemDelegate):
    """Combo boxes for type and activation, spin boxes for numbers; commits while typing."""

    def createEditor(self, parent: QWidget, option, index):
        col = index.column()
        model = index.model()
        layer = model.layers[index.row()] if isinstance(model, LayerTableModel) else None
        if col == COL_KIND:
            combo = QComboBox(parent)
            for kind in LAYER_KINDS:
                combo.addItem(KIND_LABELS[kind], kind)
                combo.setItemData(combo.count() - 1, KIND_HELP[kind], Qt.ItemDataRole.ToolTipRole)
            combo.activated.connect(lambda _=None, e=combo: self._commit(e))
            return combo
        if col == COL_FN:
            combo = QComboBox(parent)
            for fn in ACTIVATIONS:
                combo.addItem(fn, fn)
            combo.activated.connect(lambda _=None, e=combo: self._commit(e))
            return combo
        if col == COL_P:
            spin = QDoubleSpinBox(parent)
            spin.setRange(0.0, 0.99)
            spin.setDecimals(2)
            spin.setSingleStep(0.05)
            spin.valueChanged.connect(lambda _=None, e=spin: self._commit(e))
            return spin
        if col in (COL_OUT, COL_KERNEL, COL_STRIDE, COL_PADDING):
            spin = QSpinBox(parent)
            if col == COL_OUT:
                linear = layer is not None and layer.kind == "linear"
                spin.setRange(0 if linear else 1, MAX_CHANNELS)
                if linear:
                    spin.setSpecialValueText("classes")
                    spin.setToolTip("0 = one output per class (the output layer)")
            elif col == COL_PADDING:
                spin.setRange(0, MAX_WINDOW)
            else:
                spin.setRange(1, MAX_WINDOW)
            spin.setAccelerated(True)
            spin.valueChanged.connect(lambda _=None, e=spin: self._commit(e))
            return spin
        return None

    def setEditorData(self, editor, index) -> None:
        value = index.data(Qt.ItemDataRole.EditRole)
        if isinstance(editor, QComboBox):
            i = editor.findData(value)
            if i >= 0 and i != editor.currentIndex():
                editor.setCurrentIndex(i)
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            if value is not None and editor.value() != value:
                editor.blockSignals(True)
                editor.setValue(value)
                editor.blockSignals(False)
        else:
            super().setEditorData(editor, index)

    def setModelData(self, editor, model, index) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentData(), Qt.ItemDataRole.EditRole)
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.interpretText()
            model.setData(index, editor.value(), Qt.ItemDataRole.EditRole)
        else:
            super().setModelData(editor, model, index)

    def _commit(self, editor: QWidget) -> None:
        self.commitData.emit(editor)


class LayerTable(QTableView):
    """A QTableView set up for layers: whole-row selection, compact rows, sensible column widths."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setItemDelegate(LayerDelegate(self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.SelectedClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 12)
        self.horizontalHeader().setHighlightSections(False)
        self.horizontalHeader().setStretchLastSection(False)

    def setModel(self, model) -> None:
        super().setModel(model)
        header = self.horizontalHeader()
        fm = self.fontMetrics()
        pad, header_pad = 10, 12  # cell / header text margins: every column fits ~700 px (a 1280x800 window)
        widths = {
            COL_INDEX: fm.horizontalAdvance("000") + pad,
            COL_KIND: fm.horizontalAdvance("Residual block") + pad + 4,
            COL_OUT: fm.horizontalAdvance("Channels/units") + header_pad,
            COL_KERNEL: fm.horizontalAdvance("Kernel") + header_pad,
            COL_STRIDE: fm.horizontalAdvance("Stride") + header_pad,
            COL_PADDING: fm.horizontalAdvance("Padding") + header_pad,
            COL_FN: fm.horizontalAdvance("leaky_relu") + pad,
            COL_P: fm.horizontalAdvance("Dropout p") + header_pad,
            COL_SHAPE: fm.horizontalAdvance("128×32×32") + pad,
            COL_PARAMS: fm.horizontalAdvance("1,574,912") + pad,
        }
        for col, width in widths.items():
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, width)
        header.setStretchLastSection(True)  # Params takes what is left; no column is pushed out of view
        # a new preset resets the rows: start at the left again, or the Type column stayed scrolled away
        model.modelReset.connect(lambda: self.horizontalScrollBar().setValue(0))

    def current_row(self) -> int:
        index = self.currentIndex()
        return index.row() if index.isValid() else -1

    def select_row(self, row: int) -> None:
        model = self.model()
        if model is None or not 0 <= row < model.rowCount():
            return
        self.setCurrentIndex(model.index(row, COL_KIND))
        self.selectRow(row)


__all__ = [
    "COL_FN",
    "COL_KERNEL",
    "COL_KIND",
    "COL_OUT",
    "COL_P",
    "COL_PADDING",
    "COL_PARAMS",
    "COL_SHAPE",
    "COL_STRIDE",
    "ERROR_BACKGROUND",
    "HEADERS",
    "KIND_LABELS",
    "LayerDelegate",
    "LayerTable",
    "LayerTableModel",
    "RowSummary",
    "default_layer",
    "retype",
]
