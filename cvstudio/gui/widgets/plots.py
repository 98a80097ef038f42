"""Live training plots (pyqtgraph): loss per step and per epoch, accuracy per epoch.

How it stays fast (DESIGN.md section 6): progress arrives about ten times a
second as groups of losses; each run keeps them in growable numpy buffers
(:class:`RunHistory`) and a single-shot QTimer redraws at most 10 times a
second, only the runs that changed, with every curve decimated here to at most 2000
points (min/max per bucket for the raw loss, so spikes stay visible; the
2 px smoothed line to 300, as wide antialiased lines are slow to stroke).
pyqtgraph's own autoDownsample/clipToView are deliberately not used: with
PySide6 6.12.0 they crashed pyqtgraph 0.14.

The x axis of both plots is the epoch (a step of epoch 3 at 40 % lies at
2.4), so runs with different batch sizes compare directly and the two plots
pan and zoom together.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGraphicsItem, QSplitter, QVBoxLayout, QWidget

from cvstudio.gui.theme import mix

MAX_POINTS = 2000  # points drawn per raw (per-step) loss curve at most
MAX_SMOOTH_POINTS = 300  # the smoothed curve is drawn 2 px wide, which costs ~10x more per point
REDRAW_INTERVAL_MS = 100  # at most 10 redraws a second (one timer wake-up per redraw)

# Distinct hues that read on white and on near-black backgrounds (Tableau 10, slightly brightened).
RUN_COLOURS = (
    "#3b82d6", "#f28e2b", "#3fa34d", "#e15759", "#9c6ade",
    "#17becf", "#d4a017", "#ff6fb5", "#8c8c8c", "#a0522d",
)

_configured = False


def configure_pyqtgraph() -> None:
    """Global pyqtgraph options, set once before the first plot or image is made."""
    global _configured
    if not _configured:
        pg.setConfigOptions(antialias=True, imageAxisOrder="row-major", background=None)
        _configured = True


configure_pyqtgraph()


# --- data ---------------------------------------------------------------------------------


class GrowingArray:
    """A float64 buffer that grows by doubling; ``view()`` is the filled part (no copy)."""

    def __init__(self, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=np.float64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        need = self._size + values.size
        if need > self._data.size:
            grown = np.empty(max(need, 2 * self._data.size), dtype=np.float64)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : need] = values
        self._size = need

    def view(self) -> np.ndarray:
        return self._data[: self._size]


def decimate_peaks(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: the min and the max of each bucket, so spikes survive."""
    n = y.size
    if n <= max_points:
        return x, y
    buckets = max_points // 2
    size = math.ceil(n / buckets)
    m = n // size * size
    yb = y[:m].reshape(-1, size)
    xb = x[:m].reshape(-1, size)
    lo, hi = yb.argmin(axis=1), yb.argmax(axis=1)
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)  # keep them in x order
    rows = np.arange(yb.shape[0])
    xs = np.empty(2 * rows.size)
    ys = np.empty(2 * rows.size)
    xs[0::2], xs[1::2] = xb[rows, first], xb[rows, second]
    ys[0::2], ys[1::2] = yb[rows, first], yb[rows, second]
    if m < n:  # the partial last bucket: its min and max too (or its 1-2 points)
        tx, ty = x[m:], y[m:]
        if ty.size > 2:
            i, j = sorted((int(ty.argmin()), int(ty.argmax())))
            tx, ty = tx[[i, j]], ty[[i, j]]
        xs, ys = np.concatenate([xs, tx]), np.concatenate([ys, ty])
    return xs, ys


def decimate_mean(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: bucket means (for curves that are smooth already)."""
    n = y.size
    if n <= max_points:
        return x, y
    size = math.ceil(n / max_points)
    m = n // size * size
    xs = x[:m].reshape(-1, size).mean(axis=1)
    ys = y[:m].reshape(-1, size).mean(axis=1)
    if m < n:
        xs, ys = np.append(xs, x[m:].mean()), np.append(ys, y[m:].mean())
    return xs, ys


def nice_ceiling(value: float) -> float:
    """A round number at or above ``value`` (steps of half a decade's unit: 0.75, 2.0, 15, ...)."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    step = 10.0 ** math.floor(math.log10(value)) / 2
    return math.ceil(value / step - 1e-9) * step


EPOCH_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s", "improved")


@dataclass
class RunHistory:
    """What one run reported: per-step losses (with an EMA) and per-epoch metrics. No Qt, no torch."""

    label: str
    colour: str
    steps_per_epoch: int = 0
    epochs_planned: int = 0
    status: str = "running"  # "running" or the core's FitEnded status, or "failed"
    message: str = ""
    checkpoint: Path | None = None
    x: GrowingArray = field(default_factory=GrowingArray)  # position in epochs
    losses: GrowingArray = field(default_factory=GrowingArray)
    smooth: GrowingArray = field(default_factory=GrowingArray)
    epochs: list[Any] = field(default_factory=list)  # core EpochEnded events
    peak: float = 0.0  # the largest loss reported (per step or per epoch), for the y range
    _ema: float = 0.0
    _ema_n: int = 0

    @property
    def smoothing(self) -> float:
        """EMA weight of the past: a window of about a quarter epoch, 4 to 100 steps."""
        window = min(100.0, max(4.0, self.steps_per_epoch / 4))
        return 1.0 - 1.0 / window

    def add_losses(self, last_global_step: int, losses: np.ndarray) -> None:
        losses = np.asarray(losses, dtype=np.float64)
        if losses.size == 0:
            return
        spe = max(1, self.steps_per_epoch)
        steps = np.arange(last_global_step - losses.size + 1, last_global_step + 1, dtype=np.float64)
        self.x.extend(steps / spe)
        self.losses.extend(losses)
        self.peak = max(self.peak, float(losses.max()))
        a = self.smoothing
        out = np.empty_like(losses)
        s, n = self._ema, self._ema_n
        for i, v in enumerate(losses.tolist()):
            s = a * s + (1.0 - a) * v
            n += 1
            out[i] = s / (1.0 - a**n)  # bias-corrected, so the curve starts at the first losses
        self._ema, self._ema_n = s, n
        self.smooth.extend(out)

    def add_epoch(self, event: Any) -> None:
        self.epochs.append(event)
        self.peak = max(self.peak, float(event.train_loss), float(event.val_loss))

    def epoch_array(self, name: str) -> np.ndarray:
        return np.array([getattr(e, name) for e in self.epochs], dtype=np.float64)

    def rows(self) -> list[dict[str, Any]]:
        return [{"run": self.label, **{k: getattr(e, k) for k in EPOCH_FIELDS}} for e in self.epochs]


def write_history_csv(path: str | Path, runs: list[RunHistory]) -> int:
    """One row per epoch of every run; returns the number of rows written."""
    rows = [row for run in runs for row in run.rows()]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=("run", *EPOCH_FIELDS))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


# --- widgets ------------------------------------------------------------------------------


class FittedLegend(pg.LegendItem):
    """pyqtgraph's legend, sized from its entries' preferred heights and the rows' spacing.

    pyqtgraph sums the entries' current heights and ignores the spacing. With the tighter (negative)
    spacing used here, each resize left spare height, which the legend's layout handed back to the
    entries, so the box grew at every change. After runs were cleared it kept large gaps between
    the rows (40 runs: a 3,500 px legend).
    """

    def updateSize(self) -> None:  # noqa: N802 - pyqtgraph's name
        if self.size is not None:
            return
        layout = self.layout
        rows = []
        for row in range(layout.rowCount()):
            hints = [cell.effectiveSizeHint(Qt.SizeHint.PreferredSize)
                     for cell in (layout.itemAt(row, col) for col in range(layout.columnCount())) if cell]
            if hints:
                rows.append((sum(h.width() for h in hints) + layout.horizontalSpacing() * (len(hints) - 1),
                             max(h.height() for h in hints)))
        left, top, right, bottom = layout.getContentsMargins()
        width = max((w for w, _ in rows), default=0.0) + left + right
        height = sum(h for _, h in rows) + layout.verticalSpacing() * max(0, len(rows) - 1) + top + bottom
        self.setGeometry(0, 0, width, height)


class ThemedPlot(pg.PlotWidget):
    """A PlotWidget whose background, axes, grid and legend follow the Qt palette."""

    def __init__(
        self,
        title: str,
        x_label: str,
        y_label: str,
        parent: QWidget | None = None,
        *,
        legend_offset: tuple[int, int] | None = (-8, 8),  # from the corner, negative = right/bottom; None: no legend
    ):
        self._ready = False  # pyqtgraph's constructor triggers palette events before the plot exists
        super().__init__(parent)
        self._title = title
        item = self.getPlotItem()
        item.setLabel("bottom", x_label)
        item.setLabel("left", y_label)
        item.showGrid(x=True, y=True, alpha=0.18)
        item.setMenuEnabled(True)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.enableAutoSIPrefix(False)  # a loss of 0.7 reads 0.7, not 700 ×0.001
            # With the grid on, an axis covers the whole plot and was re-rendered (ticks, labels, grid:
            # ~3 ms) whenever a curve changed; cached, it is redrawn only when its range changes.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.legend: FittedLegend | None = None
        if legend_offset:
            self.legend = item.legend = FittedLegend(offset=legend_offset, labelTextSize="9pt", verSpacing=-4)
            self.legend.setParentItem(item.vb)  # as PlotItem.addLegend does
        self.setMinimumHeight(160)
        self._ready = True
        self.apply_palette()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and self._ready:
            self.apply_palette()
        super().changeEvent(event)

    def apply_palette(self) -> None:
        pal = self.palette()
        bg = pal.color(QPalette.ColorRole.Base)
        fg = pal.color(QPalette.ColorRole.Text)
        axis_pen = pg.mkPen(mix(fg, bg, 0.45), width=1)
        self.setBackground(bg)
        item = self.getPlotItem()
        for name in ("left", "bottom", "top", "right"):
            axis = item.getAxis(name)
            axis.setPen(axis_pen)
            axis.setTextPen(pg.mkPen(fg))
        item.setTitle(self._title, color=fg.name(), size="10pt")
        if self.legend is None:
            return
        self.legend.setLabelTextColor(fg)
        legend_bg = QColor(bg)
        legend_bg.setAlpha(215)
        self.legend.setBrush(pg.mkBrush(legend_bg))
        self.legend.setPen(pg.mkPen(mix(fg, bg, 0.75)))
        for sample, label in self.legend.items:
            label.setText(label.text, color=fg)


@dataclass
class _RunItems:
    raw: pg.PlotDataItem
    smooth: pg.PlotDataItem
    train_loss: pg.PlotDataItem
    val_loss: pg.PlotDataItem
    train_acc: pg.PlotDataItem
    val_acc: pg.PlotDataItem
    lr: pg.PlotDataItem  # the head's learning rate at each epoch's start (schedules make it move)

    def all(self) -> tuple[pg.PlotDataItem, ...]:
        return (self.raw, self.smooth, self.train_loss, self.val_loss, self.train_acc, self.val_acc, self.lr)


class TrainingPlots(QWidget):
    """The loss plot above the accuracy plot, holding any number of runs overlaid."""

    redrawn = Signal()  # after a timer redraw (benchmarks and tests count them)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.loss_plot = ThemedPlot("Loss", "epoch", "loss")
        self.acc_plot = ThemedPlot("Accuracy", "epoch", "accuracy", legend_offset=(-8, -8))  # colours: the loss legend
        self.acc_plot.setXLink(self.loss_plot)
        self.acc_plot.getPlotItem().setYRange(0.0, 1.0, padding=0.04)  # accuracy is a fraction: keep its scale honest

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.loss_plot)
        splitter.addWidget(self.acc_plot)
        self.lr_plot = ThemedPlot("Learning rate", "epoch", "lr", legend_offset=None)
        self.lr_plot.setXLink(self.loss_plot)
        splitter.addWidget(self.lr_plot)
        self.lr_plot.hide()  # shown once a run's learning rate changes (a schedule); a flat line says nothing
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.runs: list[RunHistory] = []
        self._items: dict[int, _RunItems] = {}
        self._dirty: set[int] = set()
        self._drawn_epochs: dict[int, int] = {}  # id(run) -> epochs drawn so far
        self._log_loss = False
        # The loss axis runs from 0 to a round number above the largest loss, changed only when a larger
        # one arrives: an axis whose range moves is re-rendered, and autorange would move it every update.
        self._auto_y = True
        self._y_top = 0.0
        loss_box = self.loss_plot.getPlotItem().getViewBox()
        loss_box.sigRangeChangedManually.connect(self._on_loss_box_range_changed_manually)
        loss_box.setYRange(0.0, 1.0, padding=0.0)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)  # armed by run_changed: data arriving in the meantime is drawn together
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        # One marker convention in both plots, stated in both legends: filled = training, hollow + dashed = validation.
        self._key_items = {plot: self._make_key_items(plot) for plot in (self.loss_plot, self.acc_plot)}
        self._show_legends()

    # --- runs ---

    def add_run(self, label: str) -> RunHistory:
        used = {r.colour for r in self.runs}
        colour = next((c for c in RUN_COLOURS if c not in used), RUN_COLOURS[len(self.runs) % len(RUN_COLOURS)])
        run = RunHistory(label=label, colour=colour)
        self.runs.append(run)
        self._items[id(run)] = self._make_items(run)
        self._show_legends()
        return run

    def _make_key_items(self, plot: ThemedPlot) -> tuple[pg.PlotDataItem, pg.PlotDataItem]:
        """Legend entries (not drawn in the plot) that say what filled and hollow markers mean."""
        fg = self.palette().color(QPalette.ColorRole.Text)
        bg = self.palette().color(QPalette.ColorRole.Base)
        training = pg.PlotDataItem(pen=pg.mkPen(fg, width=1.5), symbol="o", symbolSize=7, symbolBrush=fg,
                                   symbolPen=pg.mkPen(bg))
        validation = pg.PlotDataItem(pen=pg.mkPen(fg, width=1.5, style=Qt.PenStyle.DashLine), symbol="o",
                                     symbolSize=7, symbolBrush=pg.mkBrush(bg), symbolPen=pg.mkPen(fg, width=1.5))
        plot.legend.addItem(training, "training")
        plot.legend.addItem(validation, "validation")
        return training, validation

    def _show_legends(self) -> None:
        self.loss_plot.legend.setVisible(bool(self.runs))  # an empty legend is a stray little box
        self.acc_plot.legend.setVisible(bool(self.runs))

    def _make_items(self, run: RunHistory) -> _RunItems:
        c = QColor(run.colour)
        faint = QColor(c)
        faint.setAlpha(70)
        bg = self.palette().color(QPalette.ColorRole.Base)
        dash = Qt.PenStyle.DashLine
        loss, acc = self.loss_plot.getPlotItem(), self.acc_plot.getPlotItem()
        items = _RunItems(
            raw=pg.PlotDataItem(pen=pg.mkPen(faint, width=1)),
            smooth=pg.PlotDataItem(pen=pg.mkPen(c, width=2), name=run.label),
            train_loss=pg.PlotDataItem(pen=None, symbol="o", symbolSize=7, symbolBrush=c, symbolPen=pg.mkPen(bg)),
            val_loss=pg.PlotDataItem(
                pen=pg.mkPen(c, width=1.5, style=dash), symbol="o", symbolSize=7, symbolBrush=pg.mkBrush(bg),
                symbolPen=pg.mkPen(c, width=1.5),
            ),
            train_acc=pg.PlotDataItem(pen=pg.mkPen(c, width=2), symbol="o", symbolSize=6, symbolBrush=c,
                                      symbolPen=pg.mkPen(bg)),
            val_acc=pg.PlotDataItem(
                pen=pg.mkPen(c, width=1.5, style=dash), symbol="o", symbolSize=6, symbolBrush=pg.mkBrush(bg),
                symbolPen=pg.mkPen(c, width=1.5),
            ),
            lr=pg.PlotDataItem(pen=pg.mkPen(c, width=1.5), symbol="o", symbolSize=4, symbolBrush=c),
        )
        self.lr_plot.getPlotItem().addItem(items.lr)
        for item in (items.raw, items.smooth, items.train_loss, items.val_loss):
            loss.addItem(item)
        for item in (items.train_acc, items.val_acc):
            acc.addItem(item)
        return items

    def remove_run(self, run: RunHistory) -> None:
        items = self._items.pop(id(run), None)
        if items is not None:
            for item in items.all():
                for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
                    if item.scene() is plot.scene():
                        plot.getPlotItem().removeItem(item)
            self.loss_plot.legend.removeItem(items.smooth)
        self.runs.remove(run)
        self._dirty.discard(id(run))
        self._drawn_epochs.pop(id(run), None)
        self._show_legends()

    def clear_runs(self, keep: RunHistory | None = None) -> None:
        """Remove every run except ``keep`` (the one still training)."""
        for run in list(self.runs):
            if run is not keep:
                self.remove_run(run)
        if keep is not None and keep.epochs_planned:
            self.set_planned_epochs(keep, keep.epochs_planned)
        else:
            self.loss_plot.getPlotItem().enableAutoRange(axis="x")
        self._auto_y, self._y_top = True, 0.0
        self._fit_loss_range()

    def set_planned_epochs(self, run: RunHistory, epochs: int) -> None:
        """Show the whole planned run on the x axis, so the view does not rescale as steps arrive
        (cheaper to redraw, and the distance to the end stays visible)."""
        run.epochs_planned = epochs
        longest = max(max(r.epochs_planned for r in self.runs), 1)
        self.loss_plot.getPlotItem().setXRange(0, longest, padding=0.02)

    def run_changed(self, run: RunHistory) -> None:
        """Mark ``run`` for redrawing at the next timer tick (starts the timer if idle)."""
        self._dirty.add(id(run))
        if not self._timer.isActive():
            self._timer.start()

    def redraw_now(self) -> None:
        self._timer.stop()
        self._on_timer_timeout()

    # --- options and export ---

    def set_log_loss(self, on: bool) -> None:
        self._log_loss = on
        item = self.loss_plot.getPlotItem()
        item.setLogMode(y=on)
        item.setLabel("left", "loss (log scale)" if on else "loss")
        if on:
            item.enableAutoRange(axis="y")  # a log axis cannot start at 0
        else:
            item.enableAutoRange(axis="y", enable=False)
            self._auto_y, self._y_top = True, 0.0
            self._fit_loss_range()

    def _on_loss_box_range_changed_manually(self, *_: Any) -> None:
        self._auto_y = False  # the user zoomed or panned: leave their view alone

    def _fit_loss_range(self) -> None:
        if self._log_loss or not self._auto_y:
            return
        top = nice_ceiling(1.05 * max((r.peak for r in self.runs), default=0.0))
        if top != self._y_top:
            self._y_top = top
            self.loss_plot.getPlotItem().getViewBox().setYRange(0.0, top, padding=0.0)

    @property
    def log_loss(self) -> bool:
        return self._log_loss

    def export_png(self, path: str | Path) -> None:
        if not self.grab().save(str(path), "PNG"):
            raise OSError(f"could not write {path}")

    def export_csv(self, path: str | Path) -> int:
        return write_history_csv(path, self.runs)

    def points(self, run: RunHistory) -> dict[str, int]:
        """How many points each curve of ``run`` shows (tests)."""
        items = self._items[id(run)]
        return {
            name: 0 if getattr(items, name).xData is None else len(getattr(items, name).xData)
            for name in ("raw", "smooth", "train_loss", "val_loss", "train_acc", "val_acc", "lr")
        }

    # --- drawing ---

    def _on_timer_timeout(self) -> None:
        if not self._dirty:
            return
        for run in self.runs:
            if id(run) in self._dirty:
                self._draw(run)
        self._dirty.clear()
        self._fit_loss_range()
        self.lr_plot.setVisible(any(np.ptp(run.epoch_array("lr")) > 0 for run in self.runs if len(run.epochs) > 1))
        self.redrawn.emit()

    def _draw(self, run: RunHistory) -> None:
        items = self._items[id(run)]
        x = run.x.view()
        if x.size:
            xr, yr = decimate_peaks(x, run.losses.view())
            xs, ys = decimate_mean(x, run.smooth.view(), MAX_SMOOTH_POINTS)
            items.raw.setData(xr, yr, skipFiniteCheck=True)
            items.smooth.setData(xs, ys, skipFiniteCheck=True)
        if run.epochs and len(run.epochs) != self._drawn_epochs.get(id(run)):  # only when one more epoch ended
            self._drawn_epochs[id(run)] = len(run.epochs)
            ex = run.epoch_array("epoch")
            items.train_loss.setData(ex, run.epoch_array("train_loss"))
            items.val_loss.setData(ex, run.epoch_array("val_loss"))
            items.train_acc.setData(ex, run.epoch_array("train_acc"))
            items.val_acc.setData(ex, run.epoch_array("val_acc"))
            items.lr.setData(ex - 1, run.epoch_array("lr"))  # set as the epoch starts

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:  # symbol outlines use the background colour
            bg = self.palette().color(QPalette.ColorRole.Base)
            for items in self._items.values():
                items.train_loss.setSymbolPen(pg.mkPen(bg))
                items.val_loss.setSymbolBrush(pg.mkBrush(bg))
                items.train_acc.setSymbolPen(pg.mkPen(bg))
                items.val_acc.setSymbolBrush(pg.mkBrush(bg))
            fg = self.palette().color(QPalette.ColorRole.Text)
            for training, validation in self._key_items.values():
                training.setPen(pg.mkPen(fg, width=1.5))
                training.setSymbolBrush(fg)
                training.setSymbolPen(pg.mkPen(bg))
                validation.setPen(pg.mkPen(fg, width=1.5, style=Qt.PenStyle.DashLine))
                validation.setSymbolBrush(pg.mkBrush(bg))
                validation.setSymbolPen(pg.mkPen(fg, width=1.5))
        super().changeEvent(event)
