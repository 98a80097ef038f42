"""Draw CV Studio's icon: one SVG, rendered to PNGs (16..256 px), a Windows .ico and a macOS .icns.

The picture is the one the window draws for itself (gui/widgets/icons.py
``_app``): a lens over a grid, on a blue rounded tile. Run it after changing
the SVG; its outputs are committed, so building a package never needs it::

    .venv/bin/python packaging/make_icons.py

Writes cvstudio/resources/cvstudio.svg and cvstudio-<size>.png (used at run
time, through the package and by the installers' icon tree, packaging/linux/hicolor.sh) and
resources/cvstudio.ico and cvstudio.icns (Windows and macOS formats of the same picture).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_RESOURCES = ROOT / "cvstudio" / "resources"
INSTALLER_RESOURCES = ROOT / "resources"
SIZES = (16, 24, 32, 48, 64, 128, 256)

# 64 x 64 user units, close to the geometry of gui/widgets/icons.py::_app (a closed 3 x 3 grid here)
SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 64 64">
  <title>CV Studio</title>
  <defs>
    <linearGradient id="tile" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#3b7cf0"/>
      <stop offset="1" stop-color="#2558c4"/>
    </linearGradient>
  </defs>
  <rect x="2" y="2" width="60" height="60" rx="14" ry="14" fill="url(#tile)"/>
  <g stroke="#ffffff" stroke-width="3" stroke-linecap="round" opacity="0.9">
    <path d="M10 10V40M20 10V40M30 10V40M40 10V40M10 10H40M10 20H40M10 30H40M10 40H40"/>
  </g>
  <circle cx="36" cy="36" r="13" fill="#2f6fde" fill-opacity="0.8" stroke="#ffffff" stroke-width="5"/>
  <path d="M46 46L56 56" stroke="#ffffff" stroke-width="7" stroke-linecap="round"/>
</svg>
"""


def render_png(svg: bytes, size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        raise SystemExit("the SVG does not parse")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - QImage/QPainter want one
    svg = SVG.encode()
    (PACKAGE_RESOURCES / "cvstudio.svg").write_bytes(svg)
    pngs = {}
    for size in SIZES:
        pngs[size] = render_png(svg, size)
        (PACKAGE_RESOURCES / f"cvstudio-{size}.png").write_bytes(pngs[size])
    # The installers' hicolor tree is laid out from these at packaging time (packaging/linux/hicolor.sh).

    big = Image.open(io.BytesIO(render_png(svg, 1024))).convert("RGBA")
    big.resize((256, 256), Image.Resampling.LANCZOS).save(
        INSTALLER_RESOURCES / "cvstudio.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)]
    )
    big.save(INSTALLER_RESOURCES / "cvstudio.icns")
    print(f"wrote {len(SIZES)} PNGs, the SVG, cvstudio.ico and cvstudio.icns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
