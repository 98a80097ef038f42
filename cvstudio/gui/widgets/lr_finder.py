"""The learning-rate finder dialog: which learning rate should I use?

A short run trains a fresh copy of the model (built from ``state.spec`` for
``state.dataset``, exactly as Train would build it) while the learning rate
grows exponentially from tiny to large (``core.evaluate.find_lr``). The
smoothed training loss is plotted against the learning rate on a log axis: it
stays flat while the rate is too small to matter, falls where learning
happens, and shoots up where the steps become too large. The suggestion is the
rate where it falls fastest; "Use" writes it into the training settings.

Nothing the user is about to train is touched: the model is new and thrown
away, ``state.model`` is not used, and the settings change only on "Use".
The run happens in a worker with a progress bar and a cooperative Cancel
(``RunControl.request_stop``); closing the dialog cancels it too.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.banner import ERROR, INFO, WARNING, MessageBanner
from cvstudio.gui.widgets.inputs import ScientificSpinBox
from cvstudio.gui.widgets.labels import HintLabel
from cvstudio.gui.widgets.plots import ThemedPlot
from cvstudio.gui.widgets.progress import ProgressBar
from cvstudio.gui.tasks import TaskError, TaskGroup

log = logging.getLogger(__name__)

START_LR, END_LR, STEPS = 1e-6, 1.0, 100  # the default sweep: 6 decades in 100 steps
CURVE_COLOUR = "#3b82d6"
SUGGESTION_COLOUR = "#e8590c"
OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}


def lr_text(lr: float) -> str:
    """1.2e-02 style: what the Use button and the line's label say."""
    return f"{lr:.1e}"


def run_lr_finder(spec: Any, data: Any, config: Any, start_lr: float, end_lr: float, steps: int, *,
                  control: Any = None, callbacks: Any = None, on_partial: Any = None) -> Any:
    """Build a fresh model from ``spec`` and sweep the learning rate on it (worker thread).

    Each measured (lr, smoothed loss) goes to ``on_partial`` as it comes (the task coalesces them).
    """
    from cvstudio.core.evaluate import find_lr
    from cvstudio.core.training.loop import new_model

    model = new_model(spec, data, config.seed)
    on_point = (lambda lr, loss: on_partial([(lr, loss)])) if on_partial is not None else None
    return find_lr(model, data, config, loss=spec.loss, start_lr=start_lr, end_lr=end_lr, steps=steps,
                   callbacks=callbacks, control=control, on_point=on_point)


class LRFinderDialog(QDialog):
    """Runs the learning-rate finder for ``state.spec`` on ``state.dataset`` with ``state.train_config``."""

    run_finished = Signal(object)  # core LRFinderResult (also after Cancel, with the steps done)
    run_failed = Signal(object)  # TaskError

    def __init__(self, state: AppState, parent: QWidget | None = None, *, autostart: bool = True):
        super().__init__(parent)
        self.state = state
        self.result: Any = None  # the last LRFinderResult
        self.tasks = TaskGroup(self)  # key "sweep"
        self._closing = False
        self._points: list[tuple[float, float]] = []  # (lr, smoothed loss) of the sweep in progress
        self.setWindowTitle("Learning-rate finder")
        self.setModal(True)
        self.resize(760, 560)
        self._build_ui()
        self._apply_palette()
        self._describe_settings()
        if autostart:
            self.run()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        intro = QLabel(
            "A short training run on a fresh copy of the model while the learning rate grows from tiny to large. "
            "The loss stays flat while the rate is too small, falls where learning happens and shoots up where steps "
            "get too big. A good learning rate sits where the loss falls fastest.", self)
        intro.setWordWrap(True)
        self.settings_hint = HintLabel("", self)

        self.start_spin = ScientificSpinBox(self, minimum_positive=1e-8, maximum=10.0)
        self.start_spin.setValue(START_LR)
        self.end_spin = ScientificSpinBox(self, minimum_positive=1e-6, maximum=100.0)
        self.end_spin.setValue(END_LR)
        self.steps_spin = QSpinBox(self)
        self.steps_spin.setRange(10, 2000)
        self.steps_spin.setValue(STEPS)
        self.steps_spin.setSuffix(" steps")
        self.steps_spin.setToolTip("Training steps (batches) of the sweep; it stops early once the loss explodes")
        self.run_button = QPushButton("Run again", self)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(QLabel("Learning rate from", self))
        row.addWidget(self.start_spin)
        row.addWidget(QLabel("to", self))
        row.addWidget(self.end_spin)
        row.addWidget(QLabel("in", self))
        row.addWidget(self.steps_spin)
        row.addStretch(1)
        row.addWidget(self.run_button)

        self.plot = ThemedPlot("Smoothed training loss vs learning rate", "learning rate (log scale)", "loss",
                               self, legend_offset=None)
        self.plot.setLogMode(x=True, y=False)
        self.plot.setMinimumHeight(260)
        self.plot.getPlotItem().setMenuEnabled(False)
        self.curve = self.plot.plot([], [], pen=pg.mkPen(CURVE_COLOUR, width=2))
        self.marker = self.plot.plot([], [], pen=None, symbol="o", symbolSize=10, symbolBrush=SUGGESTION_COLOUR,
                                     symbolPen=pg.mkPen("w", width=1.5))
        self.suggestion_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen(SUGGESTION_COLOUR, width=1.5),
            label="", labelOpts={"position": 0.92, "color": SUGGESTION_COLOUR})
        self.current_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen("#8c8c8c", width=1, style=Qt.PenStyle.DashLine),
            label="", labelOpts={"position": 0.08, "color": "#8c8c8c"})
        for line in (self.suggestion_line, self.current_line):
            line.hide()
            self.plot.addItem(line, ignoreBounds=True)

        self.progress = ProgressBar(self)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v of %m steps")
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        font = QFont(self.message.font())
        font.setWeight(QFont.Weight.DemiBold)
        self.message.setFont(font)
        self.banner = MessageBanner(self, closable=False)

        self.buttons = QDialogButtonBox(self)
        self.use_button = self.buttons.addButton("Use", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setEnabled(False)
        self.use_button.setDefault(True)
        self.cancel_button = self.buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addWidget(self.settings_hint)
        layout.addLayout(row)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.banner)
        layout.addWidget(self.buttons)

        self.run_button.clicked.connect(self.run)
        self.use_button.clicked.connect(self.apply_suggestion)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)

    def _describe_settings(self) -> None:
        cfg, spec, data = self.state.train_config, self.state.spec, self.state.dataset
        parts = []
        if spec is not None:
            parts.append(f"model {spec.name}")
        if cfg is not None:
            opt = OPTIMIZER_NAMES.get(cfg.optimizer, cfg.optimizer)
            if cfg.optimizer == "sgd" and cfg.momentum:
                opt += f" (momentum {cfg.momentum:g})"
            parts.append(opt)
            parts.append(f"batch size {cfg.batch_size}")
            if cfg.weight_decay:
                parts.append(f"weight decay {cfg.weight_decay:g}")
        if data is not None:
            parts.append(f"{len(data.train):,} training images")
        self.settings_hint.setText("With the Train page's settings: " + ", ".join(parts) + ". The model you train "
                                   "and the current model are not changed." if parts else "")

    # ------------------------------------------------------------------ public API

    @property
    def running(self) -> bool:
        return self.tasks.busy("sweep")

    @property
    def suggestion(self) -> float | None:
        return None if self.result is None else self.result.suggestion

    def problem(self) -> str | None:
        """Why the finder cannot run now, or None."""
        s = self.state
        if not s.torch_loaded:
            return "PyTorch is still loading; try again in a moment."
        if s.dataset is None:
            return "Load a dataset on the Data page first."
        if s.spec is None:
            return "Choose a model on the Model page first."
        if s.spec_error is not None:
            return f"The model cannot be built: {s.spec_error}"
        if s.training:
            return "A training run is in progress; the finder can run when it has ended."
        return None

    def run(self) -> bool:
        """Start a sweep with the range and steps shown; False (with the reason shown) when it cannot run."""
        if self.tasks.busy("sweep"):
            return False
        problem = self.problem()
        if problem is not None:
            self.banner.show_message(problem, WARNING)
            self._set_running(False)
            self.message.setText("")
            return False
        start, end, steps = self.start_spin.value(), self.end_spin.value(), self.steps_spin.value()
        if not start < end:
            self.banner.show_message("The start of the range must be below its end.", WARNING)
            return False
        self._closing = False
        self.banner.clear()
        self.result = None
        self.curve.setData([], [])
        self.marker.setData([], [])
        self.suggestion_line.hide()
        self.use_button.setEnabled(False)
        self.use_button.setText("Use")
        self.message.setText("Sweeping the learning rate…")
        self._points = []
        self.curve.setData([], [])
        self.plot.setXRange(math.log10(start), math.log10(end), padding=0.02)  # the curve grows into the range
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self._show_current_lr()
        self.tasks.start(run_lr_finder, self.state.spec, self.state.dataset, self.state.train_config, start, end,
                         steps, key="sweep", pass_control=True, pass_callbacks=True, pass_partial=True,
                         on_progress=self._on_task_progress, on_partial=self._on_task_partial,
                         on_result=self._on_task_result,
                         on_error=self._on_task_error, on_finished=self._on_task_finished)
        self._set_running(True)
        return True

    def cancel(self) -> None:
        """Stop the sweep after the current step; what was measured so far is still shown."""
        task = self.tasks.running("sweep")
        if task is not None:
            task.cancel()
            self.message.setText("Stopping…")

    def apply_suggestion(self) -> None:
        """Write the suggested learning rate into the training settings and close."""
        lr = self.suggestion
        if lr is None or self.state.train_config is None:
            return
        self.state.set_train_config(dataclasses.replace(self.state.train_config, lr=float(f"{lr:.2g}")))
        self.state.status_message.emit(f"Learning rate set to {float(f'{lr:.2g}'):g} (from the learning-rate finder)")
        self.accept()

    def wait(self, ms: int = 60_000) -> bool:
        """Block until a running sweep ends (tests, shutdown)."""
        task = self.tasks.running("sweep")
        return task.wait(ms) if task is not None else True

    # ------------------------------------------------------------------ worker events

    def _set_running(self, running: bool) -> None:
        self.cancel_button.setVisible(running)
        self.run_button.setEnabled(not running)
        for w in (self.start_spin, self.end_spin, self.steps_spin):
            w.setEnabled(not running)
        self.progress.setVisible(running)

    @Slot(object)
    def _on_task_progress(self, event: Any) -> None:
        if event.total:
            self.progress.setMaximum(int(event.total))
        self.progress.setValue(int(event.done))

    @Slot(object)
    def _on_task_partial(self, points: list[tuple[float, float]]) -> None:
        """Points of the running sweep: the curve grows as they are measured."""
        if self._closing or not points:
            return
        self._points.extend(points)
        lrs, losses = np.array(self._points, dtype=float).T
        self.curve.setData(lrs, losses)
        self.message.setText(f"Sweeping the learning rate… {lr_text(float(lrs[-1]))}, loss {losses[-1]:.3f}")

    @Slot(object)
    def _on_task_result(self, result: Any) -> None:
        if self._closing:
            return
        self.result = result
        task = self.tasks.running("sweep")
        stopped = task is not None and task.cancelled
        self._show_result(result, stopped)
        self.run_finished.emit(result)

    @Slot(object)
    def _on_task_error(self, error: TaskError) -> None:
        if self._closing:
            return
        self.message.setText("")
        self.banner.show_message(f"The learning-rate finder failed: {error.message}", ERROR)
        self.run_failed.emit(error)

    @Slot()
    def _on_task_finished(self) -> None:
        if not self._closing:
            self._set_running(False)

    def _show_result(self, result: Any, stopped: bool) -> None:
        lrs, losses = np.asarray(result.lrs, float), np.asarray(result.losses, float)
        self.curve.setData(lrs, losses)
        if len(losses):
            lo, first = float(np.min(losses)), float(losses[0])
            top = max(first, lo) + 0.15 * max(first - lo, 1e-3)  # the explosion at the end would flatten the curve
            top = min(top, float(np.max(losses)) + 0.05 * max(first - lo, 1e-3))
            self.plot.setYRange(lo - 0.08 * (top - lo + 1e-9), top, padding=0)
            self.plot.setXRange(math.log10(lrs[0]), math.log10(lrs[-1]), padding=0.02)
        note = f" (stopped after {len(lrs)} steps)" if stopped else ""
        if result.suggestion is not None:
            s = result.suggestion
            self._place_line(self.suggestion_line, s, f"suggested {lr_text(s)}")
            y = float(np.interp(math.log10(s), np.log10(lrs), losses))
            self.marker.setData([s], [y])  # plot data items follow the plot's log mode
            self.use_button.setText(f"Use {lr_text(s)}")
            self.use_button.setEnabled(self.state.train_config is not None)
            self.use_button.setToolTip(f"Set the learning rate on the Train page to {float(f'{s:.2g}'):g}")
            self.message.setText(f"Suggested learning rate: {lr_text(s)}, where the loss falls fastest{note}. "
                                 "A rate a little below it is a safe choice too.")
            self.banner.clear()
        else:
            self.use_button.setEnabled(False)
            self.use_button.setText("Use")
            self.message.setText(f"No suggestion{note}.")
            why = ("The sweep was stopped before the loss started to fall; run it again and let it finish."
                   if stopped else
                   f"The loss did not fall anywhere between {lr_text(self.start_spin.value())} and "
                   f"{lr_text(self.end_spin.value())}. Try a wider range or more steps, and check that the data "
                   "and its labels are right.")
            self.banner.show_message(why, INFO if stopped else WARNING)

    def _show_current_lr(self) -> None:
        cfg = self.state.train_config
        if cfg is None or cfg.lr <= 0:
            self.current_line.hide()
            return
        self._place_line(self.current_line, cfg.lr, f"current {cfg.lr:g}")

    def _place_line(self, line: pg.InfiniteLine, lr: float, text: str) -> None:
        """Put a vertical line at ``lr``; its label sits beside it, on the side with room (pyqtgraph picks)."""
        line.label.setFormat(f" {text} ")
        line.setValue(math.log10(lr))
        line.show()
        line.label.valueChanged()  # the text is only redrawn on a move, and a hidden line skipped it

    # ------------------------------------------------------------------ closing

    def done(self, code: int) -> None:  # accept, reject, Esc and the window's close button all end here
        self._closing = self.tasks.busy("sweep")
        self.tasks.cancel()  # the sweep ends after its current step; its result goes nowhere
        super().done(code)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() in (event.Type.PaletteChange, event.Type.ApplicationPaletteChange) and hasattr(self, "marker"):
            self._apply_palette()

    def _apply_palette(self) -> None:
        base = self.palette().color(QPalette.ColorRole.Base)
        self.marker.setSymbolPen(pg.mkPen(base, width=1.5))
        fill = QColor(base)
        fill.setAlpha(220)
        for line in (self.suggestion_line, self.current_line):
            line.label.fill = pg.mkBrush(fill)  # the label stays readable where it crosses the curve
            line.label.update()


def show_lr_finder(parent: QWidget | None, state: AppState) -> LRFinderDialog:
    """Open the dialog (window-modal, not blocking) and start a sweep; it deletes itself when closed."""
    dialog = LRFinderDialog(state, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


__all__ = ["LRFinderDialog", "lr_text", "run_lr_finder", "show_lr_finder"]
