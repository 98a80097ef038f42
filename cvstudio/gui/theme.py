"""Light and dark looks: the Fusion style with a hand-tuned QPalette.

Widgets read colours from their palette (never hard-coded greys), and those
that draw custom colours (plots, the sidebar, banners) recolour themselves on
``QEvent.PaletteChange``, so switching the theme at run time needs nothing
but :func:`apply_theme`.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyle, QWidget

from cvstudio.gui.lru import LruCache

THEMES = ("system", "light", "dark")
THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}

R = QPalette.ColorRole
G = QPalette.ColorGroup

_LIGHT = {
    R.Window: "#f2f3f5",
    R.WindowText: "#1f2328",
    R.Base: "#ffffff",
    R.AlternateBase: "#f5f6f8",
    R.ToolTipBase: "#ffffff",
    R.ToolTipText: "#1f2328",
    R.PlaceholderText: "#8b929a",
    R.Text: "#1f2328",
    R.Button: "#f7f8fa",
    R.ButtonText: "#1f2328",
    R.BrightText: "#d1242f",
    R.Light: "#ffffff",
    R.Midlight: "#e6e8eb",
    R.Mid: "#c4c8ce",
    R.Dark: "#9aa0a8",
    R.Shadow: "#6e7781",
    R.Highlight: "#2f6fde",
    R.HighlightedText: "#ffffff",
    R.Link: "#1f63d6",
    R.LinkVisited: "#8250df",
}
_LIGHT_DISABLED = {R.WindowText: "#9199a1", R.Text: "#9199a1", R.ButtonText: "#9199a1", R.Highlight: "#b5c4de"}

_DARK = {
    R.Window: "#2b2d31",
    R.WindowText: "#e1e3e6",
    R.Base: "#1f2023",
    R.AlternateBase: "#27292d",
    R.ToolTipBase: "#3a3d42",
    R.ToolTipText: "#e1e3e6",
    R.PlaceholderText: "#80858c",
    R.Text: "#e1e3e6",
    R.Button: "#383a3f",
    R.ButtonText: "#e1e3e6",
    R.BrightText: "#ff6b6b",
    R.Light: "#4a4d53",
    R.Midlight: "#404348",
    R.Mid: "#34363b",
    R.Dark: "#1b1c1f",
    R.Shadow: "#0d0d0f",
    R.Highlight: "#3f7be6",
    R.HighlightedText: "#ffffff",
    R.Link: "#78a9ff",
    R.LinkVisited: "#c297ff",
}
_DARK_DISABLED = {R.WindowText: "#6f747b", R.Text: "#6f747b", R.ButtonText: "#6f747b", R.Highlight: "#3b4453"}


def make_palette(dark: bool) -> QPalette:
    palette = QPalette()
    colours, disabled = (_DARK, _DARK_DISABLED) if dark else (_LIGHT, _LIGHT_DISABLED)
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role, colour in disabled.items():
        palette.setColor(G.Disabled, role, QColor(colour))
    return palette


def system_prefers_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return bool(scheme and scheme() == Qt.ColorScheme.Dark)


def resolve_theme(name: str) -> str:
    """'system' -> 'light' or 'dark'; unknown names fall back to 'system'."""
    if name not in THEMES:
        name = "system"
    if name == "system":
        return "dark" if system_prefers_dark() else "light"
    return name


def apply_theme(name: str, app: QApplication | None = None) -> str:
    """Use the Fusion style with the light or dark palette; returns the look applied ('light'/'dark')."""
    app = app or QApplication.instance()  # type: ignore[assignment]
    look = resolve_theme(name)
    if app.style().name().lower() != "fusion":  # type: ignore[union-attr]
        app.setStyle("Fusion")  # type: ignore[union-attr]
    app.setPalette(make_palette(look == "dark"))  # type: ignore[union-attr]
    QApplication.sendPostedEvents(None, QEvent.Type.ApplicationPaletteChange)  # widgets get the palette now
    _repolish_styled_widgets(app)
    return look


def _repolish_styled_widgets(app: QApplication) -> None:
    """Widgets under a style sheet keep the palette they were polished with; polish them again."""
    for top in app.topLevelWidgets():  # type: ignore[union-attr]
        for widget in [top, *top.findChildren(QWidget)]:
            if widget.styleSheet():
                style = widget.style()
                style.unpolish(widget)
                style.polish(widget)
                for child in widget.findChildren(QWidget):
                    child.style().unpolish(child)
                    child.style().polish(child)
                widget.update()


def is_dark(palette: QPalette) -> bool:
    return palette.color(R.Window).lightness() < 128


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """Blend two colours: t=0 gives a, t=1 gives b."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def draw_cell_bar(painter: QPainter, option, fraction: float, inset: int, bottom_gap: int) -> None:
    """A thin bar under a table cell's text showing ``fraction`` (0..1) of its width, in the highlight colour."""
    pal = option.palette
    selected = bool(option.state & QStyle.StateFlag.State_Selected)
    colour = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Highlight)
    track = mix(pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text), 0.1)
    rect = option.rect.adjusted(inset, 0, -inset, 0)
    h = 3
    bar = QRectF(rect.left(), rect.bottom() - h - bottom_gap, rect.width(), h)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    if not selected:  # the selection's own colour is the track then
        painter.setBrush(track)
        painter.drawRoundedRect(bar, 1.5, 1.5)
    painter.setBrush(colour)
    painter.drawRoundedRect(QRectF(bar.left(), bar.top(), max(h, bar.width() * min(1.0, fraction)), h), 1.5, 1.5)
    painter.restore()


_CARDS_KEPT = 32  # looks kept: sizes x states x palettes in use at once
_CARDS: LruCache[tuple, QPixmap] = LruCache(_CARDS_KEPT)  # card backgrounds by look: ~45 us each to draw


def draw_card(painter: QPainter, option, selected_tint: float) -> QRectF:
    """The rounded card behind a thumbnail in a grid view (classify results, evaluation gallery).

    Selected cards take the highlight colour, hovered ones a stronger border. Leaves the painter
    saved with antialiasing on (the caller restores it) and returns the card's rectangle. Each look
    is drawn once into a pixmap, then copied (a grid of cards shares a handful of looks).
    """
    pal = option.palette
    selected = bool(option.state & QStyle.StateFlag.State_Selected)
    hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
    dpr = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
    size = option.rect.size()
    key = (size.width(), size.height(), selected, hover, pal.cacheKey(), selected_tint, dpr)
    pm = _CARDS.get(key)
    if pm is None:
        pm = QPixmap(size * dpr)
        pm.setDevicePixelRatio(dpr)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        try:
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            text = pal.color(QPalette.ColorRole.Text)
            base = pal.color(QPalette.ColorRole.Base)
            if selected:
                highlight = pal.color(QPalette.ColorRole.Highlight)
                p.setPen(highlight)
                p.setBrush(mix(base, highlight, selected_tint))
            else:
                p.setPen(mix(base, text, 0.22 if hover else 0.12))
                p.setBrush(mix(base, text, 0.03))
            p.drawRoundedRect(QRectF(0, 0, size.width(), size.height()).adjusted(3.5, 3.5, -3.5, -3.5), 6, 6)
        finally:
            p.end()
        _CARDS.put(key, pm)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.drawPixmap(option.rect.topLeft(), pm)
    return QRectF(option.rect).adjusted(3.5, 3.5, -3.5, -3.5)
