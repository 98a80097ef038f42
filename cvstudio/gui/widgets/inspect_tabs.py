"""The three tabs of the Inspect page: Kernels, Feature maps and the Kernel playground.

They only display what the page hands them (numpy arrays and core result
objects) and report what the user changes; the page runs every computation in
a worker. Nothing here imports torch at module import time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.widgets.banner import WARNING, MessageBanner
from cvstudio.gui.widgets.feature_grid import FeatureGrid, shape_text
from cvstudio.gui.widgets.image_picker import PictureView
from cvstudio.gui.widgets.kernel_grid import VIEW_LABELS, KernelGrid, KernelNumbers
from cvstudio.gui.widgets.kernel_table import KernelTable
from cvstudio.gui.widgets.mosaic_view import MosaicView, SecondaryLabel, format_value, monospace_font

DEFAULT_PRESET = "vertical edge"
PRESET_GROUPS = {  # playground presets by kernel size, in the order the cheatsheet meets them
    3: ("identity", "box blur", "vertical edge", "horizontal edge", "sharpen", "sobel x", "sobel y", "laplacian"),
    5: ("identity 5x5", "box blur 5x5", "gaussian 5x5"),
}
PRESET_LABELS = {
    "identity": "Identity",
    "box blur": "Box blur (all 1/9)",
    "vertical edge": "Vertical edge",
    "horizontal edge": "Horizontal edge",
    "sharpen": "Sharpen",
    "sobel x": "Sobel x (vertical edges)",
    "sobel y": "Sobel y (horizontal edges)",
    "laplacian": "Laplacian (all edges)",
    "identity 5x5": "Identity 5×5",
    "box blur 5x5": "Box blur 5×5 (all 1/25)",
    "gaussian 5x5": "Gaussian blur 5×5",
}
CUSTOM = "custom"


# --- layout helpers ---


def group_box(title: str, parent: QWidget | None = None) -> tuple[QGroupBox, QVBoxLayout]:
    box = QGroupBox(title, parent)
    layout = QVBoxLayout(box)
    layout.setSpacing(6)
    return box, layout


def scroll_column(widget: QWidget, parent: QWidget | None = None) -> QScrollArea:
    scroll = QScrollArea(parent)
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(widget.minimumSizeHint().width() + 14)
    return scroll


class Explanation(QWidget):
    """A centred title and paragraph, shown instead of an empty view (no model, no conv layers)."""

    TEXT_WIDTH = 560

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel(self)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.text = SecondaryLabel("", self)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setFixedWidth(self.TEXT_WIDTH)
        self.button = QPushButton("Open checkpoint…", self)
        self.button.hide()
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(self.title)
        layout.addSpacing(6)
        layout.addWidget(self.text, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(10)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)

    def show_text(self, title: str, text: str, button: bool = False) -> None:
        self.title.setText(title)
        self.text.setText(text)
        # a wrapped label placed with an alignment gets no height-for-width: give it the height it needs
        self.text.setFixedHeight(self.text.heightForWidth(self.TEXT_WIDTH))
        self.button.setVisible(button)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            self.text.setFixedHeight(self.text.heightForWidth(self.TEXT_WIDTH))


# --- the three tabs ---------------------------------------------------------------------------


class KernelsTab(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.weights: dict[str, np.ndarray] = {}
        self.preferred_view = "rgb"  # what the user picked last; used whenever the layer allows it

        self.stack = QStackedWidget(self)
        self.explanation = Explanation(self.stack)
        self.content = QWidget(self.stack)
        self.stack.addWidget(self.explanation)
        self.stack.addWidget(self.content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)

        controls = QWidget()
        col = QVBoxLayout(controls)
        col.setContentsMargins(0, 0, 6, 0)
        col.setSpacing(10)
        layer_box, lay = group_box("Conv layer", controls)
        self.layer_combo = QComboBox(layer_box)
        self.layer_combo.setToolTip("Which convolution's kernels to show")
        self.layer_info = SecondaryLabel("", layer_box)
        lay.addWidget(self.layer_combo)
        lay.addWidget(self.layer_info)
        col.addWidget(layer_box)

        view_box, lay = group_box("Show each kernel", controls)
        self.view_buttons = QButtonGroup(self)
        self.view_radios: dict[str, QRadioButton] = {}
        for key in ("rgb", "channels", "mean"):
            radio = QRadioButton(VIEW_LABELS[key], view_box)
            self.view_radios[key] = radio
            self.view_buttons.addButton(radio)
            lay.addWidget(radio)
        self.view_radios["rgb"].setToolTip("A first layer sees red, green and blue: show each kernel as a small colour image")
        self.view_radios["channels"].setToolTip("One row per kernel, one grey tile per input channel it reads")
        self.view_radios["mean"].setToolTip("One tile per kernel: its weights averaged over the input channels")
        self.relative_check = QCheckBox("Scale each kernel on its own", view_box)
        self.relative_check.setToolTip("Stretch every kernel to its own largest weight, so weak kernels show their pattern too")
        lay.addSpacing(4)
        lay.addWidget(self.relative_check)
        col.addWidget(view_box)

        export_box, lay = group_box("Export", controls)
        self.save_png_button = QPushButton("Save grid as PNG…", export_box)
        self.save_npy_button = QPushButton("Save weights as .npy…", export_box)
        self.save_npy_button.setToolTip("The layer's raw weights, shape (out channels, in channels, height, width)")
        lay.addWidget(self.save_png_button)
        lay.addWidget(self.save_npy_button)
        col.addWidget(export_box)
        self.source_label = SecondaryLabel("", controls)
        col.addWidget(self.source_label)
        col.addStretch(1)

        self.grid = KernelGrid(self.content)
        detail_box, lay = group_box("Selected kernel", self.content)
        self.detail_title = QLabel("Click a kernel in the grid.", detail_box)
        self.detail_title.setWordWrap(True)
        self.detail_info = SecondaryLabel("", detail_box)
        self.numbers = KernelNumbers()
        numbers_scroll = QScrollArea(detail_box)
        numbers_scroll.setWidget(self.numbers)
        numbers_scroll.setWidgetResizable(True)
        numbers_scroll.setFrameShape(QFrame.Shape.NoFrame)
        lay.addWidget(self.detail_title)
        lay.addWidget(self.detail_info)
        lay.addWidget(numbers_scroll, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self.content)
        self.splitter.addWidget(scroll_column(controls))
        self.splitter.addWidget(self.grid)
        self.splitter.addWidget(detail_box)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([240, 640, 330])
        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.addWidget(self.splitter)

        self.layer_combo.currentIndexChanged.connect(self._on_layer_combo_changed)
        self.view_buttons.buttonClicked.connect(self._on_view_clicked)
        self.relative_check.toggled.connect(lambda _checked: self.redraw())
        self.grid.kernel_clicked.connect(self.show_kernel)

    # --- state ---

    @property
    def layer(self) -> str:
        return self.layer_combo.currentData() or ""

    @property
    def view_mode(self) -> str:
        return self.grid.view_mode

    def set_weights(self, weights: dict[str, np.ndarray], source: str) -> None:
        previous = self.layer
        self.weights = dict(weights)
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for name, w in self.weights.items():
            out, cin, kh, kw = w.shape
            self.layer_combo.addItem(f"{name}  ·  {out} × {cin}×{kh}×{kw}", name)
        index = self.layer_combo.findData(previous)
        self.layer_combo.setCurrentIndex(index if index >= 0 else 0)
        self.layer_combo.blockSignals(False)
        self.source_label.setText(source)
        self.redraw()

    def set_layer(self, name: str) -> None:
        index = self.layer_combo.findData(name)
        if index < 0:
            raise KeyError(f"no conv layer named {name!r}")
        self.layer_combo.setCurrentIndex(index)

    def set_view(self, view: str) -> None:
        self.preferred_view = view
        self.redraw()

    def effective_view(self, weights: np.ndarray) -> str:
        if self.preferred_view == "rgb" and weights.shape[1] != 3:
            return "channels"
        return self.preferred_view

    def redraw(self) -> None:
        name = self.layer
        if not name or name not in self.weights:
            self.grid.clear("No kernels to show")
            return
        w = self.weights[name]
        view = self.effective_view(w)
        self.view_radios["rgb"].setEnabled(w.shape[1] == 3)
        self.view_radios["rgb"].setToolTip(
            "A first layer sees red, green and blue: show each kernel as a small colour image" if w.shape[1] == 3
            else f"Only for layers reading 3 channels (RGB); {name} reads {w.shape[1]}")
        self.view_radios[view].setChecked(True)
        self.grid.show_kernels(name, w, view, self.relative_check.isChecked())
        out, cin, kh, kw = w.shape
        self.layer_info.setText(
            f"{out} kernels (one per output channel), each {kh}×{kw} over {cin} input channel{'s' if cin != 1 else ''}"
            f" · {w.size:,} weights")
        selected = self.grid.selected if self.grid.selected is not None else 0
        self.show_kernel(min(selected, out - 1))

    @Slot(int)
    def show_kernel(self, kernel: int) -> None:
        w = self.weights.get(self.layer)
        if w is None:
            self.numbers.set_kernel(None, (-1.0, 1.0))
            return
        self.grid.select_kernel(kernel)
        k = w[kernel]
        limit = float(np.abs(w[np.isfinite(w)]).max()) if np.isfinite(w).any() else 1.0
        self.numbers.set_kernel(k, (-(limit or 1.0), limit or 1.0))
        self.detail_title.setText(f"<b>{self.layer}</b>, kernel {kernel} of {w.shape[0]}")
        self.detail_info.setText(
            f"{k.shape[0]}×{k.shape[1]}×{k.shape[2]} weights from {format_value(float(k.min()))} to "
            f"{format_value(float(k.max()))} · sum {format_value(float(k.sum()))}. "
            "Colours use the layer's shared scale.")

    def _on_layer_combo_changed(self, _index: int) -> None:
        self.grid.selected = None
        self.redraw()

    def _on_view_clicked(self, button: QRadioButton) -> None:
        for key, radio in self.view_radios.items():
            if radio is button:
                self.set_view(key)


class FeaturesTab(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.inspection: Any = None
        self.class_names: tuple[str, ...] = ()
        self.input_note = ""  # how the input was normalized, shown with the "input" row

        self.left = QWidget()
        col = QVBoxLayout(self.left)
        col.setContentsMargins(0, 0, 6, 0)
        col.setSpacing(10)
        self.picker_slot = QVBoxLayout()
        col.addLayout(self.picker_slot)
        layers_box, lay = group_box("Layers", self.left)
        self.layer_list = QTreeWidget(layers_box)
        self.layer_list.setColumnCount(3)
        self.layer_list.setHeaderLabels(["Layer", "Module", "Output"])
        self.layer_list.setRootIsDecorated(False)
        self.layer_list.setUniformRowHeights(True)
        self.layer_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.layer_list.setAllColumnsShowFocus(True)
        header = self.layer_list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.layer_list.setMinimumHeight(200)
        self.relative_check = QCheckBox("Scale each channel on its own", layers_box)
        self.relative_check.setToolTip("Stretch every map to its own largest value, so weak channels show their pattern too")
        lay.addWidget(self.layer_list, 1)
        lay.addWidget(self.relative_check)
        col.addWidget(layers_box, 1)
        export_row = QHBoxLayout()
        self.save_png_button = QPushButton("Save PNG…", self.left)
        self.save_npy_button = QPushButton("Save .npy…", self.left)
        self.save_npy_button.setToolTip("The selected layer's raw output for this image")
        export_row.addWidget(self.save_png_button)
        export_row.addWidget(self.save_npy_button)
        col.addLayout(export_row)

        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(6, 0, 0, 0)
        rlay.setSpacing(6)
        self.banner = MessageBanner(right, closable=False)
        self.prediction = QLabel("", right)
        self.prediction.setTextFormat(Qt.TextFormat.RichText)
        self.prediction.setWordWrap(True)
        self.grid = FeatureGrid(right)
        rlay.addWidget(self.banner)
        rlay.addWidget(self.prediction)
        rlay.addWidget(self.grid, 1)

        self.stack = QStackedWidget(self)
        self.explanation = Explanation(self.stack)
        self.stack.addWidget(self.explanation)
        self.stack.addWidget(right)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(scroll_column(self.left))
        self.splitter.addWidget(self.stack)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 860])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.addWidget(self.splitter)

        self.layer_list.currentItemChanged.connect(lambda *_: self.redraw())
        self.relative_check.toggled.connect(lambda _checked: self.redraw())

    @property
    def maps(self) -> list[Any]:
        if self.inspection is None:
            return []
        return [self.inspection.input, *self.inspection.maps]

    @property
    def layer(self) -> str:
        item = self.layer_list.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else ""

    def set_layer(self, name: str) -> None:
        for i in range(self.layer_list.topLevelItemCount()):
            item = self.layer_list.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == name:
                self.layer_list.setCurrentItem(item)
                return
        raise KeyError(f"no layer named {name!r}")

    def set_inspection(self, inspection: Any, class_names: tuple[str, ...], input_note: str = "") -> None:
        previous = self.layer
        self.inspection, self.class_names, self.input_note = inspection, class_names, input_note
        self.layer_list.blockSignals(True)
        self.layer_list.clear()
        current = None
        for fm in self.maps:
            module = "normalized image" if fm.name == "input" else fm.kind
            item = QTreeWidgetItem([fm.name, module, shape_text(fm.shape)])
            item.setData(0, Qt.ItemDataRole.UserRole, fm.name)
            item.setToolTip(0, f"{fm.name}: {fm.kind}, output {shape_text(fm.shape)}")
            self.layer_list.addTopLevelItem(item)
            if fm.name == previous:
                current = item
        if current is None:  # first time: the first conv layer's output, else the first layer
            first = next((i for i, fm in enumerate(self.maps) if fm.kind == "Conv2d"), 1 if len(self.maps) > 1 else 0)
            current = self.layer_list.topLevelItem(first)
        self.layer_list.setCurrentItem(current)
        self.layer_list.blockSignals(False)
        self.redraw()

    def clear(self, message: str) -> None:
        self.inspection = None
        self.layer_list.clear()
        self.prediction.setText("")
        self.grid.clear(message)

    def redraw(self) -> None:
        name = self.layer
        fm = next((m for m in self.maps if m.name == name), None)
        if fm is None:
            return
        is_last = self.inspection is not None and self.inspection.maps and fm is self.inspection.maps[-1]
        self.grid.show_map(fm.name, fm.kind if fm.name != "input" else "normalized input", fm.values,
                           self.relative_check.isChecked(), self.class_names if is_last else None)
        if fm.name == "input" and self.input_note:
            self.grid.subtitle.setText(f"{self.grid.subtitle.text()}\nThe image as the model gets it: {self.input_note}.")

    def current_values(self) -> np.ndarray | None:
        fm = next((m for m in self.maps if m.name == self.layer), None)
        return None if fm is None else fm.values


class PlaygroundTab(QWidget):
    settings_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.output: np.ndarray | None = None
        self._preset = DEFAULT_PRESET

        left = QWidget()
        col = QVBoxLayout(left)
        col.setContentsMargins(0, 0, 6, 0)
        col.setSpacing(10)
        self.picker_slot = QVBoxLayout()
        col.addLayout(self.picker_slot)

        kernel_box, lay = group_box("Kernel", left)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.preset_combo = QComboBox(kernel_box)
        self.size_combo = QComboBox(kernel_box)
        self.size_combo.addItem("3×3", 3)
        self.size_combo.addItem("5×5", 5)
        form.addRow("Preset", self.preset_combo)
        form.addRow("Size", self.size_combo)
        lay.addLayout(form)
        self.table = KernelTable(kernel_box)
        lay.addWidget(self.table, 0, Qt.AlignmentFlag.AlignHCenter)
        self.table_note = SecondaryLabel("Edit any cell (numbers or fractions like 1/9). The kernel is applied to "
                                         "every input channel and the results are summed, as nn.Conv2d(C, 1, k) does.",
                                         kernel_box)
        lay.addWidget(self.table_note)
        col.addWidget(kernel_box)

        conv_box, lay = group_box("Convolution", left)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.padding_spin = QSpinBox(conv_box)
        self.padding_spin.setRange(0, 2)
        self.padding_spin.setValue(1)
        self.padding_spin.setToolTip("Zeros added around the image: 0 shrinks a 32×32 image to 30×30, 1 keeps 32×32")
        self.stride_spin = QSpinBox(conv_box)
        self.stride_spin.setRange(1, 3)
        for spin in (self.padding_spin, self.stride_spin):
            spin.setMinimumWidth(72)
        self.stride_spin.setToolTip("How far the kernel moves between outputs: 2 halves each side")
        self.pool_check = QCheckBox("Max-pool 2×2 afterwards", conv_box)
        self.pool_check.setToolTip("nn.MaxPool2d(2): keep the largest of every 2×2 block, halving each side")
        form.addRow("Padding", self.padding_spin)
        form.addRow("Stride", self.stride_spin)
        lay.addLayout(form)
        lay.addWidget(self.pool_check)
        col.addWidget(conv_box)
        col.addStretch(1)

        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(6, 0, 0, 0)
        rlay.setSpacing(8)
        self.banner = MessageBanner(right)
        self.shape_label = QLabel("", right)
        big = QFont(self.shape_label.font())
        big.setPointSizeF(big.pointSizeF() * 1.15)
        big.setBold(True)
        self.shape_label.setFont(big)
        self.shape_label.setWordWrap(True)
        views = QSplitter(Qt.Orientation.Horizontal, right)
        self.input_view = PictureView(views)
        self.output_view = MosaicView(views, colorbar_label="output", placeholder="Pick an image to convolve.")
        views.addWidget(self.input_view)
        views.addWidget(self.output_view)
        views.setChildrenCollapsible(False)
        views.setSizes([420, 480])
        self.code = QPlainTextEdit(right)
        self.code.setReadOnly(True)
        self.code.setFont(monospace_font(self.code.font()))
        self.code.setMaximumHeight(self.code.fontMetrics().lineSpacing() * 8 + 14)
        self.code.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        export_row = QHBoxLayout()
        code_label = SecondaryLabel("The same in PyTorch (img: the image as a float tensor 0..1, C×H×W):", right)
        self.save_png_button = QPushButton("Save output as PNG…", right)
        self.save_npy_button = QPushButton("Save output as .npy…", right)
        export_row.addWidget(code_label, 1)
        export_row.addWidget(self.save_png_button)
        export_row.addWidget(self.save_npy_button)
        rlay.addWidget(self.banner)
        rlay.addWidget(self.shape_label)
        rlay.addWidget(views, 1)
        rlay.addLayout(export_row)
        rlay.addWidget(self.code)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(scroll_column(left))
        self.splitter.addWidget(right)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 860])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.addWidget(self.splitter)

        self._fill_presets(3)
        self.preset_combo.activated.connect(self._on_preset_activated)
        self.size_combo.activated.connect(self._on_size_activated)
        self.table.kernel_edited.connect(self._on_table_kernel_edited)
        self.table.entry_rejected.connect(lambda message: self.banner.show_message(message, WARNING))
        self.output_view.tile_hovered.connect(self._on_output_hovered)
        self.padding_spin.valueChanged.connect(lambda _v: self.settings_changed.emit())
        self.stride_spin.valueChanged.connect(lambda _v: self.settings_changed.emit())
        self.pool_check.toggled.connect(lambda _v: self.settings_changed.emit())

    # --- kernel ---

    def init_kernels(self) -> None:
        """Fill in the default preset (needs the core, i.e. torch)."""
        self.set_preset(DEFAULT_PRESET)

    def _fill_presets(self, size: int) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        for name in PRESET_GROUPS[size]:
            self.preset_combo.addItem(PRESET_LABELS[name], name)
        self.preset_combo.addItem("Custom (edited)", CUSTOM)
        self.preset_combo.blockSignals(False)

    def set_preset(self, name: str) -> None:
        from cvstudio.core.inspect import PLAYGROUND_KERNELS

        kernel = PLAYGROUND_KERNELS[name]
        size = kernel.shape[0]
        if self.size_combo.currentData() != size:
            self.size_combo.setCurrentIndex(self.size_combo.findData(size))
            self._fill_presets(size)
        self._preset = name
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(name))
        self.table.set_kernel(kernel)
        self.banner.clear()
        self.settings_changed.emit()

    def set_kernel(self, kernel: np.ndarray) -> None:
        """Use a hand-made kernel (3×3 or 5×5), as if typed into the table."""
        kernel = np.asarray(kernel, np.float32)
        size = kernel.shape[0]
        if self.size_combo.currentData() != size:
            self.size_combo.setCurrentIndex(self.size_combo.findData(size))
            self._fill_presets(size)
        self.table.set_kernel(kernel)
        self._mark_custom()
        self.settings_changed.emit()

    def kernel(self) -> np.ndarray:
        return self.table.kernel()

    def _mark_custom(self) -> None:
        from cvstudio.core.inspect import PLAYGROUND_KERNELS

        kernel = self.table.kernel()
        match = next((n for n in PRESET_GROUPS[kernel.shape[0]] if np.array_equal(PLAYGROUND_KERNELS[n], kernel)), CUSTOM)
        self._preset = match
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(match))

    def _on_preset_activated(self, _index: int) -> None:
        name = self.preset_combo.currentData()
        if name == CUSTOM:
            return
        self.set_preset(name)

    def _on_size_activated(self, _index: int) -> None:
        size = self.size_combo.currentData()
        old = self.table.kernel()
        if old.shape[0] == size:
            return
        if size > old.shape[0]:  # keep the kernel in the middle of a larger one
            pad = (size - old.shape[0]) // 2
            kernel = np.pad(old, pad)
        else:
            cut = (old.shape[0] - size) // 2
            kernel = old[cut : cut + size, cut : cut + size]
        self._fill_presets(size)
        self.table.set_kernel(kernel)
        self._mark_custom()
        self.settings_changed.emit()

    def _on_table_kernel_edited(self, _kernel: np.ndarray) -> None:
        self.banner.clear()
        self._mark_custom()
        self.settings_changed.emit()

    # --- settings and output ---

    def settings(self) -> tuple[np.ndarray, int, int, bool]:
        return self.table.kernel(), self.padding_spin.value(), self.stride_spin.value(), self.pool_check.isChecked()

    def describe(self, pixels: np.ndarray | None) -> str | None:
        """The shape story, e.g. '3×32×32 → conv 3×3, padding 0 → 30×30 → max-pool 2 → 15×15'; None if it cannot run."""
        from cvstudio.core.inspect import playground_output_size

        if pixels is None:
            return None
        kernel, padding, stride, pool = self.settings()
        c, h, w = pixels.shape
        k = kernel.shape[0]
        oh = playground_output_size(h, k, padding, stride, False)
        ow = playground_output_size(w, k, padding, stride, False)
        conv = f"conv {k}×{k}, padding {padding}" + (f", stride {stride}" if stride != 1 else "")
        text = f"{c}×{h}×{w}  →  {conv}  →  {oh}×{ow}"
        if oh < 1 or ow < 1:
            return None
        if pool:
            text += f"  →  max-pool 2  →  {oh // 2}×{ow // 2}"
        return text

    def show_output(self, pixels: np.ndarray, output: np.ndarray) -> None:
        from cvstudio.core.inspect import feature_display, playground_code

        self.output = output
        kernel, padding, stride, pool = self.settings()
        display = feature_display(output[None])
        h, w = output.shape
        lo, hi = float(np.nanmin(output)), float(np.nanmax(output))
        self.output_view.set_display(display, f"Output: {h}×{w}", f"values {format_value(lo)} … {format_value(hi)}")
        self.output_view.set_info("Hover over the output to read its values.")
        self.shape_label.setText(self.describe(pixels) or "")
        self.code.setPlainText(playground_code(kernel, pixels.shape[0], padding, stride, pool))

    def _on_output_hovered(self, hit: Any) -> None:
        if hit is not None and self.output is not None:
            _, row, col = hit
            self.output_view.set_info(f"row {row}, column {col} · value {format_value(float(self.output[row, col]))}")

    def show_input(self, pixels: np.ndarray) -> None:
        c, h, w = pixels.shape
        self.input_view.show_picture(pixels, f"Input: {c}×{h}×{w}", "pixels scaled to 0..1; the kernel runs over every channel")

    def clear(self, message: str) -> None:
        self.output = None
        self.output_view.clear(message)
        self.input_view.clear("No image")
        self.shape_label.setText("")
