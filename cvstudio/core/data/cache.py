"""On-disk cache of decoded datasets.

Built-in shapes and torchvision datasets (decoded all at once): one
``.safetensors`` file per source and decode settings, under
``paths.cache_dir()/datasets``. It holds four tensors -- ``train_images``,
``train_labels``, ``val_images``, ``val_labels`` -- and one JSON document in
the metadata: format version, the key, class names, warnings of the decode,
statistics of the training images, and a CRC-32 of each tensor's bytes.

* The file *name* comes from what identifies the source and its decode
  (source, folder, image size, grayscale, seed, ...); the *key* stored inside
  also covers the input files' sizes and modification times. When the files
  change the key no longer matches and the same file is rebuilt in place.
* Nothing read from the cache is trusted: any error, another key or format,
  unexpected shapes or dtypes, labels out of range or a CRC mismatch makes
  :func:`load_cached` return None and the data is decoded again. Nothing is
  ever unpickled.
* Writing goes to a temporary file in the same folder, is flushed to disk and
  then renamed over the old file, so a crash never leaves a half-written
  cache. A failed write (disk full, read-only folder) is only a warning.

Image folders are cached per class (:class:`ClassEntry`): one file per class
folder and decode settings, holding ``images`` (the decoded files of that
class, training files then validation files as laid out on disk) and
``kept`` (which of the class's files they are; the others could not be
read, their reasons are in the metadata). Choosing another class subset
reuses the classes already decoded, and the split by ``val_fraction`` is
made after loading, so changing it decodes nothing. The same rules apply:
key over the class's files (path, size, mtime, ctime), CRC-32 per tensor,
validated shapes and indices, atomic replace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cvstudio.core.atomic import replacing
from cvstudio.core import paths

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_META_KEY = "cvstudio_dataset"
_TENSORS = ("train_images", "train_labels", "val_images", "val_labels")
_CLASS_META_KEY = "cvstudio_class"
_CLASS_TENSORS = ("images", "kept")


@dataclass(frozen=True)
class DecodedSource:
    """All classes of a source, decoded: what the cache holds."""

    train_images: torch.Tensor  # uint8 (N, C, H, W)
    train_labels: torch.Tensor  # int64 (N,)
    val_images: torch.Tensor
    val_labels: torch.Tensor
    class_names: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None  # of all training images, 0..1 units
    std: tuple[float, ...] | None = None

    def tensors(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in _TENSORS}


def cache_folder() -> Path:
    return paths.cache_dir() / "datasets"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def cache_path(identity: dict[str, Any]) -> Path:
    """Where the cached copy of the source described by ``identity`` lives."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", str(identity.get("name", "dataset"))).strip("-")[:40] or "dataset"
    return cache_folder() / f"{slug}-{_digest(identity)[:16]}.safetensors"


def make_key(identity: dict[str, Any], fingerprint: Any) -> str:
    """The full key: the identity plus the state of the input files."""
    return _digest({"format": FORMAT_VERSION, "identity": identity, "files": fingerprint})


def _crc(t: torch.Tensor) -> int:
    return zlib.crc32(t.contiguous().view(torch.uint8).numpy()) if t.numel() else 0


def load_cached(path: Path, key: str) -> DecodedSource | None:
    """The cached source at ``path`` if it is intact and was made for ``key``, else None."""
    if not path.is_file():
        return None
    try:
        return _load(path, key)
    except Exception as exc:  # any damage at all means: decode again
        log.info("dataset cache %s not usable (%s); rebuilding", path, exc)
        return None


def _load(path: Path, key: str) -> DecodedSource | None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {})[_META_KEY])
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
            return None
        if set(f.keys()) != set(_TENSORS):
            raise ValueError("unexpected tensors")
        t = {name: f.get_tensor(name) for name in _TENSORS}
    class_names = tuple(meta["class_names"])
    if len(class_names) < 1 or not all(isinstance(c, str) for c in class_names):
        raise ValueError("bad class names")
    ti, tl, vi, vl = (t[name] for name in _TENSORS)
    for images, labels in ((ti, tl), (vi, vl)):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError("bad image tensor")
        if labels.dtype != torch.int64 or labels.dim() != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError("bad label tensor")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(class_names)):
            raise ValueError("labels out of range")
    if ti.shape[1:] != vi.shape[1:]:
        raise ValueError("splits differ in shape")
    crcs = meta["crc32"]
    for name in _TENSORS:
        if _crc(t[name]) != int(crcs[name]):
            raise ValueError(f"CRC mismatch in {name}")
    mean = meta.get("mean")
    std = meta.get("std")
    if mean is not None and std is not None and len(mean) == len(std) == ti.shape[1]:
        mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    else:
        mean = std = None
    return DecodedSource(
        ti.contiguous(),
        tl.contiguous(),
        vi.contiguous(),
        vl.contiguous(),
        class_names,
        tuple(str(w) for w in meta.get("warnings", ())),
        mean,
        std,
    )


def save_cached(path: Path, key: str, source: DecodedSource) -> str | None:
    """Write ``source`` atomically to ``path``; on failure return a warning (never raise)."""
    tensors = {name: t.contiguous() for name, t in source.tensors().items()}
    meta = {
        "format": FORMAT_VERSION,
        "key": key,
        "class_names": list(source.class_names),
        "warnings": list(source.warnings),
        "mean": list(source.mean) if source.mean is not None else None,
        "std": list(source.std) if source.std is not None else None,
        "crc32": {name: _crc(t) for name, t in tensors.items()},
    }
    return _write_atomic(path, tensors, {_META_KEY: json.dumps(meta)})


def _write_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str | None:
    from safetensors.torch import save_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
            with open(tmp, "r+b") as fh:
                os.fsync(fh.fileno())
        return None
    except Exception as exc:  # disk full, read-only, permissions...: keep going without a cache
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        log.warning("could not write the dataset cache %s: %s", path, reason)
        return f"could not save the decoded dataset in the cache ({reason}); it will be decoded again next time"


# ---------------------------------------------------------------------------
# per-class entries (image folders)


@dataclass(frozen=True)
class ClassEntry:
    """One class folder, decoded: ``images[j]`` is file ``kept[j]`` of the class's file list."""

    images: torch.Tensor  # uint8 (K, C, S, S)
    kept: torch.Tensor  # int64 (K,), strictly increasing indices into the class's n_files files
    n_files: int
    failed: tuple[tuple[int, str], ...] = ()  # (file index, reason) of the files that could not be read
    # per-channel counts of values 0..255 over the images of the files before n_train: the training
    # files of a train/ + val/ layout, or all files where a split by fraction comes later (its
    # validation images are subtracted), so statistics of a cached subset need no full pass
    train_hist: torch.Tensor | None = None  # int64 (C, 256)
    n_train: int | None = None


def load_class_entry(path: Path, key: str, n_files: int, shape: tuple[int, int, int]) -> ClassEntry | None:
    """The cached class at ``path`` if it is intact, made for ``key`` and of the expected size, else None."""
    if not path.is_file():
        return None
    try:
        return _load_class(path, key, n_files, shape)
    except Exception as exc:  # any damage at all means: decode again
        log.info("dataset cache %s not usable (%s); rebuilding", path, exc)
        return None


def _load_class(path: Path, key: str, n_files: int, shape: tuple[int, int, int]) -> ClassEntry | None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {})[_CLASS_META_KEY])
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
            return None
        names = set(_CLASS_TENSORS) | ({"train_hist"} if "train_hist" in meta["crc32"] else set())
        if set(f.keys()) != names:
            raise ValueError("unexpected tensors")
        t = {name: f.get_tensor(name) for name in names}
    images, kept = t["images"], t["kept"]
    if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != tuple(shape):
        raise ValueError("bad image tensor")
    if kept.dtype != torch.int64 or kept.dim() != 1 or kept.shape[0] != images.shape[0]:
        raise ValueError("bad index tensor")
    if int(meta["n_files"]) != n_files:
        raise ValueError("another number of files")
    if kept.numel() and (int(kept[0]) < 0 or int(kept[-1]) >= n_files or bool((kept[1:] <= kept[:-1]).any())):
        raise ValueError("indices out of order or range")
    failed = tuple((int(i), str(why)) for i, why in meta.get("failed", ()))
    if len(failed) + kept.numel() != n_files or any(not 0 <= i < n_files for i, _ in failed):
        raise ValueError("failed files do not add up")
    for name in t:
        if _crc(t[name]) != int(meta["crc32"][name]):
            raise ValueError(f"CRC mismatch in {name}")
    hist, n_train = t.get("train_hist"), meta.get("n_train")
    if hist is not None:
        n_train = int(n_train)
        n_train_images = int((kept < n_train).sum())
        if hist.dtype != torch.int64 or tuple(hist.shape) != (shape[0], 256) or bool((hist < 0).any()):
            raise ValueError("bad histogram")
        if bool((hist.sum(dim=1) != n_train_images * shape[1] * shape[2]).any()):
            raise ValueError("histogram does not match the images")
    return ClassEntry(images.contiguous(), kept.contiguous(), n_files, failed, hist, n_train if hist is not None else None)


def save_class_entry(path: Path, key: str, entry: ClassEntry) -> str | None:
    """Write ``entry`` atomically to ``path``; on failure return a warning (never raise)."""
    tensors = {"images": entry.images.contiguous(), "kept": entry.kept.contiguous()}
    if entry.train_hist is not None:
        tensors["train_hist"] = entry.train_hist.contiguous()
    meta = {
        "format": FORMAT_VERSION,
        "key": key,
        "n_files": entry.n_files,
        "n_train": entry.n_train,
        "failed": [list(item) for item in entry.failed],
        "crc32": {name: _crc(t) for name, t in tensors.items()},
    }
    return _write_atomic(path, tensors, {_CLASS_META_KEY: json.dumps(meta)})
