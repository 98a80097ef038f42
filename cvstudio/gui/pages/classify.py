"""The Classify page: drop images on the window and see what the model thinks.

Left: the model in use, then a drop zone that turns into the results (a grid
of cards or a sortable table, filterable, exportable to CSV). Right: the
selected image as the model sees it, an optional saliency overlay (Grad-CAM
or input gradients) and its top-k probabilities.

Everything that touches pixels or the model runs in the page's
``TaskGroup`` (``gui.tasks``): reading checkpoint headers of the runs folder,
loading a checkpoint, classifying images with the core's one pipeline
(``core.inference.classify``, see ``classify_jobs``), computing saliency and
writing CSV. Rows of a batch arrive as the task's partial results (a queued,
coalesced signal), so a folder of thousands of images fills the table
smoothly and can be cancelled between batches through the task's RunControl.
A single dropped image takes a shorter path (decode, classify, show; the
thumbnail follows) so the answer appears at once. Checkpoints the user opens
here go through the app's one door (``AppState.open_checkpoint``), so every
page follows; the newest run picked for the user stays this page's own.

Preprocessing is exactly the checkpoint's: ``core.inference.decode_image``
(EXIF, modes, 16-bit, CMYK, first frame, JPEG draft, resize) and the stored
mean/std. An input that cannot be used gets its own row with the core's plain
reason; the rest of the batch goes on.

This module does not import torch: the core is imported inside functions
once ``AppState.torch_ready`` has fired. Run it alone with
``python -m cvstudio.gui.pages.classify [checkpoint.safetensors]``.
"""

from __future__ import annotations

import collections
import itertools
import os
import time
from pathlib import Path
from typing import Any, Sequence

import shiboken6
from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QWidget,
)

from cvstudio.gui import settings as prefs
from cvstudio.gui.pages.base import Page
from cvstudio.gui.pages.classify_ui import ClassifyPageLayout
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.banner import ERROR, INFO, WARNING
from cvstudio.gui.widgets.classify_results import (
    ImageResult,
)
from cvstudio.gui.widgets.drop_zone import has_droppable, is_checkpoint, local_paths
from cvstudio.gui.images import array_to_qimage
from cvstudio.gui.lru import LruCache
from cvstudio.gui.pages.classify_jobs import (
    CSV_COLUMNS,
    KEEP_MODEL_VIEW_BYTES,
    UPDATE_INTERVAL_S,
    CheckpointEntry,
    Inspection,
    LoadedModel,
    PastedImage,
    classify_job,
    describe_meta,
    entry_text,
    inspect_job,
    load_classifier,
    scan_checkpoints,
    wrap_model,
    write_csv,
)
from cvstudio.gui.tasks import Task, TaskError

SCROLL_RETRIES, SCROLL_RETRY_MS = 100, 10  # waiting for the grid's layout: up to ~1 s
DETAILS_KEPT = 64  # rows whose model view, saliency and inspection the detail view keeps
RUNS_RESCAN_S = 5.0  # showing the page rescans the runs folder when the last scan is older
# A folder's progress row appears once its job has run this long: a shorter one would only flash (and
# move the grid up and back down, relaying out and repainting it twice while the rows come in)
PROGRESS_DELAY_MS = 300
IMAGE_FILTER = (
    "Images (*.png *.jpg *.jpeg *.jpe *.jfif *.bmp *.gif *.tif *.tiff *.webp *.ppm *.pgm *.pbm *.pnm *.tga *.ico"
    " *.jp2 *.j2k *.dib *.pcx *.sgi *.psd *.qoi *.avif *.heic);;All files (*)"
)
CHECKPOINT_FILTER = "CV Studio checkpoints (*.safetensors);;All files (*)"
CSV_FILTER = "CSV tables (*.csv)"

_NONE, _CURRENT, _FILE = "none", "current", "file"  # kinds of model-list entries


class ClassifyPage(ClassifyPageLayout, Page):
    """Drop images, see what the model thinks. ``ClassifyPage(state)``."""

    title = "Classify"
    opens_checkpoints = True

    results_added = Signal(int)  # rows appended (after the table and the detail are updated)
    model_loaded = Signal(object)  # LoadedModel now in use
    model_failed = Signal(str)  # a model could not be loaded; the previous one stays
    job_finished = Signal(object)  # core ClassifySummary of a classify job (or None after an error)
    runs_scanned = Signal(int)  # entries found in the runs folder
    csv_exported = Signal(str)  # path written
    inspection_shown = Signal(int)  # key of the row whose model view / saliency is now shown

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, parent)
        self._loaded: LoadedModel | None = None
        self._generation = 0  # bumps with every model change: stale saliency is dropped
        self._load_request = 0  # bumps with every load request: stale loads are dropped
        self._loading_name: str | None = None
        self._requested_path: str | None = None  # a checkpoint asked for before torch was ready
        self._user_chose = False  # the user picked a model: scans don't pick the newest for them
        self._entries: list[CheckpointEntry] = []
        self._extra_files: list[str] = []  # checkpoints opened from elsewhere, kept in the list
        self._extra_meta: dict[str, Any] = {}  # their descriptions, once loaded
        self._last_scan = 0.0
        # self.tasks keys: "scan", "load", "job", "inspect"; CSV exports run unkeyed
        self._queue: list[list[Any]] = []
        self._job_total = 0
        self._job_done = 0  # rows of the running job shown so far
        self._job_first_row: int | None = None
        self._job_single = False
        self._job_cleared = False  # the list was cleared while the job ran: its last rows are not wanted
        self._keys = itertools.count(1)
        self._pasted = 0
        self._inspect_wanted: int | None = None
        # the rows last shown in the detail view (a 224x224 model's view and saliency are ~0.7 MB a row,
        # and the arrow keys walk through thousands): others are decoded again when shown again
        self._inspections: LruCache[int, Inspection] = LruCache(DETAILS_KEPT)
        self._images: LruCache[int, QImage] = LruCache(DETAILS_KEPT)  # key -> model view QImage
        self._overlays: LruCache[int, QImage] = LruCache(DETAILS_KEPT)  # key -> saliency QImage
        self._last_rate = 0.0
        self._label_counts: collections.Counter[str] = collections.Counter()  # predicted labels of all rows
        self._problems = 0  # rows that could not be classified
        self._listed_paths: set[str] = set()  # resolved paths of the files in the list: added once only
        self._view_bytes = 0  # model views kept in the rows (bounded: classify_jobs.KEEP_MODEL_VIEW_BYTES)

        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_DELAY_MS)
        self._progress_timer.timeout.connect(self._on_progress_timer_timeout)

        self._build()
        self._make_actions()
        self._update_empty_state()

        state.model_changed.connect(self._on_state_model_changed)
        if state.torch_loaded:
            QTimer.singleShot(0, self._on_state_torch_ready)
        else:
            state.torch_ready.connect(self._on_state_torch_ready)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ public API

    @property
    def loaded_model(self) -> LoadedModel | None:
        """The model in use (None until one is loaded)."""
        return self._loaded

    @property
    def busy(self) -> bool:
        return self.tasks.busy("job") or bool(self._queue)

    def is_idle(self) -> bool:
        """No worker of this page is running and nothing waits (tests wait for this)."""
        return self.tasks.idle and not self._queue

    def classify(self, inputs: Sequence[Any]) -> None:
        """Classify files, folders, QImages or PIL images; a ``.safetensors`` among them is loaded as the model."""
        sources: list[Any] = []
        checkpoints: list[str] = []
        for item in inputs:
            if isinstance(item, (str, os.PathLike)):
                path = os.fspath(item)
                (checkpoints if is_checkpoint(path) and not os.path.isdir(path) else sources).append(path)
            elif isinstance(item, PastedImage):
                sources.append(item)
            else:  # QImage or PIL image
                self._pasted += 1
                sources.append(PastedImage(f"Pasted image {self._pasted}", item))
        if checkpoints:
            self.load_checkpoint(checkpoints[0])
            if len(checkpoints) > 1:
                self.banner.show_message(
                    f"{len(checkpoints)} checkpoints were dropped; loading {Path(checkpoints[0]).name}.", INFO
                )
        if sources:
            self._queue.append(sources)
            self._pump()

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Open a checkpoint through the app's one door (it becomes the app's current model, which this
        page then classifies with); a bad file keeps the previous model."""
        path = os.fspath(path)
        self._user_chose = True
        if not self.state.torch_loaded:
            self._requested_path = path
            self.model_info.set_full_text(f"{Path(path).name} will load once PyTorch is ready…")
            return
        if path not in self._extra_files and all(e.path != path for e in self._entries):
            self._extra_files.insert(0, path)
            self._rebuild_combo()
        self._load_request += 1
        request, name = self._load_request, Path(path).stem
        self._loading_name = name
        self.model_info.set_full_text(f"Loading {name}…")

        def failed(error: TaskError) -> None:
            if shiboken6.isValid(self):
                self._on_load_task_error(request, name, path, error)

        self.state.open_checkpoint(path, on_error=failed)

    def use_current_model(self) -> None:
        """Classify with the app's current model (``state.model``)."""
        if self.state.model is None or not self.state.torch_loaded:
            return
        self._user_chose = True
        path = str(self.state.checkpoint_path) if self.state.checkpoint_path else None
        self._start_load("the current model", wrap_model, self.state.model, self.state.checkpoint_meta, path)

    def scan_runs(self) -> None:
        """Re-read the headers of the checkpoints in the runs folder (in a worker)."""
        if not self.state.torch_loaded or self.tasks.busy("scan"):
            return
        from cvstudio.core.paths import runs_dir

        self._last_scan = time.monotonic()
        self.tasks.start(scan_checkpoints, runs_dir(), key="scan", on_result=self._on_scan_task_result)

    def paste(self) -> None:
        """Classify what the clipboard holds: image files, or an image."""
        mime = QApplication.clipboard().mimeData()
        paths = local_paths(mime)
        if paths:
            self.classify(paths)
            return
        image = QApplication.clipboard().image()
        if mime is not None and mime.hasImage() and not image.isNull():
            self.classify([image])
            return
        self.banner.show_message("The clipboard holds no image to classify (copy an image or image files first).", INFO)

    def cancel(self) -> None:
        """Stop the running job after its current batch and drop the queued ones."""
        self._queue.clear()
        job = self.tasks.running("job")
        if job is not None and not job.cancelled:
            job.cancel()
            self.progress_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def clear(self) -> None:
        """Remove all results (a running job is cancelled first, and the rows it still sends are dropped)."""
        self._job_cleared = self.tasks.busy("job")
        self.cancel()
        self.results_model.clear()
        self._listed_paths.clear()
        self._view_bytes = 0
        self._label_counts.clear()
        self._problems = 0
        self._inspections.clear()
        self._images.clear()
        self._overlays.clear()
        self.detail.set_result(None)
        self.banner.clear()
        self._update_summary()
        self._update_empty_state()

    def export_csv(self, path: str | os.PathLike[str]) -> Task:
        """Write the rows shown, in their order, to ``path`` (in a worker); ``csv_exported`` tells when done."""
        return self.tasks.start(write_csv, os.fspath(path), self.proxy.results(),
                                on_result=self._on_export_task_result, on_error=self._on_export_task_error)

    def show_result(self, key: int) -> bool:
        """Select the row of result ``key`` (making it visible); False when it is filtered out or unknown."""
        row = self.results_model.row_of(key)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.results_model.index(row, 0))
        if not index.isValid():
            return False
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self._scroll_to_current()
        return True

    def _scroll_to_current(self, tries: int = 0) -> None:
        """Bring the current row into the view on screen. The other view follows when it is shown
        (:meth:`_update_empty_state`): scrolling the hidden table lays it out, ~1 ms of the GUI thread as a
        folder's first rows arrive."""
        view = self.results_stack.currentWidget()
        index = self.table.selectionModel().currentIndex()
        if not index.isValid() or view not in (self.table, self.grid):
            return
        if not view.visualRect(index).isValid() and tries < SCROLL_RETRIES:
            # the grid lays thousands of cards out in batches, one per pass of the event loop: a card
            # not placed yet cannot be scrolled to (one more image dropped on 3,000 stayed out of view)
            QTimer.singleShot(SCROLL_RETRY_MS, self, lambda: self._scroll_to_current(tries + 1))
            return
        view.scrollTo(index)

    def set_view(self, which: str) -> None:
        """'grid' or 'table'."""
        (self.grid_button if which == "grid" else self.table_button).setChecked(True)
        self._update_empty_state()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything and wait for the workers (closing the page or the app)."""
        self.cancel()
        return super().shutdown(timeout_ms)

    # --- dialogs

    def open_images_dialog(self) -> None:
        s = prefs.make_settings()
        files, _ = QFileDialog.getOpenFileNames(self, "Classify images", prefs.last_dir(s, "images"), IMAGE_FILTER)
        if files:
            prefs.remember_dir(s, files[0], "images")
            self.classify(files)

    def open_folder_dialog(self) -> None:
        s = prefs.make_settings()
        folder = QFileDialog.getExistingDirectory(self, "Classify a folder of images", prefs.last_dir(s, "images"))
        if folder:
            prefs.remember_folder(s, folder, "images")
            self.classify([folder])

    def open_checkpoint_dialog(self) -> None:
        s = prefs.make_settings()
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", prefs.last_dir(s, "checkpoints"), CHECKPOINT_FILTER)
        if path:
            prefs.remember_dir(s, path, "checkpoints")
            self.load_checkpoint(path)

    def export_csv_dialog(self) -> None:
        if self.proxy.rowCount() == 0:
            return
        s = prefs.make_settings()
        start = str(Path(prefs.last_dir(s, "csv")) / "predictions.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export results as CSV", start, CSV_FILTER)
        if path:
            if not path.lower().endswith(".csv"):
                path += ".csv"
            prefs.remember_dir(s, path, "csv")
            self.export_csv(path)

    # ------------------------------------------------------------------ tasks

    # ------------------------------------------------------------------ models

    def _set_model_controls_ready(self, ready: bool) -> None:
        for w in (self.model_combo, self.open_checkpoint_button, self.refresh_button):
            w.setEnabled(ready)
        if not ready:
            self.model_info.set_full_text("Loading PyTorch…")

    @Slot()
    def _on_state_torch_ready(self) -> None:
        if self.tasks.shut_down:
            return
        self._set_model_controls_ready(True)
        if self._loaded is None and self._loading_name is None:
            self.model_info.set_full_text("No model yet: train one, or open or drop a checkpoint (.safetensors).")
        if self._requested_path is not None:
            path, self._requested_path = self._requested_path, None
            self.load_checkpoint(path)
        elif self.state.model is not None:
            self.use_current_model()
        self.scan_runs()

    @Slot()
    def _on_state_model_changed(self) -> None:
        if not self.state.torch_loaded or self.tasks.shut_down:
            return
        path = str(self.state.checkpoint_path) if self.state.checkpoint_path else None
        if path and path not in self._extra_files and all(e.path != path for e in self._entries):
            self._extra_files.insert(0, path)  # opened elsewhere (File menu, another page): listed as a file
        self._rebuild_combo()
        if self.state.model is not None:
            self.use_current_model()  # the payoff of training: classify with what was just trained
        self.scan_runs()

    def _start_load(self, name: str, fn: Any, *args: Any, path: str | None = None) -> None:
        self._load_request += 1
        request = self._load_request
        self._loading_name = name
        self.model_info.set_full_text(f"Loading {name}…")
        self.tasks.start(fn, *args, key="load",
                         on_result=lambda loaded, r=request: self._on_load_task_result(r, loaded),
                         on_error=lambda error, r=request, n=name, p=path: self._on_load_task_error(r, n, p, error))

    def _on_load_task_result(self, request: int, loaded: LoadedModel) -> None:
        if request != self._load_request or self.tasks.shut_down:
            return  # a newer request superseded this one
        self._loading_name = None
        self._loaded = loaded
        if loaded.path is not None:
            self._extra_meta[loaded.path] = loaded.meta
        self._generation += 1
        self._inspections.clear()
        self._images.clear()
        self._overlays.clear()
        if self.banner.level in (ERROR, WARNING):
            self.banner.clear()
        self._rebuild_combo()
        self.model_info.set_full_text(f"{describe_meta(loaded.meta)} · saliency: {loaded.saliency}")
        self.model_info.setToolTip(", ".join(loaded.meta.class_names))
        self._update_empty_state()
        stale = [r for r in self.results_model.results() if r.model_name != loaded.name]
        if stale:
            self.banner.show_message(
                f"{len(stale):,} result(s) come from another model ({stale[0].model_name}).",
                INFO,
                action_text="Classify again",
                action=self.reclassify_all,
            )
        self._refresh_detail()
        self.model_loaded.emit(loaded)
        self._pump()

    def _on_load_task_error(self, request: int, name: str, path: str | None, error: TaskError) -> None:
        if request != self._load_request or self.tasks.shut_down:
            return
        self._loading_name = None
        if path in self._extra_files and path not in self._extra_meta:
            self._extra_files.remove(path)  # a file that never loaded does not stay in the list
        message = error.message[0].upper() + error.message[1:] if error.message else "Unknown error"
        keep = f" Still using {self._loaded.name}." if self._loaded is not None else ""
        self.banner.show_message(f"Could not load {name}: {message}{keep}", ERROR)
        if self._loaded is not None:
            self.model_info.set_full_text(f"{describe_meta(self._loaded.meta)} · saliency: {self._loaded.saliency}")
        else:
            self.model_info.set_full_text("No model yet: train one, or open or drop a checkpoint (.safetensors).")
        self._rebuild_combo()
        self.model_failed.emit(error.message)
        self._pump()

    def reclassify_all(self) -> None:
        """Classify every input of the results again with the model in use."""
        sources = [r.source for r in self.results_model.results()]
        self.clear()
        self.classify(sources)

    def _on_scan_task_result(self, entries: list[CheckpointEntry]) -> None:
        self._entries = entries
        known = {e.path for e in entries}
        self._extra_files = [p for p in self._extra_files if p not in known]
        self._rebuild_combo()
        if self._loaded is None and self._loading_name is None and not self._user_chose:
            newest = next((e for e in entries if e.meta is not None), None)
            if newest is not None:
                self._start_load(Path(newest.path).stem, load_classifier, newest.path, path=newest.path)
        self.runs_scanned.emit(len(entries))

    def _rebuild_combo(self) -> None:
        combo = self.model_combo
        combo.blockSignals(True)
        combo.clear()
        current_index = -1
        if self.state.model is not None and self.state.checkpoint_path is None:  # a saved one is listed as its file
            combo.addItem("Current model (not saved)", (_CURRENT, None))
            if self._loaded is not None and self._loaded.path is None:
                current_index = 0
        for path in self._extra_files:
            meta = self._extra_meta.get(path)
            text = entry_text(CheckpointEntry(path, 0.0, meta)) if meta is not None else f"{Path(path).stem} — {Path(path).parent}"
            combo.addItem(text, (_FILE, path))
            tip = f"{path}\n{describe_meta(meta)}" if meta is not None else path
            combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            if self._loaded is not None and self._loaded.path == path:
                current_index = combo.count() - 1
        for entry in self._entries:
            combo.addItem(entry_text(entry), (_FILE, entry.path))
            i = combo.count() - 1
            if entry.meta is None:
                combo.model().item(i).setEnabled(False)  # type: ignore[attr-defined]
                combo.setItemData(i, f"{entry.path}\n{entry.error}", Qt.ItemDataRole.ToolTipRole)
            else:
                combo.setItemData(i, f"{entry.path}\n{describe_meta(entry.meta)}", Qt.ItemDataRole.ToolTipRole)
            if self._loaded is not None and self._loaded.path == entry.path:
                current_index = i
        if combo.count() == 0:
            combo.addItem("No checkpoints in the runs folder yet", (_NONE, None))
            combo.model().item(0).setEnabled(False)  # type: ignore[attr-defined]
            current_index = 0
        if current_index < 0:
            combo.insertItem(0, "Choose a model…", (_NONE, None))
            combo.model().item(0).setEnabled(False)  # type: ignore[attr-defined]
            current_index = 0
        combo.setCurrentIndex(current_index)
        combo.blockSignals(False)

    @Slot(int)
    def _on_model_combo_activated(self, index: int) -> None:
        kind, path = self.model_combo.itemData(index) or (_NONE, None)
        if kind == _CURRENT:
            self.use_current_model()
        elif kind == _FILE and path:
            if self._loaded is None or self._loaded.path != path:
                self.load_checkpoint(path)

    # ------------------------------------------------------------------ classify jobs

    def _pump(self) -> None:
        """Start the next queued job when idle and a model is ready."""
        if self.tasks.busy("job") or not self._queue or self.tasks.shut_down:
            return
        if self._loading_name is not None and self._loaded is not None:
            return  # a model dropped together with images classifies them: wait for it
        if self._loaded is None:
            n = sum(len(q) for q in self._queue)
            if self._loading_name is not None or not self.state.torch_loaded:
                self.drop_zone.set_detail(f"{n} input(s) will be classified once the model is loaded…")
            else:
                self.banner.show_message(
                    f"Choose a model to classify the {n} dropped input(s): pick one above, or open or drop a checkpoint.",
                    WARNING,
                )
            return
        sources = self._queue.pop(0)
        self._job_single = len(sources) == 1 and not (isinstance(sources[0], str) and os.path.isdir(sources[0]))
        self._job_cleared = False
        self._job_first_row = None
        self._job_total = 0
        self._job_done = 0
        self.tasks.start(classify_job, self._loaded, sources, self._keys, seen=frozenset(self._listed_paths),
                         view_bytes_left=max(0, KEEP_MODEL_VIEW_BYTES - self._view_bytes),
                         key="job", pass_control=True, update_interval_s=UPDATE_INTERVAL_S,
                         pass_partial=True, pass_callbacks=True, on_partial=self._on_job_task_partial,
                         on_progress=self._on_job_task_progress, on_result=self._on_job_task_result,
                         on_error=self._on_job_task_error, on_finished=self._on_job_task_finished)
        self.cancel_button.setEnabled(True)
        if not self._job_single:
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText("Looking for images…")
            self._progress_timer.start()

    @Slot(object)
    def _on_job_task_partial(self, messages: list[Any]) -> None:
        """Rows and row updates of the running job, in order (``classify_job`` tells the messages)."""
        if self._job_cleared:
            return
        rows: list[ImageResult] = []
        updates: list[tuple[int, dict]] = []
        for msg in messages:
            if msg[0] == "rows":
                rows.extend(msg[1])
                self._listed_paths.update(real for real in msg[2] if real)
                self._view_bytes += msg[3]
            elif msg[0] == "skipped":
                n = msg[1]
                self.banner.show_message(
                    f"{n:,} image{'s are' if n != 1 else ' is'} already in the list and {'were' if n != 1 else 'was'}"
                    " not added again.", INFO)
            else:
                updates.append((msg[1], msg[2]))
        if rows:
            self.first_run_hint.mark_used()
            first = self.results_model.rowCount()
            self.results_model.append(rows)
            for r in rows:
                if r.ok:
                    self._label_counts[r.prediction.label] += 1
                else:
                    self._problems += 1
            if self._job_first_row is None:
                self._job_first_row = first
            self._job_done += len(rows)
            self._show_job_progress()
            self._update_empty_state()
            current = self.table.selectionModel().currentIndex()
            if self._job_single or not current.isValid():
                self.show_result(rows[0].key)
            self._update_summary()
        current = self._current_result()
        for key, changes in updates:
            self.results_model.update(key, **changes)
            if current is not None and current.key == key:  # e.g. the thumbnail and original size arrived
                current = self._current_result()
                self.detail.update_result(current)
                if key in self._images:
                    self.detail.image_caption.setText(self._view_caption(current))
        if rows:
            self.results_added.emit(len(rows))

    @Slot(object)
    def _on_job_task_progress(self, event: Any) -> None:
        if self._job_single:
            return
        total = int(event.total or 0)
        if total != self._job_total:
            self._job_total = total
            self.progress_bar.setRange(0, max(1, total))
        self._show_job_progress()

    @Slot()
    def _on_progress_timer_timeout(self) -> None:
        if self.tasks.busy("job") and not self._job_single:  # still running: it is worth a progress row
            self.progress_row.show()

    def _show_job_progress(self) -> None:
        """The bar and its text follow the rows shown (the progress events only tell the total)."""
        total = self._job_total
        if self._job_single or total <= 1:
            return
        if not self._progress_timer.isActive():  # past the delay
            self.progress_row.show()
        self.progress_bar.setValue(min(self._job_done, total))
        job = self.tasks.running("job")
        if job is not None and not job.cancelled:
            queued = sum(len(q) for q in self._queue)
            text = f"{self._job_done:,} of {total:,} images"
            self.progress_label.setText(text + (f" (+{queued} queued)" if queued else ""))

    @Slot(object)
    def _on_job_task_result(self, summary: Any) -> None:
        if self._job_cleared:  # nothing of it is listed: no rate, no "Cancelled" note
            self.job_finished.emit(summary)
            return
        if summary.seconds > 0 and summary.done >= 100:  # a rate of a handful of images says nothing
            self._last_rate = summary.done / summary.seconds
        notes = []
        if summary.empty_folders:
            names = ", ".join(Path(f).name or f for f in summary.empty_folders[:3])
            notes.append(f"No images found in {names}.")
        if summary.cancelled:
            notes.append(f"Cancelled: {summary.done:,} of {summary.total:,} images were classified.")
        if notes:
            self.banner.show_message(" ".join(notes), INFO)
        self._update_summary()
        self.job_finished.emit(summary)

    @Slot(object)
    def _on_job_task_error(self, error: TaskError) -> None:
        self.banner.show_message(f"Classifying stopped: {error.message}", ERROR)
        self.job_finished.emit(None)

    @Slot()
    def _on_job_task_finished(self) -> None:
        self._progress_timer.stop()
        self.drop_zone.set_detail("")
        row_shown = self.progress_row.isVisible()
        self._pump()
        if row_shown and self.tasks.busy("job") and not self._job_single:
            self._progress_timer.stop()  # a queued folder follows at once: the row stays rather than blinks
        else:
            self.progress_row.hide()

    def _update_summary(self) -> None:
        n = self.results_model.rowCount()
        if n == 0:
            self.summary_label.set_full_text("")
            return
        parts = [f"{n:,} image{'s' if n != 1 else ''}"]
        if self._problems:
            parts.append(f"{self._problems:,} not classified")
        counts = self._label_counts
        if counts:
            top = ", ".join(f"{label} {count:,}" for label, count in counts.most_common(4))
            more = " …" if len(counts) > 4 else ""
            parts.append(f"predicted: {top}{more}")
        if self._last_rate > 0:
            parts.append(f"{self._last_rate:,.0f} images/s")
        self.summary_label.set_full_text(" · ".join(parts))

    def _update_empty_state(self) -> None:
        has_rows = self.results_model.rowCount() > 0
        if not has_rows:
            self.results_stack.setCurrentWidget(self.drop_zone)
            if self._loaded is not None and not self.busy:
                self.drop_zone.set_detail(f"Images will be classified by {self._loaded.name}")
        else:
            view = self.grid if self.grid_button.isChecked() else self.table
            if self.results_stack.currentWidget() is not view:
                self.results_stack.setCurrentWidget(view)
                QTimer.singleShot(0, self, self._scroll_to_current)  # once it has its size on screen
        # the empty state has its own buttons; the tools and the summary appear with the first results
        self.tools_bar.setVisible(has_rows)
        self.bottom_bar.setVisible(has_rows)

    # ------------------------------------------------------------------ detail

    @Slot(QModelIndex, QModelIndex)
    def _on_selection_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._refresh_detail()

    def _current_result(self) -> ImageResult | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid():
            return None
        return self.proxy.result(index.row())

    def _refresh_detail(self) -> None:
        r = self._current_result()
        self.detail.set_result(r)
        if r is None or not r.ok:
            return
        self._show_images(r)

    def _view_caption(self, r: ImageResult) -> str:
        meta = self._loaded.meta if self._loaded is not None else None
        if meta is None:
            return ""
        c, h, w = meta.input_shape
        text = f"What the model sees: {w}×{h} {'RGB' if c == 3 else 'grayscale'}"
        if r.original_size:
            text += f", from {r.original_size[0]:,}×{r.original_size[1]:,}"
            if r.image_format:
                text += f" {r.image_format}"
        return text

    def _needs_inspection(self, r: ImageResult) -> bool:
        insp = self._inspections.get(r.key)
        if insp is not None and insp.error:
            return False  # tried already: the reason is shown
        if r.key not in self._images and insp is None:
            return True
        return self.detail.saliency_enabled() and (insp is None or not insp.with_saliency)

    def _show_images(self, r: ImageResult) -> None:
        image = self._images.get(r.key)
        if image is None and r.model_view is not None and self._loaded is not None:
            c, h, w = self._loaded.classifier.input_shape
            if tuple(r.model_view.shape) == (h, w, c):
                image = array_to_qimage(r.model_view)
                self._images.put(r.key, image)
        if image is not None:
            self.detail.set_model_image(image, self._view_caption(r))
        insp = self._inspections.get(r.key)
        if insp is not None and insp.error:
            self.detail.image_view.set_placeholder(f"Cannot decode it again: {insp.error}")
        if self.detail.saliency_enabled() and r.key in self._overlays:
            self.detail.set_overlay(self._overlays.get(r.key), insp.description if insp else "")
        if self._loaded is not None and self._needs_inspection(r):
            if self.detail.saliency_enabled():
                self.detail.set_saliency_note("Computing…")
            self._request_inspection(r)
        else:
            self.inspection_shown.emit(r.key)

    def _request_inspection(self, r: ImageResult) -> None:
        self._inspect_wanted = r.key
        if self.tasks.busy("inspect"):
            return  # the newest wish starts when this one ends (every result is cached, none superseded)
        want = self.detail.saliency_enabled()
        self.tasks.start(inspect_job, self._loaded, r, want, self._generation, key="inspect",
                         on_result=self._on_inspect_task_result,
                         on_error=lambda error, k=r.key, g=self._generation, w=want: self._on_inspect_task_error(
                             k, g, w, error),
                         on_finished=self._on_inspect_task_finished)

    @Slot(object)
    def _on_inspect_task_result(self, insp: Inspection) -> None:
        if insp.generation != self._generation:
            return
        self._inspections.put(insp.key, insp)
        if insp.model_view is not None and insp.key not in self._images:
            self._images.put(insp.key, array_to_qimage(insp.model_view))
        if insp.heat_rgba is not None:
            self._overlays.put(insp.key, array_to_qimage(insp.heat_rgba))

    def _on_inspect_task_error(self, key: int, generation: int, with_saliency: bool, error: TaskError) -> None:
        if generation == self._generation:
            self._inspections.put(key, Inspection(key, generation, with_saliency, error=error.message))

    @Slot()
    def _on_inspect_task_finished(self) -> None:
        r = self._current_result()
        if self.tasks.shut_down or r is None or not r.ok or self._loaded is None:
            return
        self._show_images(r)

    @Slot(bool)
    def _on_detail_saliency_toggled(self, on: bool) -> None:
        r = self._current_result()
        if on and r is not None and r.ok:
            self._show_images(r)

    # ------------------------------------------------------------------ filters, views, export

    @Slot(str)
    def _on_filter_edit_changed(self, text: str) -> None:
        self.proxy.set_filter_text(text)

    @Slot(bool)
    def _on_problems_check_toggled(self, on: bool) -> None:
        self.proxy.set_problems_only(on)

    @Slot(int)
    def _on_view_group_clicked(self, _id: int) -> None:
        self._update_empty_state()

    @Slot(object)
    def _on_export_task_result(self, path: str) -> None:
        self.state.status_message.emit(f"Saved {self.proxy.rowCount():,} rows to {path}")
        self.banner.show_message(f"Saved the table to {path}.", INFO)
        self.csv_exported.emit(path)

    @Slot(object)
    def _on_export_task_error(self, error: TaskError) -> None:
        self.banner.show_message(f"Export failed: {error.message}", ERROR)

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        if not has_droppable(mime) and not (mime.hasUrls() and mime.urls()):
            event.ignore()
            return
        event.acceptProposedAction()
        paths = local_paths(mime)
        if paths and all(is_checkpoint(p) for p in paths):
            text = "Drop to use this model"
        elif paths or mime.hasImage():
            text = "Drop to classify"
        else:
            text = "Only files on this computer can be classified"
        if self.results_stack.currentWidget() is self.drop_zone:
            self.drop_zone.set_active(True)
        else:
            self.overlay.show_message(text)

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.drop_zone.set_active(False)
        self.overlay.hide()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.drop_zone.set_active(False)
        self.overlay.hide()
        mime = event.mimeData()
        paths = local_paths(mime)
        if paths:
            event.acceptProposedAction()
            self.classify(paths)
        elif mime.hasImage():
            image = mime.imageData()
            if isinstance(image, QImage) and not image.isNull():
                event.acceptProposedAction()
                self.classify([image])
        elif mime.hasUrls():
            event.acceptProposedAction()
            urls = ", ".join(u.toString() for u in mime.urls()[:2])
            self.banner.show_message(
                f"Only files on this computer can be classified; save the image first ({urls}).", WARNING
            )

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.overlay.isVisible():
            self.overlay.setGeometry(self.rect())

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        focus = QApplication.focusWidget()
        if focus is None or not self.isAncestorOf(focus):
            self.setFocus()  # the page's shortcuts (Ctrl+O, Ctrl+V, Esc) work only with the focus inside it
        if self.state.torch_loaded and time.monotonic() - self._last_scan > RUNS_RESCAN_S:
            self.scan_runs()


__all__ = [
    "CSV_COLUMNS",
    "CheckpointEntry",
    "ClassifyPage",
    "Inspection",
    "LoadedModel",
    "PastedImage",
    "classify_job",
    "describe_meta",
    "inspect_job",
    "load_classifier",
    "scan_checkpoints",
    "write_csv",
]


def main(argv: Sequence[str] | None = None) -> int:
    return ClassifyPage.preview(argv)


if __name__ == "__main__":
    raise SystemExit(main())
