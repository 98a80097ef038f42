"""The Train page's "Fine-tuning" box (issue 13): what trains, how fast, with which schedule and precision.

The box edits the TrainConfig fields of issue 13 -- ``freeze`` (everything,
a linear probe, or the stages up to one), ``backbone_lr``, ``schedule``,
``label_smoothing``, ``amp`` and ``clip_grad`` -- and offers "Resume a stopped
run…". The page folds :meth:`FineTuningBox.values` into its TrainConfig.
The stage names for "freeze up to" come from the core's summary of the
current network, computed in the page's TaskGroup (torchvision architectures
run a small forward pass).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QWidget,
)

from cvstudio.core.specs import SCHEDULES, TrainConfig
from cvstudio.gui.state import AppState
from cvstudio.gui.tasks import TaskGroup
from cvstudio.gui.widgets.inputs import ScientificSpinBox

SCHEDULE_LABELS = {
    "none": "Constant",
    "onecycle": "One cycle (warm up, then anneal)",
    "cosine": "Cosine decay",
    "step": "Step (÷10 at 1/2 and 3/4)",
}
_STAGES = "train-stages"


def stage_names(spec: Any, input_shape: tuple[int, int, int], num_classes: int) -> tuple[str, ...]:
    """Worker: the stages ``freeze upto:STAGE`` may name, in forward order, the head's excluded."""
    from cvstudio.core.models import summarize

    layers = summarize(spec, input_shape, num_classes).layers
    names = [l.name for l in layers]
    return tuple(names[:-1])  # the last stage holds the head, which must train


class FineTuningBox(QGroupBox):
    """Freeze mode, backbone learning rate, schedule, label smoothing, mixed precision, gradient clipping."""

    edited = Signal()
    resume_requested = Signal(str)  # the checkpoint of a stopped run to continue

    def __init__(self, state: AppState, tasks: TaskGroup, parent: QWidget | None = None):
        super().__init__("Fine-tuning", parent)
        self.state, self.tasks = state, tasks
        self._loading = False
        form = QFormLayout(self)
        self.freeze_combo = QComboBox(self)
        self.freeze_combo.setToolTip("Which weights train: all (full fine-tuning), only the new head (linear probe), "
                                     "or all after a stage")
        self._fill_freeze(())
        form.addRow("Train", self.freeze_combo)
        self.backbone_check = QCheckBox("Backbone learning rate", self)
        self.backbone_check.setToolTip("A lower learning rate for everything but the head (default: the same)")
        self.backbone_spin = ScientificSpinBox(self, minimum_positive=1e-7, maximum=10.0)
        row = QHBoxLayout()
        row.addWidget(self.backbone_check)
        row.addWidget(self.backbone_spin, 1)
        form.addRow(row)
        self.schedule_combo = QComboBox(self)
        for value in SCHEDULES:
            self.schedule_combo.addItem(SCHEDULE_LABELS.get(value, value), value)
        self.schedule_combo.setToolTip("How the learning rate changes over the run (drawn in the Learning rate plot)")
        form.addRow("LR schedule", self.schedule_combo)
        self.smoothing_spin = QDoubleSpinBox(self)
        self.smoothing_spin.setRange(0.0, 0.5)
        self.smoothing_spin.setDecimals(2)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_spin.setSpecialValueText("off")
        self.smoothing_spin.setToolTip("Label smoothing: this share of each target is spread over all classes")
        form.addRow("Label smoothing", self.smoothing_spin)
        self.amp_check = QCheckBox("Mixed precision (bf16 / fp16)", self)
        self.amp_check.setToolTip("Autocast the forward pass to 16-bit floats: faster on GPUs with tensor cores")
        form.addRow(self.amp_check)
        self.clip_check = QCheckBox("Clip gradient norm at", self)
        self.clip_spin = ScientificSpinBox(self, minimum_positive=1e-4, maximum=1e4)
        row = QHBoxLayout()
        row.addWidget(self.clip_check)
        row.addWidget(self.clip_spin, 1)
        form.addRow(row)
        self.resume_button = QPushButton("Resume a stopped run…", self)
        self.resume_button.setToolTip("Continue a run you stopped, from its checkpoint, exactly where it stopped")
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        form.addRow(self.resume_button)

        for signal in (self.freeze_combo.activated, self.schedule_combo.activated, self.backbone_check.toggled,
                       self.backbone_spin.valueChanged, self.smoothing_spin.valueChanged, self.amp_check.toggled,
                       self.clip_check.toggled, self.clip_spin.valueChanged):
            signal.connect(self._on_widget_edited)
        state.spec_changed.connect(self._on_state_network_changed)
        state.dataset_changed.connect(self._on_state_network_changed)
        state.torch_ready.connect(self._on_state_network_changed)
        self.load(state.train_config)
        self._on_state_network_changed()

    # --- the page's side

    def values(self) -> dict[str, Any]:
        """The TrainConfig fields this box sets."""
        return {
            "freeze": self.freeze_combo.currentData() or "none",
            "backbone_lr": self.backbone_spin.value() if self.backbone_check.isChecked() else None,
            "schedule": self.schedule_combo.currentData() or "none",
            "label_smoothing": round(self.smoothing_spin.value(), 4),
            "amp": self.amp_check.isChecked(),
            "clip_grad": self.clip_spin.value() if self.clip_check.isChecked() else None,
        }

    def load(self, c: TrainConfig) -> None:
        self._loading = True
        try:
            if self.freeze_combo.findData(c.freeze) < 0:  # a stage of a network not summarized yet
                self.freeze_combo.addItem(f"All after {c.freeze[5:]}", c.freeze)
            self.freeze_combo.setCurrentIndex(self.freeze_combo.findData(c.freeze))
            self.backbone_check.setChecked(c.backbone_lr is not None)
            self.backbone_spin.setValue(c.backbone_lr if c.backbone_lr is not None else c.lr / 10)
            self.schedule_combo.setCurrentIndex(max(0, self.schedule_combo.findData(c.schedule)))
            self.smoothing_spin.setValue(c.label_smoothing)
            self.amp_check.setChecked(c.amp)
            self.clip_check.setChecked(c.clip_grad is not None)
            self.clip_spin.setValue(c.clip_grad if c.clip_grad is not None else 1.0)
        finally:
            self._loading = False
        self._update_enabled()

    # --- slots

    def _on_widget_edited(self, *_: Any) -> None:
        self._update_enabled()
        if not self._loading:
            self.edited.emit()

    def _on_resume_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Resume a stopped run", "", "Checkpoints (*.safetensors)")
        if path:
            self.resume_requested.emit(path)

    def _on_state_network_changed(self, *_: Any) -> None:
        s = self.state
        if not s.torch_loaded or s.spec is None or s.dataset is None or s.spec_error is not None:
            return
        self.tasks.start(stage_names, s.spec, tuple(s.dataset.input_shape), int(s.dataset.num_classes), key=_STAGES,
                         on_result=self._on_stages_result)

    def _on_stages_result(self, names: tuple[str, ...]) -> None:
        self._fill_freeze(names)

    # --- helpers

    def _fill_freeze(self, stages: tuple[str, ...]) -> None:
        current = self.freeze_combo.currentData() or "none"
        self._loading = True
        try:
            self.freeze_combo.clear()
            self.freeze_combo.addItem("Everything (full fine-tuning)", "none")
            self.freeze_combo.addItem("Only the head (linear probe)", "backbone")
            for name in stages:
                self.freeze_combo.addItem(f"All after {name}", f"upto:{name}")
            index = self.freeze_combo.findData(current)
            self.freeze_combo.setCurrentIndex(max(0, index))
        finally:
            self._loading = False
        if self.freeze_combo.currentData() != current:
            self.edited.emit()  # the stage the config named is gone from this network

    def _update_enabled(self) -> None:
        self.backbone_spin.setEnabled(self.backbone_check.isChecked() and self.freeze_combo.currentData() != "backbone")
        self.clip_spin.setEnabled(self.clip_check.isChecked())


__all__ = ["FineTuningBox", "stage_names"]
