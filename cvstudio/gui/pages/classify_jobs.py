"""The Classify page's worker side: plain functions run by its TaskGroup, and text helpers (no widgets).

Classification itself is the core's one pipeline, ``core.inference.classify``
(the CLI and the benchmarks run it too); :func:`classify_job` only turns its
rows into the page's :class:`ImageResult` rows and hands them to
``on_partial``. Saliency is ``core.saliency``; thread tuning is ``core.threads``.
Nothing here imports torch at module level.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from cvstudio.gui.images import qimage_to_pil
from cvstudio.gui.widgets.classify_results import ImageResult

THUMB_SIDE = 64  # thumbnails made on the worker, pixels on the long side
TOP_K = 5  # probabilities kept per image
FIRST_BATCH = 8  # the first batch of a folder is small, so results appear at once
BATCH_SIZE = 64  # images per model call after that
UPDATE_INTERVAL_S = 0.2  # rows and progress reach the window 5 a second, as training's do (each repaints the cards)
KEEP_MODEL_VIEW_PIXELS = 128 * 128  # larger model views are decoded again when their row is selected
# model views kept in a page's rows at most (100,000 photos through a 128x128 model would hold 4.9 GB);
# a row beyond has none, and its view is decoded again when it is selected
KEEP_MODEL_VIEW_BYTES = 256 * 1024 * 1024
CSV_COLUMNS = ("path", "label", "probability", "top_k", "error", "model")


@dataclass(frozen=True)
class CheckpointEntry:
    """One checkpoint file of the runs folder, described by its header only."""

    path: str
    modified: float  # file modification time, seconds since the epoch
    meta: Any = None  # CheckpointMeta, or None when the header is unusable
    error: str | None = None


def scan_checkpoints(folder: str | os.PathLike[str]) -> list[CheckpointEntry]:
    """Read the header of every ``*.safetensors`` in ``folder`` (newest first); never raises for a bad file."""
    from cvstudio.core.checkpoints import read_meta
    from cvstudio.core.errors import CheckpointError

    folder = Path(folder)
    try:
        files = [p for p in folder.glob("*.safetensors") if not p.name.startswith(".")]
    except OSError:
        return []
    entries = []
    for p in files:
        try:
            modified = p.stat().st_mtime
        except OSError:
            continue
        try:
            entries.append(CheckpointEntry(str(p), modified, read_meta(p)))
        except CheckpointError as e:
            entries.append(CheckpointEntry(str(p), modified, None, str(e)))
        except Exception as e:  # noqa: BLE001 - one odd file must not hide the others
            entries.append(CheckpointEntry(str(p), modified, None, f"{type(e).__name__}: {e}"))
    entries.sort(key=lambda e: e.modified, reverse=True)
    return entries


@dataclass(frozen=True)
class LoadedModel:
    """A classifier ready to use, and how to describe it."""

    classifier: Any  # core.inference.Classifier
    meta: Any  # CheckpointMeta
    path: str | None  # None for the app's in-memory current model
    name: str  # e.g. "20240501-120000-convnet-shapes" or "current model"
    saliency: str  # e.g. "Grad-CAM on conv2" or "input gradients"



def _saliency_name(model: Any) -> str:
    from cvstudio.core.saliency import last_conv_layer

    layer = last_conv_layer(model)
    return f"Grad-CAM on {layer}" if layer else "input gradients"


def load_classifier(path: str | os.PathLike[str]) -> LoadedModel:
    """A checkpoint of the runs folder as a classifier, without making it the app's model (worker thread)."""
    from cvstudio.core.inference import Classifier

    clf = Classifier.from_checkpoint(path)
    clf.warm_up()
    return LoadedModel(clf, clf.meta, str(path), Path(path).stem, _saliency_name(clf.model))


def wrap_model(model: Any, meta: Any, path: str | None) -> LoadedModel:
    """The app's current model as a classifier (worker thread); ``path`` is its checkpoint, if any."""
    from cvstudio.core.errors import UserError
    from cvstudio.core.inference import Classifier

    if meta is None:
        raise UserError("the current model has no description (class names, input size); save or load a checkpoint")
    clf = Classifier(model, meta)
    clf.warm_up()
    name = Path(path).stem if path else "current model"
    return LoadedModel(clf, meta, path, name, _saliency_name(clf.model))


@dataclass(frozen=True)
class PastedImage:
    """An image from the clipboard or dragged from another application (no file)."""

    name: str
    image: Any  # QImage (converted to PIL in the worker) or PIL image


def _named(source: Any) -> Any:
    """A PastedImage (QImage or PIL) as the core's NamedImage; paths and NamedImages pass through."""
    from cvstudio.core.inference import NamedImage

    if isinstance(source, PastedImage):
        image = source.image
        return NamedImage(source.name, image if not hasattr(image, "isNull") else qimage_to_pil(image))
    return source


def _describe_source(source: Any) -> tuple[str, str]:
    """(name, location) of an input; called per row on the model's thread, so a path takes no import."""
    if not isinstance(source, (str, os.PathLike)):
        from cvstudio.core.inference import NamedImage

        if isinstance(source, (PastedImage, NamedImage)):
            return source.name, "clipboard"
    path = os.fspath(source)
    folder, name = os.path.split(path)
    return name or path, folder or "."


def _with_real_paths(folder: Any, files: list[tuple[str, bool]]) -> list[tuple[str, str]]:
    """(path, resolved path) of the files found under ``folder``, given as (path, is a link).

    The walk does not enter linked folders, so only the root and files that
    are links themselves need resolving: ``realpath`` of every file costs a
    system call per path component.
    """
    prefix = str(Path(folder))
    real_root = os.path.realpath(folder)
    out = []
    for path, link in files:
        if path.startswith(prefix + os.sep) and not link:
            out.append((path, real_root + path[len(prefix):]))
        else:
            out.append((path, os.path.realpath(path)))
    return out


def classify_job(
    loaded: LoadedModel,
    sources: Sequence[Any],
    keys: Any,
    *,
    control: Any,
    on_partial: Callable[[list[Any]], Any],
    callbacks: Any = None,
    seen: frozenset[str] = frozenset(),
    view_bytes_left: int = KEEP_MODEL_VIEW_BYTES,
) -> Any:
    """Classify files, folders (recursively) and pasted images with the core's pipeline (worker thread).

    Sends ``("rows", [ImageResult], [resolved path or None], bytes of model views kept)``,
    ``("update", key, changes)`` and ``("skipped", n)`` to ``on_partial``; ``keys`` is an iterator
    of unique row keys (the page's counter). Files whose resolved path is in ``seen`` (already in
    the page's list) or repeated within the inputs are classified once. Rows keep their model
    views while they fit in ``view_bytes_left``. Stops between batches when ``control`` asks. One
    image takes the fast path: its answer first, its thumbnail after. Returns the core's
    ClassifySummary.
    """
    from cvstudio.core.inference import classify, image_files_under, thumbnail

    single = len(sources) == 1 and not (isinstance(sources[0], (str, os.PathLike)) and os.path.isdir(sources[0]))
    items: list[Any] = []
    resolved: dict[str, str] = {}  # path as classified -> resolved path
    taken = set(seen)
    skipped = 0
    empty_folders = False
    for source in sources:
        if not isinstance(source, (str, os.PathLike)):
            items.append(_named(source))
            continue
        is_folder = os.path.isdir(source)
        files = image_files_under(Path(source)) if is_folder else []
        if is_folder and not files:
            items.append(os.fspath(source))  # the core reports the empty folder
            empty_folders = True
        pairs = _with_real_paths(source, files) if is_folder else [(str(Path(source)), os.path.realpath(source))]
        for path, real in pairs:
            if real in taken:
                skipped += 1
                continue
            taken.add(real)
            resolved[path] = real
            items.append(path)
    if skipped:
        on_partial([("skipped", skipped)])
    shown: list[ImageResult] = []

    model_name = loaded.name

    views_left = view_bytes_left

    def on_rows(rows: list[Any]) -> None:  # on the model's thread, between its batches
        nonlocal views_left
        out = []
        kept = 0
        for r in rows:
            name, location = _describe_source(r.source)
            view = r.view
            if view is not None:
                if view.nbytes <= views_left - kept:
                    kept += view.nbytes
                else:
                    view = None
            out.append(ImageResult(next(keys), r.source, name, location, r.prediction, r.thumbnail, view,
                                   r.original_size, r.image_format, model_name))
        views_left -= kept
        shown.extend(out[:1] if single else ())
        reals = [resolved.get(r.source) if isinstance(r.source, str) else None for r in out]
        on_partial([("rows", out, reals, kept)])

    summary = classify(loaded.classifier, items, control, on_rows, top_k=TOP_K, first_batch=FIRST_BATCH,
                       batch_size=BATCH_SIZE, thumbnail_side=0 if single else THUMB_SIDE,
                       keep_views_up_to=KEEP_MODEL_VIEW_PIXELS, lower_priority=not single, callbacks=callbacks,
                       expand=empty_folders)  # the files are listed: a folder check each would cost a stat
    if single and shown and shown[0].ok:
        th, size, fmt = thumbnail(shown[0].source, THUMB_SIDE)
        if th is not None:
            on_partial([("update", shown[0].key, {"thumbnail": th, "original_size": size, "image_format": fmt})])
    return summary


@dataclass(frozen=True)
class Inspection:
    """What the detail view needs beyond the row: the model's view, and the saliency overlay."""

    key: int
    generation: int  # the model generation it was made with
    with_saliency: bool
    model_view: Any = None  # uint8 (H, W, C)
    heat_rgba: Any = None  # uint8 (H, W, 4) from core.saliency.colorize, or None
    description: str = ""  # e.g. 'Grad-CAM on conv2 for "bird" (91.2 %)'
    error: str | None = None


def inspect_job(loaded: LoadedModel, result: ImageResult, want_saliency: bool, generation: int) -> Inspection:
    """Decode the row's image again if its model view was not kept; compute saliency if asked (worker)."""
    from cvstudio.core.errors import ImageError
    from cvstudio.core.inference import NamedImage, decode_image, model_view
    from cvstudio.core.threads import single_intraop_thread
    from cvstudio.gui.widgets.probability_bars import percent_text

    clf = loaded.classifier
    view = result.model_view
    c, h, w = clf.input_shape
    if view is not None and tuple(view.shape) != (h, w, c):
        view = None  # the row came from another model with another input size
    if view is None:
        src = _named(result.source)
        try:
            view = model_view(decode_image(src.image if isinstance(src, NamedImage) else src, clf.input_shape))
        except ImageError as e:
            return Inspection(result.key, generation, want_saliency, error=str(e))
    if not want_saliency:
        return Inspection(result.key, generation, False, view)
    from cvstudio.core.saliency import colorize, explain

    with single_intraop_thread():
        s = explain(clf, view)
    label = clf.class_names[s.target]
    text = f"{s.description[0].upper()}{s.description[1:]} for “{label}” ({percent_text(s.probability)})"
    if float(s.heatmap.max()) <= 0:
        text += ": nothing raised this class's score"
    return Inspection(result.key, generation, True, view, colorize(s.heatmap), text)


def write_csv(path: str | os.PathLike[str], results: Sequence[ImageResult]) -> str:
    """Write the results as the table's rows (worker thread: 50,000 rows take ~0.1 s to format);
    UserError with the reason when the file cannot be written."""
    from cvstudio.core.errors import UserError

    from cvstudio.core.atomic import replacing

    path = Path(path)
    try:
        with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(csv_row(r) for r in results)
    except OSError as e:
        raise UserError(f"could not write {path}: {e.strerror or e}") from None
    return str(path)


def csv_row(r: ImageResult) -> list[Any]:
    p = r.prediction
    if not r.ok:
        return [r.path, "", "", "", p.error, r.model_name]
    top = "; ".join(f"{label}={prob:.6f}" for label, prob in p.top_k)
    return [r.path, p.label, f"{p.prob:.6f}", top, "", r.model_name]



def _date_text(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M")
    except (ValueError, TypeError):
        return iso


def _accuracy(meta: Any) -> float | None:
    for key in ("val_acc", "test_acc", "train_acc"):
        v = meta.metrics.get(key)
        if v is not None and v == v:  # not NaN
            return float(v)
    return None


def _classes_text(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def describe_meta(meta: Any) -> str:
    """One line: spec, classes, input size, accuracy, date and data."""
    c, h, w = meta.input_shape
    parts = [
        meta.model_spec.name,
        f"{meta.num_classes} classes: {_classes_text(meta.class_names)}",
        f"input {h}×{w} {'RGB' if c == 3 else 'grayscale'}",
    ]
    acc = _accuracy(meta)
    if acc is not None:
        parts.append(f"validation accuracy {100 * acc:.1f} %")
    parts.append(f"trained {_date_text(meta.created)}")
    if meta.dataset:
        parts.append(f"on {meta.dataset}")
    return " · ".join(parts)


def entry_text(entry: CheckpointEntry) -> str:
    name = Path(entry.path).stem
    if entry.meta is None:
        return f"{name} — unreadable"
    acc = _accuracy(entry.meta)
    acc_text = f" · {100 * acc:.1f} %" if acc is not None else ""
    return f"{name} — {_date_text(entry.meta.created)} · {entry.meta.num_classes} classes{acc_text}"
