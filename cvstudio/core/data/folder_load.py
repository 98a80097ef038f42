"""Image folders, loaded class by class through the per-class cache.

Only the chosen classes are decoded: each class folder is one cache entry
(``cache.ClassEntry``), so a later subset decodes only the classes not seen
before. The training/validation split is made after loading, exactly as a
whole-folder decode would make it (same files, same order, same pixels).
"""

from __future__ import annotations

import dataclasses
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
    return cache_path(identity), make_key(identity, scan.class_digest(label))


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
    n_train = {c: len(scan.class_files(c)[0]) for c in labels}
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
            # histogram of the files that can be training files: those of train/ (fixed by the layout), or
            # all (a split by fraction subtracts its validation images), so cached loads need no full pass
            hist = channel_histograms(decoded.images[: int((decoded.kept < n_train[c]).sum())])
            entry = ClassEntry(
                decoded.images,
                torch.from_numpy(decoded.kept.astype(np.int64)),
                len(listed),
                tuple((int(i), why) for i, (_, why) in zip(bad, decoded.failed)),
                hist,
                n_train[c],
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
        counts = [0] * len(scan.class_names)
        for _, k in scan.train:
            counts[k] += 1
        masks = folders.val_masks(counts, val_fraction, seed)
        single = [scan.class_names[c] for c in sorted(labels) if counts[c] == 1]
        if single:
            warnings.append(f"class(es) with a single image, used for training only: {', '.join(single)}")

    rows: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # class -> (training rows, validation rows)
    failed: list[tuple[str, str]] = []
    new_label = {c: i for i, c in enumerate(labels)}
    hists = [entries[c].train_hist if entries[c].n_train == n_train[c] else None for c in labels]  # type: ignore[union-attr]
    order = sorted(labels)  # original label order, as a whole-folder decode keeps it
    for c in order:
        entry = entries[c]
        assert entry is not None
        if scan.val is None:
            is_train = ~masks[c]
        else:
            is_train = np.arange(len(files[c])) < n_train[c]
        in_train = is_train[entry.kept.numpy()]
        rows[c] = (torch.from_numpy(np.flatnonzero(in_train)), torch.from_numpy(np.flatnonzero(~in_train)))
        failed.extend((files[c][i], why) for i, why in entry.failed)
    failed.extend((p, why) for p, k, why in scan.odd if k in new_label)
    if failed:
        warnings.append(folders.skipped_warning(failed, scan.root))
    if sum(len(rows[c][0]) + len(rows[c][1]) for c in order) == 0:
        raise DataError(f"none of the {sum(len(files[c]) for c in order)} image files in {scan.root} could be read")

    # one copy into the result, class by class, each class's decoded images let go once copied
    train, val = (_empty(sum(len(rows[c][i]) for c in order), shape) for i in (0, 1))
    at = [0, 0]
    paths: tuple[list[str], list[str]] = ([], [])  # the file of each row; kept indexes files[c], rows index kept
    for c in order:
        kept = entries[c].kept.tolist()  # type: ignore[union-attr]
        for i in (0, 1):
            paths[i].extend(files[c][kept[r]] for r in rows[c][i].tolist())
        images = entries.pop(c).images  # type: ignore[union-attr]
        for i, part in enumerate((train, val)):
            idx = rows[c][i]
            k = len(idx)
            if k == images.shape[0]:
                part.images[at[i] : at[i] + k] = images
            elif k:
                torch.index_select(images, 0, idx, out=part.images[at[i] : at[i] + k])
            part.labels[at[i] : at[i] + k] = new_label[c]
            at[i] += k
        del images

    train, val = (dataclasses.replace(part, paths=tuple(p)) for part, p in zip((train, val), paths))
    stats = None
    if len(train) and all(h is not None for h in hists):
        total = torch.stack(hists).sum(dim=0)  # type: ignore[arg-type]
        if scan.val is None:  # the histograms cover every file of the class: take the validation images out
            total -= channel_histograms(val.images)
        stats = stats_from_histograms(total)  # exactly compute_stats(train.images): same counts
    return train, val, warnings, stats


def _empty(n: int, shape: tuple[int, int, int]) -> ImageSet:
    return ImageSet(torch.empty((n, *shape), dtype=torch.uint8), torch.empty(n, dtype=torch.int64))
