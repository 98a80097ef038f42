"""The Inspect page: look inside a convolutional network.

Three tabs, all fed by ``cvstudio.core.inspect`` (numpy arrays out; this page
only displays them):

- **Kernels**: every kernel of a chosen conv layer of the current model as one
  grid, on a diverging colour map with a shared symmetric scale; hover reads
  the weights, a click shows one kernel with its numbers. The grid redraws when
  ``AppState.model_changed`` fires and whenever :meth:`InspectPage.refresh_kernels`
  is called (e.g. at the end of each training epoch).
- **Feature maps**: one image (from the dataset or any file) as the model sees
  it, and the output of every layer, captured with forward hooks in one pass.
- **Kernel playground**: the cheatsheet's hand-made kernels (blur, edges, ...)
  applied with ``nn.Conv2d`` to the same image, with padding, stride and
  max-pooling, and the shapes they produce.

Model passes, image decoding and the playground's convolution run in worker
threads (``start_task``); the GUI thread only receives numpy arrays. Nothing
here imports torch at module import time: the core is imported once
``AppState.torch_ready`` has fired.

Run alone: ``python -m cvstudio.gui.pages.inspect [checkpoint.safetensors]``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, Signal, Slot
from PySide6.QtGui import QFont, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.banner import ERROR, INFO, WARNING, MessageBanner
from cvstudio.gui.widgets.feature_grid import FeatureGrid, shape_text
from cvstudio.gui.widgets.kernel_grid import VIEW_LABELS, KernelGrid, KernelNumbers
from cvstudio.gui.widgets.kernel_table import KernelTable
from cvstudio.gui.widgets.loading import LoadingPlaceholder
from cvstudio.gui.widgets.mosaic_view import MosaicView, SecondaryLabel, array_to_qimage, format_value, monospace_font
from cvstudio.gui.workers import Task, TaskError, start_task

log = logging.getLogger(__name__)

DEFAULT_INPUT_SHAPE = (3, 32, 32)  # images without a model or dataset to size them
DEFAULT_PRESET = "vertical edge"
THUMB_SIZE = 128  # pixels of the image preview
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.ppm *.pgm);;All files (*)"
NPY_FILTER = "NumPy arrays (*.npy)"
PNG_FILTER = "PNG images (*.png)"
SPLITS = (("val", "Validation"), ("train", "Training"))

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


# --- work done in worker threads (core calls only) -----------------------------------------------


def read_kernels(model: Any) -> dict[str, np.ndarray]:
    from cvstudio.core.inspect import conv_kernels

    return conv_kernels(model)


def prepare_image(source: Any, input_shape: tuple[int, int, int]) -> np.ndarray:
    """A dataset image (uint8 array) or an image file (path), as the model's uint8 (C, H, W) input."""
    if isinstance(source, np.ndarray):
        from cvstudio.core.inspect import fit_image

        return fit_image(source, input_shape)
    from cvstudio.core.inference import load_image

    return load_image(source, input_shape).numpy().copy()


def compute_features(model: Any, pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    from cvstudio.core.inspect import inspect_image

    return inspect_image(model, pixels, mean, std)


def run_playground(pixels: np.ndarray, kernel: np.ndarray, padding: int, stride: int, pool: bool) -> np.ndarray:
    from cvstudio.core.inspect import apply_kernel

    return apply_kernel(pixels, kernel, padding, stride, pool)


def open_checkpoint_file(path: str) -> Any:
    from cvstudio.core.checkpoints import load_checkpoint

    return load_checkpoint(path)


# --- helpers ------------------------------------------------------------------------------


class LatestRunner(QObject):
    """Runs one job at a time in a worker; a job submitted meanwhile replaces any waiting one.

    Results of a job that a newer one has superseded are dropped, so rapid
    changes (typing in the kernel table, flicking through images) never queue
    up work or show stale pictures. Tasks get no Qt parent: a task outlives a
    page that is closed while it runs (``workers`` keeps it until its thread
    ends), and its result then goes nowhere, because the connections below
    end with this runner.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.task: Task | None = None
        self._pending: tuple | None = None
        self._callbacks: tuple[Callable[[Any], None], Callable[[TaskError], None]] | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None or self._pending is not None

    def submit(self, fn: Callable[..., Any], *args: Any, on_result: Callable[[Any], None],
               on_error: Callable[[TaskError], None]) -> None:
        self._pending = (fn, args, on_result, on_error)
        if self.task is None:
            self._start_pending()

    def _start_pending(self) -> None:
        fn, args, on_result, on_error = self._pending
        self._pending = None
        self._callbacks = (on_result, on_error)
        task = start_task(fn, *args)
        task.result.connect(self._on_task_result)
        task.error.connect(self._on_task_error)
        task.finished.connect(self._on_task_finished)
        self.task = task

    @Slot(object)
    def _on_task_result(self, result: Any) -> None:
        if self._pending is None and self._callbacks is not None:
            self._callbacks[0](result)

    @Slot(object)
    def _on_task_error(self, error: TaskError) -> None:
        if self._pending is None and self._callbacks is not None:
            self._callbacks[1](error)

    @Slot()
    def _on_task_finished(self) -> None:
        self.task = None
        self._callbacks = None
        if self._pending is not None:
            self._start_pending()


@dataclass(frozen=True)
class ChosenImage:
    """Which image the Feature maps and Playground tabs show."""

    kind: str  # "dataset" or "file"
    caption: str
    split: str = ""
    index: int = -1
    label: int | None = None  # true class (dataset images)
    path: str = ""


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
        self.text.setMaximumWidth(620)
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
        self.button.setVisible(button)


class PictureView(MosaicView):
    """An RGB or grey picture (the input image) drawn like the grids, without a colour bar."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, placeholder="No image")
        self.colorbar.hide()
        self.info.hide()

    def show_picture(self, pixels: np.ndarray, title: str, subtitle: str = "") -> None:
        """``pixels`` uint8 (C, H, W) with 1 or 3 channels."""
        c, h, w = pixels.shape
        image = pixels[0] if c == 1 else np.ascontiguousarray(pixels.transpose(1, 2, 0))
        self.image_item.setLookupTable(None)
        self.image_item.setImage(image, levels=(0, 255), autoLevels=False)
        self.title.setText(title)
        self.subtitle.setText(subtitle)
        self.subtitle.setVisible(bool(subtitle))
        self._stack.setCurrentWidget(self.graphics)
        if self._shape != (h, w):
            self._shape = (h, w)
            self.view.autoRange(padding=0.02)
        self.colorbar.hide()


# --- the image picker -----------------------------------------------------------------------


class ImagePicker(QGroupBox):
    """Choose an image: from the dataset (split, class, index) or a file; shows it as the model sees it.

    One picker serves the Feature maps and Playground tabs: the page moves it
    into the tab that is shown.
    """

    dataset_image_requested = Signal(str, int)  # split, index into that split
    file_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Image", parent)
        self._labels: dict[str, np.ndarray] = {}
        self._class_names: tuple[str, ...] = ()

        self.thumb = QLabel(self)
        self.thumb.setFixedSize(THUMB_SIZE + 2, THUMB_SIZE + 2)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setFrameShape(QFrame.Shape.StyledPanel)
        self.caption = QLabel("No image chosen", self)
        self.caption.setWordWrap(True)
        bold = QFont(self.caption.font())
        bold.setBold(True)
        self.caption.setFont(bold)
        self.detail = SecondaryLabel("", self)

        self.split_combo = QComboBox(self)
        for key, label in SPLITS:
            self.split_combo.addItem(label, key)
        self.class_combo = QComboBox(self)
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_combo.setMinimumContentsLength(8)
        self.prev_button = QToolButton(self)
        self.prev_button.setArrowType(Qt.ArrowType.LeftArrow)
        self.prev_button.setToolTip("Previous image")
        self.next_button = QToolButton(self)
        self.next_button.setArrowType(Qt.ArrowType.RightArrow)
        self.next_button.setToolTip("Next image")
        self.index_spin = QSpinBox(self)
        self.index_spin.setKeyboardTracking(False)
        self.index_spin.setMinimum(1)
        self.random_button = QPushButton("Random", self)
        self.random_button.setToolTip("A random image of this split and class")
        self.open_button = QPushButton("Open image file…", self)
        self.drop_hint = SecondaryLabel("…or drop an image file anywhere on this page.", self)
        self.dataset_note = SecondaryLabel("", self)

        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.caption)
        text.addWidget(self.detail)
        text.addStretch(1)
        top.addLayout(text, 1)

        self._dataset_controls = QWidget(self)
        grid = QGridLayout(self._dataset_controls)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(6)
        grid.addWidget(self.split_combo, 0, 0, 1, 2)
        grid.addWidget(self.class_combo, 0, 2, 1, 3)
        grid.addWidget(self.prev_button, 1, 0)
        grid.addWidget(self.index_spin, 1, 1, 1, 2)
        grid.addWidget(self.next_button, 1, 3)
        grid.addWidget(self.random_button, 1, 4)
        grid.setColumnStretch(2, 1)

        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addWidget(self._dataset_controls)
        layout.addWidget(self.dataset_note)
        layout.addWidget(self.open_button)
        layout.addWidget(self.drop_hint)

        self.split_combo.currentIndexChanged.connect(self._on_filter_changed)
        self.class_combo.currentIndexChanged.connect(self._on_filter_changed)
        self.index_spin.valueChanged.connect(self._on_index_changed)
        self.prev_button.clicked.connect(lambda: self.index_spin.stepBy(-1))
        self.next_button.clicked.connect(lambda: self.index_spin.stepBy(1))
        self.random_button.clicked.connect(self._on_random_clicked)
        self.open_button.clicked.connect(self._on_open_clicked)
        self._rng = np.random.default_rng()
        self.set_dataset(None, {})

    # --- dataset ---

    def set_dataset(self, class_names: tuple[str, ...] | None, labels: dict[str, np.ndarray]) -> None:
        """The dataset to pick from (``labels`` per split as int arrays), or None."""
        self._class_names = tuple(class_names or ())
        self._labels = labels
        has = bool(class_names) and any(len(v) for v in labels.values())
        self._dataset_controls.setEnabled(has)
        self.dataset_note.setText("" if has else "No dataset is loaded: open an image file, or load a dataset on the Data page.")
        self.dataset_note.setVisible(not has)
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("All classes", -1)
        for k, name in enumerate(self._class_names):
            self.class_combo.addItem(name, k)
        self.class_combo.blockSignals(False)
        self._update_range()

    def _candidates(self) -> np.ndarray:
        labels = self._labels.get(self.split_combo.currentData())
        if labels is None:
            return np.zeros(0, np.int64)
        k = self.class_combo.currentData()
        return np.arange(len(labels)) if k is None or k < 0 else np.flatnonzero(labels == k)

    def _update_range(self) -> None:
        n = len(self._candidates())
        self.index_spin.blockSignals(True)
        self.index_spin.setRange(1, max(1, n))
        self.index_spin.setSuffix(f" of {n:,}")
        self.index_spin.blockSignals(False)

    def _emit_current(self) -> None:
        candidates = self._candidates()
        if len(candidates):
            i = min(self.index_spin.value(), len(candidates)) - 1
            self.dataset_image_requested.emit(self.split_combo.currentData(), int(candidates[i]))

    def _on_filter_changed(self) -> None:
        self._update_range()
        self.index_spin.blockSignals(True)
        self.index_spin.setValue(1)
        self.index_spin.blockSignals(False)
        self._emit_current()

    def _on_index_changed(self, _value: int) -> None:
        self._emit_current()

    def _on_random_clicked(self) -> None:
        n = len(self._candidates())
        if n:
            self.index_spin.setValue(int(self._rng.integers(1, n + 1)))

    def _on_open_clicked(self) -> None:
        from cvstudio.gui import settings as prefs

        s = prefs.make_settings()
        path, _ = QFileDialog.getOpenFileName(self, "Open image", prefs.last_dir(s), IMAGE_FILTER)
        if path:
            prefs.remember_dir(s, path)
            self.file_requested.emit(path)

    def choose(self, split: str, index: int) -> None:
        """Select dataset image ``index`` of ``split`` (all classes) and request it."""
        self.split_combo.blockSignals(True)
        self.class_combo.blockSignals(True)
        self.split_combo.setCurrentIndex(max(0, self.split_combo.findData(split)))
        self.class_combo.setCurrentIndex(0)
        self.split_combo.blockSignals(False)
        self.class_combo.blockSignals(False)
        self._update_range()
        self.index_spin.blockSignals(True)
        self.index_spin.setValue(index + 1)
        self.index_spin.blockSignals(False)
        self._emit_current()

    # --- what is shown ---

    def show_image(self, pixels: np.ndarray | None, caption: str, detail: str) -> None:
        if pixels is None:
            self.thumb.clear()
        else:
            qimage = array_to_qimage(pixels)
            mode = (Qt.TransformationMode.FastTransformation if max(qimage.width(), qimage.height()) <= THUMB_SIZE
                    else Qt.TransformationMode.SmoothTransformation)
            self.thumb.setPixmap(QPixmap.fromImage(
                qimage.scaled(THUMB_SIZE, THUMB_SIZE, Qt.AspectRatioMode.KeepAspectRatio, mode)))
        self.caption.setText(caption)
        self.detail.setText(detail)


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
        self.splitter.setSizes([250, 640, 300])
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

    def set_inspection(self, inspection: Any, class_names: tuple[str, ...]) -> None:
        previous = self.layer
        self.inspection, self.class_names = inspection, class_names
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
        self.padding_spin = QSpinBox(conv_box)
        self.padding_spin.setRange(0, 2)
        self.padding_spin.setValue(1)
        self.padding_spin.setToolTip("Zeros added around the image: 0 shrinks a 32×32 image to 30×30, 1 keeps 32×32")
        self.stride_spin = QSpinBox(conv_box)
        self.stride_spin.setRange(1, 3)
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

    def show_input(self, pixels: np.ndarray) -> None:
        c, h, w = pixels.shape
        self.input_view.show_picture(pixels, f"Input: {c}×{h}×{w}", "pixels scaled to 0..1; the kernel runs over every channel")

    def clear(self, message: str) -> None:
        self.output = None
        self.output_view.clear(message)
        self.input_view.clear("No image")
        self.shape_label.setText("")


# --- the page ---------------------------------------------------------------------------------


class InspectPage(QWidget):
    """Kernels, feature maps and a kernel playground for the current model (``state.model``)."""

    kernels_drawn = Signal()  # the kernel grid shows new weights
    features_drawn = Signal()  # the feature maps of the current image are shown
    playground_drawn = Signal()  # the playground output is shown
    image_shown = Signal()  # a newly chosen image is ready

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._ready = False
        self.image: ChosenImage | None = None
        self.pixels: np.ndarray | None = None  # the chosen image at the model's input size, uint8 (C, H, W)
        self._pixels_shape: tuple[int, int, int] | None = None
        self._kernel_source = ""
        self._source: Any = None  # what the chosen image is made from: a uint8 array or a file path
        self._has_conv: bool | None = None
        self._runners: list[LatestRunner] = []
        self._kernel_runner = self._runner()
        self._image_runner = self._runner()
        self._feature_runner = self._runner()
        self._playground_runner = self._runner()
        self._model_runner = self._runner()
        self.setAcceptDrops(True)

        self._build_ui()
        state.torch_ready.connect(self._on_state_torch_ready)
        state.model_changed.connect(self._on_state_model_changed)
        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.training_changed.connect(self._on_state_training_changed)
        epoch_weights = getattr(state, "epoch_weights", None)  # if the window forwards kernels at each epoch end
        if epoch_weights is not None:
            epoch_weights.connect(self._on_state_epoch_weights)
        if state.torch_loaded:
            self._on_state_torch_ready()

    def _runner(self) -> LatestRunner:
        runner = LatestRunner(self)
        self._runners.append(runner)
        return runner

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        self._stack = QStackedWidget(self)
        self._loading = LoadingPlaceholder(
            "Loading PyTorch…", "Kernels and feature maps can be shown as soon as PyTorch has been imported.", self._stack)
        self._content = QWidget(self._stack)
        self._stack.addWidget(self._loading)
        self._stack.addWidget(self._content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._stack)

        header = QHBoxLayout()
        header.setSpacing(10)
        self.model_label = QLabel("No model", self._content)
        font = QFont(self.model_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        font.setBold(True)
        self.model_label.setFont(font)
        self.model_detail = SecondaryLabel("", self._content, wrap=False)
        self.model_detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.open_button = QPushButton("Open checkpoint…", self._content)
        self.open_button.setToolTip("Inspect a model saved earlier (a .safetensors checkpoint)")
        header.addWidget(self.model_label)
        header.addWidget(self.model_detail, 1)
        header.addWidget(self.open_button)

        self.banner = MessageBanner(self._content)
        self.tabs = QTabWidget(self._content)
        self.tabs.setDocumentMode(True)
        self.kernels = KernelsTab(self.tabs)
        self.features = FeaturesTab(self.tabs)
        self.playground = PlaygroundTab(self.tabs)
        self.tabs.addTab(self.kernels, "Kernels")
        self.tabs.addTab(self.features, "Feature maps")
        self.tabs.addTab(self.playground, "Kernel playground")
        self.picker = ImagePicker(self.features)
        self.features.picker_slot.addWidget(self.picker)

        layout = QVBoxLayout(self._content)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)

        self.open_button.clicked.connect(self._on_open_clicked)
        self.kernels.explanation.button.clicked.connect(self._on_open_clicked)
        self.features.explanation.button.clicked.connect(self._on_open_clicked)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.picker.dataset_image_requested.connect(self._on_picker_dataset_image_requested)
        self.picker.file_requested.connect(self.open_image_file)
        self.playground.settings_changed.connect(self._request_playground)
        self.kernels.save_png_button.clicked.connect(lambda: self._ask_export("png", "kernels"))
        self.kernels.save_npy_button.clicked.connect(lambda: self._ask_export("npy", "kernels"))
        self.features.save_png_button.clicked.connect(lambda: self._ask_export("png", "features"))
        self.features.save_npy_button.clicked.connect(lambda: self._ask_export("npy", "features"))
        self.playground.save_png_button.clicked.connect(lambda: self._ask_export("png", "playground"))
        self.playground.save_npy_button.clicked.connect(lambda: self._ask_export("npy", "playground"))

    # ------------------------------------------------------------------ public API

    @property
    def idle(self) -> bool:
        """No worker job running or waiting (tests wait for this)."""
        return not any(r.busy for r in self._runners)

    def open_checkpoint(self, path: str | Path) -> None:
        """Load a checkpoint in a worker and make it the app's current model."""
        self.banner.clear()
        self.state.status_message.emit(f"Opening {Path(path).name}…")
        self._model_runner.submit(open_checkpoint_file, str(path), on_result=self._on_checkpoint_loaded,
                                  on_error=lambda e: self._show_error(e, "Could not open the checkpoint"))

    @Slot(object)
    def refresh_kernels(self, weights_by_layer: dict[str, np.ndarray], source: str | None = None) -> None:
        """Show these kernels ({conv layer: (out, in, kh, kw)}), e.g. at the end of each training epoch.

        Arrays only: call it from the GUI thread with copies of the weights
        (``core.inspect.conv_kernels(model)`` in the training thread makes them).
        """
        if not self._ready:
            return
        if source is not None:
            self._kernel_source = source
        if not weights_by_layer:
            self._has_conv = False
            self._show_no_conv()
            return
        self._has_conv = True
        self.kernels.stack.setCurrentWidget(self.kernels.content)
        self.kernels.set_weights(weights_by_layer, self._kernel_source)
        self.kernels_drawn.emit()

    def select_dataset_image(self, split: str, index: int) -> None:
        """Show image ``index`` of the dataset's ``split`` ("val" or "train")."""
        self.picker.choose(split, index)

    def open_image_file(self, path: str | Path) -> None:
        path = str(path)
        self._choose(ChosenImage("file", Path(path).name, path=path), path)

    def export(self, what: str, fmt: str, path: str | Path) -> Path:
        """Save a grid ("kernels", "features", "playground") as "png" or its raw values as "npy"."""
        path = Path(path)
        if fmt == "png":
            view = {"kernels": self.kernels.grid, "features": self.features.grid, "playground": self.playground.output_view}[what]
            if view.display is None:
                raise ValueError("there is nothing to save yet")
            if not view.export_png(path):
                raise OSError(f"could not write {path}")
            return path
        values = self._export_values(what)
        if values is None:
            raise ValueError("there is nothing to save yet")
        np.save(path, values)
        return path

    def _export_values(self, what: str) -> np.ndarray | None:
        if what == "kernels":
            return self.kernels.weights.get(self.kernels.layer)
        if what == "features":
            return self.features.current_values()
        return self.playground.output

    # ------------------------------------------------------------------ state

    @Slot()
    def _on_state_torch_ready(self) -> None:
        if self._ready:
            return
        self._ready = True
        self._stack.setCurrentWidget(self._content)
        self.playground.init_kernels()
        self._on_state_dataset_changed(self.state.dataset)
        self._on_state_model_changed()

    @Slot()
    def _on_state_model_changed(self) -> None:
        if not self._ready:
            return
        model = self.state.model
        self._update_header()
        if model is None:
            self._has_conv = None
            self.kernels.explanation.show_text(
                "No model yet",
                "Train a model on the Train page, or open a checkpoint, to see the kernels its convolution layers "
                "learned. The kernel playground works without a model.", button=True)
            self.kernels.stack.setCurrentWidget(self.kernels.explanation)
            self.features.explanation.show_text(
                "No model yet", "Feature maps show what each layer of a model makes of an image: train a model or "
                "open a checkpoint first.", button=True)
            self.features.stack.setCurrentWidget(self.features.explanation)
            self._request_image()  # the playground still wants the image, at the new default size
            return
        self._kernel_source = self._model_source()
        self._kernel_runner.submit(read_kernels, model, on_result=self.refresh_kernels,
                                   on_error=lambda e: self._show_error(e, "Could not read the kernels"))
        self.features.stack.setCurrentIndex(1)
        if self.image is None or self._pixels_shape != self._input_shape():
            self._request_image()
        else:
            self._request_features()

    @Slot(object)
    def _on_state_dataset_changed(self, bundle: Any) -> None:
        if not self._ready:
            return
        if bundle is None:
            self.picker.set_dataset(None, {})
            return
        labels = {"train": bundle.train.labels.numpy(), "val": bundle.val.labels.numpy()}
        self.picker.set_dataset(tuple(bundle.class_names), labels)
        if self.image is None or self.image.kind == "dataset":
            self.picker.choose("val", 0)

    @Slot(bool)
    def _on_state_training_changed(self, running: bool) -> None:
        if running and self._ready:
            self.kernels.source_label.setText(
                self._kernel_source + "\nA run is training: the grid shows its kernels when it ends.")
        elif self._ready:
            self.kernels.source_label.setText(self._kernel_source)

    @Slot(object)
    def _on_state_epoch_weights(self, payload: Any) -> None:
        """Kernels sent at the end of a training epoch: a dict, or (epoch, dict)."""
        epoch = None
        if isinstance(payload, tuple) and len(payload) == 2:
            epoch, payload = payload
        if isinstance(payload, dict):
            where = f"epoch {epoch}" if epoch is not None else "the last epoch"
            self.refresh_kernels(payload, f"Live from the run in progress, after {where}.")

    # ------------------------------------------------------------------ model facts

    def _meta(self) -> Any:
        return self.state.checkpoint_meta if self.state.model is not None else None

    def _input_shape(self) -> tuple[int, int, int]:
        meta = self._meta()
        if meta is not None:
            return tuple(meta.input_shape)
        if self.state.dataset is not None:
            return tuple(self.state.dataset.input_shape)
        return DEFAULT_INPUT_SHAPE

    def _mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        meta = self._meta()
        if meta is not None:
            return tuple(meta.mean), tuple(meta.std)
        c = self._input_shape()[0]
        if self.state.dataset is not None and len(self.state.dataset.mean) == c:
            return tuple(self.state.dataset.mean), tuple(self.state.dataset.std)
        return (0.5,) * c, (0.25,) * c

    def _class_names(self) -> tuple[str, ...]:
        meta = self._meta()
        if meta is not None:
            return tuple(meta.class_names)
        return tuple(self.state.dataset.class_names) if self.state.dataset is not None else ()

    def _model_source(self) -> str:
        path = self.state.checkpoint_path
        return f"Weights of {Path(path).name}." if path else "Weights of the current model."

    def _update_header(self) -> None:
        meta, model = self._meta(), self.state.model
        if model is None:
            self.model_label.setText("No model")
            self.model_detail.setText("Train one or open a checkpoint")
            return
        name = meta.model_spec.name if meta is not None else type(model).__name__
        self.model_label.setText(name)
        parts = []
        if meta is not None:
            parts.append(f"input {shape_text(meta.input_shape)}")
            if meta.dataset:
                parts.append(meta.dataset)
            acc = meta.metrics.get("val_acc") if meta.metrics else None
            if acc is not None:
                parts.append(f"validation accuracy {acc:.1%}")
        if self.state.checkpoint_path:
            parts.append(Path(self.state.checkpoint_path).name)
        self.model_detail.setText("  ·  ".join(parts))
        self.model_detail.setToolTip(str(self.state.checkpoint_path or ""))

    def _show_no_conv(self) -> None:
        c, h, w = self._input_shape()
        text = (f"This model has no convolution layers, so there are no kernels and no feature maps to show. "
                f"It flattens each {c}×{h}×{w} image into one vector of {c * h * w:,} numbers, and every layer after "
                f"that sees only vectors: the picture's spatial structure is gone. Choose a convnet on the Model page "
                f"and train it, or open a checkpoint of one, to watch kernels form.")
        self.kernels.explanation.show_text("No convolution layers in this model", text, button=True)
        self.kernels.stack.setCurrentWidget(self.kernels.explanation)
        self.features.banner.show_message(
            "This model has no convolution layers, so there are no feature maps: its layers see the image as "
            f"one vector of {c * h * w:,} numbers. Their outputs are shown below as vectors, row by row.", INFO)

    # ------------------------------------------------------------------ images

    def _on_picker_dataset_image_requested(self, split: str, index: int) -> None:
        bundle = self.state.dataset
        if bundle is None:
            return
        images = bundle.val if split == "val" else bundle.train
        if not 0 <= index < len(images):
            return
        label = int(images.labels[index])
        name = bundle.class_names[label] if label < len(bundle.class_names) else str(label)
        split_name = dict(SPLITS)[split].lower()
        caption = f"{name} · {split_name} image {index + 1:,}"
        pixels = images.images[index].numpy().copy()
        self._choose(ChosenImage("dataset", caption, split=split, index=index, label=label), pixels)

    def _choose(self, image: ChosenImage, source: Any) -> None:
        self.image = image
        self._source = source
        self._request_image()

    def _request_image(self) -> None:
        if self.image is None:
            self.playground.clear("Pick an image to convolve.")
            return
        shape = self._input_shape()
        self._image_runner.submit(prepare_image, self._source, shape,
                                  on_result=lambda pixels, s=shape: self._on_image_prepared(pixels, s),
                                  on_error=lambda e: self._show_error(e, "Could not use this image"))

    def _on_image_prepared(self, pixels: np.ndarray, shape: tuple[int, int, int]) -> None:
        self.pixels = pixels
        self._pixels_shape = shape
        self.banner.clear()
        self._update_picker()
        self.playground.show_input(pixels)
        self.image_shown.emit()
        self._request_features()
        self._request_playground()

    def _update_picker(self, shown: np.ndarray | None = None) -> None:
        if self.image is None or self.pixels is None:
            return
        c, h, w = self.pixels.shape
        if self.state.model is not None:
            mean, std = self._mean_std()
            detail = (f"As the model sees it: resized to {w}×{h}, normalized with mean "
                      f"({', '.join(f'{m:.3f}' for m in mean)}) and std ({', '.join(f'{s:.3f}' for s in std)}), "
                      "shown denormalized.")
        else:
            detail = f"Resized to {w}×{h}."
        self.picker.show_image(shown if shown is not None else self.pixels, self.image.caption, detail)

    def _request_features(self) -> None:
        model = self.state.model
        if model is None or self.pixels is None:
            return
        mean, std = self._mean_std()
        self._feature_runner.submit(compute_features, model, self.pixels, mean, std,
                                    on_result=self._on_features_computed,
                                    on_error=lambda e: self._show_error(e, "Could not compute the feature maps"))

    def _on_features_computed(self, inspection: Any) -> None:
        if self.state.model is None:
            return
        self._update_picker(inspection.image)
        self.features.stack.setCurrentIndex(1)
        if self._has_conv is not False:
            self.features.banner.clear()
        self.features.set_inspection(inspection, self._class_names())
        self._show_prediction(inspection)
        self.features_drawn.emit()

    def _show_prediction(self, inspection: Any) -> None:
        probs = inspection.probabilities
        names = self._class_names()
        if probs is None or len(probs) != len(names):
            self.features.prediction.setText("")
            return
        order = np.argsort(probs)[::-1][:3]
        best = names[order[0]]
        truth = ""
        if self.image is not None and self.image.label is not None and self.state.dataset is not None:
            true_name = self.state.dataset.class_names[self.image.label]
            if true_name in names:
                mark = "✓" if true_name == best else "✗"
                truth = f" &nbsp;{mark} (the label is <b>{true_name}</b>)"
        others = ", ".join(f"{names[i]} {probs[i]:.1%}" for i in order[1:])
        self.features.prediction.setText(
            f"The model says <b>{best}</b> ({probs[order[0]]:.1%}){truth}"
            + (f" &nbsp;·&nbsp; next: {others}" if others else ""))

    def _request_playground(self) -> None:
        if not self._ready or self.pixels is None:
            return
        kernel, padding, stride, pool = self.playground.settings()
        if self.playground.describe(self.pixels) is None:
            self.playground.banner.show_message(
                f"A {kernel.shape[0]}×{kernel.shape[0]} kernel with padding {padding} does not fit this "
                f"{self.pixels.shape[1]}×{self.pixels.shape[2]} image.", WARNING)
            return
        pixels = self.pixels
        self._playground_runner.submit(
            run_playground, pixels, kernel, padding, stride, pool,
            on_result=lambda out, p=pixels: self._on_playground_result(p, out),
            on_error=lambda e: self.playground.banner.show_message(e.message, WARNING if e.user_error else ERROR))

    def _on_playground_result(self, pixels: np.ndarray, output: np.ndarray) -> None:
        self.playground.show_output(pixels, output)
        self.playground_drawn.emit()

    # ------------------------------------------------------------------ actions

    def _on_open_clicked(self) -> None:
        from cvstudio.gui.dialogs import ask_open_checkpoint

        path = ask_open_checkpoint(self)
        if path:
            self.open_checkpoint(path)

    def _on_checkpoint_loaded(self, loaded: Any) -> None:
        self.state.set_model(loaded.model, loaded.meta, loaded.path)
        self.state.status_message.emit(f"Opened {Path(loaded.path).name}")

    def _show_error(self, error: TaskError, what: str) -> None:
        if not error.user_error:
            log.error("%s: %s", what, error.traceback)
        self.banner.show_message(f"{what}: {error.message}", ERROR)

    def _ask_export(self, fmt: str, what: str) -> None:
        from cvstudio.gui.dialogs import ask_save_path

        if self._export_values(what) is None:
            self.banner.show_message("There is nothing to save yet.", INFO)
            return
        name = {"kernels": self.kernels.layer or "kernels", "features": self.features.layer or "features",
                "playground": "playground"}[what]
        suggested = f"{name}-{what}.{fmt}" if what != "playground" else f"playground-output.{fmt}"
        title = "Save image" if fmt == "png" else "Save values"
        path = ask_save_path(self, title, suggested, PNG_FILTER if fmt == "png" else NPY_FILTER, f".{fmt}")
        if path is None:
            return
        try:
            self.export(what, fmt, path)
        except (OSError, ValueError) as exc:
            self.banner.show_message(f"Could not save {path}: {exc}", ERROR)
            return
        self.state.status_message.emit(f"Saved {path}")

    def _on_tab_changed(self, index: int) -> None:
        tab = self.tabs.widget(index)
        if tab is self.features:
            self.features.picker_slot.addWidget(self.picker)
        elif tab is self.playground:
            self.playground.picker_slot.addWidget(self.picker)

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            if self.tabs.currentWidget() is self.kernels:
                self.tabs.setCurrentWidget(self.features)
            self.open_image_file(files[0])

    def sizeHint(self) -> QSize:
        return QSize(1240, 780)


__all__ = ["InspectPage", "LatestRunner"]


def main(argv: list[str] | None = None) -> int:
    from cvstudio.gui.preview import run_preview

    args = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("--")]

    def make_page(state: AppState) -> InspectPage:
        page = InspectPage(state)
        if args:
            if state.torch_loaded:
                page.open_checkpoint(args[0])
            else:
                state.torch_ready.connect(lambda: page.open_checkpoint(args[0]))
        return page

    return run_preview(make_page, "Inspect")


if __name__ == "__main__":
    sys.exit(main())
