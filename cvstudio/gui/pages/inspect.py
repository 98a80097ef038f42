"""The Inspect page: look inside a convolutional network.

Three tabs, all fed by ``cvstudio.core.inspect`` (numpy arrays out; this page
only displays them):

- **Kernels**: every kernel of a chosen conv layer of the current model as one
  grid, on a diverging colour map with a shared symmetric scale; hover reads
  the weights, a click shows one kernel with its numbers. The grid redraws when
  ``AppState.model_changed`` fires and whenever :meth:`InspectPage.refresh_kernels`
  is called (e.g. at the end of each training epoch).
- **Feature maps**: one image (from the dataset or any file) as the model sees
  it, and the output of every layer, captured with forward hooks in one pass.
- **Kernel playground**: the cheatsheet's hand-made kernels (blur, edges, ...)
  applied with ``nn.Conv2d`` to the same image, with padding, stride and
  max-pooling, and the shapes they produce.

Model passes, image decoding and the playground's convolution run in worker
threads (the page's ``TaskGroup``, one latest-wins key per job); the GUI thread only receives numpy arrays. Nothing
here imports torch at module import time: the core is imported once
``AppState.torch_ready`` has fired.

Run alone: ``python -m cvstudio.gui.pages.inspect [checkpoint.safetensors]``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shiboken6
from PySide6.QtCore import QSize, Signal, Slot
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from cvstudio.gui.pages.base import Page
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.banner import ERROR, INFO, WARNING, MessageBanner
from cvstudio.gui.widgets.feature_grid import shape_text
from cvstudio.gui.widgets.image_picker import SPLITS, ImagePicker
from cvstudio.gui.widgets.inspect_tabs import FeaturesTab, KernelsTab, PlaygroundTab
from cvstudio.gui.widgets.labels import ElidedLabel
from cvstudio.gui.tasks import TaskError

log = logging.getLogger(__name__)

DEFAULT_INPUT_SHAPE = (3, 32, 32)  # images without a model or dataset to size them
NPY_FILTER = "NumPy arrays (*.npy)"
PNG_FILTER = "PNG images (*.png)"


# --- work done in worker threads (core calls only) -----------------------------------------------


def read_kernels(model: Any) -> dict[str, np.ndarray]:
    from cvstudio.core.inspect import conv_kernels

    return conv_kernels(model)


def prepare_image(source: Any, input_shape: tuple[int, int, int]) -> np.ndarray:
    """A dataset image (uint8 array) or an image file (path), as the model's uint8 (C, H, W) input."""
    if isinstance(source, np.ndarray):
        from cvstudio.core.inspect import fit_image

        return fit_image(source, input_shape)
    from cvstudio.core.inference import load_image

    return load_image(source, input_shape).numpy().copy()


def compute_features(model: Any, pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    from cvstudio.core.inspect import inspect_image

    return inspect_image(model, pixels, mean, std)


def run_playground(pixels: np.ndarray, kernel: np.ndarray, padding: int, stride: int, pool: bool) -> np.ndarray:
    from cvstudio.core.inspect import apply_kernel

    return apply_kernel(pixels, kernel, padding, stride, pool)


@dataclass(frozen=True)
class ChosenImage:
    """Which image the Feature maps and Playground tabs show."""

    kind: str  # "dataset" or "file"
    caption: str
    split: str = ""
    index: int = -1
    label: int | None = None  # true class (dataset images)
    path: str = ""
    where: str = ""  # e.g. "Validation image 6 of 2,000"


# --- the page ---------------------------------------------------------------------------------


class InspectPage(Page):
    """Kernels, feature maps and a kernel playground for the current model (``state.model``)."""

    title = "Inspect"
    opens_checkpoints = True
    loading_detail = "Kernels and feature maps can be shown as soon as PyTorch has been imported."

    kernels_drawn = Signal()  # the kernel grid shows new weights
    features_drawn = Signal()  # the feature maps of the current image are shown
    playground_drawn = Signal()  # the playground output is shown
    image_shown = Signal()  # a newly chosen image is ready

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, parent)
        self._ready = False
        self.image: ChosenImage | None = None
        self.pixels: np.ndarray | None = None  # the chosen image at the model's input size, uint8 (C, H, W)
        self._pixels_shape: tuple[int, int, int] | None = None
        self._kernel_source = ""
        self._live: str | None = None  # "during epoch 3" while the grid shows a training run's kernels
        # the newest live kernels while the page is hidden, drawn when it is shown: drawing a grid nobody
        # sees only wakes Qt's image threads, which then preempt the training threads
        self._hidden_live: tuple[dict, str] | None = None
        self._source: Any = None  # what the chosen image is made from: a uint8 array or a file path
        self._has_conv: bool | None = None
        self._generation = 0  # counts model changes: results computed for an older model are dropped
        # self.tasks keys "kernels", "image", "features", "playground": one job each, the latest request wins, so
        # rapid changes (typing in the kernel table, flicking through images) never queue work or show stale pictures
        self.setAcceptDrops(True)

        self._build_ui()
        state.torch_ready.connect(self._on_state_torch_ready)
        state.model_changed.connect(self._on_state_model_changed)
        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.training_changed.connect(self._on_state_training_changed)
        epoch_weights = getattr(state, "epoch_weights", None)  # if the window forwards kernels at each epoch end
        if epoch_weights is not None:
            epoch_weights.connect(self._on_state_epoch_weights)
        if state.torch_loaded:
            self._on_state_torch_ready()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        self.build_loading_stack()

        header = QHBoxLayout()
        header.setSpacing(10)
        self.model_label = QLabel("No model", self._content)
        font = QFont(self.model_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        font.setBold(True)
        self.model_label.setFont(font)
        self.model_detail = ElidedLabel("", self._content)  # shortened, not cut, in a 1024 px window
        self.model_detail.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.open_button = QPushButton("Open checkpoint…", self._content)
        self.open_button.setToolTip("Inspect a model saved earlier (a .safetensors checkpoint)")
        header.addWidget(self.model_label)
        header.addWidget(self.model_detail, 1)
        header.addWidget(self.open_button)

        self.banner = MessageBanner(self._content)
        self.tabs = QTabWidget(self._content)
        self.tabs.setDocumentMode(True)
        self.kernels = KernelsTab(self.tabs)
        self.features = FeaturesTab(self.tabs)
        self.playground = PlaygroundTab(self.tabs)
        self.tabs.addTab(self.kernels, "Kernels")
        self.tabs.addTab(self.features, "Feature maps")
        self.tabs.addTab(self.playground, "Kernel playground")
        self.picker = ImagePicker(self.features)
        self.features.picker_slot.addWidget(self.picker)

        layout = QVBoxLayout(self._content)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)

        self.open_button.clicked.connect(self._on_open_clicked)
        self.kernels.explanation.button.clicked.connect(self._on_open_clicked)
        self.features.explanation.button.clicked.connect(self._on_open_clicked)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.picker.dataset_image_requested.connect(self._on_picker_dataset_image_requested)
        self.picker.file_requested.connect(self.open_image_file)
        self.playground.settings_changed.connect(self._request_playground)
        self.kernels.save_png_button.clicked.connect(lambda: self._ask_export("png", "kernels"))
        self.kernels.save_npy_button.clicked.connect(lambda: self._ask_export("npy", "kernels"))
        self.features.save_png_button.clicked.connect(lambda: self._ask_export("png", "features"))
        self.features.save_npy_button.clicked.connect(lambda: self._ask_export("npy", "features"))
        self.playground.save_png_button.clicked.connect(lambda: self._ask_export("png", "playground"))
        self.playground.save_npy_button.clicked.connect(lambda: self._ask_export("npy", "playground"))

    # ------------------------------------------------------------------ public API

    @property
    def idle(self) -> bool:
        """No worker job running or waiting (tests wait for this)."""
        return self.tasks.idle

    def open_checkpoint(self, path: str | Path) -> None:
        """Load a checkpoint in a worker and make it the app's current model."""
        self.banner.clear()
        self.state.open_checkpoint(path, on_error=self._on_open_error)

    def _on_open_error(self, error: TaskError) -> None:
        if shiboken6.isValid(self) and not self.tasks.shut_down:
            self._show_error(error, "Could not open the checkpoint")

    @Slot(object)
    def refresh_kernels(self, weights_by_layer: dict[str, np.ndarray], source: str | None = None) -> None:
        """Show these kernels ({conv layer: (out, in, kh, kw)}), e.g. at the end of each training epoch.

        Arrays only: call it from the GUI thread with copies of the weights
        (``core.inspect.conv_kernels(model)`` in the training thread makes them).
        """
        if not self._ready:
            return
        if source is not None:
            self._kernel_source = source
        if not weights_by_layer:
            self._has_conv = False
            self._show_no_conv()
            return
        self._has_conv = True
        self.kernels.stack.setCurrentWidget(self.kernels.content)
        self.kernels.set_weights(weights_by_layer, self._kernel_source)
        self.kernels_drawn.emit()

    def select_dataset_image(self, split: str, index: int) -> None:
        """Show image ``index`` of the dataset's ``split`` ("val" or "train")."""
        self.picker.choose(split, index)

    def open_image_file(self, path: str | Path) -> None:
        path = str(path)
        self._choose(ChosenImage("file", Path(path).name, path=path, where="An image file"), path)

    def export(self, what: str, fmt: str, path: str | Path) -> Path:
        """Save a grid ("kernels", "features", "playground") as "png" or its raw values as "npy"."""
        path = Path(path)
        if fmt == "png":
            view = {"kernels": self.kernels.grid, "features": self.features.grid, "playground": self.playground.output_view}[what]
            if view.display is None:
                raise ValueError("there is nothing to save yet")
            if not view.export_png(path):
                raise OSError(f"could not write {path}")
            return path
        values = self._export_values(what)
        if values is None:
            raise ValueError("there is nothing to save yet")
        np.save(path, values)
        return path

    def _export_values(self, what: str) -> np.ndarray | None:
        if what == "kernels":
            return self.kernels.weights.get(self.kernels.layer)
        if what == "features":
            return self.features.current_values()
        return self.playground.output

    # ------------------------------------------------------------------ state

    @Slot()
    def _on_state_torch_ready(self) -> None:
        if self._ready:
            return
        self._ready = True
        self.show_content()
        self.playground.init_kernels()
        self._on_state_dataset_changed(self.state.dataset)
        self._on_state_model_changed()

    @Slot()
    def _on_state_model_changed(self) -> None:
        if not self._ready:
            return
        model = self.state.model
        self._generation += 1
        self._hidden_live = None
        self._update_header()
        if model is None:
            self._has_conv = None
            self.kernels.explanation.show_text(
                "No model yet",
                "Train a model on the Train page, or open a checkpoint, to see the kernels its convolution layers "
                "learned. The kernel playground works without a model.", button=True)
            self.kernels.stack.setCurrentWidget(self.kernels.explanation)
            self.features.explanation.show_text(
                "No model yet", "Feature maps show what each layer of a model makes of an image: train a model or "
                "open a checkpoint first.", button=True)
            self.features.stack.setCurrentWidget(self.features.explanation)
            self._request_image()  # the playground still wants the image, at the new default size
            return
        self._kernel_source = self._model_source()
        self.tasks.start(read_kernels, model, key="kernels",
                         on_result=lambda weights, g=self._generation: self._on_kernels_read(weights, g),
                         on_error=lambda e: self._show_error(e, "Could not read the kernels"))
        self.features.stack.setCurrentIndex(1)
        if self.image is None or self._pixels_shape != self._input_shape():
            self._request_image()
        else:
            self._request_features()

    @Slot(object)
    def _on_state_dataset_changed(self, bundle: Any) -> None:
        if not self._ready:
            return
        if bundle is None:
            self.picker.set_dataset(None, {})
            return
        labels = {"train": bundle.train.labels.numpy(), "val": bundle.val.labels.numpy()}
        self.picker.set_dataset(tuple(bundle.class_names), labels)
        if self.image is None or self.image.kind == "dataset":
            self.picker.choose("val", 0)

    def _on_kernels_read(self, weights: dict[str, np.ndarray], generation: int) -> None:
        if generation == self._generation:
            self.refresh_kernels(weights)

    @Slot(bool)
    def _on_state_training_changed(self, running: bool) -> None:
        if running and self._ready:
            when = "every few seconds" if hasattr(self.state, "epoch_weights") else "when it ends"
            self.kernels.source_label.setText(
                f"{self._kernel_source}\nA run is training: the grid shows its kernels {when}.")
        elif self._ready:
            self._live = None
            self._hidden_live = None
            self.kernels.source_label.setText(self._kernel_source)
        self._update_header()

    @Slot(object)
    def _on_state_epoch_weights(self, payload: Any) -> None:
        """Kernels of the run in progress: a dict, (epoch, dict) or (epoch, dict, "during"|"after")."""
        epoch, when = None, "after"
        if isinstance(payload, tuple) and len(payload) in (2, 3):
            epoch, when = payload[0], (payload[2] if len(payload) == 3 else "after")
            payload = payload[1]
        if isinstance(payload, dict):
            where = f"epoch {epoch}" if epoch is not None else "the last epoch"
            self._live = f"{'during' if when == 'during' else 'after'} {where}"
            source = f"Live from the run in progress, {self._live}."
            if self.isVisible():
                self.refresh_kernels(payload, source)
            else:
                self._hidden_live = (payload, source)
            self._update_header()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._hidden_live is not None:
            payload, source = self._hidden_live
            self._hidden_live = None
            self.refresh_kernels(payload, source)

    # ------------------------------------------------------------------ model facts

    def _meta(self) -> Any:
        return self.state.checkpoint_meta if self.state.model is not None else None

    def _input_shape(self) -> tuple[int, int, int]:
        meta = self._meta()
        if meta is not None:
            return tuple(meta.input_shape)
        if self.state.dataset is not None:
            return tuple(self.state.dataset.input_shape)
        return DEFAULT_INPUT_SHAPE

    def _mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        meta = self._meta()
        if meta is not None:
            return tuple(meta.mean), tuple(meta.std)
        c = self._input_shape()[0]
        if self.state.dataset is not None and len(self.state.dataset.mean) == c:
            return tuple(self.state.dataset.mean), tuple(self.state.dataset.std)
        return (0.5,) * c, (0.25,) * c

    def _class_names(self) -> tuple[str, ...]:
        meta = self._meta()
        if meta is not None:
            return tuple(meta.class_names)
        return tuple(self.state.dataset.class_names) if self.state.dataset is not None else ()

    def _model_source(self) -> str:
        path = self.state.checkpoint_path
        return f"Weights of {Path(path).name}." if path else "Weights of the current model."

    def _update_header(self) -> None:
        meta, model = self._meta(), self.state.model
        if self.state.training and self._live is not None:  # the grid shows the run, whatever model is current
            spec = self.state.spec
            self.model_label.setText(f"{spec.name if spec is not None else 'Model'} · training")
            detail = f"kernels live from the run in progress, {self._live}"
            if model is not None:
                name = meta.model_spec.name if meta is not None else type(model).__name__
                detail += f"  ·  feature maps: {name}"
            self.model_detail.setText(detail)
            self.model_detail.setToolTip("")
            return
        if model is None:
            self.model_label.setText("No model")
            self.model_detail.setText("Train one or open a checkpoint")
            return
        name = meta.model_spec.name if meta is not None else type(model).__name__
        self.model_label.setText(name)
        parts = []
        if meta is not None:
            parts.append(f"input {shape_text(meta.input_shape)}")
            if meta.dataset:
                parts.append(meta.dataset)
            acc = meta.metrics.get("val_acc") if meta.metrics else None
            if acc is not None:
                parts.append(f"validation accuracy {acc:.1%}")
        if self.state.checkpoint_path:
            parts.append(Path(self.state.checkpoint_path).name)
        self.model_detail.setText("  ·  ".join(parts))
        self.model_detail.setToolTip(str(self.state.checkpoint_path or ""))

    def _show_no_conv(self) -> None:
        c, h, w = self._input_shape()
        text = (f"This model has no convolution layers, so there are no kernels and no feature maps to show. "
                f"It flattens each {c}×{h}×{w} image into one vector of {c * h * w:,} numbers, and every layer after "
                f"that sees only vectors: the picture's spatial structure is gone. Choose a convnet on the Model page "
                f"and train it, or open a checkpoint of one, to watch kernels form.")
        self.kernels.explanation.show_text("No convolution layers in this model", text, button=True)
        self.kernels.stack.setCurrentWidget(self.kernels.explanation)
        self.features.banner.show_message(
            "This model has no convolution layers, so there are no feature maps: its layers see the image as "
            f"one vector of {c * h * w:,} numbers. Their outputs are shown below as vectors, row by row.", INFO)

    # ------------------------------------------------------------------ images

    def _on_picker_dataset_image_requested(self, split: str, index: int) -> None:
        bundle = self.state.dataset
        if bundle is None:
            return
        images = bundle.val if split == "val" else bundle.train
        if not 0 <= index < len(images):
            return
        label = int(images.labels[index])
        name = bundle.class_names[label] if label < len(bundle.class_names) else str(label)
        caption = f"{dict(SPLITS)[split]} image {index + 1:,} of {len(images):,}"
        pixels = images.images[index].numpy().copy()
        self._choose(ChosenImage("dataset", name, split=split, index=index, label=label, where=caption), pixels)

    def _choose(self, image: ChosenImage, source: Any) -> None:
        self.image = image
        self._source = source
        self._request_image()

    def _request_image(self) -> None:
        if self.image is None:
            self.playground.clear("Pick an image to convolve.")
            return
        shape = self._input_shape()
        self.tasks.start(prepare_image, self._source, shape, key="image",
                         on_result=lambda pixels, s=shape: self._on_image_prepared(pixels, s),
                         on_error=lambda e: self._show_error(e, "Could not use this image"))

    def _on_image_prepared(self, pixels: np.ndarray, shape: tuple[int, int, int]) -> None:
        self.pixels = pixels
        self._pixels_shape = shape
        self.banner.clear()
        self._update_picker()
        self.playground.show_input(pixels)
        self.image_shown.emit()
        self._request_features()
        self._request_playground()

    def _update_picker(self, shown: np.ndarray | None = None) -> None:
        if self.image is None or self.pixels is None:
            return
        c, h, w = self.pixels.shape
        if self.state.model is not None:
            detail = f"{self.image.where}, resized to {w}×{h} and normalized for the model; shown as it sees it."
        else:
            detail = f"{self.image.where}, resized to {w}×{h}."
        self.picker.show_image(shown if shown is not None else self.pixels, self.image.caption, detail)

    def _input_note(self) -> str:
        mean, std = self._mean_std()
        return (f"(pixel / 255 − mean) / std per channel, with mean ({', '.join(f'{m:.3f}' for m in mean)}) "
                f"and std ({', '.join(f'{s:.3f}' for s in std)}) of the training images")

    def _request_features(self) -> None:
        model = self.state.model
        if model is None or self.pixels is None:
            return
        mean, std = self._mean_std()
        self.tasks.start(compute_features, model, self.pixels, mean, std, key="features",
                         on_result=lambda r, g=self._generation: self._on_features_computed(r, g),
                         on_error=lambda e: self._show_error(e, "Could not compute the feature maps"))

    def _on_features_computed(self, inspection: Any, generation: int) -> None:
        if self.state.model is None or generation != self._generation:
            return
        self._update_picker(inspection.image)
        self.features.stack.setCurrentIndex(1)
        if self._has_conv is not False:
            self.features.banner.clear()
        self.features.set_inspection(inspection, self._class_names(), self._input_note())
        self._show_prediction(inspection)
        self.features_drawn.emit()

    def _show_prediction(self, inspection: Any) -> None:
        probs = inspection.probabilities
        names = self._class_names()
        if probs is None or len(probs) != len(names):
            self.features.prediction.setText("")
            return
        order = np.argsort(probs)[::-1][:3]
        best = names[order[0]]
        truth = ""
        if self.image is not None and self.image.label is not None and self.state.dataset is not None:
            true_name = self.state.dataset.class_names[self.image.label]
            if true_name in names:
                mark = "✓" if true_name == best else "✗"
                truth = f" &nbsp;{mark} (the label is <b>{true_name}</b>)"
        others = ", ".join(f"{names[i]} {probs[i]:.1%}" for i in order[1:])
        self.features.prediction.setText(
            f"The model says <b>{best}</b> ({probs[order[0]]:.1%}){truth}"
            + (f" &nbsp;·&nbsp; next: {others}" if others else ""))

    def _request_playground(self) -> None:
        if not self._ready or self.pixels is None:
            return
        kernel, padding, stride, pool = self.playground.settings()
        if self.playground.describe(self.pixels) is None:
            self.playground.banner.show_message(
                f"A {kernel.shape[0]}×{kernel.shape[0]} kernel with padding {padding} does not fit this "
                f"{self.pixels.shape[1]}×{self.pixels.shape[2]} image.", WARNING)
            return
        pixels = self.pixels
        self.tasks.start(
            run_playground, pixels, kernel, padding, stride, pool, key="playground",
            on_result=lambda out, p=pixels: self._on_playground_result(p, out),
            on_error=lambda e: self.playground.banner.show_message(e.message, WARNING if e.user_error else ERROR))

    def _on_playground_result(self, pixels: np.ndarray, output: np.ndarray) -> None:
        self.playground.show_output(pixels, output)
        self.playground_drawn.emit()

    # ------------------------------------------------------------------ actions

    def _on_open_clicked(self) -> None:
        from cvstudio.gui.dialogs import ask_open_checkpoint

        path = ask_open_checkpoint(self)
        if path:
            self.open_checkpoint(path)

    def _show_error(self, error: TaskError, what: str) -> None:
        if not error.user_error:
            log.error("%s: %s", what, error.traceback)
        self.banner.show_message(f"{what}: {error.message}", ERROR)

    def _ask_export(self, fmt: str, what: str) -> None:
        from cvstudio.gui.dialogs import ask_save_path

        if self._export_values(what) is None:
            self.banner.show_message("There is nothing to save yet.", INFO)
            return
        name = {"kernels": self.kernels.layer or "kernels", "features": self.features.layer or "features",
                "playground": "playground"}[what]
        suggested = f"{name}-{what}.{fmt}" if what != "playground" else f"playground-output.{fmt}"
        title = "Save image" if fmt == "png" else "Save values"
        path = ask_save_path(self, title, suggested, PNG_FILTER if fmt == "png" else NPY_FILTER, f".{fmt}", "plots")
        if path is None:
            return
        try:
            self.export(what, fmt, path)
        except (OSError, ValueError) as exc:
            self.banner.show_message(f"Could not save {path}: {exc}", ERROR)
            return
        self.state.status_message.emit(f"Saved {path}")

    def _on_tab_changed(self, index: int) -> None:
        tab = self.tabs.widget(index)
        if tab is self.features:
            self.features.picker_slot.addWidget(self.picker)
        elif tab is self.playground:
            self.playground.picker_slot.addWidget(self.picker)

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            if self.tabs.currentWidget() is self.kernels:
                self.tabs.setCurrentWidget(self.features)
            self.open_image_file(files[0])

    def sizeHint(self) -> QSize:
        return QSize(1240, 780)


__all__ = ["InspectPage"]


def main(argv: list[str] | None = None) -> int:
    return InspectPage.preview(argv)


if __name__ == "__main__":
    sys.exit(main())
