"""A faster decoder for the small, plain JPEGs most image folders are made of.

Pillow spends most of its time per small JPEG in Python (opening, plugin
dispatch, mode handling): ~8-15k files/s per thread here. libjpeg-turbo
called through torchvision's compiled ``image.decode_jpeg`` operator decodes
the same files at ~30k/s per thread and releases the GIL, so threads add up.

Only files whose pixels are *certain* to equal :func:`folders.decode_image`'s
take this path: baseline or progressive 8-bit JPEGs with 1 or 3 components,
no EXIF block (orientation), no Adobe marker (CMYK / RGB transforms), no MPO
index, ending in an EOI marker, and small enough that Pillow's draft mode
would not decode them at a reduced scale. Everything else returns None and
goes through Pillow. At first use the operator decodes two JPEGs made by
Pillow (colour 4:2:0 and grey) and is used only if every pixel matches
Pillow's own decode.

The operator is loaded from torchvision's compiled extension without
importing torchvision (which costs 1-3 s); torchvision 0.29 deprecates its
image decoders in favour of TorchCodec. Where the extension is missing, fails
to load or disagrees with Pillow, every file is decoded by Pillow, with the
same results, only slower.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import logging
import os
import threading
from typing import Any, Callable

import numpy as np

from cvstudio.core.errors import ImageError
from cvstudio.core.images import MAX_IMAGE_PIXELS, too_large

log = logging.getLogger(__name__)

_GRAY, _RGB = 1, 3  # torchvision.io.ImageReadMode values
_SOF_OK = (0xC0, 0xC1, 0xC2)  # baseline, extended sequential, progressive (Huffman)
_SOF_OTHER = frozenset(range(0xC3, 0xD0)) - {0xC4, 0xC8, 0xCC}  # lossless, arithmetic, hierarchical

_lock = threading.Lock()
_op: Any = None  # the operator once loaded and checked
_tried = False


def jpeg_frame(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """(width, height) of a JPEG this module may decode, else None (see the module notes)."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8 or data[n - 2] != 0xFF or data[n - 1] != 0xD9:
        return None
    frame: tuple[int, int] | None = None
    i = 2
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA:  # start of scan: all headers seen
            return frame
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            return None  # no restart markers or a second SOI before the scan in a plain file
        length = (data[i + 2] << 8) | data[i + 3]
        if length < 2:
            return None
        seg = data[i + 4 : i + 2 + length if length < 10 else i + 12]  # the first (up to) 8 bytes
        if marker == 0xE1 and seg.startswith(b"Exif"):
            return None  # orientation: Pillow applies it
        if marker == 0xE2 and seg.startswith(b"MPF"):
            return None
        if marker == 0xEE and seg.startswith(b"Adobe"):
            return None
        if marker in _SOF_OK:
            if frame is not None or len(seg) < 6 or seg[0] != 8 or seg[5] not in (1, 3):
                return None
            h, w = (seg[1] << 8) | seg[2], (seg[3] << 8) | seg[4]
            if not w or not h:
                return None
            frame = (w, h)
        elif marker in _SOF_OTHER:
            return None
        i += 2 + length
    return None


def _find_operator() -> Any:
    import torch

    try:
        return torch.ops.image.decode_jpeg  # torchvision.io already imported
    except (AttributeError, RuntimeError):
        pass
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = list(spec.submodule_search_locations)[0]
    for name in ("image_stable", "image"):
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, name + suffix)
            if os.path.isfile(path):
                torch.ops.load_library(path)
                return torch.ops.image.decode_jpeg
    return None


def _agrees_with_pillow(op: Any) -> bool:
    """Decode Pillow-made JPEGs both ways (colour 4:2:0, colour 4:4:4, grey); True only if every pixel matches."""
    from PIL import Image

    from cvstudio.core.data.folders import decode_image

    yy, xx = np.mgrid[0:32, 0:32]
    rgb = np.stack([xx * 8, yy * 7, (xx * yy * 3) % 256], axis=-1).astype(np.uint8)
    for img, kw in (
        (Image.fromarray(rgb), {"quality": 85}),
        (Image.fromarray(rgb), {"quality": 95, "subsampling": 0}),
        (Image.fromarray(rgb[..., 1]), {"quality": 90}),
    ):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", **kw)
        data = bytearray(buf.getvalue())
        for grayscale in (False, True):
            ours = decode(op, data, 32, grayscale)
            if ours is None or not np.array_equal(ours, decode_image(io.BytesIO(bytes(data)), 32, grayscale)):
                return False
    return True


def operator() -> Callable[..., Any] | None:
    """The checked decode operator, or None where it is unavailable (then Pillow decodes)."""
    global _op, _tried
    if _tried:
        return _op
    with _lock:
        if not _tried:
            try:
                op = _find_operator()
                _op = op if op is not None and _agrees_with_pillow(op) else None
                if op is not None and _op is None:
                    log.info("torchvision's JPEG decoder differs from Pillow here; decoding with Pillow")
            except Exception as exc:  # missing or broken extension: Pillow decodes everything
                log.info("no fast JPEG decoder (%s); decoding with Pillow", exc)
                _op = None
            _tried = True
    return _op


def decode(op: Any, data: bytearray, size: int, grayscale: bool) -> np.ndarray | None:
    """``data`` as uint8 (C, size, size), identical to Pillow's decode; None when Pillow must do it."""
    frame = jpeg_frame(data)
    if frame is None:
        return None
    import torch
    from PIL import Image

    from cvstudio.core.data.folders import REDUCING_GAP, RESAMPLE

    w, h = frame
    if w * h > MAX_IMAGE_PIXELS:
        raise ImageError(too_large(w * h))
    if min(w // size, h // size) >= 2:
        return None  # Pillow's draft mode decodes it at 1/2..1/8 scale: same pixels only through Pillow
    try:
        t = op(torch.frombuffer(data, dtype=torch.uint8), _GRAY if grayscale else _RGB, False)
    except RuntimeError:
        return None  # damaged: Pillow decides, and names the problem
    if t.shape[1] == size and t.shape[2] == size:
        return t.numpy()
    hwc = t[0].numpy() if grayscale else t.permute(1, 2, 0).numpy()
    im = Image.fromarray(np.ascontiguousarray(hwc), "L" if grayscale else "RGB")
    arr = np.asarray(im.resize((size, size), RESAMPLE, reducing_gap=REDUCING_GAP), dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
