"""The Data page's worker side: plain functions its TaskGroup runs (no widgets), and what they return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvstudio.core.specs import DataConfig
from cvstudio.gui.widgets.image_grid import SampleSheet, sample_sheet

SAMPLES_PER_CLASS = 8


@dataclass(frozen=True)
class DatasetOverview:
    """What the page shows about a loaded dataset, computed off the GUI thread."""

    train_counts: tuple[int, ...]
    val_counts: tuple[int, ...]
    sheet: SampleSheet


def describe_dataset(bundle: Any, per_class: int = SAMPLES_PER_CLASS, seed: int = 0) -> DatasetOverview:
    """Class counts and a few sample images per class (worker thread)."""
    import numpy as np

    k = len(bundle.class_names)
    train_labels = bundle.train.labels.cpu().numpy()
    val_labels = bundle.val.labels.cpu().numpy()
    train_counts = tuple(int(n) for n in np.bincount(train_labels, minlength=k)[:k])
    val_counts = tuple(int(n) for n in np.bincount(val_labels, minlength=k)[:k])
    images = bundle.train.images.cpu().numpy()  # uint8 (N, C, H, W): shown as stored, no de-normalizing
    sheet = sample_sheet(images, train_labels, tuple(bundle.class_names), per_class, seed, list(train_counts))
    return DatasetOverview(train_counts, val_counts, sheet)


def load_and_describe(config: DataConfig, per_class: int, seed: int, callbacks=None,
                      control=None) -> tuple[Any, DatasetOverview]:
    """Load ``config`` with the core and describe it (worker thread); ``control``'s stop raises core Cancelled."""
    from cvstudio.core.data import load_dataset
    from cvstudio.core.errors import raise_if_stopped

    bundle = load_dataset(config, callbacks=callbacks, control=control)
    raise_if_stopped(control)  # a stop that came after the last image still keeps the previous dataset
    return bundle, describe_dataset(bundle, per_class, seed)


ETA_MIN_ELAPSED_S = 1.0  # no estimate before a stage has run this long: early rates are mostly start-up
ETA_MIN_FRACTION = 0.02  # nor before it has advanced this much


class StageEta:
    """Seconds left in the current stage of a load (download, decode, ...), from its pace so far.

    Each stage starts its own clock: a download's pace says nothing about decoding.
    """

    def __init__(self) -> None:
        self._stage: str | None = None
        self._start_s = 0.0
        self._start_fraction = 0.0

    def update(self, stage: str, fraction: float | None, now_s: float) -> float | None:
        """Feed one progress event (``now_s``: a monotonic clock); the estimate, or None when unknown yet."""
        if fraction is None:
            return None
        if stage != self._stage:
            self._stage, self._start_s, self._start_fraction = stage, now_s, fraction
            return None
        elapsed = now_s - self._start_s
        advanced = fraction - self._start_fraction
        if elapsed < ETA_MIN_ELAPSED_S or advanced < ETA_MIN_FRACTION:
            return None
        return max(0.0, elapsed / advanced * (1.0 - fraction))


def format_time_left(seconds: float) -> str:
    """'about 8 s left', 'about 3 min left', 'about 1 h 20 min left'."""
    s = int(round(seconds))
    if s < 60:
        return f"about {max(1, s)} s left"
    minutes = (s + 30) // 60
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60} min left"


def list_classes(config: DataConfig) -> tuple[str, ...]:
    """The classes ``config``'s source offers (worker thread: may read folders or metadata files)."""
    from cvstudio.core.data import available_classes

    return tuple(available_classes(config))


@dataclass(frozen=True)
class ClassListing:
    names: tuple[str, ...]
    own_split: str | None  # a folder's own validation folder ("test/", "val/"); None when it is split by share


def list_classes_and_split(config: DataConfig) -> ClassListing:
    """The classes of ``config``'s source and, for folders, whether they bring their own validation images (worker)."""
    from cvstudio.core.data.loader import resolve_source

    if resolve_source(config.source).kind != "folder":
        return ClassListing(list_classes(config), None)
    from cvstudio.core.data.folders import scan_folder

    scan = scan_folder(config.source)
    own = f"{scan.val_dir.name}/" if scan.val is not None and scan.val_dir is not None else None
    return ClassListing(tuple(scan.class_names), own)


__all__ = ["ClassListing", "DatasetOverview", "StageEta", "describe_dataset", "format_time_left", "list_classes",
           "list_classes_and_split", "load_and_describe"]
