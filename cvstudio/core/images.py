"""Pillow image modes -> the 8-bit RGB or L pixels a model sees.

One place for it: training folders (core/data/folders.py) and classifying
(core/inference.py) must turn a file into exactly the same pixels.
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from cvstudio.core.errors import ImageError

BACKGROUND = 255  # transparent pixels become white

# Decompression-bomb limit, the one for every image CV Studio opens (training
# folders and classify): Pillow's own default (~89.5 megapixels, a 9459x9459
# square). Set on Pillow too, so core.inference's check (which reads
# Image.MAX_IMAGE_PIXELS) and Pillow's own refusal of images over twice the
# limit follow it. Callers check the size themselves and report the file by
# name, so Pillow's DecompressionBombWarning is silenced while opening.
MAX_IMAGE_PIXELS = 89_478_485
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

# Warnings filters are process-wide: opening under this lock keeps concurrent
# decoders from racing on them.
OPEN_LOCK = threading.Lock()


def too_large(pixels: int) -> str:
    """The reason given for an image over :data:`MAX_IMAGE_PIXELS`."""
    return f"image is too large ({pixels} pixels; limit {MAX_IMAGE_PIXELS})"

# Modes that need nothing but Image.convert to reach RGB / L.
_PLAIN_MODES = {"1", "L", "RGB", "RGBX", "CMYK", "YCbCr", "HSV", "LAB", "P"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}


def to_8bit(im: Image.Image, alpha_ok: bool = False) -> Image.Image:
    """Any supported mode -> 'L', 'RGB' or (if alpha_ok) 'LA'/'RGBA'."""
    mode = im.mode
    if mode in _SIXTEEN_BIT or mode == "I":
        a = np.asarray(im)
        if mode == "I":  # 32-bit signed; 16-bit files often open as "I"
            a = np.clip(a, 0, None)
            top = 65535 if a.size == 0 or int(a.max()) <= 65535 else 2**31 - 1
        else:
            top = 65535
        a = (a.astype(np.float64) * (255.0 / top) + 0.5).astype(np.uint8)
        return Image.fromarray(a, "L")
    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if a.size and a.max() <= 1.0:
            a = a * 255.0
        return Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "L")
    if mode in _ALPHA_MODES:
        if mode in ("LA", "La"):
            return im.convert("LA")
        return im.convert("RGBA")
    if mode in ("P", "L", "RGB") and "transparency" in im.info:
        return im.convert("LA" if mode == "L" else "RGBA")
    if mode == "P":
        return im.convert("RGB")  # palette may hold colours; L conversion is done later
    if mode in ("L", "RGB"):
        return im
    if mode in _PLAIN_MODES:
        try:
            return im.convert("L" if mode == "1" else "RGB")
        except ValueError:
            raise ImageError(f"unsupported image mode {mode!r}") from None
    raise ImageError(f"unsupported image mode {mode!r}")


def flatten(im: Image.Image, mode: str) -> Image.Image:
    """Composite alpha on white and convert to ``mode`` ('RGB' or 'L')."""
    if im.mode in ("RGBA", "LA"):
        base_mode = "RGB" if im.mode == "RGBA" else "L"
        bg = Image.new(base_mode, im.size, (BACKGROUND,) * len(base_mode))
        bg.paste(im.convert(base_mode), mask=im.getchannel("A"))
        im = bg
    return im if im.mode == mode else im.convert(mode)
