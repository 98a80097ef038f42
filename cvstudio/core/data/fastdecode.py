"""A faster decoder for the small, plain JPEG and PNG files most image folders are made of.

Pillow spends most of its time per small file in Python (opening, plugin
dispatch, mode handling): ~8-18k files/s per thread here. libjpeg-turbo and
libpng called through torchvision's compiled ``image.decode_jpeg`` /
``image.decode_png`` operators decode the same files ~2-3x faster.

Only files whose pixels are *certain* to equal :func:`folders.decode_image`'s
take this path:

* JPEG: baseline or progressive 8-bit, 1 or 3 components, no APP1 block
  (EXIF or XMP: orientation), no Adobe marker (CMYK / RGB transforms), no MPO index, ending
  in an EOI marker, and small enough that Pillow's draft mode would not
  decode it at a reduced scale (libjpeg's own grey conversion is what Pillow's
  draft asks for too);
* PNG (lossless, so any correct decoder gives the same pixels): 8-bit grey,
  RGB or palette images, not interlaced, without transparency, EXIF, XMP or
  animation chunks; the
  mode conversion and resizing are then Pillow's own, on the decoded pixels.

Everything else returns None and goes through Pillow. At first use each
operator decodes files made by Pillow and is used only if every pixel
matches Pillow's own decode.

The operators are loaded from torchvision's compiled extension without
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
import struct
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from cvstudio.core.errors import ImageError
from cvstudio.core.images import MAX_IMAGE_PIXELS, flatten, too_large

log = logging.getLogger(__name__)

_UNCHANGED, _GRAY, _RGB = 0, 1, 3  # torchvision.io.ImageReadMode values
_SOF_OK = (0xC0, 0xC1, 0xC2)  # baseline, extended sequential, progressive (Huffman)
_SOF_OTHER = frozenset(range(0xC3, 0xD0)) - {0xC4, 0xC8, 0xCC}  # lossless, arithmetic, hierarchical

_lock = threading.Lock()
_op: Decoders | None = None  # the decoders once loaded and checked
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
        if marker == 0xE1:
            return None  # EXIF or XMP: Pillow applies the orientation either holds
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


def _load_extension() -> Any:
    """torch.ops.image with torchvision's decoders loaded, or None."""
    import torch

    try:
        torch.ops.image.decode_jpeg  # noqa: B018  # torchvision.io already imported
        return torch.ops.image
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
                return torch.ops.image
    return None


@dataclass(frozen=True)
class Decoders:
    jpeg: Any = None  # image.decode_jpeg(data, mode, apply_exif) or None
    png: Any = None  # image.decode_png(data, mode, apply_exif) or None


def _samples() -> tuple[list[bytearray], list[bytearray]]:
    """JPEG and PNG files made by Pillow: colour 4:2:0, 4:2:2 and 4:4:4, grey, progressive; RGB, grey, palette."""
    from PIL import Image

    yy, xx = np.mgrid[0:32, 0:32]
    rgb = np.stack([xx * 8, yy * 7, (xx * yy * 3) % 256], axis=-1).astype(np.uint8)
    odd = np.ascontiguousarray(rgb[:27, :21])  # not the input size: resized after decoding

    def save(img: Image.Image, fmt: str, **kw: Any) -> bytearray:
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        return bytearray(buf.getvalue())

    jpegs = [
        save(Image.fromarray(rgb), "JPEG", quality=85),
        save(Image.fromarray(rgb), "JPEG", quality=95, subsampling=0),
        save(Image.fromarray(rgb), "JPEG", quality=90, subsampling=1),
        save(Image.fromarray(rgb[..., 1]), "JPEG", quality=90),
        save(Image.fromarray(odd), "JPEG", quality=80, progressive=True),
    ]
    pngs = [
        save(Image.fromarray(rgb), "PNG"),
        save(Image.fromarray(rgb[..., 2]), "PNG"),
        save(Image.fromarray(odd).convert("P", palette=Image.Palette.ADAPTIVE, colors=37), "PNG"),
        save(Image.fromarray(odd), "PNG", compress_level=1),
    ]
    return jpegs, pngs


def _agrees_with_pillow(decoders: Decoders, samples: list[bytearray]) -> bool:
    from cvstudio.core.data.folders import decode_image

    for data in samples:
        for grayscale in (False, True):
            ours = decode(decoders, data, 32, grayscale)
            if ours is None or not np.array_equal(ours, decode_image(io.BytesIO(bytes(data)), 32, grayscale)):
                return False
    return True


def operator() -> Decoders | None:
    """The checked decoders (each None where it disagrees with Pillow), or None (then Pillow decodes)."""
    global _op, _tried
    if _tried:
        return _op
    with _lock:
        if not _tried:
            try:
                ops = _load_extension()
                if ops is None:
                    _op = None
                else:
                    jpegs, pngs = _samples()
                    jpeg = ops.decode_jpeg if _agrees_with_pillow(Decoders(jpeg=ops.decode_jpeg), jpegs) else None
                    png = ops.decode_png if _agrees_with_pillow(Decoders(png=ops.decode_png), pngs) else None
                    if jpeg is None or png is None:
                        log.info("torchvision's decoders differ from Pillow here (jpeg %s, png %s)", jpeg, png)
                    _op = Decoders(jpeg, png) if jpeg is not None or png is not None else None
            except Exception as exc:  # missing or broken extension: Pillow decodes everything
                log.info("no fast image decoder (%s); decoding with Pillow", exc)
                _op = None
            _tried = True
    return _op


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# chunks that do not change the pixels Pillow gives (it applies no gamma or colour profile)
_PNG_HARMLESS = frozenset(
    b"PLTE IDAT IEND gAMA cHRM sRGB iCCP pHYs tEXt zTXt iTXt tIME sBIT bKGD hIST sPLT".split()
)


_PNG_TEXT = frozenset((b"tEXt", b"zTXt", b"iTXt"))
_PNG_TEXT_ORIENTATION = (b"xml:com.adobe.xmp", b"raw profile type")


def png_frame(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """(width, height) of a PNG this module may decode, else None (see the module notes)."""
    if len(data) < 33 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if depth != 8 or colour not in (0, 2, 3) or interlace != 0 or not w or not h:
        return None
    i = 33
    n = len(data)
    while i + 8 <= n:
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = bytes(data[i + 4 : i + 8])
        if kind == b"IDAT" or kind == b"IEND":
            return (w, h)  # chunks after the image data cannot be transparency or animation control
        if kind not in _PNG_HARMLESS:
            return None  # tRNS, eXIf, acTL, ...: Pillow's path
        if kind in _PNG_TEXT and bytes(data[i + 8 : i + 8 + 40]).lower().startswith(_PNG_TEXT_ORIENTATION):
            return None  # XMP or raw EXIF in a text chunk: Pillow may find an orientation there
        i += 12 + length
    return None


def _route(ops: Decoders, data: bytearray, size: int, grayscale: bool) -> tuple[Any, int, int, int] | None:
    """(operator, read mode, width, height) for a file the fast path may decode, else None."""
    if data[:2] == b"\xff\xd8":
        frame = jpeg_frame(data) if ops.jpeg is not None else None
        if frame is None or min(frame[0] // size, frame[1] // size) >= 2:
            return None  # Pillow's draft mode decodes it at 1/2..1/8 scale: same pixels only through Pillow
        return ops.jpeg, _GRAY if grayscale else _RGB, *frame  # libjpeg's grey, as Pillow's draft asks for
    if data[:8] == _PNG_SIGNATURE:
        frame = png_frame(data) if ops.png is not None else None
        if frame is None:
            return None
        # grey stays grey, RGB stays RGB (converted by Pillow below, as its own path does); a palette is
        # expanded to RGB by libpng (UNCHANGED would give the palette indices)
        return ops.png, _RGB if data[25] == 3 else _UNCHANGED, *frame
    return None


def decoded(ops: Decoders, data: bytearray, size: int, grayscale: bool, max_pixels: int = MAX_IMAGE_PIXELS) -> Any:
    """``data`` decoded at its own size as a uint8 (C, H, W) tensor, grey (C=1) or RGB, the same pixels
    Pillow decodes for a target of ``size`` pixels (its JPEG draft included) before converting or resizing;
    None when Pillow must decode it. ImageError when the header declares more than ``max_pixels``."""
    route = _route(ops, data, size, grayscale)
    if route is None:
        return None
    op, mode, w, h = route
    if w * h > max_pixels:
        raise ImageError(too_large(w * h))
    import torch

    try:
        return op(torch.frombuffer(data, dtype=torch.uint8), mode, False)  # the GIL is released while it decodes
    except RuntimeError:
        return None  # damaged: Pillow decides, and names the problem


def decode(ops: Decoders, data: bytearray, size: int, grayscale: bool) -> np.ndarray | None:
    """``data`` as uint8 (C, size, size), identical to Pillow's decode; None when Pillow must do it."""
    t = decoded(ops, data, size, grayscale)
    if t is None:
        return None
    channels = 1 if grayscale else 3
    if t.shape[0] == channels and t.shape[1] == size and t.shape[2] == size:
        return t.numpy()
    from PIL import Image

    from cvstudio.core.data.folders import REDUCING_GAP, RESAMPLE

    hwc = t[0].numpy() if t.shape[0] == 1 else t.permute(1, 2, 0).numpy()
    im = flatten(Image.fromarray(np.ascontiguousarray(hwc), "L" if t.shape[0] == 1 else "RGB"), "L" if grayscale else "RGB")
    if im.size != (size, size):
        im = im.resize((size, size), RESAMPLE, reducing_gap=REDUCING_GAP)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
