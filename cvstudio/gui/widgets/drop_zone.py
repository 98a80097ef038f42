"""Drag and drop helpers: the empty-state drop target and the overlay shown while dragging.

:class:`DropZone` is what a page shows before it has anything: a dashed
frame that says what can be dropped, with buttons for people who prefer
dialogs. :class:`DropOverlay` covers a page that already shows results while
files are dragged over it, so it is always clear that dropping works and
what it will do. Neither widget handles the drop itself: the page does, with
:func:`local_paths` reading the dragged files.

Colours come from the palette (the highlight for "active", the mid tone for
the resting frame), so both read on light and dark themes.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from cvstudio.gui.theme import mix


def local_paths(mime: QMimeData | None) -> list[str]:
    """The local files and folders a drag carries, in order (remote URLs are left out)."""
    if mime is None or not mime.hasUrls():
        return []
    out = []
    for url in mime.urls():
        if url.isLocalFile():
            path = url.toLocalFile()
            if path:
                out.append(path)
    return out


def has_droppable(mime: QMimeData | None) -> bool:
    """True when a drag carries local files or an image (e.g. dragged from a browser)."""
    return mime is not None and (bool(local_paths(mime)) or mime.hasImage())


def is_checkpoint(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".safetensors"


def _draw_image_icon(p: QPainter, rect: QRectF, colour: QColor) -> None:
    """A picture (frame, sun, mountains) with a down arrow: 'drop images here'."""
    w = rect.width()
    pen = QPen(colour, max(2.0, w / 22), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    frame = QRectF(rect.left(), rect.top() + w * 0.22, w * 0.78, w * 0.62)
    p.drawRoundedRect(frame, w * 0.06, w * 0.06)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawEllipse(QRectF(frame.left() + w * 0.12, frame.top() + w * 0.1, w * 0.12, w * 0.12))
    hills = QPainterPath()
    hills.moveTo(frame.left() + w * 0.06, frame.bottom() - w * 0.06)
    hills.lineTo(frame.left() + w * 0.3, frame.top() + w * 0.3)
    hills.lineTo(frame.left() + w * 0.45, frame.top() + w * 0.42)
    hills.lineTo(frame.left() + w * 0.55, frame.top() + w * 0.32)
    hills.lineTo(frame.right() - w * 0.06, frame.bottom() - w * 0.06)
    hills.closeSubpath()
    p.drawPath(hills)
    # the arrow, top right, pointing into the frame
    p.setPen(pen)
    x = rect.left() + w * 0.86
    tip = QPointF(x, rect.top() + w * 0.34)
    p.drawLine(QPointF(x, rect.top()), tip)
    p.drawLine(QPointF(x - w * 0.1, rect.top() + w * 0.24), tip)
    p.drawLine(QPointF(x + w * 0.1, rect.top() + w * 0.24), tip)


class _Icon(QWidget):
    def __init__(self, side: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedSize(side, side)
        self.active = False

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        colour = pal.color(QPalette.ColorRole.Highlight) if self.active else mix(
            pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window), 0.45
        )
        m = self.width() * 0.06
        _draw_image_icon(p, QRectF(m, m, self.width() - 2 * m, self.height() - 2 * m), colour)
        p.end()


class DropZone(QWidget):
    """The empty state: a dashed frame with an icon, what to drop, the shortcuts and open buttons."""

    open_images_requested = Signal()
    open_folder_requested = Signal()
    paste_requested = Signal()

    def __init__(
        self,
        title: str = "Drop images or a folder here",
        hint: str = "or press Ctrl+O / Ctrl+V",
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._active = False
        self.icon = _Icon(72, self)
        self.title = QLabel(title, self)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setWeight(QFont.Weight.DemiBold)
        self.title.setFont(font)
        self.hint = QLabel(hint, self)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.detail = QLabel("", self)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        self.detail.setEnabled(False)  # the quieter disabled-text colour
        self.detail.hide()

        self.open_images_button = QPushButton("Open images…", self)
        self.open_folder_button = QPushButton("Open folder…", self)
        self.paste_button = QPushButton("Paste", self)
        self.open_images_button.clicked.connect(self.open_images_requested)
        self.open_folder_button.clicked.connect(self.open_folder_requested)
        self.paste_button.clicked.connect(self.paste_requested)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addStretch(1)
        for b in (self.open_images_button, self.open_folder_button, self.paste_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.setSpacing(10)
        layout.addStretch(3)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(6)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addSpacing(10)
        layout.addLayout(buttons)
        layout.addSpacing(4)
        layout.addWidget(self.detail)
        layout.addStretch(4)
        self._recolour()

    def set_active(self, active: bool) -> None:
        """Highlight the frame while something droppable is dragged over the page."""
        if active != self._active:
            self._active = active
            self.icon.active = active
            self.icon.update()
            self.update()

    @property
    def active(self) -> bool:
        return self._active

    def set_detail(self, text: str) -> None:
        """A quieter line under the buttons (e.g. which model will classify)."""
        self.detail.setText(text)
        self.detail.setVisible(bool(text))

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.PaletteChange:
            self._recolour()
        super().changeEvent(event)

    def _recolour(self) -> None:
        pal = self.palette()
        quiet = mix(pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window), 0.35)
        hint_pal = self.hint.palette()
        hint_pal.setColor(QPalette.ColorRole.WindowText, quiet)
        self.hint.setPalette(hint_pal)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        rect = QRectF(self.rect()).adjusted(10.5, 10.5, -10.5, -10.5)
        base = pal.color(QPalette.ColorRole.Base)
        highlight = pal.color(QPalette.ColorRole.Highlight)
        fill = mix(base, highlight, 0.08) if self._active else mix(pal.color(QPalette.ColorRole.Window), base, 0.5)
        border = highlight if self._active else mix(pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window), 0.65)
        pen = QPen(border, 2.0 if self._active else 1.5, Qt.PenStyle.DashLine)
        pen.setDashPattern([5, 4])
        p.setPen(pen)
        p.setBrush(fill)
        p.drawRoundedRect(rect, 12, 12)
        p.end()


class DropOverlay(QWidget):
    """A translucent cover with a message, shown over a page while files are dragged onto it.

    It ignores the mouse, so the drag events reach the page below.
    """

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self._text = "Drop to classify"
        self.hide()

    def show_message(self, text: str) -> None:
        self._text = text
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        self.show()
        self.update()

    def text(self) -> str:
        return self._text if self.isVisible() else ""

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        highlight = pal.color(QPalette.ColorRole.Highlight)
        cover = QColor(pal.color(QPalette.ColorRole.Base))
        cover.setAlpha(205)
        rect = QRectF(self.rect()).adjusted(6.5, 6.5, -6.5, -6.5)
        pen = QPen(highlight, 2.0, Qt.PenStyle.DashLine)
        pen.setDashPattern([5, 4])
        p.setPen(pen)
        p.setBrush(cover)
        p.drawRoundedRect(rect, 12, 12)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setWeight(QFont.Weight.DemiBold)
        p.setFont(font)
        p.setPen(highlight)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._text)
        p.end()


__all__ = ["DropOverlay", "DropZone", "has_droppable", "is_checkpoint", "local_paths"]
