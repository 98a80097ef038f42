"""On-disk cache of decoded datasets (before any class subset is applied).

One ``.safetensors`` file per source and decode settings, under
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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cvstudio.core import paths

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_META_KEY = "cvstudio_dataset"
_TENSORS = ("train_images", "train_labels", "val_images", "val_labels")


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
    from safetensors.torch import save_file

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
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        save_file(tensors, tmp, metadata={_META_KEY: json.dumps(meta)})
        with open(tmp, "r+b") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        return None
    except Exception as exc:  # disk full, read-only, permissions...: keep going without a cache
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        log.warning("could not write the dataset cache %s: %s", path, reason)
        return f"could not save the decoded dataset in the cache ({reason}); it will be decoded again next time"
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
