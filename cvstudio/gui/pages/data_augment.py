"""The Data page's augmentation box (issue 13): tick the steps, see one training image before and after.

The steps are ``core.specs.AUGMENT_STEPS``; the box's value is
``DataConfig.augment`` ("none", or a comma list; "flip-crop" as the cheatsheet's
pair). The preview is computed by ``core.data.augment.augment_preview`` in the
page's TaskGroup from the first training image of the loaded dataset, with a
new seed on every "Again", so the user sees what the training loop will do.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cvstudio.core.specs import AUGMENT_STEPS, parse_augment
from cvstudio.gui.images import array_to_qimage
from cvstudio.gui.state import AppState
from cvstudio.gui.tasks import TaskGroup
from cvstudio.gui.widgets.labels import HintLabel

STEP_LABELS = {
    "flip": ("Horizontal flip", "Mirror half of the images left-right"),
    "crop": ("Shifted crop", "Pad 4 pixels with zeros and crop back to size at a random place"),
    "resized-crop": ("Random resized crop", "Cut 35–100 % of the area at a random aspect ratio, resize back"),
    "rotate": ("Rotation ±15°", "Rotate each image by a random angle up to 15 degrees"),
    "color": ("Colour jitter", "Random brightness, contrast, saturation and hue"),
    "trivial": ("TrivialAugment", "One random operation of random strength per image (TrivialAugmentWide)"),
}
PREVIEW_COUNT = 4  # augmented versions shown beside the original
PREVIEW_SIDE = 72  # pixels on screen
_PREVIEW = "augment-preview"


def preview_job(bundle: Any, augment: str, seed: int) -> Any:
    """Worker: (original, augmented versions) of the first training image as numpy uint8 (C,H,W) arrays."""
    from cvstudio.core.data.augment import augment_preview

    image = bundle.train.images[0]
    return image.numpy().copy(), augment_preview(image, augment, PREVIEW_COUNT, seed).numpy()


def augment_value(steps: set[str]) -> str:
    ordered = [s for s in AUGMENT_STEPS if s in steps]
    if ordered == ["crop", "flip"]:
        return "flip-crop"  # the cheatsheet's pair keeps its name (and its exact draws)
    return ",".join(ordered) or "none"


class AugmentBox(QGroupBox):
    """Checkboxes for the augmentation steps and a before/after preview."""

    changed = Signal(str)  # the new DataConfig.augment

    def __init__(self, state: AppState, tasks: TaskGroup, parent: QWidget | None = None):
        super().__init__("Augmentation (training only)", parent)
        self.state, self.tasks = state, tasks
        self._seed = 0
        self.setToolTip("Applied to each training batch on the training device; validation images are never changed")
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        self.checks: dict[str, QCheckBox] = {}
        for i, step in enumerate(("flip", "crop", "resized-crop", "rotate", "color", "trivial")):
            label, tip = STEP_LABELS[step]
            check = QCheckBox(label, self)
            check.setToolTip(tip)
            check.toggled.connect(self._on_check_toggled)
            self.checks[step] = check
            grid.addWidget(check, i // 2, i % 2)
        layout.addLayout(grid)
        row = QHBoxLayout()
        self.original_label = QLabel(self)
        self.original_label.setToolTip("The first training image as it is")
        row.addWidget(self.original_label)
        arrow = QLabel("→", self)
        row.addWidget(arrow)
        self.preview_labels = [QLabel(self) for _ in range(PREVIEW_COUNT)]
        for label in (self.original_label, *self.preview_labels):
            label.setFixedSize(PREVIEW_SIDE, PREVIEW_SIDE)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for label in self.preview_labels:
            row.addWidget(label)
        row.addStretch(1)
        layout.addLayout(row)
        self.again_button = QPushButton("Again", self)
        self.again_button.setToolTip("Draw new random augmentations of the same image")
        self.again_button.clicked.connect(self._on_again_button_clicked)
        self.hint = HintLabel("Load a dataset to preview its first training image.", self)
        bottom = QHBoxLayout()
        bottom.addWidget(self.hint, 1)
        bottom.addWidget(self.again_button)
        layout.addLayout(bottom)
        state.dataset_changed.connect(self._on_state_dataset_changed)

    def value(self) -> str:
        return augment_value({s for s, c in self.checks.items() if c.isChecked()})

    def set_value(self, augment: str) -> None:
        steps = set(parse_augment(augment))
        for step, check in self.checks.items():
            check.blockSignals(True)
            check.setChecked(step in steps)
            check.blockSignals(False)
        self.refresh_preview()

    def refresh_preview(self) -> None:
        bundle = self.state.dataset
        if bundle is None or len(bundle.train) == 0:
            return
        self.tasks.start(preview_job, bundle, self.value(), self._seed, key=_PREVIEW,
                         on_result=self._on_preview_result, on_error=lambda e: self.hint.setText(e.message))

    # --- slots

    def _on_check_toggled(self, _checked: bool) -> None:
        self.changed.emit(self.value())
        self.refresh_preview()

    def _on_again_button_clicked(self) -> None:
        self._seed += 1
        self.refresh_preview()

    def _on_state_dataset_changed(self, _bundle: Any) -> None:
        self.refresh_preview()

    def _on_preview_result(self, result: Any) -> None:
        original, augmented = result
        for label, image in zip((self.original_label, *self.preview_labels), (original, *augmented)):
            pixmap = QPixmap.fromImage(array_to_qimage(image, channels_first=True))
            label.setPixmap(pixmap.scaled(PREVIEW_SIDE, PREVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.FastTransformation))
        self.hint.setText("The first training image, then what training batches may see." if self.value() != "none"
                          else "No augmentation: training sees the images as they are.")


__all__ = ["AugmentBox", "augment_value", "preview_job"]
