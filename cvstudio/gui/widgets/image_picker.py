"""Choosing the image the Inspect page looks at, and showing a picture like the grids.

:class:`ImagePicker` picks from the loaded dataset (split, class, index,
random) or opens any image file; it only emits requests, the page decodes
the image in a worker. :class:`PictureView` draws a uint8 (C, H, W) picture
in a :class:`~cvstudio.gui.widgets.mosaic_view.MosaicView`, with the pixel
values under the mouse.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.images import array_to_qimage
from cvstudio.gui.widgets.mosaic_view import MosaicView, SecondaryLabel

THUMB_SIZE = 128  # pixels of the image preview
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.ppm *.pgm);;All files (*)"
SPLITS = (("val", "Validation"), ("train", "Training"))


class PictureView(MosaicView):
    """An RGB or grey picture (the input image) drawn like the grids, without a colour bar."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, placeholder="No image")
        self.colorbar.hide()
        self.pixels: np.ndarray | None = None

    def show_picture(self, pixels: np.ndarray, title: str, subtitle: str = "") -> None:
        """``pixels`` uint8 (C, H, W) with 1 or 3 channels."""
        c, h, w = pixels.shape
        self.pixels = pixels
        image = pixels[0] if c == 1 else np.ascontiguousarray(pixels.transpose(1, 2, 0))
        self.image_item.setLookupTable(None)
        self.image_item.setImage(image, levels=(0, 255), autoLevels=False)
        self.title.setText(title)
        self.subtitle.setText(subtitle)
        self.subtitle.setVisible(bool(subtitle))
        self._stack.setCurrentWidget(self.graphics)
        if self._shape != (h, w):
            self._shape = (h, w)
            self.reset_zoom()
        self.colorbar.hide()
        self.set_info("Hover over the image to read its pixels.")

    def _on_scene_mouse_moved(self, pos: QPointF) -> None:
        if self.pixels is None or not self.view.sceneBoundingRect().contains(pos):
            return
        p = self.image_item.mapFromScene(pos)
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        c, h, w = self.pixels.shape
        if 0 <= x < w and 0 <= y < h:
            values = self.pixels[:, y, x]
            text = " ".join(f"{n} {v:3d}" for n, v in zip("RGB" if c == 3 else "I", values))
            self.set_info(f"row {y}, column {x} · {text} (of 255)")

    def _on_scene_mouse_clicked(self, event: Any) -> None:
        if event.button() == Qt.MouseButton.LeftButton and event.double():
            self.reset_zoom()


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
        path, _ = QFileDialog.getOpenFileName(self, "Open image", prefs.last_dir(s, "images"), IMAGE_FILTER)
        if path:
            prefs.remember_dir(s, path, "images")
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
            qimage = array_to_qimage(pixels, channels_first=True)
            mode = (Qt.TransformationMode.FastTransformation if max(qimage.width(), qimage.height()) <= THUMB_SIZE
                    else Qt.TransformationMode.SmoothTransformation)
            self.thumb.setPixmap(QPixmap.fromImage(
                qimage.scaled(THUMB_SIZE, THUMB_SIZE, Qt.AspectRatioMode.KeepAspectRatio, mode)))
        self.caption.setText(caption)
        self.detail.setText(detail)
