"""The detail side of the Classify page: one image as the model sees it, its top classes, where it looked.

A pure view: the page hands it an :class:`~cvstudio.gui.widgets.classify_results.ImageResult`
and, when they are ready, the model-view image and the saliency overlay as
QImages. The only thing it decides itself is how opaque the overlay is.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QImage, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.theme import mix
from cvstudio.gui.widgets.banner import ERROR, MessageBanner
from cvstudio.gui.widgets.classify_results import ImageResult
from cvstudio.gui.widgets.model_image_view import ModelImageView
from cvstudio.gui.widgets.probability_bars import ProbabilityBars, percent_text

DEFAULT_OPACITY = 70  # percent


class ElidedLabel(QLabel):
    """A one-line label that elides its text to its width (the full text is the tooltip)."""

    def __init__(self, text: str = "", parent: QWidget | None = None, mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle):
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text if text else "")
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(10, self.width() - 2)
        super().setText(self.fontMetrics().elidedText(self._full, self._mode, width))


def _quiet(label: QLabel) -> None:
    pal = label.palette()
    pal.setColor(QPalette.ColorRole.WindowText, mix(pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window), 0.4))
    label.setPalette(pal)


def _scaled_font(widget: QWidget, factor: float, weight: QFont.Weight | None = None) -> QFont:
    font = QFont(widget.font())
    font.setPointSizeF(font.pointSizeF() * factor)
    if weight is not None:
        font.setWeight(weight)
    return font


class PredictionDetail(QWidget):
    saliency_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._result: ImageResult | None = None
        self.setMinimumWidth(300)

        self.title = ElidedLabel("", self)
        self.title.setFont(_scaled_font(self, 1.15, QFont.Weight.DemiBold))
        self.subtitle = ElidedLabel("", self)

        self.image_view = ModelImageView(self)
        self.image_caption = QLabel("", self)
        self.image_caption.setWordWrap(True)
        self.image_caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)

        self.saliency_check = QCheckBox("Show where the model looked", self)
        self.saliency_check.setToolTip(
            "Grad-CAM on the last convolutional layer (input gradients for a network without convolutions):\n"
            "warm colours mark the pixels that raised the score of the predicted class most"
        )
        self.saliency_check.toggled.connect(self._on_saliency_check_toggled)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(DEFAULT_OPACITY)
        self.opacity_slider.setFixedWidth(110)
        self.opacity_slider.setToolTip("Opacity of the heatmap")
        self.opacity_slider.valueChanged.connect(self._on_opacity_slider_changed)
        self.opacity_slider.setEnabled(False)
        self.image_view.set_overlay_opacity(DEFAULT_OPACITY / 100)
        self.saliency_caption = QLabel("", self)
        self.saliency_caption.setWordWrap(True)

        saliency_row = QHBoxLayout()
        saliency_row.setSpacing(8)
        saliency_row.addWidget(self.saliency_check)
        saliency_row.addStretch(1)
        saliency_row.addWidget(self.opacity_slider)
        # never narrower than the saliency row: "Show where the model looked" was cut at 1024 px
        margins = self.contentsMargins().left() + self.contentsMargins().right() + 32
        self.setMinimumWidth(max(300, self.saliency_check.sizeHint().width() + 8 + 110 + margins))

        self.label = ElidedLabel("", self, Qt.TextElideMode.ElideRight)
        self.label.setFont(_scaled_font(self, 1.6, QFont.Weight.DemiBold))
        self.prob = QLabel("", self)
        self.prob.setFont(_scaled_font(self, 1.25))
        self.prob.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom)
        prediction_row = QHBoxLayout()
        prediction_row.setSpacing(8)
        prediction_row.addWidget(self.label, 1, Qt.AlignmentFlag.AlignBottom)
        prediction_row.addWidget(self.prob, 0, Qt.AlignmentFlag.AlignBottom)
        self.top_k_title = QLabel("Top classes", self)
        self.bars = ProbabilityBars(self)

        self.problem = MessageBanner(self, closable=False)

        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)

        content = QWidget(self)
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addSpacing(4)
        layout.addWidget(self.problem)
        layout.addWidget(self.image_view, 1)
        layout.addWidget(self.image_caption)
        layout.addLayout(saliency_row)
        layout.addWidget(self.saliency_caption)
        layout.addSpacing(2)
        layout.addWidget(line)
        layout.addSpacing(2)
        layout.addLayout(prediction_row)
        layout.addWidget(self.top_k_title)
        layout.addWidget(self.bars)

        self.empty = QLabel("Select an image to see it as the model sees it,\nits top classes and where the model looked.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 8, 12, 12)
        outer.addWidget(self.stack)
        self._apply_quiet_colours()

    # --- public API ---

    @property
    def result(self) -> ImageResult | None:
        return self._result

    def saliency_enabled(self) -> bool:
        return self.saliency_check.isChecked()

    def set_saliency_enabled(self, on: bool) -> None:
        self.saliency_check.setChecked(on)

    def set_result(self, result: ImageResult | None) -> None:
        """Show ``result`` (None: the empty state). Images arrive separately."""
        self._result = result
        if result is None:
            self.stack.setCurrentWidget(self.empty)
            self.image_view.set_image(None)
            self.image_view.set_overlay(None)
            return
        self.stack.setCurrentIndex(1)
        self.title.set_full_text(result.name)
        self.subtitle.set_full_text(result.path if isinstance(result.source, str) else "Pasted from the clipboard")
        self.image_view.set_overlay(None)
        self.saliency_caption.setText("")
        pred = result.prediction
        ok = pred.error is None
        for w in (self.image_caption, self.saliency_check, self.opacity_slider, self.saliency_caption,
                  self.label, self.prob, self.top_k_title, self.bars):
            w.setVisible(ok)
        self.image_view.setVisible(ok)
        if ok:
            self.problem.clear()
            self.label.set_full_text(pred.label)
            self.prob.setText(percent_text(pred.prob))
            self.top_k_title.setText(f"Top {len(pred.top_k)} of the model's classes" if len(pred.top_k) > 1 else "")
            self.bars.set_values(pred.top_k)
            self.image_view.set_placeholder("Decoding…")
            self.image_view.set_image(None)
            self.image_caption.setText("")
        else:
            self.problem.show_message(f"Not classified: {pred.error}", ERROR)
            self.bars.set_values([])

    def update_result(self, result: ImageResult) -> None:
        """The same input with more details (e.g. its thumbnail arrived): nothing shown is reset."""
        if self._result is not None and result is not None and result.key == self._result.key:
            self._result = result

    def set_model_image(self, image: QImage | None, caption: str = "") -> None:
        self.image_view.set_image(image)
        self.image_caption.setText(caption)

    def set_overlay(self, overlay: QImage | None, caption: str = "") -> None:
        self.image_view.set_overlay(overlay)
        self.saliency_caption.setText(caption)

    def set_saliency_note(self, text: str) -> None:
        """Caption under the saliency switch while there is no overlay (computing, or why not)."""
        self.saliency_caption.setText(text)

    # --- internals ---

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.type() == event.Type.PaletteChange:
            self._apply_quiet_colours()
        super().changeEvent(event)

    def _apply_quiet_colours(self) -> None:
        for label in (self.subtitle, self.image_caption, self.saliency_caption, self.top_k_title, self.empty):
            label.setPalette(self.palette())
            _quiet(label)

    def _on_saliency_check_toggled(self, on: bool) -> None:
        self.opacity_slider.setEnabled(on)
        if not on:
            self.image_view.set_overlay(None)
            self.saliency_caption.setText("")
        self.saliency_toggled.emit(on)

    def _on_opacity_slider_changed(self, value: int) -> None:
        self.image_view.set_overlay_opacity(value / 100)


__all__ = ["ElidedLabel", "PredictionDetail"]
