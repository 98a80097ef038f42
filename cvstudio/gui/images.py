"""The one converter between numpy image arrays and QImages (pyqtgraph's, wrapped for our layouts).

Every widget that shows pixels made by the core (thumbnails, model views,
saliency overlays, dataset samples, mosaics) converts through here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyqtgraph.functions import ndarray_from_qimage, ndarray_to_qimage
from PySide6.QtGui import QImage

_FORMATS = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888, 4: QImage.Format.Format_RGBA8888}


def array_to_qimage(a: np.ndarray, channels_first: bool = False, copy: bool = True) -> QImage:
    """A deep-copied QImage of a uint8 image: (H, W) or (H, W, 1|3|4), or (C, H, W) with ``channels_first``.

    ``copy=False`` wraps the pixels of a C-contiguous array instead (~10 us less for a thumbnail): only to
    draw it at once, while the caller holds the array.
    """
    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {a.dtype}")
    if channels_first:
        if a.ndim != 3:
            raise ValueError(f"expected a (C, H, W) array, got shape {a.shape}")
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    channels = 1 if a.ndim == 2 else a.shape[2]
    if a.ndim not in (2, 3) or channels not in _FORMATS:
        raise ValueError(f"expected 1, 3 or 4 channels, got shape {a.shape}")
    image = ndarray_to_qimage(np.ascontiguousarray(a), _FORMATS[channels])
    return image.copy() if copy else image  # a copy owns its pixels


def qimage_to_array(image: QImage) -> np.ndarray:
    """A QImage as a uint8 copy: (H, W) for grayscale without alpha, else (H, W, 4) RGBA."""
    gray = image.isGrayscale() and not image.hasAlphaChannel()
    img = image.convertToFormat(QImage.Format.Format_Grayscale8 if gray else QImage.Format.Format_RGBA8888)
    return np.array(ndarray_from_qimage(img), copy=True)


def qimage_to_pil(image: QImage) -> Any:
    """A QImage (pasted or dropped from another application) as a PIL image, "L" or "RGBA"."""
    from PIL import Image

    a = qimage_to_array(image)
    return Image.fromarray(a, "L" if a.ndim == 2 else "RGBA")


__all__ = ["array_to_qimage", "qimage_to_array", "qimage_to_pil"]
