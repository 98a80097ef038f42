"""Image folders as datasets.

Two layouts are understood:

* ``PATH/train/<class>/...`` with ``PATH/test/<class>/...`` or ``PATH/val/<class>/...``
  (``training``, ``valid``, ``validation`` are accepted too): the given split
  is used, and both must have the same class folders;
* ``PATH/<class>/...``: each class is split at random (seeded, stratified)
  into training and validation images by ``val_fraction``; every class with
  at least two images gets at least one validation image.

Class names are the sorted names of the class folders. Inside a class folder,
images are found recursively; hidden files and folders (``.name``) are
ignored, and so are files whose extension is not an image format Pillow
reads. Class folders without any image are skipped with a warning.

Every image is decoded once, by :func:`decode_image`: EXIF orientation
applied, first frame of animations, transparency composited on white, 16-bit
scaled to 8-bit, converted to RGB (or L), and resized to a square of
``size`` pixels (stretched, antialiased bilinear: the same pixels ``core.inference``
gives a model at classification time). Files that cannot be decoded are skipped
and reported in the warnings, each with its reason. Files are read into memory
first (never opened if they are not regular files, so a FIFO cannot block),
then decoded into one preallocated uint8 array: small plain JPEGs through
libjpeg-turbo / libpng directly (``fastdecode``; same pixels, 2-3x faster),
everything else by Pillow. A symbolic link to a folder that leads back to the dataset
root or one of its ancestors is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat as stat_mod
import threading
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from cvstudio.core.control import RunControl
from cvstudio.core.data import fastdecode
from cvstudio.core.errors import DataError, ImageError, raise_if_stopped
from cvstudio.core.images import MAX_IMAGE_PIXELS, OPEN_LOCK, flatten, to_8bit, too_large

# Bump when decoding changes, so cached copies are rebuilt.
DECODER_VERSION = 2

_PIXELS_RE = re.compile(r"\((\d+) pixels\)")  # in Pillow's DecompressionBombError message

TRAIN_NAMES = ("train", "training")
VAL_NAMES = ("val", "valid", "validation", "test", "testing")  # preferred first

# Extensions tried as images (those of formats this Pillow can open are kept).
_CANDIDATE_EXTENSIONS = (
    ".png .apng .jpg .jpeg .jpe .jfif .bmp .dib .gif .webp .tif .tiff .ppm .pgm .pbm .pnm .pfm "
    ".tga .icb .vda .vst .ico .cur .icns .pcx .sgi .rgb .rgba .bw .jp2 .j2k .jpc .jpf .jpx .j2c "
    ".psd .dds .qoi .avif .avifs .xbm .xpm .im .msp .ras .blp .ftc .ftu .fli .flc .dcx .gbr"
).split()

ImageSource = Union[str, os.PathLike, IO[bytes]]


def image_extensions() -> frozenset[str]:
    """Lower-case file extensions (with dot) treated as images."""
    Image.init()
    registered = Image.registered_extensions()
    return frozenset(e for e in _CANDIDATE_EXTENSIONS if registered.get(e) in Image.OPEN)


# ---------------------------------------------------------------------------
# decoding one image


# Resizing: Pillow's bilinear resize is antialiased (its support grows with the
# downscale factor); reducing_gap first box-reduces by an integer factor, fast
# for big downscales and visually identical. Same choice as core.inference, so
# a model sees the same pixels when it classifies a file as when it trained.
RESAMPLE = Image.Resampling.BILINEAR
REDUCING_GAP = 3.0


def open_image(source: ImageSource, grayscale: bool = False, draft_size: int | None = None) -> Image.Image:
    """Open an image file as a loaded, normalised Pillow image in mode RGB (or L).

    EXIF orientation is applied, only the first frame of an animation is
    used, transparency is composited on white and 16-bit or float images are
    scaled to 8 bits over their full range. ``draft_size`` lets a JPEG decode
    at 1/2, 1/4 or 1/8 scale as long as both sides stay at least that large.
    Raises whatever Pillow raises for files it cannot read.
    """
    mode = "L" if grayscale else "RGB"
    try:
        with OPEN_LOCK, warnings.catch_warnings():  # we check the size ourselves, naming the file
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(source)
    except Image.DecompressionBombError as exc:  # over twice the limit: Pillow refuses to open it
        m = _PIXELS_RE.search(str(exc))
        raise ImageError(too_large(int(m.group(1))) if m else "image is too large") from None
    with opened as im:
        pixels = im.size[0] * im.size[1]
        if MAX_IMAGE_PIXELS and pixels > MAX_IMAGE_PIXELS:
            raise ImageError(too_large(pixels))
        if draft_size and im.format == "JPEG":
            im.draft(mode if mode == "L" else "RGB", (draft_size, draft_size))
        im.load()  # decodes the first frame; truncated files raise here
        ImageOps.exif_transpose(im, in_place=True)
        return flatten(to_8bit(im), mode)


def decode_image(source: ImageSource, size: int, grayscale: bool = False) -> np.ndarray:
    """An image file as a uint8 array (C, size, size): C = 3 (RGB) or 1 (``grayscale``).

    The image is stretched to the square (no crop, no padding), like
    ``core.inference.decode_image`` does for a model's input.
    """
    im = open_image(source, grayscale, draft_size=size)
    if im.size != (size, size):
        im = im.resize((size, size), RESAMPLE, reducing_gap=REDUCING_GAP)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


# ---------------------------------------------------------------------------
# finding the files


@dataclass
class FolderScan:
    """What a folder holds: class names and labelled files, before decoding.

    File paths are plain strings (absolute): listing tens of thousands of
    files through ``pathlib`` costs more than checking the cache.
    """

    root: Path
    class_names: tuple[str, ...]
    train: list[tuple[str, int]]  # (file, label)
    val: list[tuple[str, int]] | None  # None: to be split off train by val_fraction
    train_dir: Path
    val_dir: Path | None
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, tuple[int, int, int]] = field(default_factory=dict, repr=False)  # file -> (size, mtime, ctime)
    odd: list[tuple[str, int, str]] = field(default_factory=list)  # (file, label, reason): image names, not files
    _by_class: dict[int, tuple[list[str], list[str]]] | None = field(default=None, repr=False, compare=False)

    def stat(self, path: str) -> tuple[int, int, int]:
        """(size, mtime_ns, ctime_ns) of a listed file, read the first time it is asked for.

        Listing does not stat every file: a subset of a big folder stats only its own classes.
        """
        st = self.stats.get(path)
        if st is None:
            st = self.stats[path] = _stat(path)
        return st

    def stat_many(self, paths: list[str]) -> list[tuple[int, int, int]]:
        """:meth:`stat` of many files (one tight loop: ~2 us a file, most of it the system call)."""
        known = self.stats
        missing = [p for p in paths if p not in known]
        try:
            fresh = [(s.st_size, s.st_mtime_ns, s.st_ctime_ns) for s in map(os.stat, missing)]
        except OSError:  # a file vanished since listing: the careful way
            fresh = [_stat(p) for p in missing]
        known.update(zip(missing, fresh))
        return [known[p] for p in paths]

    def class_files(self, label: int) -> tuple[list[str], list[str]]:
        """The training and validation files (as laid out on disk) of one class, in order."""
        if self._by_class is None:
            by_class: dict[int, tuple[list[str], list[str]]] = {k: ([], []) for k in range(len(self.class_names))}
            for i, files in enumerate((self.train, self.val or [])):
                for path, k in files:
                    by_class[k][i].append(path)
            self._by_class = by_class
        return self._by_class[label]

    def class_digest(self, label: int) -> str:
        """A SHA-256 of what a cached decode of one class depends on: its files' paths, sizes, modification
        and status-change times. The ctime changes whenever a file is written, even when the size stays and
        the modification time is set back. Not the label number: adding another class folder keeps this
        class's key.

        Paths go in as one NUL-separated string (no path holds a NUL) and the times as packed 64-bit
        integers: 2.5 ms for 11,000 files once their stats are read, where the repr of a tuple per file took 6.
        """
        cut = len(str(self.root)) + 1
        digest = hashlib.sha256()
        layout = [str(self.train_dir)[cut:], str(self.val_dir)[cut:] if self.val_dir else None]
        digest.update(repr(layout).encode("utf-8", "surrogateescape"))
        for split, paths in zip(("train", "val"), self.class_files(label)):
            digest.update(f"\n{split} {len(paths)}\n".encode())
            digest.update("\0".join([path[cut:] for path in paths]).encode("utf-8", "surrogateescape"))
            digest.update(np.array(self.stat_many(paths), dtype=np.int64).tobytes())
        return digest.hexdigest()


def _stat(path: str) -> tuple[int, int, int]:
    try:
        r = os.stat(path)
        return (r.st_size, r.st_mtime_ns, r.st_ctime_ns)
    except OSError:
        return (-1, -1, -1)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _subfolders(folder: Path, loops: list[str] | None = None) -> list[Path]:
    """Visible subfolders of ``folder``, sorted; links that lead back up the tree go to ``loops``."""
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not _hidden(e.name) and e.is_dir()]
    except OSError as exc:
        raise DataError(f"cannot read the folder {folder}: {exc.strerror or exc}") from exc
    out = []
    here = os.path.realpath(folder)
    for e in entries:
        if e.is_symlink():
            target = os.path.realpath(e.path)
            if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
                if loops is not None:
                    loops.append(f"{e.path} -> {target}")
                continue
        out.append(Path(e.path))
    return sorted(out, key=lambda p: p.name)


def _loop_warning(loops: list[str]) -> str:
    return (
        f"skipped {len(loops)} linked folder(s) that lead back to the dataset folder or above it "
        f"(a loop; their images would repeat every class): {', '.join(loops)}"
    )


def _image_files(
    folder: Path,
    extensions: frozenset[str],
    odd: list[tuple[str, str]] | None = None,
) -> list[str]:
    """Image files below ``folder`` (recursive, hidden ones skipped), sorted.

    Sizes and times are not read here (see ``FolderScan.stat``); names with an image extension
    that are not regular files (FIFOs, devices, sockets, broken links) go to
    ``odd`` with the reason, and are never opened.
    """
    found: list[str] = []
    pending = [str(folder)]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            continue  # unreadable subfolder: its files are simply not found
        for e in entries:
            name = e.name
            if name[0] == ".":  # hidden
                continue
            try:
                dot = name.rfind(".")
                if dot > 0 and name[dot:].lower() in extensions:
                    if e.is_file():
                        found.append(e.path)
                        continue
                    if odd is not None and not e.is_dir():
                        odd.append((e.path, _odd_reason(e)))
                        continue
                if e.is_dir(follow_symlinks=False):
                    pending.append(e.path)
            except OSError:
                continue
    found.sort()
    return found


def _odd_reason(entry: os.DirEntry) -> str:
    try:
        entry.stat()
    except OSError:
        return "broken link" if entry.is_symlink() else "cannot read the file"
    return "not a regular file"


def _has_loose_images(folder: Path, extensions: frozenset[str]) -> bool:
    try:
        with os.scandir(folder) as it:
            return any(e.is_file() and os.path.splitext(e.name)[1].lower() in extensions for e in it)
    except OSError:
        return False


def scan_folder(path: str | os.PathLike[str]) -> FolderScan:
    """Find the layout, class folders and image files of a folder dataset."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder: give a folder with one subfolder of images per class")
    root = root.resolve()
    extensions = image_extensions()
    root_loops: list[str] = []
    subs = _subfolders(root, root_loops)
    by_name = {p.name.lower(): p for p in subs}
    train_dir = next((by_name[n] for n in TRAIN_NAMES if n in by_name), None)
    val_dir = next((by_name[n] for n in VAL_NAMES if n in by_name), None)
    split_names = set(TRAIN_NAMES) | set(VAL_NAMES)
    warnings: list[str] = []
    split_layout = train_dir is not None and all(p.name.lower() in split_names for p in subs)
    if split_layout:
        assert train_dir is not None
        others = [p.name for p in subs if p not in (train_dir, val_dir)]
        if others:
            warnings.append(f"ignored folder(s) {', '.join(others)} next to {train_dir.name}/")
        class_root = train_dir
    else:
        train_dir, val_dir = root, None
        class_root = root

    loops: list[str] = root_loops if split_layout else []  # else class_root is root: listed again below
    class_dirs = _subfolders(class_root, loops)
    if loops:
        warnings.append(_loop_warning(loops))
    if not class_dirs:
        if _has_loose_images(class_root, extensions):
            raise DataError(
                f"{class_root} has images but no class folders: put the images of each class in its own "
                f"subfolder (e.g. {class_root / 'cats'}, {class_root / 'dogs'})"
            )
        raise DataError(f"no images in {class_root}: expected one subfolder of images per class")

    files_per_class: dict[str, list[str]] = {}
    odd_per_class: dict[str, list[tuple[str, str]]] = {}
    empty: list[str] = []
    for d in class_dirs:
        odd_per_class[d.name] = []
        files = _image_files(d, extensions, odd_per_class[d.name])
        if files:
            files_per_class[d.name] = files
        else:
            empty.append(d.name)
    if not files_per_class:
        raise DataError(f"no images in the class folders of {class_root} (looked for {_ext_hint(extensions)})")
    if empty:
        warnings.append(f"class folder(s) without images skipped: {', '.join(empty)}")
    class_names = tuple(sorted(files_per_class))
    if len(class_names) < 2:
        raise DataError(
            f"{class_root} has only one class folder with images ({class_names[0]!r}): "
            "a classifier needs at least two classes"
        )
    train = [(f, label) for label, name in enumerate(class_names) for f in files_per_class[name]]
    label_of = {name: label for label, name in enumerate(class_names)}
    odd = [(f, label_of[name], why) for name, items in odd_per_class.items() if name in label_of for f, why in items]

    val: list[tuple[str, int]] | None = None
    if split_layout and val_dir is not None:
        val_loops: list[str] = []
        val_dirs = {d.name: d for d in _subfolders(val_dir, val_loops)}
        if val_loops:
            warnings.append(_loop_warning(val_loops))
        missing = [n for n in class_names if n not in val_dirs]
        extra = [n for n in val_dirs if n not in class_names and n not in empty]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"extra {', '.join(extra)}")
            raise DataError(
                f"the class folders of {val_dir.name}/ must match those of {train_dir.name}/ ({'; '.join(parts)})"
            )
        val = []
        no_val: list[str] = []
        for label, name in enumerate(class_names):
            val_odd: list[tuple[str, str]] = []
            files = _image_files(val_dirs[name], extensions, val_odd)
            odd.extend((f, label, why) for f, why in val_odd)
            if not files:
                no_val.append(name)
            val.extend((f, label) for f in files)
        if no_val:
            warnings.append(f"no validation images for class(es): {', '.join(no_val)}")
        if not val:
            raise DataError(f"no images in {val_dir}: put validation images in its class folders")
    elif split_layout:
        warnings.append(f"no val/ or test/ folder next to {train_dir.name}/: validation images are split off")
    return FolderScan(
        root, class_names, train, val, train_dir, val_dir if split_layout else None, warnings, {}, odd
    )


def _ext_hint(extensions: frozenset[str]) -> str:
    common = [e for e in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif") if e in extensions]
    return ", ".join(common) + ", ..."


def split_by_fraction(
    files: list[tuple[str, int]], num_classes: int, val_fraction: float, seed: int
) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[int]]:
    """Stratified, seeded split into (train, val, labels of classes with a single image).

    Every class with at least two images gets at least one validation image
    and keeps at least one training image.
    """
    per_class: list[list[tuple[str, int]]] = [[] for _ in range(num_classes)]
    for item in files:
        per_class[item[1]].append(item)
    masks = val_masks([len(items) for items in per_class], val_fraction, seed)
    train: list[tuple[str, int]] = []
    val: list[tuple[str, int]] = []
    for items, is_val in zip(per_class, masks):
        for item, v in zip(items, is_val.tolist()):  # keep the files' order inside each part
            (val if v else train).append(item)
    return train, val, [label for label, items in enumerate(per_class) if len(items) == 1]


def val_masks(counts: list[int], val_fraction: float, seed: int) -> list[np.ndarray]:
    """Per class, which of its files (in listed order) are validation files: the split of
    :func:`split_by_fraction`, without touching the file names."""
    rng = np.random.default_rng(seed)
    out = []
    for n in counts:
        mask = np.zeros(n, dtype=bool)
        if n >= 2:
            n_val = min(n - 1, max(1, int(round(n * val_fraction))))
            mask[rng.permutation(n)[:n_val]] = True
        out.append(mask)
    return out


# ---------------------------------------------------------------------------
# decoding many images


@dataclass
class DecodedFiles:
    images: torch.Tensor  # uint8 (N, C, S, S)
    labels: torch.Tensor  # int64 (N,)
    failed: list[tuple[str, str]]  # (file, reason) skipped
    kept: np.ndarray  # indices into the given files of the decoded images, ascending


CHUNK_FILES = 256  # files per unit of work: stop requests and progress are seen between chunks


READ_WHOLE_BYTES = 16 * 2**20  # files up to this size are read into memory at once; bigger ones are streamed


def open_regular(path: str) -> tuple[IO[bytes], int]:
    """An open regular file and its size; ImageError for FIFOs, devices, empty or vanished files.

    Opened non-blocking, so a FIFO put where an image was listed cannot hang
    the decoder (it is refused after ``fstat``, before any read).
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImageError("file not found (removed after the folder was listed)") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as exc:
        raise ImageError(f"cannot read the file ({exc.strerror or exc})") from None
    f = os.fdopen(fd, "rb", buffering=0)
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            raise ImageError("not a regular file")
        if st.st_size == 0:
            raise ImageError("empty file")
    except BaseException:
        f.close()
        raise
    return f, st.st_size


def read_file(path: str) -> bytearray:
    """The bytes of a regular file (see :func:`open_regular` for what is refused)."""
    f, size = open_regular(path)
    with f:
        return _read_all(f, size)


def _read_all(f: IO[bytes], size: int) -> bytearray:
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < len(buf):
        n = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    if got < len(buf):
        del buf[got:]
    if not buf:
        raise ImageError("empty file")
    return buf


def _decode_file(path: str, size: int, grayscale: bool, op: Any) -> np.ndarray:
    """One file as uint8 (C, size, size): small files read whole (plain JPEGs through ``op``), big ones streamed."""
    f, nbytes = open_regular(path)
    with f:
        if nbytes > READ_WHOLE_BYTES:  # a big photo or scan: Pillow streams it (and drafts JPEGs)
            return decode_image(io.BufferedReader(f), size, grayscale)  # type: ignore[arg-type]
        data = _read_all(f, nbytes)
    arr = fastdecode.decode(op, data, size, grayscale) if op is not None else None
    return arr if arr is not None else decode_image(io.BytesIO(data), size, grayscale)


def decode_files(
    files: list[tuple[str, int]],
    size: int,
    grayscale: bool,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    control: RunControl | None = None,
    fast: bool = True,
) -> DecodedFiles:
    """Decode ``files`` into one uint8 (N, C, size, size) tensor; unreadable files are left out.

    ``control``: a stop request raises :class:`Cancelled` between chunks of
    :data:`CHUNK_FILES` files (nothing is returned); pause waits there.
    ``fast=False`` decodes every file with Pillow (same pixels, slower).
    """
    n = len(files)
    channels = 1 if grayscale else 3
    out = np.empty((n, channels, size, size), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    errors: dict[int, str] = {}
    lock = threading.Lock()
    op = fastdecode.operator() if fast and n else None

    def work(lo: int, hi: int) -> int:
        for i in range(lo, hi):
            try:
                out[i] = _decode_file(files[i][0], size, grayscale, op)
                ok[i] = True
            except MemoryError:
                raise
            except Exception as exc:  # any decoder failure: the file is skipped and reported
                with lock:
                    errors[i] = _reason(exc)
        return hi - lo

    workers = workers or _decode_workers(files, op is not None)
    done = 0
    if n:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cvstudio-decode") as pool:
            pending: set[Any] = set()
            starts = iter(range(0, n, CHUNK_FILES))
            try:
                while True:
                    raise_if_stopped(control)
                    for lo in starts:
                        pending.add(pool.submit(work, lo, min(n, lo + CHUNK_FILES)))
                        if len(pending) >= 2 * workers:
                            break
                    if not pending:
                        break
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        done += fut.result()
                    if progress is not None:
                        progress(done, n)
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
    labels = np.fromiter((label for _, label in files), dtype=np.int64, count=n)
    if ok.all():
        images_t = torch.from_numpy(out)
        labels_t = torch.from_numpy(labels)
    else:
        images_t = torch.from_numpy(out[ok])
        labels_t = torch.from_numpy(labels[ok])
    failed = [(files[i][0], errors.get(i, "unreadable")) for i in np.flatnonzero(~ok)]
    return DecodedFiles(images_t, labels_t, failed, np.flatnonzero(ok))


SMALL_FILE_BYTES = 50_000  # below this, decoding is mostly Python work under the GIL
def _decode_workers(files: list[tuple[str, int]], fast: bool = False) -> int:
    """Threads pay off only when C code that releases the GIL dominates: big files, or small files
    decoded by libjpeg-turbo / libpng directly (``fastdecode``).

    Measured on 2 cores with 32x32 PNGs through Pillow: 1 thread 0.50 s, 2 threads 0.94 s,
    4 threads 1.2 s for 6,000 files; the threads fight over the GIL for the per-image Python work.
    12,000 32x32 JPEGs: Pillow 1 thread 11.3k files/s, 2 threads 9.6k/s; fastdecode 1 thread 24k/s,
    2 threads 28k/s, 4 threads 18k/s (a quiet machine); with the other cores busy, 1 and 2 threads
    were equal (28.7k vs 27.8k/s): ~60% of the time per file is Python work under the GIL.
    """
    sample = files[:: max(1, len(files) // 16)][:16]
    sizes = []
    for path, _ in sample:
        try:
            sizes.append(os.path.getsize(path))
        except OSError:
            pass
    cores = os.cpu_count() or 1
    if sizes and sum(sizes) / len(sizes) < SMALL_FILE_BYTES:
        return min(2, cores) if fast else 1
    return min(8, cores + 2)


def _reason(exc: BaseException) -> str:
    """A short reason for a skipped file (no paths, no object reprs)."""
    if isinstance(exc, ImageError):
        return str(exc)
    if isinstance(exc, UnidentifiedImageError):
        return "not an image (unrecognized file format)"
    if isinstance(exc, Image.DecompressionBombError):
        m = _PIXELS_RE.search(str(exc))
        return too_large(int(m.group(1))) if m else "image is too large"
    text = str(exc).strip().splitlines()
    if isinstance(exc, OSError) and text and "truncated" in text[0].lower():
        return "truncated image file (the file is incomplete)"
    return text[0] if text else type(exc).__name__


def skipped_warning(failed: list[tuple[str, str]], root: Path, show: int = 3) -> str:
    """One line naming the first ``show`` skipped files, each with its reason."""
    prefix = str(root) + os.sep
    names = [
        f"{p[len(prefix) :] if p.startswith(prefix) else os.path.basename(p)} ({why})" for p, why in failed[:show]
    ]
    more = f" and {len(failed) - show} more" if len(failed) > show else ""
    noun = "file" if len(failed) == 1 else "files"
    return f"skipped {len(failed)} unreadable image {noun}: {', '.join(names)}{more}"
