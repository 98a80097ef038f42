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
from cvstudio.core.images import flatten, to_8bit
from cvstudio.core.events import Progress

# Resizing filter: Pillow's bilinear resize is antialiased (its support grows
# with the downscale factor); reducing_gap first box-reduces by an integer
# factor, which is fast for large downscales and visually identical.
RESAMPLE = Image.Resampling.BILINEAR
REDUCING_GAP = 3.0

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
        if p.is_dir():
            raise ImageError("is a folder, not an image file")
        if st.st_size == 0:
            raise ImageError("empty file")
        im = _open_checked(p)

    try:
        return _decode_opened(im, mode, h, w, own)
    finally:
        if own:
            im.close()


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


def _decode_opened(im: Image.Image, mode: str, h: int, w: int, own: bool) -> torch.Tensor:
    try:
        _check_pixels(im)
        if own and im.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that is still at
            # least the target size; (s, s) covers either EXIF orientation.
            s = max(h, w)
            im.draft(mode if mode == "L" else "RGB", (s, s))
        im.load()  # decodes the first frame; truncated files raise here
        if own:
            ImageOps.exif_transpose(im, in_place=True)
        else:
            im = ImageOps.exif_transpose(im)
        im = flatten(to_8bit(im), mode)
        if im.size != (w, h):
            im = im.resize((w, h), RESAMPLE, reducing_gap=REDUCING_GAP)
        a = np.array(im, dtype=np.uint8)
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
    if a.ndim == 2:
        a = a[None, :, :]
    else:
        a = a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))


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


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Inputs in the given order, each folder replaced by the image files under it.

    Folders are searched recursively for files with an extension Pillow can
    open; hidden files and folders are skipped and each folder's files are
    sorted. Files named explicitly are kept as they are (even missing ones, so
    that classifying them reports the problem).
    """
    exts = _image_extensions()
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if not p.is_dir():
            out.append(p)
            continue
        found: list[Path] = []
        for root, dirs, files in os.walk(p):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if not name.startswith(".") and os.path.splitext(name)[1].lower() in exts:
                    found.append(Path(root) / name)
        found.sort(key=lambda q: q.relative_to(p).parts)
        out.extend(found)
    return out


class Classifier:
    """A model plus its checkpoint metadata, ready to classify images."""

    def __init__(self, model: torch.nn.Module, meta: Any, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
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

    def _predictions(self, names: Sequence[str], probs: np.ndarray, top_k: int) -> list[Prediction]:
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
        return self._predictions([name], self.probabilities(x), top_k)[0]

    def classify_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        top_k: int = 3,
        batch_size: int = 64,
        on_progress: Callable[[Progress], Any] | None = None,
        should_stop: Callable[[], bool] | None = None,
        workers: int | None = None,
    ) -> list[Prediction]:
        """Classify image files, one Prediction per path in the same order.

        Files that cannot be decoded get a Prediction with ``error`` set; the
        rest are classified in batches while the next batch is decoded by a
        thread pool. ``on_progress`` receives Progress(stage="classify") once
        per batch. If ``should_stop()`` turns true, the predictions made so
        far (a prefix of ``paths``) are returned.
        """
        paths = [Path(p) for p in paths]
        total = len(paths)
        batch_size = max(1, int(batch_size))
        chunks = [paths[i : i + batch_size] for i in range(0, total, batch_size)]
        if workers is None:
            workers = min(4, os.cpu_count() or 1)
        results: list[Prediction] = []
        shape = self.input_shape

        def decode(p: Path) -> torch.Tensor | str:
            try:
                return decode_image(p, shape)
            except ImageError as e:
                return str(e)

        def report(done: int) -> None:
            if on_progress is not None:
                on_progress(Progress(stage="classify", done=done, total=total, message=f"{done} of {total} images"))

        if not chunks:
            report(0)
            return results
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            pending = [pool.submit(decode, p) for p in chunks[0]]
            for i, chunk in enumerate(chunks):
                decoded = [f.result() for f in pending]
                if i + 1 < len(chunks) and not (should_stop is not None and should_stop()):
                    pending = [pool.submit(decode, p) for p in chunks[i + 1]]
                else:
                    pending = []
                good = [j for j, d in enumerate(decoded) if isinstance(d, torch.Tensor)]
                preds: list[Prediction | None] = [None] * len(chunk)
                if good:
                    batch = torch.stack([decoded[j] for j in good])  # type: ignore[misc]
                    probs = self.probabilities(batch)
                    for j, pred in zip(good, self._predictions([str(chunk[j]) for j in good], probs, top_k)):
                        preds[j] = pred
                for j, d in enumerate(decoded):
                    if not isinstance(d, torch.Tensor):
                        preds[j] = Prediction(path=str(chunk[j]), error=d)
                results.extend(preds)  # type: ignore[arg-type]
                report(len(results))
                if should_stop is not None and should_stop():
                    break
        return results


__all__ = [
    "Classifier",
    "Prediction",
    "decode_image",
    "expand_inputs",
    "load_image",
    "normalize",
]
