"""The Evaluate page: where the current model gets things wrong.

For the app's current model (``state.model``: the last run, or a checkpoint
that was opened) on the loaded dataset (``state.dataset``):

- a confusion matrix (rows: true class, columns: predicted), with counts and
  row-normalized rates; a click on a cell lists those images;
- per-class precision, recall (the class's accuracy), F1 and support;
- the most confidently wrong images (top losses) with their true and
  predicted labels and probabilities, shown as the dataset stores them;
- training and validation accuracy side by side, with the cheatsheet's
  overfitting story in plain words when the gap is large
  (``core.evaluate.overfitting_warning``).

Both splits are evaluated (the one on screen first), each in a worker with
``core.evaluate.evaluate_split``; the GUI only receives numpy arrays and the
core's small result objects. A new model or dataset cancels a running
evaluation and, once the page is visible, starts a new one; a dataset whose
classes or image size differ from the model's gets an explanation instead.

Nothing here imports torch at module import time: the core is imported once
``AppState.torch_ready`` has fired. Run it alone with
``python -m cvstudio.gui.pages.evaluate [checkpoint.safetensors]``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import shiboken6
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PySide6.QtCore import (
    QModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
    SIGNAL,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyle,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.pages.base import Page
from cvstudio.gui.pages.evaluate_fixes import MistakeFixes
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.banner import ERROR, INFO, WARNING, MessageBanner
from cvstudio.gui.widgets.confusion_matrix import COUNTS, RATES, ConfusionMatrixView, percent
from cvstudio.gui.widgets.inspect_tabs import Explanation
from cvstudio.gui.widgets.labels import HintLabel
from cvstudio.gui.widgets.metrics_table import CLASS_COLUMNS, SORT_ROLE, ClassMetricsModel, RateBarDelegate, StatTile
from cvstudio.gui.widgets.mosaic_view import SecondaryLabel
from cvstudio.gui.widgets.prediction_gallery import GallerySource, PredictionGallery, wrong_colour
from cvstudio.gui.widgets.progress import ProgressBar
from cvstudio.gui.tasks import TaskError

log = logging.getLogger(__name__)

SPLIT_TITLES = {"val": "Validation", "train": "Training"}
TOP_LOSSES_SHOWN = 500  # misclassified images listed at most (most confidently wrong first)
CELL_IMAGES_SHOWN = 2000  # images of one matrix cell listed at most


# =========================================================================================
# Worker side: plain functions run by the page's TaskGroup (no widgets here)
# =========================================================================================


@dataclass(frozen=True)
class SplitReport:
    """One split evaluated: the core's Evaluation plus what the page shows of it."""

    split: str  # "val" | "train"
    evaluation: Any  # core.evaluate.Evaluation (numpy arrays only)
    rates: np.ndarray  # (K, K) row-normalized confusion matrix
    top_losses: np.ndarray  # indices of misclassified images, most confidently wrong first
    images: np.ndarray  # uint8 (N, C, H, W): the split's pixels as the dataset stores them (a view, not a copy)
    seconds: float
    device: str
    paths: tuple[str, ...] | None = None  # the file of each image (folder datasets)

    @property
    def accuracy(self) -> float:
        return self.evaluation.accuracy

    @property
    def size(self) -> int:
        return int(len(self.evaluation.labels))

    @property
    def wrong(self) -> int:
        cm = self.evaluation.confusion
        return int(cm.sum() - np.trace(cm))


class _SplitProgress:
    """A core callback: passes progress on with the split's wording."""

    def __init__(self, callbacks: Any, split: str):
        self._callbacks, self._split = callbacks, split

    def on_progress(self, event: Any) -> None:
        from cvstudio.core.events import Progress, emit

        title = SPLIT_TITLES[self._split].lower()
        emit(self._callbacks, Progress("evaluate", event.done, event.total,
                                       f"Evaluating {title} images: {int(event.done):,} of {int(event.total or 0):,}"))


def evaluate_for_page(model: Any, data: Any, meta: Any, split: str, device: str, control: Any = None,
                      callbacks: Any = None) -> SplitReport | None:
    """Evaluate ``model`` on one split of ``data`` with the normalization it was trained with (worker thread).

    The app's model stays untouched on the CPU: on another device a copy is evaluated.
    ``control`` (the core's RunControl) stops it between batches: the result is then None.
    """
    import copy

    from cvstudio.core.evaluate import evaluate_split, normalized_rows, top_losses
    from cvstudio.core.training.devices import resolve_device

    t0 = time.perf_counter()
    if control is not None and control.stop_requested:
        return None
    dev = resolve_device(device)
    if dev.type != "cpu":
        model = copy.deepcopy(model)  # predict_split moves the model it is given
    data = dataclasses.replace(data, mean=tuple(meta.mean), std=tuple(meta.std))
    evaluation = evaluate_split(model, data, split, outputs_log_probs=meta.model_spec.outputs_log_probs,
                                device=str(dev), callbacks=[_SplitProgress(callbacks, split)], control=control)
    if evaluation is None:
        return None
    part = data.val if split == "val" else data.train
    return SplitReport(split, evaluation, normalized_rows(evaluation.confusion),
                       top_losses(evaluation.probs, evaluation.labels, TOP_LOSSES_SHOWN), part.images.numpy(),
                       time.perf_counter() - t0, str(dev), getattr(part, "paths", None))


def describe_mismatch(meta: Any, data: Any) -> str | None:
    """Why ``meta``'s model cannot be evaluated on ``data`` (class names and input shape), or None if it can."""

    def names(seq: Sequence[str]) -> str:
        seq = list(seq)
        return ", ".join(seq[:6]) + (f", … ({len(seq)} in all)" if len(seq) > 6 else "")

    problems = []
    model_names, data_names = tuple(meta.class_names), tuple(data.class_names)
    if model_names != data_names:
        if sorted(model_names) == sorted(data_names):
            problems.append(f"the dataset has the model's classes in a different order (model: {names(model_names)}; "
                            f"dataset: {names(data_names)}), so its labels mean other classes")
        else:
            problems.append(f"the model knows {len(model_names)} classes ({names(model_names)}), the dataset has "
                            f"{len(data_names)} ({names(data_names)})")
    shape, data_shape = tuple(meta.input_shape), tuple(data.input_shape)
    if shape != data_shape:
        problems.append(f"the model takes {shape_text(shape)} images, the dataset's are {shape_text(data_shape)}")
    if not problems:
        return None
    return ("; ".join(problems)[0].upper() + "; ".join(problems)[1:] + ". Choose the same classes"
            + (" and image size" if shape != data_shape else "") + " on the Data page, or open a checkpoint "
            "trained on this dataset.")


def shape_text(shape: Sequence[int]) -> str:
    c, h, w = shape
    return f"{w}×{h} {'RGB' if c == 3 else 'grayscale' if c == 1 else f'{c}-channel'}"


class EvaluatePage(Page):
    """Confusion matrix, per-class metrics, top losses and train-vs-validation accuracy of ``state.model``."""

    title = "Evaluate"
    opens_checkpoints = True
    loading_detail = "The model can be evaluated as soon as PyTorch has been imported."

    evaluated = Signal(str)  # a split ("val" | "train") finished evaluating and is shown if selected
    cell_shown = Signal(int, int)  # the images of a confusion-matrix cell are listed
    data_page_requested = Signal()  # the user wants to choose another dataset (the window shows the Data page)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, parent)
        self._ready = False
        self._generation = 0  # counts model/dataset changes: results for an older pair are dropped
        self.reports: dict[str, SplitReport] = {}  # evaluated splits of the current model and dataset
        # self.tasks key "evaluate": one split at a time, a new request replaces it
        self._task_generation = -1
        self._queue: list[str] = []  # splits still to evaluate for this generation
        self._wanted = False  # an evaluation is due (it starts when the page is visible)
        self._cell: tuple[int, int] | None = None
        self._explanation_action = None

        self._build_ui()
        state.torch_ready.connect(self._on_state_torch_ready)
        state.model_changed.connect(self._on_state_model_changed)
        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.training_changed.connect(self._on_state_training_changed)
        if state.torch_loaded:
            self._on_state_torch_ready()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        self.build_loading_stack()
        c = self._content

        # header: the model, which images, Evaluate
        self.model_label = QLabel("No model", c)
        font = QFont(self.model_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        font.setBold(True)
        self.model_label.setFont(font)
        self.model_detail = SecondaryLabel("", c, wrap=False)
        self.model_detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.split_combo = QComboBox(c)
        for key, title in SPLIT_TITLES.items():
            self.split_combo.addItem(f"{title} images", key)
        self.split_combo.setToolTip("Which images the confusion matrix, the table and the galleries show")
        self.evaluate_button = QPushButton("Evaluate", c)
        self.evaluate_button.setToolTip("Predict every training and validation image again with the current model")
        self.evaluate_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.open_button = QPushButton("Open checkpoint…", c)
        self.open_button.setToolTip("Evaluate a model saved earlier (a .safetensors checkpoint) on the loaded dataset")
        header = QHBoxLayout()
        header.setSpacing(10)
        header.addWidget(self.model_label)
        header.addWidget(self.model_detail, 1)
        header.addWidget(QLabel("Show:", c))
        header.addWidget(self.split_combo)
        header.addWidget(self.evaluate_button)
        header.addWidget(self.open_button)

        # progress of a running evaluation
        self.progress_row = QWidget(c)
        self.progress_bar = ProgressBar(self.progress_row)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedWidth(260)
        self.progress_label = SecondaryLabel("", self.progress_row, wrap=False)
        self.cancel_button = QPushButton("Cancel", self.progress_row)
        pr = QHBoxLayout(self.progress_row)
        pr.setContentsMargins(0, 0, 0, 0)
        pr.setSpacing(8)
        pr.addWidget(self.progress_bar)
        pr.addWidget(self.progress_label, 1)
        pr.addWidget(self.cancel_button)
        self.progress_row.hide()

        self.banner = MessageBanner(c)
        self.explanation = Explanation(c)
        self.results = QWidget(c)
        self.results_stack = QStackedWidget(c)
        self.results_stack.addWidget(self.explanation)
        self.results_stack.addWidget(self.results)

        layout = QVBoxLayout(c)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self.progress_row)
        layout.addWidget(self.banner)
        layout.addWidget(self.results_stack, 1)

        self._build_results()

        self.split_combo.currentIndexChanged.connect(self._on_split_combo_changed)
        self.evaluate_button.clicked.connect(self.evaluate)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.cancel_button.clicked.connect(self.cancel)
        self.explanation.button.clicked.connect(self._on_explanation_button_clicked)
        self.matrix.cell_clicked.connect(self.show_cell)
        self.counts_button.toggled.connect(self._on_counts_button_toggled)

    def _build_results(self) -> None:
        r = self.results
        # left: the confusion matrix over the per-class table
        self.matrix_box = QGroupBox("Confusion matrix", r)
        self.matrix = ConfusionMatrixView(self.matrix_box)
        self.matrix_hint = HintLabel("Rows: true class · columns: predicted class. Colour: share of the row. "
                                     "Click a cell to see its images.", self.matrix_box)
        self.counts_button = QRadioButton("Counts", self.matrix_box)
        self.counts_button.setToolTip("The number of images in each cell in large, the share of the row in small")
        self.rates_button = QRadioButton("Rates", self.matrix_box)
        self.rates_button.setToolTip("Each cell as a share of its row in large (how often images of the true class "
                                     "got that prediction), the number of images in small")
        self.mode_group = QButtonGroup(self)
        for b in (self.counts_button, self.rates_button):
            self.mode_group.addButton(b)
        self.counts_button.setChecked(True)
        tools = QHBoxLayout()
        tools.setSpacing(10)
        tools.addWidget(self.matrix_hint, 1)
        tools.addWidget(self.counts_button, 0, Qt.AlignmentFlag.AlignTop)
        tools.addWidget(self.rates_button, 0, Qt.AlignmentFlag.AlignTop)
        mb = QVBoxLayout(self.matrix_box)
        mb.setContentsMargins(10, 8, 10, 10)
        mb.setSpacing(6)
        mb.addLayout(tools)
        mb.addWidget(self.matrix, 1)

        self.classes_box = QGroupBox("Per-class metrics", r)
        self.class_model = ClassMetricsModel(self)
        self.class_proxy = QSortFilterProxyModel(self)
        self.class_proxy.setSourceModel(self.class_model)
        self.class_proxy.setSortRole(SORT_ROLE)
        self.class_table = QTableView(self.classes_box)
        self.class_table.setModel(self.class_proxy)
        self.class_table.setSortingEnabled(True)
        self.class_table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # list order until a header is clicked
        self.class_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.class_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.class_table.setAlternatingRowColors(True)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.verticalHeader().hide()
        self.class_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 12)
        self.class_table.setWordWrap(False)
        hh = self.class_table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(CLASS_COLUMNS)):
            hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
            self.class_table.setColumnWidth(col, 86)
        self.class_table.setItemDelegate(RateBarDelegate(self.class_table))
        self.class_table.doubleClicked.connect(self._on_class_table_double_clicked)
        self.class_summary = SecondaryLabel("", self.classes_box)
        cb = QVBoxLayout(self.classes_box)
        cb.setContentsMargins(10, 8, 10, 10)
        cb.setSpacing(6)
        cb.addWidget(self.class_table, 1)
        cb.addWidget(self.class_summary)

        self.left_splitter = QSplitter(Qt.Orientation.Vertical, r)
        self.left_splitter.addWidget(self.matrix_box)
        self.left_splitter.addWidget(self.classes_box)
        self.left_splitter.setStretchFactor(0, 3)
        self.left_splitter.setStretchFactor(1, 2)
        self.left_splitter.setChildrenCollapsible(False)

        # right: training vs validation accuracy over the galleries
        self.accuracy_box = QGroupBox("Training vs validation accuracy", r)
        self.train_tile = StatTile("Training images", self.accuracy_box)
        self.val_tile = StatTile("Validation images", self.accuracy_box)
        self.gap_tile = StatTile("Gap", self.accuracy_box)
        tiles = QHBoxLayout()
        tiles.setSpacing(8)
        tiles.addWidget(self.train_tile, 1)
        tiles.addWidget(self.val_tile, 1)
        tiles.addWidget(self.gap_tile, 1)
        self.overfitting_banner = MessageBanner(self.accuracy_box, closable=False)
        self.accuracy_note = SecondaryLabel("", self.accuracy_box)
        ab = QVBoxLayout(self.accuracy_box)
        ab.setContentsMargins(10, 8, 10, 10)
        ab.setSpacing(8)
        ab.addLayout(tiles)
        ab.addWidget(self.overfitting_banner)
        ab.addWidget(self.accuracy_note)
        self.accuracy_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        self.gallery_box = QGroupBox("Images", r)
        self.gallery_tabs = QTabWidget(self.gallery_box)
        self.gallery_tabs.setDocumentMode(True)
        self.top_losses = PredictionGallery(self.gallery_tabs, "No misclassified images.")
        self.top_losses_caption = SecondaryLabel("", self.gallery_tabs)
        self.cell_gallery = PredictionGallery(
            self.gallery_tabs, "Click a cell of the confusion matrix to see the images it counts.")
        self.cell_caption = SecondaryLabel("", self.gallery_tabs)
        self.gallery_tabs.addTab(self._captioned(self.top_losses_caption, self.top_losses), "Most confidently wrong")
        self.gallery_tabs.addTab(self._captioned(self.cell_caption, self.cell_gallery), "Selected cell")
        # double-click a card: the image large; its menu: show in folder, move to another class folder (undoable)
        self.fixes = MistakeFixes(self, [self.top_losses, self.cell_gallery])
        self.undo_stack = self.fixes.undo_stack  # the main window's Edit menu follows it while the page is shown
        gb = QVBoxLayout(self.gallery_box)
        gb.setContentsMargins(6, 6, 6, 6)
        gb.addWidget(self.gallery_tabs)

        right = QWidget(r)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(8)
        rl.addWidget(self.accuracy_box)
        rl.addWidget(self.gallery_box, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, r)
        self.splitter.addWidget(self.left_splitter)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([600, 600])
        self.left_splitter.setSizes([460, 260])
        layout = QVBoxLayout(r)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def _captioned(self, caption: QLabel, body: QWidget) -> QWidget:
        w = QWidget(self.gallery_tabs)
        layout = QVBoxLayout(w)
        layout.setContentsMargins(4, 8, 4, 0)
        layout.setSpacing(6)
        layout.addWidget(caption)
        layout.addWidget(body, 1)
        return w

    # ------------------------------------------------------------------ public API

    @property
    def idle(self) -> bool:
        """No evaluation (or checkpoint load) running or queued (tests wait for this)."""
        return self.tasks.idle and not self._queue

    @property
    def split(self) -> str:
        """The split on screen: "val" or "train"."""
        return self.split_combo.currentData()

    def set_split(self, split: str) -> None:
        self.split_combo.setCurrentIndex(list(SPLIT_TITLES).index(split))

    @property
    def evaluation(self) -> Any:
        """The core Evaluation of the split on screen, or None."""
        report = self.reports.get(self.split)
        return report.evaluation if report is not None else None

    def can_evaluate(self) -> bool:
        return self._ready and self._problem() is None

    def evaluate(self) -> bool:
        """Evaluate the current model on both splits (the one on screen first); False when it cannot be."""
        if not self._ready:
            return False
        problem = self._problem()
        if problem is not None:
            self._show_problem(problem)
            return False
        self._stop_running()
        self._generation += 1
        self.reports = {}
        self._queue = [self.split] + [s for s in SPLIT_TITLES if s != self.split]
        self._wanted = False
        self.banner.clear()
        if self.results_stack.currentWidget() is not self.results:
            self.explanation.show_text("Evaluating…", "Predicting every validation and training image with the "
                                       "current model.")
            self._set_explanation_action(None)
        self._start_next()
        return True

    def cancel(self) -> None:
        """Stop a running evaluation (it ends within one batch)."""
        self._queue = []
        self.tasks.cancel("evaluate")
        self.progress_label.setText("Cancelling…")

    def show_cell(self, true: int, predicted: int) -> None:
        """List the images of class ``true`` that the model predicted as ``predicted`` (a matrix click)."""
        report = self.reports.get(self.split)
        if report is None:
            return
        ev = report.evaluation
        k = len(ev.class_names)
        if not (0 <= true < k and 0 <= predicted < k):
            return
        self._cell = (true, predicted)
        self.matrix.select_cell(true, predicted)
        idx = ev.cell_indices(true, predicted)
        order = np.argsort(-ev.probs[idx, predicted], kind="stable")  # the most confident first
        idx = idx[order]
        names = ev.class_names
        n = len(idx)
        title = SPLIT_TITLES[report.split].lower()
        images = "image" if n == 1 else "images"
        if true == predicted:
            what = f"{n:,} {title} {images} of {names[true]} predicted correctly"
        else:
            what = f"{n:,} {title} {images} of {names[true]} predicted as {names[predicted]}"
        shown = idx[:CELL_IMAGES_SHOWN]
        more = f" (the first {len(shown):,} are shown)" if n > len(shown) else ""
        self.cell_caption.setText(f"{what}{more}, the most confident prediction first." if n else "")
        self.cell_gallery.set_items(self._gallery_source(report), shown, f"No {title} image of {names[true]} was "
                                    f"predicted as {names[predicted]}.")
        self.gallery_tabs.setTabText(1, f"{names[true]} → {names[predicted]} ({n:,})")
        self.gallery_tabs.setCurrentIndex(1)
        self.cell_shown.emit(true, predicted)

    def open_checkpoint(self, path: str | Path) -> None:
        """Load a checkpoint in a worker and make it the app's current model (which is then evaluated)."""
        self.banner.clear()
        self.state.open_checkpoint(path, on_error=self._on_open_error)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop work and wait for the worker threads (closing the page or the app)."""
        self._queue = []
        return super().shutdown(timeout_ms)

    # ------------------------------------------------------------------ state

    @Slot()
    def _on_state_torch_ready(self) -> None:
        if self._ready:
            return
        self._ready = True
        self.show_content()
        self._refresh()

    @Slot()
    def _on_state_model_changed(self) -> None:
        if self._ready:
            self._refresh()

    @Slot(object)
    def _on_state_dataset_changed(self, _bundle: Any) -> None:
        if self._ready:
            self._refresh()

    @Slot(bool)
    def _on_state_training_changed(self, running: bool) -> None:
        if not running and self._wanted and self.isVisible():
            self.evaluate()

    def _refresh(self) -> None:
        """The model or the dataset changed: drop old results, explain what is missing, or evaluate."""
        self._stop_running()
        self._generation += 1
        self.reports = {}
        self._cell = None
        self._queue = []
        self._update_header()
        self.banner.clear()
        problem = self._problem()
        self.evaluate_button.setEnabled(problem is None)
        if problem is not None:
            self._wanted = False
            self._show_problem(problem)
            return
        self._wanted = True
        self.explanation.show_text("Not evaluated yet", "The model is evaluated when this page is shown.")
        self._set_explanation_action("evaluate")
        self.results_stack.setCurrentWidget(self.explanation)
        if self.isVisible() and not self.state.training:
            self.evaluate()

    def _problem(self) -> tuple[str, str, str | None] | None:
        """(title, text, action) explaining why the model cannot be evaluated now, or None."""
        model, meta, data = self.state.model, self.state.checkpoint_meta, self.state.dataset
        if model is None:
            return ("No model yet", "Train a model on the Train page, or open a checkpoint, to see where it gets "
                    "things wrong: a confusion matrix, per-class accuracy and its most confidently wrong images.",
                    "open")
        if meta is None:
            return ("The model has no description", "Its class names and input size are unknown; save it as a "
                    "checkpoint or open one.", "open")
        if data is None:
            return ("No dataset loaded", "Load a dataset on the Data page: the model is evaluated on its images.",
                    "data")
        mismatch = describe_mismatch(meta, data)
        if mismatch is not None:
            return ("This model does not fit the loaded dataset", mismatch, "data")
        return None

    def _show_problem(self, problem: tuple[str, str, str | None]) -> None:
        title, text, action = problem
        self.explanation.show_text(title, text, button=False)
        self._set_explanation_action(action)
        self.results_stack.setCurrentWidget(self.explanation)

    def _set_explanation_action(self, action: str | None) -> None:
        if action == "data" and not self.receivers(SIGNAL("data_page_requested()")):
            action = None  # nobody would show the Data page: the text says where to go
        self._explanation_action = action
        labels = {"open": "Open checkpoint…", "data": "Go to the Data page", "evaluate": "Evaluate now"}
        self.explanation.button.setVisible(action is not None)
        if action is not None:
            self.explanation.button.setText(labels[action])

    @Slot()
    def _on_explanation_button_clicked(self) -> None:
        action = self._explanation_action
        if action == "open":
            self._on_open_clicked()
        elif action == "data":
            self.data_page_requested.emit()
        elif action == "evaluate":
            self.evaluate()

    def _update_header(self) -> None:
        meta, model = self.state.checkpoint_meta, self.state.model
        if model is None:
            self.model_label.setText("No model")
            self.model_detail.setText("Train one or open a checkpoint")
            self.model_detail.setToolTip("")
            return
        name = meta.model_spec.name if meta is not None else type(model).__name__
        self.model_label.setText(name)
        parts = []
        trained_on = meta.dataset if meta is not None else ""
        data = self.state.dataset
        if data is not None and data.description == trained_on:
            parts.append(f"trained and evaluated on {trained_on}")
        else:
            parts.append(f"trained on {trained_on}" if trained_on else "")
            parts.append(f"evaluated on {data.description}" if data is not None else "")
        if self.state.checkpoint_path:
            parts.append(Path(self.state.checkpoint_path).name)
        self.model_detail.setText("  ·  ".join(p for p in parts if p))
        self.model_detail.setToolTip(str(self.state.checkpoint_path or ""))

    # ------------------------------------------------------------------ running evaluations

    def _stop_running(self) -> None:
        self.tasks.cancel("evaluate")  # the running job stops at its next batch; its result is dropped

    def _start_next(self) -> None:
        if self.tasks.busy("evaluate") or not self._queue or self.tasks.shut_down:
            if not self.tasks.busy("evaluate"):
                self.progress_row.hide()
            return
        split = self._queue.pop(0)
        data = self.state.dataset
        size = len(data.val if split == "val" else data.train)
        self.progress_bar.setRange(0, max(1, size))
        self.progress_bar.setValue(0)
        self.progress_label.setText(f"Evaluating {SPLIT_TITLES[split].lower()} images…")
        self.progress_row.show()
        device = self.state.train_config.device if self.state.train_config is not None else "cpu"
        self._task_generation = self._generation
        self.tasks.start(evaluate_for_page, self.state.model, data, self.state.checkpoint_meta, split, device,
                         key="evaluate", pass_control=True, pass_callbacks=True, on_progress=self._on_task_progress,
                         on_result=self._on_task_result, on_error=self._on_task_error,
                         on_finished=self._on_task_finished)

    @Slot(object)
    def _on_task_progress(self, event: Any) -> None:
        task = self.tasks.running("evaluate")
        if self._task_generation != self._generation or task is None or task.cancelled:
            return
        self.progress_bar.setMaximum(max(1, int(event.total or 1)))
        self.progress_bar.setValue(int(event.done))
        if event.message:
            self.progress_label.setText(event.message)

    @Slot(object)
    def _on_task_result(self, report: SplitReport | None) -> None:
        if self.tasks.shut_down or self._task_generation != self._generation:
            return
        if report is None:  # cancelled between batches
            self._queue = []
            if not self.reports:
                self.explanation.show_text("Evaluation cancelled", "Click Evaluate to start it again.")
                self._set_explanation_action("evaluate")
                self.results_stack.setCurrentWidget(self.explanation)
            self.banner.show_message("Evaluation cancelled.", INFO)
            return
        self.reports[report.split] = report
        if report.split == self.split:
            self._show_split()
        self._show_accuracy()
        self.evaluated.emit(report.split)

    @Slot(object)
    def _on_task_error(self, error: TaskError) -> None:
        if self.tasks.shut_down or self._task_generation != self._generation:
            return
        self._queue = []
        self.banner.show_message(f"Could not evaluate the model: {error.message}", ERROR)
        if not self.reports:
            self.explanation.show_text("Evaluation failed", error.message)
            self._set_explanation_action("evaluate")
            self.results_stack.setCurrentWidget(self.explanation)

    @Slot()
    def _on_task_finished(self) -> None:
        if self.tasks.shut_down:
            return
        if self._queue:
            self._start_next()
        else:
            self.progress_row.hide()

    # ------------------------------------------------------------------ showing results

    def _gallery_source(self, report: SplitReport) -> GallerySource:
        ev = report.evaluation
        return GallerySource(report.images, ev.labels, ev.probs, tuple(ev.class_names), SPLIT_TITLES[report.split],
                             report.paths)

    @Slot(int)
    def _on_split_combo_changed(self, _index: int) -> None:
        if self.reports.get(self.split) is not None:
            self._show_split()
        elif self.reports:
            self.matrix.clear("Evaluating…")

    def _show_split(self) -> None:
        report = self.reports[self.split]
        ev = report.evaluation
        title = SPLIT_TITLES[report.split].lower()
        self.results_stack.setCurrentWidget(self.results)
        self.matrix_box.setTitle(f"Confusion matrix · {report.size:,} {title} images")
        self.matrix.set_matrix(ev.confusion, report.rates, ev.class_names)
        self.class_model.set_rows(ev.classes)
        f1 = [c.f1 for c in ev.classes if not math.isnan(c.f1)]
        macro = f" · mean F1 {float(np.mean(f1)):.3f}" if f1 else ""
        self.class_summary.setText(f"Accuracy {percent(ev.accuracy)} on {report.size:,} {title} images, "
                                   f"{report.wrong:,} wrong{macro}. Recall is each class's own accuracy.")
        # the most confidently wrong
        n_shown = len(report.top_losses)
        if report.wrong:
            more = f"; the {n_shown:,} most confidently wrong are shown" if report.wrong > n_shown else ""
            self.top_losses_caption.setText(
                f"{report.wrong:,} of {report.size:,} {title} images are misclassified{more}. The most confidently "
                f"wrong come first: they hold the hardest cases, and sometimes wrong labels.")
        else:
            self.top_losses_caption.setText(f"Every one of the {report.size:,} {title} images is classified correctly.")
        self.top_losses.set_items(self._gallery_source(report), report.top_losses,
                                  f"No {title} image is misclassified.")
        self.gallery_tabs.setTabText(0, f"Most confidently wrong ({report.wrong:,})")
        if self._cell is not None:
            tab = self.gallery_tabs.currentIndex()
            self.show_cell(*self._cell)  # the same cell of this split
            self.gallery_tabs.setCurrentIndex(tab)
        else:
            self.matrix.select_cell(None)
            self.cell_gallery.clear("Click a cell of the confusion matrix to see the images it counts.")
            self.cell_caption.setText("")
            self.gallery_tabs.setTabText(1, "Selected cell")
            self.gallery_tabs.setCurrentIndex(0)

    def _show_accuracy(self) -> None:
        from cvstudio.core.evaluate import OVERFITTING_GAP, overfitting_warning

        train, val = self.reports.get("train"), self.reports.get("val")
        waiting = "evaluating…" if self.tasks.busy("evaluate") or self._queue else "not evaluated"
        for tile, report in ((self.train_tile, train), (self.val_tile, val)):
            if report is None:
                tile.set_values("…", waiting)
            else:
                tile.set_values(percent(report.accuracy), f"{report.wrong:,} of {report.size:,} wrong")
        if train is None or val is None:
            self.gap_tile.set_values("…", waiting)
            self.overfitting_banner.clear()
            self._set_accuracy_note("")
            return
        gap = train.accuracy - val.accuracy
        warning = overfitting_warning(train.accuracy, val.accuracy)
        self.gap_tile.set_values(f"{gap * 100:+.1f} pts", f"a warning above {OVERFITTING_GAP * 100:.0f} points",
                                 wrong_colour(self.palette()) if warning else None)
        if warning:
            self.overfitting_banner.show_message(warning, WARNING)
            self._set_accuracy_note("")
        else:
            self.overfitting_banner.clear()
            if gap > OVERFITTING_GAP / 2:
                note = ("The model does a little better on its training images than on new ones; a small gap is "
                        "normal.")
            else:
                note = "The model does about as well on new images as on those it trained on: no sign of overfitting."
            self._set_accuracy_note(note + " Both measured now, in evaluation mode, on every image.")

    def _set_accuracy_note(self, text: str) -> None:
        self.accuracy_note.setText(text)
        self.accuracy_note.setVisible(bool(text))  # an empty label would still take a row of spacing

    @Slot(bool)
    def _on_counts_button_toggled(self, on: bool) -> None:
        self.matrix.set_mode(COUNTS if on else RATES)

    def _on_class_table_double_clicked(self, index: QModelIndex) -> None:
        row = self.class_proxy.mapToSource(index).row()
        self.show_cell(row, row)

    # ------------------------------------------------------------------ checkpoints

    def _on_open_clicked(self) -> None:
        from cvstudio.gui.dialogs import ask_open_checkpoint

        path = ask_open_checkpoint(self)
        if path:
            self.open_checkpoint(path)

    def _on_open_error(self, error: TaskError) -> None:
        if shiboken6.isValid(self) and not self.tasks.shut_down:
            self.banner.show_message(f"Could not open the checkpoint: {error.message}", ERROR)

    # ------------------------------------------------------------------ Qt events

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.undo_stack.setActive(True)
        if self._ready and self._wanted and not self.tasks.busy("evaluate") and not self.state.training:
            self.evaluate()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().hideEvent(event)
        self.undo_stack.setActive(False)

    def sizeHint(self) -> QSize:
        return QSize(1240, 780)


__all__ = ["EvaluatePage", "SplitReport", "describe_mismatch", "evaluate_for_page"]


def main(argv: list[str] | None = None) -> int:
    return EvaluatePage.preview(argv)


if __name__ == "__main__":
    sys.exit(main())
