"""The image as the model sees it, optionally with a saliency heatmap painted over it.

The model's input is tiny (CIFAR-sized models see 32x32 pixels), so it is
scaled up with nearest-neighbour sampling: every pixel the model gets stays a
visible square, which is the honest picture. The heatmap (an RGBA image from
``core.saliency.colorize``) is scaled smoothly over the same rectangle with an
adjustable opacity. Nothing here computes anything: both images arrive ready.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from cvstudio.gui.theme import mix


class ModelImageView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._overlay: QImage | None = None
        self._opacity = 1.0
        self._placeholder = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self.update()

    def image(self) -> QImage | None:
        return self._image

    def set_overlay(self, overlay: QImage | None) -> None:
        self._overlay = overlay
        self.update()

    def overlay(self) -> QImage | None:
        return self._overlay

    def set_overlay_opacity(self, opacity: float) -> None:
        self._opacity = min(1.0, max(0.0, float(opacity)))
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(280, 280)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return False

    def image_rect(self) -> QRectF:
        """Where the image is drawn: as large as fits, aspect kept, whole pixels when enlarging."""
        if self._image is None or self._image.isNull():
            return QRectF()
        w, h = self._image.width(), self._image.height()
        avail_w, avail_h = self.width() - 2, self.height() - 2
        scale = min(avail_w / w, avail_h / h)
        if scale >= 1:
            scale = max(1, int(scale))  # integer enlargement: every model pixel is the same size
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2, (self.height() - dh) / 2, dw, dh)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        pal = self.palette()
        window = pal.color(QPalette.ColorRole.Window)
        text = pal.color(QPalette.ColorRole.WindowText)
        if self._image is None or self._image.isNull():
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(mix(text, window, 0.7))
            p.setBrush(mix(window, pal.color(QPalette.ColorRole.Base), 0.5))
            side = min(self.width(), self.height()) - 8
            box = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
            p.drawRoundedRect(box, 8, 8)
            if self._placeholder:
                p.setPen(mix(text, window, 0.45))
                p.drawText(box.adjusted(16, 16, -16, -16), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                           self._placeholder)
            p.end()
            return
        rect = self.image_rect()
        p.setPen(mix(text, window, 0.75))
        p.drawRect(rect.adjusted(-0.5, -0.5, 0.5, 0.5))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # nearest: the model's pixels
        p.drawImage(rect, self._image)
        if self._overlay is not None and not self._overlay.isNull() and self._opacity > 0:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.setOpacity(self._opacity)
            p.drawImage(rect, self._overlay)
        p.end()


__all__ = ["ModelImageView"]
