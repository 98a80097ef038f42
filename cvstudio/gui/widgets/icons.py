"""Small line icons drawn with QPainter, in the palette's colours.

Drawing them keeps the app free of icon files and lets every icon follow the
light/dark theme: :func:`line_icon` renders the normal state in the text
colour and the selected state in the highlighted-text colour.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap

_SIZE = 64  # drawn at 64 px and scaled down: crisp at 16-32 px and on high-DPI screens


def _data(p: QPainter, c: QColor) -> None:
    """A 2x2 grid of pictures: a dataset."""
    p.setPen(QPen(c, 4))
    for x, y in ((8, 8), (34, 8), (8, 34), (34, 34)):
        p.drawRoundedRect(QRectF(x, y, 22, 22), 4, 4)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(c)
    p.drawEllipse(QPointF(19, 19), 4, 4)
    path = QPainterPath(QPointF(37, 53))
    path.lineTo(45, 41)
    path.lineTo(53, 53)
    path.closeSubpath()
    p.drawPath(path)


def _model(p: QPainter, c: QColor) -> None:
    """Three layers of a network, wired together."""
    p.setPen(QPen(c, 3))
    layers = [[14, 32, 50], [22, 42], [32]]
    xs = [12, 32, 52]
    for i in range(len(layers) - 1):
        for ya in layers[i]:
            for yb in layers[i + 1]:
                p.drawLine(QPointF(xs[i], ya), QPointF(xs[i + 1], yb))
    p.setBrush(c)
    p.setPen(Qt.PenStyle.NoPen)
    for x, column in zip(xs, layers):
        for y in column:
            p.drawEllipse(QPointF(x, y), 6, 6)


def _train(p: QPainter, c: QColor) -> None:
    """A falling loss curve on axes."""
    p.setPen(QPen(c, 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
    p.drawLine(QPointF(8, 6), QPointF(8, 56))
    p.drawLine(QPointF(8, 56), QPointF(58, 56))
    path = QPainterPath(QPointF(14, 12))
    path.cubicTo(QPointF(22, 40), QPointF(30, 44), QPointF(56, 46))
    pen = QPen(c, 5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPath(path)


def _inspect(p: QPainter, c: QColor) -> None:
    """A magnifying glass over a 3x3 kernel."""
    p.setPen(QPen(c, 3))
    for i in range(3):
        for j in range(3):
            p.drawRect(QRectF(8 + 9 * i, 8 + 9 * j, 7, 7))
    p.setPen(QPen(c, 5))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawEllipse(QPointF(36, 36), 13, 13)
    p.setPen(QPen(c, 7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    p.drawLine(QPointF(46, 46), QPointF(57, 57))


def _classify(p: QPainter, c: QColor) -> None:
    """A picture with a label tag."""
    p.setPen(QPen(c, 4))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRoundedRect(QRectF(6, 10, 36, 30), 4, 4)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(c)
    path = QPainterPath(QPointF(12, 34))
    path.lineTo(22, 22)
    path.lineTo(30, 30)
    path.lineTo(36, 26)
    path.lineTo(36, 34)
    path.closeSubpath()
    p.drawPath(path)
    tag = QPainterPath(QPointF(34, 38))
    tag.lineTo(50, 38)
    tag.lineTo(60, 48)
    tag.lineTo(50, 58)
    tag.lineTo(34, 58)
    tag.closeSubpath()
    p.drawPath(tag)


def _evaluate(p: QPainter, c: QColor) -> None:
    """A bar chart with a check mark."""
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(c)
    for i, h in enumerate((18, 30, 24)):
        p.drawRoundedRect(QRectF(8 + 13 * i, 56 - h, 9, h), 2, 2)
    p.setPen(QPen(c, 5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
    p.setBrush(Qt.BrushStyle.NoBrush)
    path = QPainterPath(QPointF(38, 18))
    path.lineTo(46, 26)
    path.lineTo(60, 8)
    p.drawPath(path)


def _runs(p: QPainter, c: QColor) -> None:
    """A table of runs: a header row and rows, each ending in a small curve."""
    p.setPen(QPen(c, 4))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRoundedRect(QRectF(6, 10, 52, 44), 5, 5)
    p.drawLine(QPointF(6, 22), QPointF(58, 22))
    p.setPen(QPen(c, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    for y in (32, 43):
        p.drawLine(QPointF(13, y), QPointF(30, y))
        p.drawLine(QPointF(38, y + 3), QPointF(44, y - 1))
        p.drawLine(QPointF(44, y - 1), QPointF(51, y - 3))


def _generic(p: QPainter, c: QColor) -> None:
    """A page of any other kind: a sheet with lines."""
    p.setPen(QPen(c, 4))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRoundedRect(QRectF(12, 6, 40, 52), 5, 5)
    for y in (20, 30, 40):
        p.drawLine(QPointF(20, y), QPointF(44, y))


def _app(p: QPainter, c: QColor) -> None:
    """The application icon: a lens over a grid, on a rounded tile."""
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#2f6fde"))
    p.drawRoundedRect(QRectF(2, 2, 60, 60), 14, 14)
    white = QColor("#ffffff")
    p.setPen(QPen(white, 3))
    for i in range(3):
        p.drawLine(QPointF(12 + 10 * i, 12), QPointF(12 + 10 * i, 40))
        p.drawLine(QPointF(12, 12 + 10 * i), QPointF(40, 12 + 10 * i))
    p.setPen(QPen(white, 5))
    p.setBrush(QColor(47, 111, 222, 200))
    p.drawEllipse(QPointF(36, 36), 13, 13)
    p.setPen(QPen(white, 7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    p.drawLine(QPointF(46, 46), QPointF(56, 56))


_DRAWERS: dict[str, Callable[[QPainter, QColor], None]] = {
    "data": _data,
    "model": _model,
    "train": _train,
    "inspect": _inspect,
    "classify": _classify,
    "evaluate": _evaluate,
    "runs": _runs,
}


def _pixmap(draw: Callable[[QPainter, QColor], None], colour: QColor) -> QPixmap:
    pm = QPixmap(_SIZE, _SIZE)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    draw(p, colour)
    p.end()
    return pm


def line_icon(name: str, palette: QPalette) -> QIcon:
    """Icon ``name`` (see :func:`icon_names`; others get a plain page) in the palette's text colours."""
    draw = _DRAWERS.get(name, _generic)
    icon = QIcon()
    icon.addPixmap(_pixmap(draw, palette.color(QPalette.ColorRole.WindowText)), QIcon.Mode.Normal)
    icon.addPixmap(_pixmap(draw, palette.color(QPalette.ColorRole.HighlightedText)), QIcon.Mode.Selected)
    icon.addPixmap(
        _pixmap(draw, palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)), QIcon.Mode.Disabled
    )
    return icon


def icon_names() -> tuple[str, ...]:
    return tuple(_DRAWERS)


def app_icon() -> QIcon:
    icon = QIcon()
    big = _pixmap(_app, QColor("#ffffff"))
    for size in (16, 24, 32, 48, 64):
        icon.addPixmap(big.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
    return icon
