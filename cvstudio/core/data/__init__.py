"""Datasets: the built-in shapes, torchvision datasets and image folders.

Every source is decoded once into uint8 tensors (N, C, H, W) with int64
labels, cached on disk (``cache.py``), cut to the chosen classes and
described by per-channel statistics of its training images. Image folders
decode and cache only the chosen classes, one cache entry per class folder
(``folder_load.py``); small plain JPEG/PNG files go through libjpeg-turbo /
libpng directly (``fastdecode.py``), everything else through Pillow, with the
same pixels. ``load_dataset(..., control=RunControl())`` can be stopped
(``errors.Cancelled``) and paused.

    >>> bundle = load_dataset(DataConfig(source="cifar10", classes=("airplane", "bird")))
    >>> bundle.class_names, bundle.mean
    (('airplane', 'bird'), (...))

Importing this package does not import torchvision; that happens only when
torchvision's files are actually read or downloaded.
"""

from cvstudio.core.data.bundle import DatasetBundle, ImageSet
from cvstudio.core.data.loader import (
    DEFAULT_IMAGE_SIZE,
    SOURCES,
    ResolvedSource,
    available_classes,
    is_torchvision_source,
    load_dataset,
    resolve_source,
)
from cvstudio.core.data.stats import compute_stats

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "SOURCES",
    "DatasetBundle",
    "ImageSet",
    "ResolvedSource",
    "available_classes",
    "compute_stats",
    "is_torchvision_source",
    "load_dataset",
    "resolve_source",
]
