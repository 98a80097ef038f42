"""One dataset image shown large, with its file path and what the model said about it.

Opened from the Evaluate page's galleries (double-click a card). The image is
read from its file when there is one (so it is seen at its own resolution,
not the dataset's decoded size), else drawn from the dataset's pixels and
enlarged without smoothing. "Show in folder" and "Move to class…" are
buttons whose handling belongs to the page (the viewer only asks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.images import array_to_qimage
from cvstudio.gui.widgets.mosaic_view import SecondaryLabel

VIEW_SIDE = 512  # pixels: the image is fitted into a square of about this side
MAX_READ_SIDE = 2048  # a large photo is decoded reduced to this side (JPEG decodes it reduced: fast)


def read_image(path: str) -> QImage | None:
    """The image of a file, upright (EXIF orientation) and at most MAX_READ_SIDE a side; None if unreadable."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > MAX_READ_SIDE:
        reader.setScaledSize(size.scaled(MAX_READ_SIDE, MAX_READ_SIDE, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return None if image.isNull() else image


class ImageViewer(QDialog):
    """A non-modal window showing one image large; reused for the next one."""

    show_in_folder_requested = Signal(str)  # a file path
    move_requested = Signal(str)  # a file path

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Image")
        self.path: str | None = None
        self.image_label = QLabel(self)
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(QSize(VIEW_SIDE // 2, VIEW_SIDE // 2))
        self.image_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.path_label = SecondaryLabel("", self)
        self.path_label.setTextFormat(Qt.TextFormat.PlainText)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.folder_button = QPushButton("Show in folder", self)
        self.folder_button.setToolTip("Open the folder holding this file in the file manager")
        self.move_button = QPushButton("Move to class…", self)
        self.move_button.setToolTip("Move the file into another class folder: fixes a wrong label where it is "
                                    "(undo with Ctrl+Z)")
        self.buttons.addButton(self.folder_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.move_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.close)
        self.folder_button.clicked.connect(lambda: self.path and self.show_in_folder_requested.emit(self.path))
        self.move_button.clicked.connect(lambda: self.path and self.move_requested.emit(self.path))
        layout = QVBoxLayout(self)
        layout.addWidget(self.image_label, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.path_label)
        layout.addWidget(self.buttons)
        self._pixmap = QPixmap()

    def show_image(self, pixels: np.ndarray, caption: str, path: str | None, title: str, movable: bool) -> None:
        """Show the dataset image ``pixels`` (uint8 C×H×W) or, when readable, the file ``path`` itself."""
        self.path = path
        image = read_image(path) if path else None
        if image is None:
            c = pixels.shape[0]
            image = array_to_qimage(pixels if c == 1 else pixels[:3], channels_first=True)  # enlarged by _fit
        self._pixmap = QPixmap.fromImage(image)
        self.caption.setText(caption)
        self.set_path(path)
        self.folder_button.setVisible(path is not None)
        self.move_button.setVisible(path is not None and movable)
        self.setWindowTitle(title)
        self._fit()
        self.show()
        self.raise_()

    def set_path(self, path: str | None, note: str = "") -> None:
        self.path = path
        text = path if path else "This dataset's images have no files (built-in or downloaded dataset)."
        self.path_label.setText(f"{text}\n{note}" if note else text)
        self.path_label.setToolTip(path or "")
        if path:
            self.setWindowTitle(Path(path).name)

    def _fit(self) -> None:
        if self._pixmap.isNull():
            return
        target = self.image_label.size().boundedTo(QSize(4096, 4096))
        if target.width() < 32 or target.height() < 32:
            target = QSize(VIEW_SIDE, VIEW_SIDE)
        pm = self._pixmap
        if pm.width() > target.width() or pm.height() > target.height():
            pm = pm.scaled(target, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        else:  # a small image: enlarged by a whole factor without smoothing, so no detail is invented
            factor = min(target.width() // max(1, pm.width()), target.height() // max(1, pm.height()))
            if factor > 1:
                pm = pm.scaled(pm.width() * factor, pm.height() * factor, Qt.AspectRatioMode.IgnoreAspectRatio,
                               Qt.TransformationMode.FastTransformation)
        self.image_label.setPixmap(pm)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def sizeHint(self) -> QSize:
        return QSize(VIEW_SIDE + 40, VIEW_SIDE + 140)


__all__ = ["ImageViewer", "read_image"]
