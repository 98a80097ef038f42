"""Files the application ships: the app icon as SVG and as PNGs from 16 to 256 px.

They are found through the package (``importlib.resources``), never through
the working directory, so they are there in a source checkout, an installed
wheel and a frozen bundle alike. ``packaging/make_icons.py`` draws them.
"""

from __future__ import annotations

from importlib import resources as _resources
from importlib.abc import Traversable

ICON_SVG = "cvstudio.svg"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def files() -> Traversable:
    """This folder, as importlib.resources sees it."""
    return _resources.files(__name__)


def icon_png_name(size: int) -> str:
    return f"cvstudio-{size}.png"

