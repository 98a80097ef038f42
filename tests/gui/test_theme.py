"""Cards drawn from cached backgrounds look exactly like cards drawn afresh, per look and per palette."""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

from cvstudio.gui import theme


def _card(palette, state=QStyle.StateFlag.State_None, fresh=False) -> QImage:
    if fresh:
        theme._CARDS.clear()
    option = QStyleOptionViewItem()
    option.rect = QRect(10, 6, 124, 138)
    option.palette = palette
    option.state = state
    image = QImage(150, 150, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(palette.color(palette.ColorRole.Base))
    painter = QPainter(image)
    card = theme.draw_card(painter, option, 0.18)
    painter.restore()
    painter.end()
    assert card == QRectF(13.5, 9.5, 117, 131)
    return image


def _rounded_rect(palette, pen: QColor, brush: QColor) -> QImage:
    """The card as draw_card drew it before it kept backgrounds: straight onto the view."""
    image = QImage(150, 150, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(palette.color(palette.ColorRole.Base))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(pen)
    painter.setBrush(brush)
    painter.drawRoundedRect(QRectF(13.5, 9.5, 117, 131), 6, 6)
    painter.end()
    return image


def _max_difference(a: QImage, b: QImage) -> int:
    worst = 0
    for y in range(0, a.height(), 3):
        for x in range(a.width()):
            ca, cb = a.pixelColor(x, y), b.pixelColor(x, y)
            worst = max(worst, abs(ca.red() - cb.red()), abs(ca.green() - cb.green()), abs(ca.blue() - cb.blue()))
    return worst


def test_cached_cards_match_fresh_ones_and_direct_drawing(qapp):
    light = theme.make_palette(False)
    first = _card(light, fresh=True)
    assert len(theme._CARDS) == 1
    assert _card(light) == first  # from the cache: identical
    assert len(theme._CARDS) == 1
    text, base = light.color(light.ColorRole.Text), light.color(light.ColorRole.Base)
    direct = _rounded_rect(light, theme.mix(base, text, 0.12), theme.mix(base, text, 0.03))
    assert _max_difference(first, direct) <= 2  # antialiased edges blended once more: at most a shade apart


def test_each_look_and_palette_has_its_own_card(qapp):
    light, dark = theme.make_palette(False), theme.make_palette(True)
    plain = _card(light, fresh=True)
    selected = _card(light, QStyle.StateFlag.State_Selected)
    hovered = _card(light, QStyle.StateFlag.State_MouseOver)
    in_dark = _card(dark)
    looks = [plain, selected, hovered, in_dark]
    assert all(a != b for i, a in enumerate(looks) for b in looks[i + 1:]) and len(theme._CARDS) == 4
    assert selected == _card(light, QStyle.StateFlag.State_Selected, fresh=True)
    assert in_dark == _card(dark, fresh=True)


def test_the_cache_stays_small(qapp):
    light = theme.make_palette(False)
    theme._CARDS.clear()
    for w in range(100, 100 + 2 * theme._CARDS_KEPT):
        option = QStyleOptionViewItem()
        option.rect = QRect(0, 0, w, 50)
        option.palette = light
        image = QImage(w, 50, QImage.Format.Format_ARGB32_Premultiplied)
        painter = QPainter(image)
        theme.draw_card(painter, option, 0.18)
        painter.restore()
        painter.end()
    assert len(theme._CARDS) == theme._CARDS_KEPT
