"""``load_dataset``: from a DataConfig to a DatasetBundle, through the cache."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from cvstudio.core import paths
from cvstudio.core.control import RunControl
from cvstudio.core.data import shapes
from cvstudio.core.data.bundle import DatasetBundle, ImageSet
from cvstudio.core.data.cache import DecodedSource, cache_path, load_cached, make_key, save_cached
from cvstudio.core.data.stats import compute_stats
from cvstudio.core.data.torchvision_sources import (
    TORCHVISION_SOURCES,
    check_present,
    file_fingerprint,
    locate_root,
)
from cvstudio.core.errors import DataError, raise_if_stopped
from cvstudio.core.events import Progress, emit
from cvstudio.core.specs import DataConfig

SOURCES: dict[str, str] = {
    "shapes": (
        f"Shapes (built-in): {len(shapes.CLASS_NAMES)} classes of simple shapes "
        f"({', '.join(shapes.CLASS_NAMES)}), {shapes.TRAIN_SIZE:,} training + {shapes.VAL_SIZE:,} "
        "validation 32x32 colour images, made on the fly; no download"
    ),
    **{name: info.summary for name, info in TORCHVISION_SOURCES.items()},
}

DEFAULT_IMAGE_SIZE = 32  # folders and shapes when DataConfig.image_size is None
PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress events a second

_ALIASES = {"cifar10": "cifar10", "cifar100": "cifar100", "mnist": "mnist", "fashionmnist": "fashion-mnist",
            "svhn": "svhn", "shapes": "shapes"}  # fmt: skip


@dataclass(frozen=True)
class ResolvedSource:
    kind: str  # "shapes" | "torchvision" | "folder"
    name: str  # "shapes", a key of TORCHVISION_SOURCES, or the folder's absolute path
    title: str  # for descriptions, e.g. "CIFAR-10", "Shapes (built-in)", "parts (folder)"


def is_torchvision_source(name: str) -> bool:
    """True for the names of the datasets read through torchvision (aliases accepted)."""
    return _ALIASES.get(_normalise(name)) in TORCHVISION_SOURCES


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def resolve_source(source: str) -> ResolvedSource:
    """Tell a built-in, torchvision or folder source apart; DataError if it is none of them.

    Names are matched ignoring case, dashes and underscores ("CIFAR-10",
    "fashion_mnist"); anything else is taken as a folder path.
    """
    text = str(source).strip()
    if not text:
        raise DataError("no dataset given: use shapes, a torchvision dataset name or an image folder")
    looks_like_path = any(sep and sep in text for sep in (os.sep, os.altsep)) or text.startswith(("~", "."))
    name = None if looks_like_path else _ALIASES.get(_normalise(text))
    if name == "shapes":
        return ResolvedSource("shapes", "shapes", "Shapes (built-in)")
    if name is not None:
        return ResolvedSource("torchvision", name, TORCHVISION_SOURCES[name].title)
    path = Path(text).expanduser()
    if path.exists():
        path = path.resolve()
        return ResolvedSource("folder", str(path), f"{path.name or str(path)} (folder)")
    if looks_like_path:
        raise DataError(f"dataset folder not found: {path}")
    raise DataError(f"unknown dataset {text!r}: use one of {', '.join(SOURCES)} or the path of an image folder")


def _data_root(config: DataConfig) -> Path:
    return Path(config.data_dir).expanduser() if config.data_dir else paths.data_dir()


def available_classes(config: DataConfig) -> tuple[str, ...]:
    """Class names of the source, before any subset; cheap (no image is decoded)."""
    src = resolve_source(config.source)
    if src.kind == "shapes":
        return shapes.CLASS_NAMES
    if src.kind == "torchvision":
        return TORCHVISION_SOURCES[src.name].classes
    from cvstudio.core.data.folders import scan_folder

    return scan_folder(src.name).class_names


# ---------------------------------------------------------------------------


class _Throttle:
    """Emit progress of one stage at most every PROGRESS_INTERVAL_S, plus the last step.

    With a ``control``, every call is also where a stop request is seen
    (raising :class:`Cancelled`) and a pause waits.
    """

    def __init__(self, callbacks: Iterable[Any] | None, stage: str, message: str, control: RunControl | None = None):
        self.callbacks = callbacks
        self.stage = stage
        self.message = message
        self.control = control
        self.last = 0.0

    def __call__(self, done: float, total: float | None) -> None:
        raise_if_stopped(self.control)
        if not self.callbacks:
            return
        now = time.monotonic()
        if done == total or now - self.last >= PROGRESS_INTERVAL_S:
            self.last = now
            emit(self.callbacks, Progress(self.stage, done, total, self.message))


@dataclass
class _Plan:
    identity: dict[str, Any]
    fingerprint: Callable[[], Any]  # state of the input files (called again after decoding)
    decode: Callable[[], DecodedSource]
    class_names: tuple[str, ...]  # known before decoding
    extra_warnings: tuple[str, ...] = ()


def _plan_shapes(config: DataConfig, callbacks: Any, control: RunControl | None) -> _Plan:
    size = config.image_size or DEFAULT_IMAGE_SIZE
    identity = {
        "name": "shapes",
        "generator": shapes.GENERATOR_VERSION,
        "seed": config.seed,
        "image_size": size,
        "grayscale": config.grayscale,
        "sizes": [shapes.TRAIN_SIZE, shapes.VAL_SIZE],
    }

    def decode() -> DecodedSource:
        tick = _Throttle(callbacks, "decode", "drawing shapes", control)
        tick(0, shapes.TRAIN_SIZE + shapes.VAL_SIZE)
        ti, tl, vi, vl = shapes.generate_shapes(
            config.seed, shapes.TRAIN_SIZE, shapes.VAL_SIZE, size, config.grayscale, progress=tick
        )
        return DecodedSource(ti, tl, vi, vl, shapes.CLASS_NAMES)

    return _Plan(identity, list, decode, shapes.CLASS_NAMES)


def _plan_torchvision(src: ResolvedSource, config: DataConfig, callbacks: Any, control: RunControl | None) -> _Plan:
    from cvstudio.core.data.torchvision_sources import decode_torchvision

    info = TORCHVISION_SOURCES[src.name]
    root = locate_root(info, _data_root(config).resolve())
    if info.missing_files(root):
        if not config.download:
            check_present(info, root)  # raises, telling how to download
        from cvstudio.core.data.download import download_dataset

        download_dataset(info.name, root, callbacks)
        check_present(info, root)
    identity = {"name": info.name, "root": str(root), "reader": 1}
    warnings = []
    grey = info.name in ("mnist", "fashion-mnist")
    if config.image_size is not None and config.image_size != (28 if grey else 32):
        warnings.append(f"the image size setting applies to folders and shapes only; {info.title} keeps its own")
    if config.grayscale and not grey:
        warnings.append(f"the grayscale setting applies to folders and shapes only; {info.title} stays in colour")

    def decode() -> DecodedSource:
        tick = _Throttle(callbacks, "decode", f"reading {info.title}", control)
        tick(0, 1)
        try:
            ti, tl, vi, vl = decode_torchvision(info, root)
        except DataError:
            if not config.download:
                raise
            from cvstudio.core.data.download import download_dataset

            download_dataset(info.name, root, callbacks)  # re-fetches what fails its checksum
            ti, tl, vi, vl = decode_torchvision(info, root)
        tick(1, 1)
        return DecodedSource(ti, tl, vi, vl, info.classes)

    return _Plan(identity, lambda: file_fingerprint(info, root), decode, info.classes, tuple(warnings))


def _plan(config: DataConfig, src: ResolvedSource, callbacks: Any, control: RunControl | None) -> _Plan:
    if src.kind == "shapes":
        return _plan_shapes(config, callbacks, control)
    return _plan_torchvision(src, config, callbacks, control)


def _decoded_source(plan: _Plan, callbacks: Any, control: RunControl | None) -> tuple[DecodedSource, list[str]]:
    """The whole source, from the cache when it holds an intact copy, else decoded (and cached)."""
    warnings = list(plan.extra_warnings)
    path = cache_path(plan.identity)
    key = make_key(plan.identity, plan.fingerprint())

    emit(callbacks, Progress("cache", 0, 1, "looking for a cached copy"))
    decoded = load_cached(path, key)
    if decoded is not None and decoded.class_names != plan.class_names:
        decoded = None  # made by a version with other class names
    emit(callbacks, Progress("cache", 1, 1, "loaded from cache" if decoded is not None else "no cached copy"))
    if decoded is None:
        decoded = plan.decode()  # Cancelled on a stop request: nothing is saved
        raise_if_stopped(control)
        emit(callbacks, Progress("stats", 0, 1, "computing mean and standard deviation"))
        if decoded.train_labels.numel():
            mean, std = compute_stats(decoded.train_images)
            decoded = replace(decoded, mean=mean, std=std)
        emit(callbacks, Progress("stats", 1, 1, "computing mean and standard deviation"))
        emit(callbacks, Progress("cache", 0, 1, "saving a cached copy"))
        failure = save_cached(path, make_key(plan.identity, plan.fingerprint()), decoded)
        emit(callbacks, Progress("cache", 1, 1, "saved a cached copy" if failure is None else failure))
        if failure:
            warnings.append(failure)
    return decoded, warnings


def _class_indices(requested: tuple[str, ...], available: tuple[str, ...], title: str) -> list[int]:
    exact = {name: i for i, name in enumerate(available)}
    folded: dict[str, list[int]] = {}
    for i, name in enumerate(available):
        folded.setdefault(name.casefold(), []).append(i)
    out: list[int] = []
    for name in requested:
        name = str(name).strip()
        if name in exact:
            idx = exact[name]
        elif len(folded.get(name.casefold(), [])) == 1:
            idx = folded[name.casefold()][0]
        else:
            raise DataError(f"{title} has no class {name!r}; available: {', '.join(available)}")
        if idx in out:
            raise DataError(f"class {available[idx]!r} is listed twice")
        out.append(idx)
    if len(out) < 2:
        raise DataError("choose at least two classes to train a classifier")
    return out


def _subset(images: torch.Tensor, labels: torch.Tensor, lut: torch.Tensor) -> ImageSet:
    new = lut[labels]
    keep = new >= 0
    return ImageSet(images[keep].contiguous(), new[keep].contiguous())


def _describe(title: str, names: tuple[str, ...], total: int) -> str:
    if len(names) <= 5:
        return f"{title}: {', '.join(names)}"
    if len(names) < total:
        return f"{title}: {len(names)} of {total} classes"
    return f"{title}: {len(names)} classes"


def load_dataset(
    config: DataConfig, callbacks: Iterable[Any] | None = None, control: RunControl | None = None
) -> DatasetBundle:
    """Load the dataset ``config`` describes: decoded once, cached, subset, with statistics.

    Image folders decode only the chosen classes (cached per class); shapes
    and torchvision datasets are decoded and cached whole, then subset.
    Progress events (``core.events.Progress``) carry ``done``/``total``
    (images while decoding). ``control.request_stop()`` ends the load with
    :class:`cvstudio.core.errors.Cancelled` and leaves no partial cache entry.

    Raises :class:`DataError` with a one-line message for anything the user can fix.
    """
    callbacks = list(callbacks) if callbacks else None
    src = resolve_source(config.source)
    raise_if_stopped(control)
    if src.kind == "folder":
        from cvstudio.core.data import folders
        from cvstudio.core.data.folder_load import load_classes

        scan = folders.scan_folder(src.name)
        all_names = scan.class_names
        idx = _class_indices(config.classes, all_names, src.title) if config.classes else None
        labels = idx if idx is not None else list(range(len(all_names)))
        tick = _Throttle(callbacks, "decode", f"decoding images in {scan.root.name}", control)
        train, val, warnings, stats = load_classes(
            scan,
            labels,
            config.image_size or DEFAULT_IMAGE_SIZE,
            config.grayscale,
            config.val_fraction,
            config.seed,
            callbacks,
            tick,
            control,
        )
        names = tuple(all_names[i] for i in labels)
        all_warnings = tuple(scan.warnings) + tuple(warnings)
        mean, std = stats if stats is not None else (None, None)
    else:
        plan = _plan(config, src, callbacks, control)
        idx = _class_indices(config.classes, plan.class_names, src.title) if config.classes else None
        decoded, warnings = _decoded_source(plan, callbacks, control)
        all_names = decoded.class_names
        all_warnings = tuple(decoded.warnings) + tuple(warnings)
        if idx is not None:
            lut = torch.full((len(all_names),), -1, dtype=torch.int64)
            lut[torch.tensor(idx)] = torch.arange(len(idx))
            train = _subset(decoded.train_images, decoded.train_labels, lut)
            val = _subset(decoded.val_images, decoded.val_labels, lut)
            names = tuple(all_names[i] for i in idx)
            mean = std = None
        else:
            train = ImageSet(decoded.train_images, decoded.train_labels)
            val = ImageSet(decoded.val_images, decoded.val_labels)
            names = all_names
            mean, std = decoded.mean, decoded.std

    if len(train) == 0:
        raise DataError(f"{src.title} has no training images for the chosen classes")
    if len(val) == 0:
        raise DataError(f"{src.title} has no validation images for the chosen classes")
    if mean is None or std is None:
        emit(callbacks, Progress("stats", 0, 1, "computing mean and standard deviation"))
        mean, std = compute_stats(train.images)
        emit(callbacks, Progress("stats", 1, 1, "computing mean and standard deviation"))

    return DatasetBundle(
        train=train,
        val=val,
        class_names=names,
        mean=mean,
        std=std,
        description=_describe(src.title, names, len(all_names)),
        source=config.source,
        warnings=all_warnings,
    )
