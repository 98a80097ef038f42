"""Robust image loading, preprocessing and top-k prediction.

Used by the Classify page (drag and drop), ``cvstudio classify`` and anything
else that turns image files into model inputs. Decoding follows the same rules
as folder datasets: EXIF orientation applied, first frame of animations,
transparency composited on white, 16-bit images scaled to 8 bits over their
full range, then converted to RGB or grayscale and resized to the model's input.
Every file that cannot be used raises ImageError with a plain reason.
"""

from __future__ import annotations

import io
import os
import re
import stat
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from cvstudio.core.errors import ImageError
from cvstudio.core.images import MAX_IMAGE_PIXELS, flatten, to_8bit
from cvstudio.core.control import RunControl
from cvstudio.core.events import Progress

# Resizing filter: Pillow's bilinear resize is antialiased (its support grows
# with the downscale factor); reducing_gap first box-reduces by an integer
# factor, which is fast for large downscales and visually identical.
RESAMPLE = Image.Resampling.BILINEAR
REDUCING_GAP = 3.0
# Files up to this size are read whole and, when plain JPEG or PNG, decoded by libjpeg-turbo / libpng
# directly (_decode_small); bigger ones are streamed to Pillow, whose own time per file is then negligible.
FAST_DECODE_BYTES = 1 << 20

_OPEN_LOCK = threading.Lock()  # warnings filters are process-wide; see _open
_PIXELS_RE = re.compile(r"\((\d+) pixels\)")


def _too_large(pixels: int) -> ImageError:
    return ImageError(f"image is too large ({pixels} pixels; limit {Image.MAX_IMAGE_PIXELS})")


def _open(fp: Any) -> Image.Image:
    """Image.open with decompression-bomb warnings silenced (we check the size ourselves).

    The lock keeps concurrent decoders in this module from racing on the
    process-wide warnings filters.
    """
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(fp)


def _check_pixels(im: Image.Image) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    pixels = im.size[0] * im.size[1]
    if limit and pixels > limit:
        raise _too_large(pixels)


def _target_mode(channels: int) -> str:
    if channels == 3:
        return "RGB"
    if channels == 1:
        return "L"
    raise ValueError(f"models with {channels} input channels are not supported (1 or 3)")


def decode_image(source: Any, input_shape: tuple[int, int, int]) -> torch.Tensor:
    """Like :func:`load_image`, but ImageError messages hold only the reason."""
    return _decode(source, input_shape, 0)[0]


Thumbnail = tuple[np.ndarray | None, tuple[int, int] | None, str | None]
NO_THUMBNAIL: Thumbnail = (None, None, None)


def _decode(source: Any, input_shape: tuple[int, int, int],
            thumbnail_side: int) -> tuple[torch.Tensor, Thumbnail, np.ndarray]:
    """The model's input, the :func:`thumbnail` from the same decode when ``thumbnail_side`` > 0, and the
    input as the :func:`model_view` array (the pixels before they were laid out for the model: no copy)."""
    c, h, w = (int(v) for v in input_shape)
    mode = _target_mode(c)
    own = not isinstance(source, Image.Image)
    if isinstance(source, Image.Image):
        im = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("empty file")
        im = _open_checked(io.BytesIO(bytes(source)))
    else:
        p = Path(source)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise ImageError("file not found") from None
        except PermissionError:
            raise ImageError("permission denied") from None
        except OSError as e:
            raise ImageError(f"cannot read the file ({e.strerror or e})") from None
        if stat.S_ISDIR(st.st_mode):  # from the same stat: a second one costs ~5 us a file
            raise ImageError("is a folder, not an image file")
        if st.st_size == 0:
            raise ImageError("empty file")
        data = _read_small(p, st.st_size) if st.st_size <= FAST_DECODE_BYTES and stat.S_ISREG(st.st_mode) else None
        if data is not None:
            decoded = _decode_small(data, mode, h, w, thumbnail_side)
            if decoded is not None:
                return decoded
            im = _open_checked(io.BytesIO(data))  # read already: Pillow decodes from memory
        else:
            im = _open_checked(p)

    try:
        return _decode_opened(im, mode, h, w, own, thumbnail_side)
    finally:
        if own:
            im.close()


def _read_small(path: Path, size: int) -> bytearray | None:
    """The file's bytes (``size`` as its stat said); None when it has grown since (Pillow streams it then)."""
    try:
        with open(path, "rb") as f:
            data = bytearray(f.read(size + 1))
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as e:
        raise ImageError(f"cannot read the file ({e.strerror or e})") from None
    if not data:
        raise ImageError("empty file")
    return None if len(data) > size else data


def _decode_small(data: bytearray, mode: str, h: int, w: int,
                  thumbnail_side: int) -> tuple[torch.Tensor, Thumbnail, np.ndarray] | None:
    """A plain small JPEG or PNG decoded by libjpeg-turbo / libpng through torchvision's operators
    (:mod:`cvstudio.core.data.fastdecode`: the same pixels as Pillow, which it checks at first use), with
    the GIL released while decoding; None when Pillow must decode it (EXIF, transparency, 16-bit, a JPEG
    Pillow would draft at a reduced scale, ...).

    Per 32x32 PNG: 35 us on one thread instead of Pillow's 79, and two threads decode at 23 us a file where
    Pillow's contend for the GIL and take 133.
    """
    from cvstudio.core.data import fastdecode

    ops = fastdecode.operator()
    if ops is None:
        return None
    try:
        t = fastdecode.decoded(ops, data, max(h, w), mode == "L", Image.MAX_IMAGE_PIXELS or MAX_IMAGE_PIXELS)
    except ImageError:
        return None  # too large: Pillow's path names it (with the limit it is given)
    if t is None:
        return None
    fmt = "JPEG" if data[:2] == b"\xff\xd8" else "PNG"
    hwc = np.ascontiguousarray(t.permute(1, 2, 0).numpy())  # the decoders' own memory order: no copy
    displayed = (hwc.shape[1], hwc.shape[0]) if thumbnail_side > 0 else None
    is_input = tuple(t.shape) == (1 if mode == "L" else 3, h, w)
    if is_input and (displayed is None or (mode == "RGB" and _thumbnail_size(displayed, thumbnail_side) == (w, h))):
        # the model's input as decoded, and its own thumbnail: no round trip through Pillow (25 us a file)
        return t.contiguous(), (NO_THUMBNAIL if displayed is None else (hwc, displayed, fmt)), hwc
    grey = hwc.shape[2] == 1
    eight = Image.fromarray(hwc[:, :, 0] if grey else hwc, "L" if grey else "RGB")
    return _layout(eight, mode, h, w, displayed, fmt, thumbnail_side)


def _open_checked(fp: Any) -> Image.Image:
    try:
        im = _open(fp)
    except UnidentifiedImageError:
        raise ImageError("not an image (unrecognized file format)") from None
    except Image.DecompressionBombError as e:
        m = _PIXELS_RE.search(str(e))
        if m:
            raise _too_large(int(m.group(1))) from None
        raise ImageError("image is too large") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except IsADirectoryError:
        raise ImageError("is a folder, not an image file") from None
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except OSError as e:
        if e.strerror:
            raise ImageError(f"cannot read the file ({e.strerror})") from None
        raise ImageError(f"damaged image ({e})") from None
    except (SyntaxError, ValueError, EOFError) as e:  # some plugins raise these on bad headers
        raise ImageError(f"damaged image ({e})") from None
    return im


def _displayed_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) as shown: swapped when the EXIF orientation turns the image by 90 degrees."""
    w, h = im.size
    try:
        if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            return h, w
    except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the orientation
        pass
    return w, h


def _thumbnail_size(displayed: tuple[int, int], side: int) -> tuple[int, int]:
    w, h = displayed
    scale = min(1.0, side / max(w, h, 1))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _decode_opened(im: Image.Image, mode: str, h: int, w: int, own: bool,
                   thumbnail_side: int = 0) -> tuple[torch.Tensor, Thumbnail, np.ndarray]:
    try:
        _check_pixels(im)
        fmt = im.format
        full = im.size
        if own and im.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that is still at
            # least the target size; (s, s) covers either EXIF orientation.
            s = max(h, w)
            im.draft(mode if mode == "L" else "RGB", (s, s))
        im.load()  # decodes the first frame; truncated files raise here
        loaded = im.size
        if own:
            ImageOps.exif_transpose(im, in_place=True)
        else:
            im = ImageOps.exif_transpose(im)
        displayed = None
        if thumbnail_side > 0:  # the size as shown, from the turn exif_transpose made: no second read of the EXIF
            displayed = full[::-1] if im.size != loaded and im.size == loaded[::-1] else full
        return _layout(to_8bit(im), mode, h, w, displayed, fmt, thumbnail_side)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        m = _PIXELS_RE.search(str(e))
        raise (_too_large(int(m.group(1))) if m else ImageError("image is too large")) from None
    except MemoryError:
        raise ImageError("image is too large to decode (out of memory)") from None
    except OSError as e:
        if "truncated" in str(e):
            raise ImageError("truncated image file (the file is incomplete)") from None
        if e.strerror:
            raise ImageError(f"cannot read the file ({e.strerror})") from None
        raise ImageError(f"damaged image ({e})") from None
    except Exception as e:  # plugins raise SyntaxError, ValueError, EOFError, zlib.error ...
        raise ImageError(f"damaged image ({e})") from None


def _layout(eight: Image.Image, mode: str, h: int, w: int, displayed: tuple[int, int] | None, fmt: str | None,
            thumbnail_side: int) -> tuple[torch.Tensor, Thumbnail, np.ndarray]:
    """Decoded 8-bit pixels (EXIF orientation applied) as the model's input, its thumbnail when ``displayed``
    (the size as shown) is given, and the input as the :func:`model_view` array (no copy)."""
    thumb: Thumbnail = NO_THUMBNAIL
    flat = flatten(eight, mode)
    same = displayed is not None and mode == "RGB" and _thumbnail_size(displayed, thumbnail_side) == (w, h)
    if displayed is not None and not same:
        thumb = _thumbnail_from(eight, flat, displayed, thumbnail_side, fmt)
    if flat.size != (w, h):
        flat = flat.resize((w, h), RESAMPLE, reducing_gap=REDUCING_GAP)
    a = np.array(flat, dtype=np.uint8)
    if same:  # the thumbnail is the model's input itself (a small image at the model's size)
        thumb = (a, displayed, fmt)
    view = a[:, :, None] if a.ndim == 2 else a  # (H, W, C), as model_view makes it
    chw = a[None, :, :] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(chw)), thumb, view


def _thumbnail_from(eight: Image.Image, flat: Image.Image, displayed: tuple[int, int], side: int,
                    fmt: str | None) -> Thumbnail:
    """The thumbnail from the pixels decoded for the model, or none when a JPEG draft left too few.

    A JPEG drafted below the thumbnail's size still gives one when its long
    side is at least half the thumbnail's: the views scale icons to fit (as a
    2x screen does a full-size one), and decoding the file again for a sharper
    icon would halve the rate of a folder of small photos. A JPEG drafted to
    grey (a grayscale model) gives none: its thumbnail keeps the colours.
    """
    tw, th = _thumbnail_size(displayed, side)
    if eight.mode == "L" and fmt == "JPEG" and flat.mode == "L":
        return NO_THUMBNAIL
    if eight.size[0] < tw or eight.size[1] < th:
        if 2 * max(eight.size) < max(tw, th):
            return NO_THUMBNAIL
        tw, th = eight.size
    try:
        rgb = flat if flat.mode == "RGB" else flatten(eight, "RGB")
        if rgb.size != (tw, th):
            rgb = rgb.resize((tw, th), RESAMPLE, reducing_gap=REDUCING_GAP)
        return np.array(rgb, dtype=np.uint8), displayed, fmt
    except Exception:  # noqa: BLE001 - a thumbnail is optional
        return NO_THUMBNAIL


def _describe(source: Any) -> str:
    if isinstance(source, Image.Image):
        return "image"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "image data"
    return str(source)


def load_image(source: str | os.PathLike[str] | bytes | Image.Image, input_shape: tuple[int, int, int]) -> torch.Tensor:
    """Decode one image into a uint8 tensor (C, H, W) matching ``input_shape``.

    ``source`` is a path, the bytes of a file, or a PIL image. Raises
    ImageError("<path>: <reason>") for files that cannot be used.
    """
    try:
        return decode_image(source, input_shape)
    except ImageError as e:
        raise ImageError(f"{_describe(source)}: {e}") from None


def normalize(batch_uint8: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, C, H, W) or (C, H, W) -> float32 scaled to 0..1, then (x - mean) / std per channel."""
    x = batch_uint8.to(torch.float32).div(255.0)  # a new tensor: the input is never modified
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return x.sub_(m).div_(s)


@dataclass(frozen=True)
class Prediction:
    """The answer for one input: a label and probabilities, or an error."""

    path: str
    label: str | None = None
    prob: float | None = None
    top_k: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``cvstudio classify --json`` prints for this input."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {
            "path": self.path,
            "label": self.label,
            "prob": self.prob,
            "top_k": [[label, prob] for label, prob in self.top_k],
        }


def _image_extensions() -> frozenset[str]:
    exts = Image.registered_extensions()  # also loads all plugins
    return frozenset(ext.lower() for ext, fmt in exts.items() if fmt in Image.OPEN)


def image_files_under(folder: str | os.PathLike[str]) -> list[tuple[str, bool]]:
    """(path, is a link) of the image files under ``folder``, as :func:`expand_inputs` orders them.

    One ``scandir`` per folder: whether a file is a link comes with the listing
    (its directory entry), where ``islink`` afterwards cost a system call per
    file. Linked folders are not entered, as ``os.walk`` does not.
    """
    exts = _image_extensions()
    found: list[tuple[tuple[str, ...], str, bool]] = []  # (parts under folder, path, is a link)
    pending: list[tuple[str, tuple[str, ...]]] = [(os.fspath(folder), ())]
    while pending:
        current, parts = pending.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            continue  # an unreadable subfolder: its files are not found
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink():
                    pending.append((entry.path, (*parts, name)))
            elif os.path.splitext(name)[1].lower() in exts:
                found.append(((*parts, name), entry.path, entry.is_symlink()))
    found.sort(key=lambda item: item[0])
    return [(path, link) for _, path, link in found]


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Inputs in the given order, each folder replaced by the image files under it.

    Folders are searched recursively for files with an extension Pillow can
    open; hidden files and folders are skipped and each folder's files are
    sorted. Files named explicitly are kept as they are (even missing ones, so
    that classifying them reports the problem).
    """
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(Path(path) for path, _ in image_files_under(p))
        else:
            out.append(p)
    return out


class Classifier:
    """A model plus its checkpoint metadata, ready to classify images."""

    def __init__(self, model: torch.nn.Module, meta: Any, device: str | torch.device = "cpu"):
        from cvstudio.core.models.builder import prepare_for_device

        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        prepare_for_device(self.model, self.device)  # in place, as training leaves it: channels-last, fast Tanh
        self.meta = meta
        self.class_names: tuple[str, ...] = tuple(meta.class_names)
        self.input_shape: tuple[int, int, int] = tuple(meta.input_shape)  # type: ignore[assignment]
        _target_mode(self.input_shape[0])
        self._log_probs = bool(meta.model_spec.outputs_log_probs)
        self._mean = torch.tensor(meta.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._std = torch.tensor(meta.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)

    expand_inputs = staticmethod(expand_inputs)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Classifier:
        from cvstudio.core.checkpoints import load_checkpoint

        loaded = load_checkpoint(path, device=device)
        return cls(loaded.model, loaded.meta, device=device)

    def probabilities(self, batch_uint8: torch.Tensor) -> np.ndarray:
        """Class probabilities, float32 (N, classes), for a uint8 batch (N, C, H, W) or one image."""
        x = batch_uint8
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected images of shape {self.input_shape}, got {tuple(x.shape[1:])}")
        if x.dtype != torch.uint8:
            raise TypeError(f"expected a uint8 batch, got {x.dtype}")
        with torch.inference_mode():
            x = x.to(self.device, non_blocking=True).to(torch.float32).div(255.0)
            x = x.sub_(self._mean).div_(self._std)
            out = self.model(x).float()
            p = out.exp() if self._log_probs else torch.softmax(out, dim=1)
            return p.cpu().numpy()

    def warm_up(self) -> None:
        """One tiny forward pass (one intra-op thread), Pillow's plugin registry and the fast decoders (loaded and
        checked against Pillow: ~60 ms): the first real call is not the slow one."""
        from cvstudio.core.data import fastdecode
        from cvstudio.core.threads import single_intraop_thread

        Image.init()
        fastdecode.operator()
        with single_intraop_thread():
            self.probabilities(torch.zeros((1, *self.input_shape), dtype=torch.uint8))

    def predictions(self, names: Sequence[str], probs: np.ndarray, top_k: int) -> list[Prediction]:
        """One Prediction per row of ``probs`` (from :meth:`probabilities`), with the ``top_k`` classes."""
        k = max(1, min(int(top_k), len(self.class_names)))
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        out = []
        for name, row, idx in zip(names, probs, order):
            top = [(self.class_names[i], float(row[i])) for i in idx]
            out.append(Prediction(path=name, label=top[0][0], prob=top[0][1], top_k=top))
        return out

    def classify_image(self, source: str | os.PathLike[str] | bytes | Image.Image, top_k: int = 3) -> Prediction:
        """One image (path, bytes or PIL image); a bad file gives a Prediction with ``error``."""
        name = _describe(source)
        try:
            x = decode_image(source, self.input_shape)
        except ImageError as e:
            return Prediction(path=name, error=str(e))
        return self.predictions([name], self.probabilities(x), top_k)[0]

    def classify_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        top_k: int = 3,
        batch_size: int = 64,
        on_progress: Callable[[Progress], Any] | None = None,
        control: RunControl | None = None,
        workers: int | None = None,
    ) -> list[Prediction]:
        """Classify image files, one Prediction per path in the same order (:func:`classify`, collected).

        A stop requested through ``control`` returns the predictions made so far (a prefix of ``paths``).
        """
        rows: list[ClassifiedImage] = []
        classify(self, [Path(p) for p in paths], control, rows.extend, top_k=top_k, batch_size=batch_size,
                 first_batch=batch_size, workers=workers, expand=False,
                 callbacks=None if on_progress is None else [_ProgressFunction(on_progress)])
        return [r.prediction for r in rows]


class _ProgressFunction:
    def __init__(self, fn: Callable[[Progress], Any]):
        self.on_progress = fn


# --- the one classification pipeline (CLI, Classify page, benchmarks) --------------------------


@dataclass(frozen=True)
class NamedImage:
    """An input that is not a file (pasted, dragged from another application): a name and a PIL image."""

    name: str
    image: Image.Image


@dataclass(frozen=True)
class ClassifiedImage:
    """One input's row: its prediction (or error), and what a viewer may want to show."""

    index: int  # position among the inputs after folders were expanded
    source: Any  # the path (str) or the NamedImage
    prediction: Prediction
    view: np.ndarray | None = field(default=None, repr=False)  # uint8 (H, W, C): what the model saw
    thumbnail: np.ndarray | None = field(default=None, repr=False)  # uint8 (h, w, C), long side <= thumbnail_side
    original_size: tuple[int, int] | None = None  # (width, height) as displayed (EXIF orientation applied)
    image_format: str | None = None  # e.g. "JPEG"


@dataclass(frozen=True)
class ClassifySummary:
    total: int  # inputs after expanding folders
    done: int  # rows produced
    cancelled: bool
    seconds: float
    empty_folders: tuple[str, ...] = ()
    first_rows_s: float | None = None  # seconds from the start to the first rows handed to on_rows


def thumbnail(source: Any, side: int) -> Thumbnail:
    """(uint8 (h, w, 3) at most ``side`` px, displayed (width, height), format); Nones if unreadable.

    Decoded like the model's input (EXIF, 16-bit, CMYK, alpha on white), from
    a JPEG draft when the file is large. ``source``: a path, a NamedImage or a PIL image.
    """
    if isinstance(source, NamedImage):
        source = source.image
    own = not isinstance(source, Image.Image)
    try:
        im = _open(source) if own else source
    except Exception:  # noqa: BLE001 - a thumbnail is optional
        return NO_THUMBNAIL
    try:
        fmt = im.format
        displayed = _displayed_size(im)
        tw, th = _thumbnail_size(displayed, side)
        if own and fmt == "JPEG":
            im.draft("RGB", (side, side))
        t = _decode_opened(im, "RGB", th, tw, False)[0]
        return t.permute(1, 2, 0).numpy().copy(), displayed, fmt
    except Exception:  # noqa: BLE001
        return NO_THUMBNAIL
    finally:
        if own:
            im.close()


def model_view(t: torch.Tensor) -> np.ndarray:
    """A decoded model input (C, H, W) as a uint8 (H, W, C) array for display."""
    return np.ascontiguousarray(t.numpy().transpose(1, 2, 0))  # numpy's transpose: 3.7 us, torch's permute 4.5


def _name_of(source: Any) -> str:
    return source.name if isinstance(source, NamedImage) else str(source)


def classify(
    classifier: Classifier,
    sources: Iterable[Any],
    control: RunControl | None = None,
    on_rows: Callable[[list[ClassifiedImage]], Any] | None = None,
    *,
    top_k: int = 3,
    batch_size: int = 64,
    first_batch: int = 8,
    workers: int | None = None,
    thumbnail_side: int = 0,
    keep_views_up_to: int = 0,
    expand: bool = True,
    lower_priority: bool = False,
    callbacks: Iterable[Any] | None = None,
) -> ClassifySummary:
    """Classify files, folders (recursively, with ``expand``) and NamedImages, streaming rows in input order.

    Batches go to the model while a thread pool (``workers`` threads; by
    default one less than the CPUs, at most 2) decodes the next one, and this
    thread decodes what the pool has not started when it would otherwise wait;
    the first batch is small (``first_batch``) so that rows appear at once. Each
    batch's rows go to ``on_rows``; an input that cannot be used gets a row
    whose prediction holds the plain reason. ``control`` (the core's RunControl)
    is checked between batches: a stop returns with the rows so far (a prefix).
    ``thumbnail_side`` > 0 adds thumbnails; ``keep_views_up_to`` keeps the
    model's view of inputs whose H*W is at most that. The model runs with one
    intra-op thread in the calling thread (see :mod:`cvstudio.core.threads`);
    ``lower_priority`` lowers this thread's and the decoders' priority (a GUI's jobs).
    Progress(stage="classify") events go to ``callbacks`` once per batch.
    """
    import itertools
    import time

    from cvstudio.core.events import emit
    from cvstudio.core.memory import reuse_freed_memory
    from cvstudio.core.threads import lower_thread_priority, single_intraop_thread

    t0 = time.perf_counter()
    reuse_freed_memory()  # decoded images and batches of activations, freed and made again batch after batch
    control = control or RunControl()
    shape = classifier.input_shape
    keep_view = shape[1] * shape[2] <= keep_views_up_to
    items: list[Any] = []
    empty: list[str] = []
    for s in sources:
        if isinstance(s, (NamedImage, Image.Image)):
            items.append(s if isinstance(s, NamedImage) else NamedImage("image", s))
        elif expand and os.path.isdir(s):
            found = expand_inputs([s])
            if not found:
                empty.append(str(s))
            items.extend(str(p) for p in found)
        else:
            items.append(str(s))
    total = len(items)

    def report(done: int) -> None:
        emit(callbacks, Progress("classify", done, total, f"{done:,} of {total:,} images"))

    def prepare(item: Any) -> tuple[Any, Thumbnail, np.ndarray | None]:
        """Decode once for the model; the thumbnail comes from the same pixels unless a JPEG draft left too few.
        The model's view comes too, made here in the decoding threads rather than by the model's thread."""
        thumb, view = NO_THUMBNAIL, None
        try:
            d, thumb, view = _decode(item.image if isinstance(item, NamedImage) else item, shape, thumbnail_side)
        except ImageError as e:
            d = str(e)
        except Exception as e:  # noqa: BLE001 - anything odd in one file is that file's problem
            d = f"could not read the image ({type(e).__name__}: {e})"
        if thumbnail_side > 0 and isinstance(d, torch.Tensor) and thumb[0] is None:
            thumb = thumbnail(item, thumbnail_side)
        return d, thumb, view if keep_view else None

    def prepare_all(chunk: list[Any]) -> list[tuple[Any, Thumbnail, np.ndarray | None]]:
        return [prepare(item) for item in chunk]

    def submit(pool: ThreadPoolExecutor, chunk: list[Any]) -> list[tuple[Any, list[Any]]]:
        """(future, slice) for slices of up to 8 images: a future per image costs about as much as decoding a
        small PNG, and slices that small still balance a batch that mixes large photos with small files."""
        step = max(1, min(8, -(-len(chunk) // (max(1, workers) + 1))))  # + 1: this thread takes slices too
        parts = [chunk[a : a + step] for a in range(0, len(chunk), step)]
        return [(pool.submit(prepare_all, part), part) for part in parts]

    def collect(pending: list[tuple[Any, list[Any]]]) -> list[tuple[Any, Thumbnail, np.ndarray | None]]:
        """The decoded batch; a slice no decoder has started yet is decoded here rather than waited for (the
        decoders are behind the model: large photos), so this thread decodes too once its model work is done."""
        stolen: dict[int, list[tuple[Any, Thumbnail, np.ndarray | None]]] = {}
        for i in reversed(range(len(pending))):  # from the back: the pool takes slices from the front
            future, part = pending[i]
            if future.cancel():
                stolen[i] = prepare_all(part)
        return [p for i, (future, _) in enumerate(pending)
                for p in (stolen[i] if i in stolen else future.result())]

    def rows_for(start: int, chunk: list[Any], prepared: list[tuple[Any, Any, Any]]) -> list[ClassifiedImage]:
        good = [j for j, (d, _, _) in enumerate(prepared) if isinstance(d, torch.Tensor)]
        preds: list[Any] = [None] * len(chunk)
        if good:
            probs = classifier.probabilities(torch.stack([prepared[j][0] for j in good]))
            for j, pred in zip(good, classifier.predictions([_name_of(chunk[j]) for j in good], probs, top_k)):
                preds[j] = pred
        rows = []
        for j, (item, (d, (th, size, fmt), view)) in enumerate(zip(chunk, prepared)):
            if preds[j] is None:
                rows.append(ClassifiedImage(start + j, item, Prediction(path=_name_of(item), error=d)))
            else:
                rows.append(ClassifiedImage(start + j, item, preds[j], view, th, size, fmt))
        return rows

    if total == 0:
        report(0)
        return ClassifySummary(0, 0, False, time.perf_counter() - t0, tuple(empty))
    sizes = [min(max(1, first_batch), total)]
    while sum(sizes) < total:
        sizes.append(min(max(1, batch_size), total - sum(sizes)))
    starts = list(itertools.accumulate([0] + sizes[:-1]))
    chunks = [(a, items[a : a + n]) for a, n in zip(starts, sizes)]
    done = 0
    first = None
    cancelled = False
    if lower_priority:
        lower_thread_priority()  # the decoding threads started from here inherit it
    if workers is None:  # the calling thread decodes too when the model waits: one core stays the model's
        workers = max(1, min(2, (os.cpu_count() or 1) - 1))
    with single_intraop_thread():
        if total == 1:  # one input: no pool to start, the answer comes at once
            pool = None
            pending: list[Any] = [prepare(items[0])]
        else:
            pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="cvstudio-decode")
            pending = submit(pool, chunks[0][1])
        try:
            for i, (start, chunk) in enumerate(chunks):
                prepared = pending if pool is None else collect(pending)
                if pool is not None and i + 1 < len(chunks) and not control.stop_requested:
                    pending = submit(pool, chunks[i + 1][1])
                else:
                    pending = []
                rows = rows_for(start, chunk, prepared)
                if on_rows is not None:
                    on_rows(rows)
                if first is None:
                    first = time.perf_counter() - t0
                done += len(rows)
                report(done)
                if control.stop_requested:
                    cancelled = done < total
                    break
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    return ClassifySummary(total, done, cancelled, time.perf_counter() - t0, tuple(empty), first)


__all__ = [
    "ClassifiedImage",
    "Classifier",
    "ClassifySummary",
    "NamedImage",
    "classify",
    "model_view",
    "thumbnail",
    "Prediction",
    "decode_image",
    "expand_inputs",
    "image_files_under",
    "load_image",
    "normalize",
]
