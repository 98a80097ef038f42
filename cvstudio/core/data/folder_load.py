"""Image folders, loaded class by class through the per-class cache.

Only the chosen classes are decoded: each class folder is one cache entry
(``cache.ClassEntry``), so a later subset decodes only the classes not seen
before. The training/validation split is made after loading, exactly as a
whole-folder decode would make it (same files, same order, same pixels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from cvstudio.core.control import RunControl
from cvstudio.core.data import folders
from cvstudio.core.data.bundle import ImageSet
from cvstudio.core.data.cache import ClassEntry, cache_path, load_class_entry, make_key, save_class_entry
from cvstudio.core.data.stats import channel_histograms, stats_from_histograms
from cvstudio.core.errors import DataError
from cvstudio.core.events import Progress, emit


def _class_cache(scan: folders.FolderScan, label: int, size: int, grayscale: bool) -> tuple[Path, str]:
    cut = len(str(scan.root)) + 1
    identity = {
        "name": f"class-{scan.class_names[label]}-in-{scan.root.name}",  # file name (cut to 40 characters)
        "path": str(scan.root),
        "class": scan.class_names[label],
        "layout": [str(scan.train_dir)[cut:], str(scan.val_dir)[cut:] if scan.val_dir else None],
        "decoder": folders.DECODER_VERSION,
        "image_size": size,
        "grayscale": grayscale,
    }
    return cache_path(identity), make_key(identity, scan.class_fingerprint(label))


def load_classes(
    scan: folders.FolderScan,
    labels: list[int],
    size: int,
    grayscale: bool,
    val_fraction: float,
    seed: int,
    callbacks: Any,
    tick: Callable[[int, int], None],
    control: RunControl | None = None,
) -> tuple[ImageSet, ImageSet, list[str], tuple[tuple[float, ...], tuple[float, ...]] | None]:
    """Train and validation images of the classes ``labels`` (new labels 0..k-1 in that order), warnings,
    and (mean, std) of the training images when the cache holds their histograms (else None).

    ``tick(done, total)`` reports decoding progress in images. A stop request
    through ``control`` raises ``Cancelled``; the classes decoded before it
    stay cached (each entry complete), the one being decoded leaves nothing.
    """
    shape = (1 if grayscale else 3, size, size)
    files = {c: sum(scan.class_files(c), []) for c in labels}  # training files, then validation files
    where = {c: _class_cache(scan, c, size, grayscale) for c in labels}

    emit(callbacks, Progress("cache", 0, 1, "looking for a cached copy"))
    entries: dict[int, ClassEntry | None] = {
        c: load_class_entry(where[c][0], where[c][1], len(files[c]), shape) for c in labels
    }
    missing = [c for c in labels if entries[c] is None]
    done_text = "loaded from cache" if not missing else (
        f"{len(labels) - len(missing)} of {len(labels)} classes cached" if len(missing) < len(labels) else "no cached copy"
    )
    emit(callbacks, Progress("cache", 1, 1, done_text))

    warnings: list[str] = []
    if missing:
        total = sum(len(files[c]) for c in missing)
        tick(0, total)
        base = 0
        failures = []
        for c in missing:
            listed = [(p, c) for p in files[c]]
            decoded = folders.decode_files(
                listed, size, grayscale, progress=lambda d, n, b=base: tick(b + d, total), control=control
            )
            bad = np.setdiff1d(np.arange(len(listed)), decoded.kept)
            hist = n_train = None
            if scan.val is not None:  # the training files are fixed by the layout: keep their histogram
                n_train = len(scan.class_files(c)[0])
                hist = channel_histograms(decoded.images[: int((decoded.kept < n_train).sum())])
            entry = ClassEntry(
                decoded.images,
                torch.from_numpy(decoded.kept.astype(np.int64)),
                len(listed),
                tuple((int(i), why) for i, (_, why) in zip(bad, decoded.failed)),
                hist,
                n_train,
            )
            failure = save_class_entry(where[c][0], where[c][1], entry)
            if failure:
                failures.append(failure)
            entries[c] = entry
            base += len(listed)
        emit(callbacks, Progress("cache", 0, 1, "saving a cached copy"))
        emit(callbacks, Progress("cache", 1, 1, failures[0] if failures else "saved a cached copy"))
        if failures:
            warnings.append(failures[0])

    # the split, exactly as for the whole folder: by fraction over all classes (seeded), or as laid out
    if scan.val is None:
        train_files, _, singles = folders.split_by_fraction(scan.train, len(scan.class_names), val_fraction, seed)
        in_train = {p for p, k in train_files}
        single = [scan.class_names[k] for k in singles if k in labels]
        if single:
            warnings.append(f"class(es) with a single image, used for training only: {', '.join(single)}")
    else:
        in_train = None

    train_parts, val_parts, failed = [], [], []
    new_label = {c: i for i, c in enumerate(labels)}
    n_files = 0
    for c in sorted(labels):  # original label order, as a whole-folder decode keeps it
        entry = entries[c]
        assert entry is not None
        class_files = files[c]
        n_files += len(class_files)
        if in_train is None:
            n_train = len(scan.class_files(c)[0])
            is_train = np.arange(len(class_files)) < n_train
        else:
            is_train = np.fromiter((p in in_train for p in class_files), dtype=bool, count=len(class_files))
        kept = entry.kept.numpy()
        rows_train = np.flatnonzero(is_train[kept])
        rows_val = np.flatnonzero(~is_train[kept])
        for rows, parts in ((rows_train, train_parts), (rows_val, val_parts)):
            images = entry.images if len(rows) == len(kept) else entry.images[torch.from_numpy(rows)]
            parts.append((images, torch.full((len(rows),), new_label[c], dtype=torch.int64)))
        failed.extend((class_files[i], why) for i, why in entry.failed)
    failed.extend((p, why) for p, k, why in scan.odd if k in new_label)
    if failed:
        warnings.append(folders.skipped_warning(failed, scan.root))
    if sum(len(e.kept) for e in entries.values() if e is not None) == 0:
        raise DataError(f"none of the {n_files} image files in {scan.root} could be read")
    train = _join(train_parts, shape)
    stats = None
    hists = [entries[c].train_hist for c in labels]  # type: ignore[union-attr]
    if in_train is None and len(train) and all(h is not None for h in hists):
        stats = stats_from_histograms(torch.stack(hists).sum(dim=0))  # == compute_stats(train.images)
    return train, _join(val_parts, shape), warnings, stats


def _join(parts: list[tuple[torch.Tensor, torch.Tensor]], shape: tuple[int, int, int]) -> ImageSet:
    if len(parts) == 1:
        return ImageSet(parts[0][0].contiguous(), parts[0][1])
    if not parts:
        return ImageSet(torch.empty((0, *shape), dtype=torch.uint8), torch.empty(0, dtype=torch.int64))
    return ImageSet(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
