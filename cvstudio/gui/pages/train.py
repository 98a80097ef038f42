"""The Train page: training settings, start/pause/resume/stop, live plots, results.

The page edits ``state.train_config`` (and the augmentation in
``state.data_config``); a bad combination shows inline and blocks Train. A
run is ``core.runs.train_and_save`` in a :class:`~cvstudio.gui.workers.TrainingTask`;
this page only shows what the core reports: throttled groups of losses, epoch
metrics and the outcome, which becomes the app's current model. Several runs
stay overlaid in the plots for comparison until "Clear runs".
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from cvstudio.core.errors import ConfigError
from cvstudio.core.paths import runs_dir
from cvstudio.core.specs import DataConfig, TrainConfig
from cvstudio.gui import dialogs
from cvstudio.gui.errors import show_error, show_task_error
from cvstudio.gui.pages.base import Page
from cvstudio.gui.pages.train_text import (
    AUGMENT_LABELS, OPTIMIZER_LABELS, STATUS_TEXT, first_run_text, fmt_duration, outcome_sentence, run_label, sentence,
)
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.banner import ERROR, INFO, WARNING, MessageBanner
from cvstudio.gui.widgets.inputs import ScientificSpinBox
from cvstudio.gui.widgets.first_run import FirstRunHint
from cvstudio.gui.widgets.labels import ElidedLabel, HintLabel
from cvstudio.gui.pages.train_tuning import FineTuningBox
from cvstudio.gui.widgets.plots import RunHistory, TrainingPlots
from cvstudio.gui.widgets.progress import ProgressBar
from cvstudio.gui.tasks import TaskError
from cvstudio.gui.workers import TrainingTask, start_training
from cvstudio.gui.workers_dist import ALL_GPUS, start_all_gpus_training

log = logging.getLogger(__name__)

SETTINGS_WIDTH = 356  # pixels: the settings column


def _combo(items: dict[str, str]) -> QComboBox:
    combo = QComboBox()
    for value, label in items.items():
        combo.addItem(label, value)
    return combo


def _select(combo: QComboBox, value: Any) -> None:
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)


class TrainPage(Page):
    """Configure and run training, with live curves. ``TrainPage(state)``."""

    title = "Train"

    run_started = Signal(object)  # RunHistory
    run_finished = Signal(object)  # RunHistory, after its thread ended (status set)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.task: TrainingTask | None = None
        self.current_run: RunHistory | None = None
        self._config_error: ConfigError | None = None
        self._loading_form = False
        self._devices_filled = False
        self._started_at = 0.0
        self._last_outcome: Any = None  # core.runs.RunOutcome of the last run
        self._last_run: RunHistory | None = None
        self._last_batches: Any = None  # the newest BatchesEnded, shown at the next redraw

        self._build()
        self._connect_state()
        self._load_train_config(state.train_config)
        self._load_data_config(state.data_config)
        if state.torch_loaded:
            self._fill_devices()
        self._update_summary()
        self._update_controls()

    # --- layout -------------------------------------------------------------------------

    def _build(self) -> None:
        style = self.style()

        # settings column
        self.optimizer_combo = _combo(OPTIMIZER_LABELS)
        self.optimizer_combo.setToolTip("SGD is the cheatsheet's optimizer; Adam/AdamW adapt the step per weight")
        self.lr_spin = ScientificSpinBox(minimum_positive=1e-7, maximum=10.0)
        self.lr_spin.setToolTip("Learning rate. Arrow keys step 1, 2, 5 per decade; type values like 3e-4")
        self.momentum_spin = QDoubleSpinBox()
        self.momentum_spin.setRange(0.0, 0.999)
        self.momentum_spin.setDecimals(3)
        self.momentum_spin.setSingleStep(0.05)
        self.momentum_spin.setToolTip("SGD momentum (0 = plain SGD)")
        self.nesterov_check = QCheckBox("Nesterov momentum")
        self.weight_decay_spin = ScientificSpinBox(minimum_positive=1e-6, maximum=1.0, allow_zero=True)
        self.weight_decay_spin.setToolTip("L2 penalty applied by the optimizer (0 = off); the cheatsheet used 1e-3")
        self.l1_spin = ScientificSpinBox(minimum_positive=1e-7, maximum=1.0, allow_zero=True)
        self.l1_spin.setToolTip("L1 penalty: loss += L1 × sum(|w|) over all weights (0 = off)")

        self.find_lr_button = QPushButton("Find…")
        self.find_lr_button.setToolTip(
            "Learning-rate finder: a short run on a copy of the model with a growing learning rate; "
            "suggests the rate where the loss falls fastest"
        )
        lr_row = QHBoxLayout()
        lr_row.setContentsMargins(0, 0, 0, 0)
        lr_row.addWidget(self.lr_spin, 1)
        lr_row.addWidget(self.find_lr_button)

        optimizer_box = QGroupBox("Optimizer")
        form = self._form(optimizer_box)
        form.addRow("Optimizer", self.optimizer_combo)
        form.addRow("Learning rate", lr_row)
        form.addRow("Momentum", self.momentum_spin)
        form.addRow("", self.nesterov_check)
        form.addRow("Weight decay (L2)", self.weight_decay_spin)
        form.addRow("L1 penalty", self.l1_spin)

        self.batch_size_spin = QSpinBox()
        self.batch_size_spin.setRange(1, 65536)
        self.batch_size_spin.setToolTip("Images per optimizer step")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 100_000)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Initial weights and shuffling: the same seed gives the same run")
        schedule_box = QGroupBox("Schedule")
        form = self._form(schedule_box)
        form.addRow("Batch size", self.batch_size_spin)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Seed", self.seed_spin)

        self.stop_loss_check = QCheckBox("Training loss below")
        self.stop_loss_spin = ScientificSpinBox(minimum_positive=1e-6, maximum=100.0)
        self.stop_loss_spin.setToolTip("Stop once an epoch's mean training loss falls below this (the cheatsheet's criterion)")
        self.patience_check = QCheckBox("No better val. accuracy for")
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(1, 10_000)
        self.patience_spin.setSuffix(" epochs")
        self.patience_spin.setToolTip("Early stopping: the best weights so far are kept")
        stopping_box = QGroupBox("Stop when")
        grid = QGridLayout(stopping_box)
        grid.setContentsMargins(10, 8, 10, 10)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(8)
        grid.addWidget(self.stop_loss_check, 0, 0)
        grid.addWidget(self.stop_loss_spin, 0, 1)
        grid.addWidget(self.patience_check, 1, 0)
        grid.addWidget(self.patience_spin, 1, 1)
        grid.setColumnStretch(1, 1)

        self.augment_combo = _combo(AUGMENT_LABELS)
        self.augment_combo.setToolTip(
            "Random flip + crop: each training image is flipped left-right at random and cropped back to size "
            "after 4 pixels of zero padding. Applied to training batches only, on the training device."
        )
        self.device_combo = QComboBox()
        for combo in (self.augment_combo, self.device_combo, self.optimizer_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        self.device_combo.addItem("Automatic", "auto")
        self.device_combo.setToolTip("Where the run trains; Automatic picks a CUDA GPU when there is one")
        device_box = QGroupBox("Data and device")
        form = self._form(device_box)
        form.addRow("Augmentation", self.augment_combo)
        form.addRow("Device", self.device_combo)

        self.config_banner = MessageBanner(closable=False)
        self.tuning = FineTuningBox(self.state, self.tasks)  # issue 13: pages/train_tuning.py
        self.tuning.edited.connect(self._on_form_edited)
        self.tuning.resume_requested.connect(lambda path: self.start_training(resume_from=path))

        settings = QWidget()
        settings_layout = QVBoxLayout(settings)
        settings_layout.setContentsMargins(0, 0, 6, 0)
        settings_layout.setSpacing(10)
        for w in (optimizer_box, schedule_box, self.tuning, stopping_box, device_box, self.config_banner):
            settings_layout.addWidget(w)
        settings_layout.addStretch(1)
        scroll = self.settings_column(settings)
        scroll.setFixedWidth(max(SETTINGS_WIDTH, scroll.minimumWidth()))  # a steady column, wide enough for every row

        # run controls
        self.start_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Train")
        self.start_button.setDefault(True)
        self.start_button.setShortcut(QKeySequence("F5"))
        self.pause_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPause), "Pause")
        self.pause_button.setShortcut(QKeySequence("F6"))
        self.resume_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward), "Resume")
        self.resume_button.setShortcut(QKeySequence("F7"))
        self.stop_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.stop_button.setShortcut(QKeySequence("Shift+F5"))
        self.start_button.setToolTip("Train a new model with these settings (F5)")
        self.pause_button.setToolTip("Pause after the current batch (F6)")
        self.resume_button.setToolTip("Continue the paused run (F7)")
        self.stop_button.setToolTip("Stop after the current batch and save the best weights so far (Shift+F5)")
        bold = QFont(self.start_button.font())
        bold.setBold(True)
        self.start_button.setFont(bold)
        for b in (self.start_button, self.pause_button, self.resume_button, self.stop_button):
            b.setMinimumWidth(88)

        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        self.blocker_label = HintLabel()

        self.progress_bar = ProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("No run yet")
        self.progress_bar.setTextVisible(True)
        self.speed_label = QLabel("– img/s")
        self.eta_label = QLabel("ETA –")
        self.elapsed_label = QLabel("")
        # Fixed sizes: these change ten times a second, and a label whose size may change makes the
        # whole window lay itself out again.
        metrics = self.speed_label.fontMetrics()
        for label, widest in ((self.speed_label, "888,888 img/s"), (self.eta_label, "ETA 88:88:88"),
                              (self.elapsed_label, "88:88:88 elapsed")):
            label.setFixedSize(metrics.horizontalAdvance(widest) + 8, label.sizeHint().height())
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        for b in (self.start_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        progress = QHBoxLayout()
        progress.setSpacing(10)
        progress.addWidget(self.progress_bar, 1)
        progress.addWidget(self.speed_label)
        progress.addWidget(self.eta_label)
        progress.addWidget(self.elapsed_label)

        # plots and their tools
        self.plots = TrainingPlots()
        self.plots_hint = HintLabel(
            "Both plots: ● filled, solid = training; ○ hollow, dashed = validation.  Loss also shows every step "
            "(faint) and its smoothed line.  Drag to pan, wheel to zoom, right-click for options."
        )
        self.log_check = QCheckBox("Log-scale loss")
        self.clear_button = QPushButton("Clear runs")
        self.clear_button.setToolTip("Remove finished runs from the plots")
        self.export_png_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton), "Export PNG…")
        self.export_csv_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton), "Export CSV…")
        self.export_png_button.setToolTip("Save both plots as one PNG image")
        self.export_csv_button.setToolTip("Save every run's per-epoch losses and accuracies as a CSV table")
        tools = QHBoxLayout()
        tools.setSpacing(6)
        tools.addWidget(self.log_check)
        tools.addStretch(1)
        tools.addWidget(self.clear_button)
        tools.addWidget(self.export_png_button)
        tools.addWidget(self.export_csv_button)

        # the outcome of the last run
        self.result_banner = MessageBanner(closable=False)
        self.checkpoint_label = ElidedLabel()
        self.save_as_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton), "Save checkpoint as…")
        self.show_folder_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon), "Show in folder")
        checkpoint_row = QHBoxLayout()
        checkpoint_row.setSpacing(6)
        checkpoint_row.addWidget(QLabel("Checkpoint:"))
        checkpoint_row.addWidget(self.checkpoint_label, 1)
        checkpoint_row.addWidget(self.save_as_button)
        checkpoint_row.addWidget(self.show_folder_button)
        self.checkpoint_row = QWidget()
        self.checkpoint_row.setLayout(checkpoint_row)
        checkpoint_row.setContentsMargins(0, 0, 0, 0)
        self.checkpoint_row.hide()
        self.result_hint = HintLabel("")
        self._on_state_runs_folder_changed(self.state.runs_folder)
        # The outcome area keeps one height whatever it shows: a plot that changes size is drawn anew
        # (axes and all), which would stall the window as each run starts and ends.
        result_area = QWidget()
        result_layout = QVBoxLayout(result_area)
        result_layout.setContentsMargins(0, 0, 0, 0)
        result_layout.setSpacing(6)
        result_layout.addWidget(self.result_banner)
        result_layout.addWidget(self.checkpoint_row)
        result_layout.addWidget(self.result_hint)
        result_layout.addStretch(1)
        line = self.fontMetrics().lineSpacing()
        result_area.setFixedHeight(2 * line + 20 + 6 + self.save_as_button.sizeHint().height())
        self.result_area = result_area

        right = QVBoxLayout()
        right.setSpacing(8)
        right.addWidget(self.summary_label)
        right.addLayout(buttons)
        right.addLayout(progress)
        right.addWidget(self.blocker_label)
        self.first_run_hint = FirstRunHint("train", self)  # "Press Train to train …" until the first run
        right.addWidget(self.first_run_hint)
        right.addWidget(self.plots, 1)
        right.addWidget(self.plots_hint)
        right.addLayout(tools)
        right.addWidget(self.result_area)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.setSpacing(16)
        layout.addWidget(scroll)
        layout.addLayout(right, 1)

        # wiring
        for combo in (self.optimizer_combo, self.device_combo):
            combo.currentIndexChanged.connect(self._on_form_edited)
        for spin in (self.lr_spin, self.momentum_spin, self.weight_decay_spin, self.l1_spin, self.stop_loss_spin):
            spin.valueChanged.connect(self._on_form_edited)
        for spin in (self.batch_size_spin, self.epochs_spin, self.seed_spin, self.patience_spin):
            spin.valueChanged.connect(self._on_form_edited)
        for check in (self.nesterov_check, self.stop_loss_check, self.patience_check):
            check.toggled.connect(self._on_form_edited)
        self.augment_combo.currentIndexChanged.connect(self._on_augment_combo_changed)
        self.start_button.clicked.connect(self._on_start_button_clicked)
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.log_check.toggled.connect(self.plots.set_log_loss)
        self.plots.redrawn.connect(self._on_plots_redrawn)
        self.clear_button.clicked.connect(self._on_clear_button_clicked)
        self.export_png_button.clicked.connect(self._on_export_png_button_clicked)
        self.find_lr_button.clicked.connect(self._on_find_lr_button_clicked)
        self.export_csv_button.clicked.connect(self._on_export_csv_button_clicked)
        self.save_as_button.clicked.connect(self._on_save_as_button_clicked)
        self.show_folder_button.clicked.connect(self._on_show_folder_button_clicked)

    @staticmethod
    def _form(box: QGroupBox) -> QFormLayout:
        form = QFormLayout(box)
        form.setContentsMargins(10, 8, 10, 10)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(8)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return form

    def _connect_state(self) -> None:
        s = self.state
        s.torch_ready.connect(self._on_state_torch_ready)
        s.runs_folder_changed.connect(self._on_state_runs_folder_changed)
        s.train_config_changed.connect(self._on_state_train_config_changed)
        s.data_config_changed.connect(self._on_state_data_config_changed)
        s.dataset_changed.connect(self._on_state_inputs_changed)
        s.spec_changed.connect(self._on_state_inputs_changed)
        s.spec_error_changed.connect(self._on_state_inputs_changed)
        s.training_changed.connect(self._on_state_training_changed)
        self.first_run_hint.show_hint(first_run_text(s))

    # --- settings form ------------------------------------------------------------------

    def _fill_devices(self) -> None:
        from cvstudio.core.training.devices import all_gpus_choice, available_devices

        current = self.state.train_config.device
        self._loading_form = True
        try:
            self.device_combo.clear()
            self.device_combo.addItem("Automatic (best available)", "auto")
            for value, label in available_devices() + all_gpus_choice():
                self.device_combo.addItem(label if value == "cpu" else f"{label} · {value}", value)
            if self.device_combo.findData(current) < 0:  # a saved device this machine lacks stays visible, and fails inline
                self.device_combo.addItem(f"{current} (not available here)", current)
            _select(self.device_combo, current)
        finally:
            self._loading_form = False
        self._devices_filled = True

    def _load_train_config(self, c: TrainConfig) -> None:
        self._loading_form = True
        try:
            _select(self.optimizer_combo, c.optimizer)
            self.lr_spin.setValue(c.lr)
            self.momentum_spin.setValue(c.momentum)
            self.nesterov_check.setChecked(c.nesterov)
            self.weight_decay_spin.setValue(c.weight_decay)
            self.l1_spin.setValue(c.l1)
            self.batch_size_spin.setValue(c.batch_size)
            self.epochs_spin.setValue(c.epochs)
            self.seed_spin.setValue(c.seed)
            self.stop_loss_check.setChecked(c.stop_loss is not None)
            self.stop_loss_spin.setValue(c.stop_loss if c.stop_loss is not None else 0.05)
            self.patience_check.setChecked(c.patience is not None)
            self.patience_spin.setValue(c.patience if c.patience is not None else 5)
            if self.device_combo.findData(c.device) < 0:
                self.device_combo.addItem(c.device, c.device)
            _select(self.device_combo, c.device)
            self.tuning.load(c)
        finally:
            self._loading_form = False
        self._config_error = None
        self.config_banner.clear()
        self._update_enabled_fields()

    def _load_data_config(self, c: DataConfig) -> None:
        self._loading_form = True
        try:
            if self.augment_combo.findData(c.augment) < 0:  # a list of steps ticked on the Data page
                self.augment_combo.addItem(c.augment, c.augment)
            _select(self.augment_combo, c.augment)
        finally:
            self._loading_form = False

    def form_config(self) -> TrainConfig:
        """The TrainConfig the form describes; ConfigError when the combination is invalid."""
        sgd = self.optimizer_combo.currentData() == "sgd"
        return TrainConfig(
            optimizer=self.optimizer_combo.currentData(),
            lr=self.lr_spin.value(),
            momentum=self.momentum_spin.value() if sgd else 0.0,
            nesterov=self.nesterov_check.isChecked() and sgd,
            weight_decay=self.weight_decay_spin.value(),
            l1=self.l1_spin.value(),
            batch_size=self.batch_size_spin.value(),
            epochs=self.epochs_spin.value(),
            seed=self.seed_spin.value(),
            stop_loss=self.stop_loss_spin.value() if self.stop_loss_check.isChecked() else None,
            patience=self.patience_spin.value() if self.patience_check.isChecked() else None,
            device=self.device_combo.currentData() or "auto",
            **self.tuning.values(),
        )

    def _update_enabled_fields(self) -> None:
        idle = self.task is None
        sgd = self.optimizer_combo.currentData() == "sgd"
        for w in (
            self.optimizer_combo, self.lr_spin, self.weight_decay_spin, self.l1_spin, self.batch_size_spin,
            self.epochs_spin, self.seed_spin, self.stop_loss_check, self.patience_check, self.augment_combo,
            self.device_combo,
        ):
            w.setEnabled(idle)
        self.tuning.setEnabled(idle)
        self.momentum_spin.setEnabled(idle and sgd)
        self.nesterov_check.setEnabled(idle and sgd)
        self.stop_loss_spin.setEnabled(idle and self.stop_loss_check.isChecked())
        self.patience_spin.setEnabled(idle and self.patience_check.isChecked())

    def _on_form_edited(self, *_: Any) -> None:
        if self._loading_form:
            return
        self._update_enabled_fields()
        try:
            config = self.form_config()
            if config.device not in ("auto", "cpu") and self.state.torch_loaded:
                from cvstudio.core.training.devices import resolve_device

                resolve_device(config.device)  # an unavailable device is a ConfigError, shown here
        except ConfigError as exc:
            self._config_error = exc
            self.config_banner.show_message(sentence(str(exc)), ERROR)
        else:
            self._config_error = None
            self.config_banner.clear()
            self.state.set_train_config(config)
        self._update_controls()

    def _on_augment_combo_changed(self, _index: int) -> None:
        if self._loading_form:
            return
        augment = self.augment_combo.currentData()
        if augment != self.state.data_config.augment:
            self.state.set_data_config(dataclasses.replace(self.state.data_config, augment=augment))

    # --- state --------------------------------------------------------------------------

    def _on_state_runs_folder_changed(self, folder: Path | None) -> None:
        self.result_hint.setText(f"Each run saves its best weights to {folder or runs_dir()} — the checkpoint "
                                 "appears here when the run ends.")

    def _on_state_torch_ready(self) -> None:
        self._fill_devices()
        self._update_summary()
        self._update_controls()

    def _on_state_train_config_changed(self, config: TrainConfig) -> None:
        try:
            same = self.form_config() == config
        except ConfigError:
            same = False
        if not same:
            self._load_train_config(config)
        self._update_controls()

    def _on_state_data_config_changed(self, config: DataConfig) -> None:
        self._load_data_config(config)

    def _on_state_inputs_changed(self, *_: Any) -> None:
        self._update_summary()
        self._update_controls()
        self.first_run_hint.show_hint(first_run_text(self.state))

    def _on_state_training_changed(self, _running: bool) -> None:
        self._update_controls()

    def _update_summary(self) -> None:
        s = self.state
        if not s.torch_loaded:
            self.summary_label.setText("Loading PyTorch… the Train button comes alive when it is ready.")
            return
        model = s.spec.name if s.spec is not None else "no model"
        if s.dataset is None:
            data = "no dataset loaded"
        else:
            d = s.dataset
            c, h, w = d.input_shape
            data = f"{d.description} · {len(d.train):,} training / {len(d.val):,} validation images · {c}×{h}×{w}"
        self.summary_label.setText(f"Model: {model}   ·   Data: {data}")

    def train_blocker(self) -> str | None:
        """Why Train is disabled, in words; None when a run can start."""
        s = self.state
        if self.task is not None:
            return "A run is in progress."
        if not s.torch_loaded:
            return "PyTorch is still loading…"
        if s.training:
            return "Another run is in progress."
        if s.dataset is None:
            return "No dataset is loaded yet: choose one on the Data page."
        if s.spec is None:
            return "No model is chosen yet: pick one on the Model page."
        if s.spec_error is not None:
            return f"The model cannot be built: {s.spec_error}. Fix it on the Model page."
        if self._config_error is not None:
            return f"Fix the training settings first: {self._config_error}."
        return None

    def _on_find_lr_button_clicked(self) -> None:
        from cvstudio.gui.widgets.lr_finder import show_lr_finder

        show_lr_finder(self, self.state)

    def _update_controls(self) -> None:
        running = self.task is not None
        paused = running and self.task.paused
        stopping = running and self.task.stop_requested
        blocker = self.train_blocker()
        can_start = blocker is None and self.state.can_train
        self.start_button.setEnabled(can_start)
        self.find_lr_button.setEnabled(can_start)
        self.start_button.setToolTip("Train a new model with these settings (F5)" if can_start else blocker or "")
        no_pause = getattr(self.task, "pause_unavailable", None)  # why this run cannot pause (all GPUs)
        self.pause_button.setEnabled(running and not paused and not stopping and not no_pause)
        self.pause_button.setToolTip(no_pause or "Pause after the current batch (F6)")
        self.resume_button.setEnabled(running and paused and not stopping)
        self.stop_button.setEnabled(running and not stopping)
        self.clear_button.setEnabled(any(r is not self.current_run for r in self.plots.runs))
        has_history = any(r.epochs for r in self.plots.runs)
        self.export_csv_button.setEnabled(has_history)
        self.export_png_button.setEnabled(bool(self.plots.runs))
        if running:
            self.blocker_label.setText(
                "Stopping after this batch; the best weights so far will be saved…" if stopping
                else "Paused — Resume continues where it stopped; Stop saves the best weights so far." if paused
                else ""
            )
        else:
            self.blocker_label.setText("" if can_start else (blocker or ""))
        self.blocker_label.setVisible(bool(self.blocker_label.text()))
        self._update_enabled_fields()

    # --- running ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.task is not None

    def start_training(self, out: str | Path | None = None, resume_from: str | None = None) -> TrainingTask | None:
        """Start a run with the current state (what Train does), or continue the stopped run ``resume_from``."""
        if self.task is not None or (resume_from is None and (self.train_blocker() is not None or not self.state.can_train)):
            return None
        if self.has_unsaved_run and not self.confirm_discard_unsaved_run():
            return None
        s = self.state
        spec, data, config, data_config = s.spec, s.dataset, s.train_config, s.data_config
        if config.device == ALL_GPUS and (resume_from is not None or (s.model_init is not None and s.model_init.any)):
            self.result_banner.show_message("Starting weights and Resume run on one device: choose a single GPU in "
                                            "Device, or clear the starting weights.", ERROR)  # the child starts fresh
            return None
        label = f"resumed {Path(resume_from).stem}" if resume_from else run_label(spec, config, data_config)
        taken = {r.label for r in self.plots.runs}
        if label in taken:
            n = 2
            while f"{label} ({n})" in taken:
                n += 1
            label = f"{label} ({n})"
        run = self.plots.add_run(label)
        self.first_run_hint.mark_used()
        run.epochs_planned = config.epochs
        self.current_run = run
        self._last_outcome = None
        self.result_banner.clear()
        self.checkpoint_row.hide()
        self.result_hint.setText("Training… when the run ends, its best weights are saved to the runs folder and "
                                 "become the current model.")
        self.result_hint.show()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.speed_label.setText("– img/s")
        self.eta_label.setText("ETA –")
        self._started_at = time.monotonic()

        # Everything alive now (torch, Qt wrappers, plots, the dataset) lives as long as the app: keep the
        # cyclic garbage collector from walking it. Otherwise a full collection, triggered by the training
        # thread's allocations, holds the GIL for ~0.3 s and freezes the window.
        gc.freeze()
        out = out if out is not None else s.next_run_path(spec, data)
        if config.device == ALL_GPUS:  # torchrun in a child process
            task = start_all_gpus_training(spec, data, config, data_config, out=out)
        else:
            task = start_training(spec, data, config, data_config, out=out, init=s.model_init, resume_from=resume_from)
        self.task = task
        task.fit_started.connect(self._on_task_fit_started)
        task.batches_ended.connect(self._on_task_batches_ended)
        task.epochs_ended.connect(self._on_task_epochs_ended)
        task.fit_ended.connect(self._on_task_fit_ended)
        task.kernels_updated.connect(self.state.epoch_weights)  # the Inspect page watches kernels form
        task.result.connect(self._on_task_result)
        task.error.connect(self._on_task_error)
        task.finished.connect(self._on_task_finished)
        log.info("training started: %s", label)
        self.state.set_training(True)
        self.state.status_message.emit(f"Training {label}…")
        self._update_controls()
        self.run_started.emit(run)
        return task

    def pause_training(self) -> None:
        if self.task is not None and not self.task.stop_requested:
            self.task.pause()
            self.progress_bar.setFormat(self.progress_bar.format().replace(" · paused", "") + " · paused")
            self.state.status_message.emit("Training paused")
            self._update_controls()

    def resume_training(self) -> None:
        if self.task is not None:
            self.task.resume()
            self.progress_bar.setFormat(self.progress_bar.format().replace(" · paused", ""))
            self.state.status_message.emit("Training…")
            self._update_controls()

    def stop_training(self) -> None:
        """Ask the run to stop after the current batch; it still saves its checkpoint."""
        if self.task is not None:
            self.task.stop()
            self.state.status_message.emit("Stopping the run and saving its checkpoint…")
            self._update_controls()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop a run (its checkpoint is still saved) and wait for its thread, then for the page's other work."""
        if self.task is not None and not self.task.done:
            self.stop_training()
            if not self.task.wait(timeout_ms):
                return False
        return super().shutdown(timeout_ms)

    def _on_start_button_clicked(self) -> None:
        self.start_training()

    def _on_pause_button_clicked(self) -> None:
        self.pause_training()

    def _on_resume_button_clicked(self) -> None:
        self.resume_training()

    def _on_stop_button_clicked(self) -> None:
        self.stop_training()

    def _on_task_fit_started(self, event: Any) -> None:
        run = self.current_run
        if run is None:
            return
        run.steps_per_epoch = event.batches_per_epoch
        self.plots.set_planned_epochs(run, event.epochs)
        self.progress_bar.setRange(0, max(1, event.epochs * event.batches_per_epoch))
        self.progress_bar.setFormat(f"Epoch 1 / {event.epochs}")
        self.state.status_message.emit(
            f"Training on {event.device}: {event.train_size:,} training images, {event.params:,} parameters, "
            f"{event.batches_per_epoch} steps per epoch"
        )

    def _on_task_batches_ended(self, event: Any) -> None:
        run = self.current_run
        if run is None:
            return
        run.add_losses(event.global_step, event.losses)
        self._last_batches = event
        self.plots.run_changed(run)  # the labels follow at the plots' next redraw: one wake-up for both

    def _on_plots_redrawn(self) -> None:
        event, self._last_batches = self._last_batches, None
        run = self.current_run
        if event is None or run is None:
            return
        self.progress_bar.setValue(min(self.progress_bar.maximum(), event.global_step))
        paused = " · paused" if self.task is not None and self.task.paused else ""
        self.progress_bar.setFormat(
            f"Epoch {event.epoch} / {run.epochs_planned} · step {event.step} / {event.steps_per_epoch}{paused}"
        )
        self.speed_label.setText(f"{event.images_per_s:,.0f} img/s")
        self.eta_label.setText(f"ETA {fmt_duration(event.eta_s)}")
        self.elapsed_label.setText(f"{fmt_duration(time.monotonic() - self._started_at)} elapsed")

    def _on_task_epochs_ended(self, events: tuple[Any, ...]) -> None:
        run = self.current_run
        if run is None:
            return
        for event in events:
            run.add_epoch(event)
        self.plots.run_changed(run)
        last = events[-1]
        self.state.status_message.emit(
            f"Epoch {last.epoch}: train loss {last.train_loss:.4f}, accuracy {last.train_acc:.3f} · "
            f"validation loss {last.val_loss:.4f}, accuracy {last.val_acc:.3f}"
        )
        if len(run.epochs) == len(events):  # the run's first epochs: the history can be exported now
            self._update_controls()

    def _on_task_fit_ended(self, event: Any) -> None:
        run = self.current_run
        if run is None:
            return
        run.status, run.message = event.status, event.message

    def _on_task_result(self, outcome: Any) -> None:
        run = self.current_run
        self._last_outcome, self._last_run = outcome, run
        r = outcome.result
        if run is not None:
            run.status, run.message, run.checkpoint = r.status, r.message, outcome.checkpoint
        text = f"{outcome_sentence(r.status, r.message)}."
        if r.metrics:
            text += (f" Accuracy: training {r.metrics['train_acc']:.3f}, validation {r.metrics['val_acc']:.3f}"
                     f" (best epoch {r.best_epoch}) · {r.images_per_s:,.0f} img/s on {r.device}"
                     + (f" ({r.step_mode})." if r.device.startswith("cuda") else "."))
        level = WARNING if r.status == "diverged" else INFO
        if outcome.unsaved:
            text += (f" The checkpoint could not be saved ({sentence(outcome.save_error or 'unknown error')})."
                     " The trained weights are still in memory: use “Save checkpoint as…” to keep them.")
            level = ERROR
        elif outcome.checkpoint is None:
            text += " No checkpoint was saved: the run produced no usable weights."
            level = WARNING
        self.result_hint.hide()
        self.result_banner.show_message(text, level)
        if outcome.unsaved:
            self.checkpoint_label.setText("not saved: the weights are in memory only")
            self.checkpoint_row.show()
            self.show_folder_button.setEnabled(False)
            self.state.set_model(outcome.model, outcome.meta, None)
            self._ask_to_save_unsaved_run(outcome.save_error or "")
        elif outcome.checkpoint is not None:
            self.show_folder_button.setEnabled(True)
            self.checkpoint_label.setText(str(outcome.checkpoint))
            self.checkpoint_row.show()
            self.state.set_model(outcome.model, outcome.meta, Path(outcome.checkpoint))
        log.info("training ended: %s (%s); checkpoint %s", r.status, r.message, outcome.checkpoint)

    def _on_task_error(self, error: TaskError) -> None:
        run = self.current_run
        if run is not None:
            run.status, run.message = "failed", error.message
        self.result_hint.hide()
        self.result_banner.show_message(f"Training failed: {sentence(error.message)}", ERROR)
        show_task_error(self, error, "Training failed")

    def _on_task_finished(self) -> None:
        run = self.current_run
        self.task = None
        self.current_run = None
        if run is not None:
            self.plots.run_changed(run)
            self.plots.redraw_now()
            done = run.status in ("finished", "loss_reached", "early_stopped")
            if done and self.progress_bar.maximum() > 1:
                self.progress_bar.setValue(self.progress_bar.maximum())
            n = len(run.epochs)
            self.progress_bar.setFormat(f"{STATUS_TEXT.get(run.status, run.status)} · {n} epoch{'' if n == 1 else 's'}")
        self.eta_label.setText("ETA –")
        self.elapsed_label.setText(f"{fmt_duration(time.monotonic() - self._started_at)} elapsed")
        self.state.set_training(False)
        self.state.status_message.emit(
            f"{STATUS_TEXT.get(run.status, run.status)}: {run.label}" if run is not None else "Ready"
        )
        self._update_controls()
        if run is not None:
            self.run_finished.emit(run)

    # --- plots, export, checkpoint ------------------------------------------------------

    def _on_clear_button_clicked(self) -> None:
        self.plots.clear_runs(keep=self.current_run)
        self._update_controls()

    def _on_export_png_button_clicked(self) -> None:
        path = dialogs.ask_save_path(self, "Export plots", "training-plots.png", dialogs.PNG_FILTER, ".png", "plots")
        if path is None:
            return
        self.plots.redraw_now()
        try:
            self.plots.export_png(path)
        except OSError as exc:
            show_error(self, "Export plots", f"Could not write {path}: {exc.strerror or exc}.", icon=QMessageBox.Icon.Warning)
            return
        self.state.status_message.emit(f"Plots saved to {path}")

    def _on_export_csv_button_clicked(self) -> None:
        path = dialogs.ask_save_path(self, "Export history", "training-history.csv", dialogs.CSV_FILTER, ".csv", "csv")
        if path is None:
            return
        try:
            rows = self.plots.export_csv(path)
        except OSError as exc:
            show_error(self, "Export history", f"Could not write {path}: {exc.strerror or exc}.", icon=QMessageBox.Icon.Warning)
            return
        self.state.status_message.emit(f"{rows} epochs of history saved to {path}")

    @property
    def has_unsaved_run(self) -> bool:
        """The last run's weights could not be written and have not been saved since."""
        return self._last_outcome is not None and self._last_outcome.unsaved

    def confirm_discard_unsaved_run(self) -> bool:
        """Starting another run replaces the unsaved weights: only with the user's word."""
        return dialogs.confirm_discard(self, "The last run's weights were never saved. Start a new run and discard them?")

    def _ask_to_save_unsaved_run(self, reason: str) -> None:
        self.unsaved_dialog = dialogs.offer_save_as(
            self, "Checkpoint not saved", "The run's checkpoint could not be saved.",
            f"{sentence(reason)}.\n\nThe trained weights are still in memory. "
            "Save them somewhere else now, or later with “Save checkpoint as…”.",
            self._on_save_as_button_clicked,
        )

    def _on_unsaved_run_saved(self, path: Path) -> None:
        outcome = self._last_outcome
        if outcome is not None and outcome.unsaved:
            outcome.checkpoint = Path(path)
            if self._last_run is not None:
                self._last_run.checkpoint = outcome.checkpoint
            self.state.set_model(outcome.model, outcome.meta, Path(path))
        self.checkpoint_label.setText(str(path))
        self.show_folder_button.setEnabled(True)
        self.result_banner.show_message(f"Checkpoint saved to {path}.", INFO)
        self.state.status_message.emit(f"Checkpoint saved to {path}")

    def _on_save_as_button_clicked(self) -> None:
        if self.has_unsaved_run:
            outcome = self._last_outcome
            dialogs.save_model_as(self, outcome.model, outcome.meta, f"{outcome.meta.model_spec.name}.safetensors",
                                  self._on_unsaved_run_saved)
            return
        path = self.checkpoint_label.text()
        if path:
            dialogs.save_checkpoint_as(
                self, path, lambda dst: self.state.status_message.emit(f"Checkpoint saved to {dst}")
            )

    def _on_show_folder_button_clicked(self) -> None:
        path = self.checkpoint_label.text()
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


if __name__ == "__main__":  # open the page alone: python -m cvstudio.gui.pages.train
    raise SystemExit(TrainPage.preview())
