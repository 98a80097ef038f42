"""The Sweeps page: train over a grid of settings, trials side by side, and pick the best.

The base command is the window's current settings as ``cvstudio train``
options (``core.train_command``); rows "setting -> values" make the grid. Start
runs ``core.sweeps.run_sweep`` in the page's task: every trial is a child
``cvstudio train --project`` process, so each one is an ordinary run of the
project and appears on the Runs page. Trials are shown as they start and end,
sorted by validation accuracy, and drawn as a parallel-coordinates plot; "Use
best" opens the best trial's checkpoint through the state's one door.
"""

from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cvstudio.core import sweeps
from cvstudio.core.errors import ConfigError
from cvstudio.gui.errors import show_error
from cvstudio.gui.pages.base import Page
from cvstudio.gui.state import AppState
from cvstudio.gui.tasks import PARTIAL_INTERVAL_S
from cvstudio.gui.widgets.banner import ERROR, INFO, WARNING, MessageBanner
from cvstudio.gui.widgets.labels import HintLabel, title_font
from cvstudio.gui.widgets.parallel_coords import ParallelCoordinatesPlot
from cvstudio.gui.widgets.progress import ProgressBar

# How a trial is started: ``python -m cvstudio train ...``. Tests put a stand-in training script here.
TRAIN_COMMAND: tuple[str, ...] = (sys.executable, "-m", "cvstudio")
SETTING_NAMES = tuple(sorted((*sweeps.SWEEPABLE, *sweeps.FLAGS)))
RESULT_COLUMNS = ("Status", "Val acc", "Train acc", "Val loss", "Epochs", "Time", "Message")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
EXAMPLES = {"lr": "0.01, 0.05, 0.1", "width": "16, 32", "depth": "1, 2, 3", "dropout": "0, 0.25, 0.5",
            "weight-decay": "0, 1e-4, 1e-3", "batch-size": "32, 64, 128", "optimizer": "sgd, adam",
            "model": "convnet, convnet-relu", "momentum": "0, 0.9", "seed": "0, 1, 2"}


def run_sweep_task(base_args: list[str], grid: list[tuple[str, tuple[str, ...]]], project: str,
                   random_n: int | None, parallel: int | None, command: tuple[str, ...], *,
                   control: Any, on_partial: Any) -> list[dict[str, Any]]:
    """Worker: run the sweep; ("started" | "ended", trial dict) go out as partial results; returns every trial."""
    from cvstudio.core.sweeps import load_record, record_path, run_sweep, sweep_id

    gpu_count = 0
    try:
        import torch

        gpu_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken CUDA install means: the sweep runs on the CPU
        gpu_count = 0
    last_sent = [0.0]

    def send(items: list[tuple[str, dict[str, Any]]]) -> None:
        # The task's partial sink sends at once only when its interval has passed, and otherwise holds
        # items until the next call -- which, for a trial that started, may be an hour later. Trial events
        # are rare, so waiting out the interval costs nothing and every event goes out when it happens.
        time.sleep(max(0.0, last_sent[0] + PARTIAL_INTERVAL_S + 0.005 - time.monotonic()))
        last_sent[0] = time.monotonic()
        on_partial(items)

    earlier = load_record(record_path(Path(project), sweep_id(base_args, grid, random_n, 0)))
    send([("ended", t.to_dict()) for t in earlier.values() if t.done])  # finished before: not run again
    record = run_sweep(base_args, grid, project, random_n=random_n, parallel=parallel, gpu_count=gpu_count,
                       control=control, python=command,
                       on_start=lambda t: send([("started", t.to_dict())]),
                       on_trial=lambda t: send([("ended", t.to_dict())]))
    return [t.to_dict() for t in record.trials]


def invalid_value(base_args: Sequence[str], grid: Sequence[tuple[str, Sequence[str]]]) -> str | None:
    """The train command's own message for the first value it refuses (each value checked once), or None."""
    from cvstudio.cli import build_parser
    from cvstudio.cli_sweep import argument_error

    parser = build_parser()
    for name, values in grid:
        for value in values:
            why = argument_error(parser, ["train", *base_args, *sweeps.trial_args({name: value})])
            if why is not None:
                return f"{name} = {value}: {why}"
    return None


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, fmt)


class TrialsModel(QAbstractTableModel):
    """One row per trial: its swept settings, then its outcome. Rows are core Trial objects."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.names: list[str] = []
        self.trials: list[sweeps.Trial] = []
        self._rows: dict[str, int] = {}

    def set_trials(self, names: list[str], trials: list[sweeps.Trial]) -> None:
        self.beginResetModel()
        self.names, self.trials = list(names), list(trials)
        self._rows = {sweeps.trial_key(t.settings): i for i, t in enumerate(self.trials)}
        self.endResetModel()

    def update(self, trial: sweeps.Trial) -> bool:
        """Replace the row of ``trial``'s settings; False when it is not part of this sweep."""
        row = self._rows.get(sweeps.trial_key(trial.settings))
        if row is None:
            return False
        self.trials[row] = trial
        self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))
        return True

    def counts(self) -> dict[str, int]:
        out = {"pending": 0, "running": 0, "finished": 0, "stopped": 0, "failed": 0}
        for t in self.trials:
            if t.status in ("pending", "running"):
                out[t.status] += 1
            elif t.done:
                out["finished"] += 1
            else:
                out["stopped" if t.status in ("stopped", "not run") else "failed"] += 1
        return out

    def best(self) -> sweeps.Trial | None:
        scored = [t for t in self.trials if t.done and t.val_acc is not None and math.isfinite(t.val_acc)]
        return max(scored, key=lambda t: t.val_acc) if scored else None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.trials)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.names) + len(RESULT_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return (*self.names, *RESULT_COLUMNS)[section]
        return None

    def _cell(self, t: sweeps.Trial, column: int) -> tuple[str, Any]:
        """(shown text, sort key); missing numbers sort below every real one."""
        if column < len(self.names):
            value = t.settings.get(self.names[column], "")
            try:
                return value, float(value)
            except ValueError:
                return value, value
        missing = -math.inf
        name = RESULT_COLUMNS[column - len(self.names)]
        if name == "Status":
            return t.status, t.status
        if name in ("Val acc", "Train acc", "Val loss"):
            value = {"Val acc": t.val_acc, "Train acc": t.train_acc, "Val loss": t.val_loss}[name]
            ok = value is not None and math.isfinite(value)
            return _num(value, ".4f"), value if ok else missing
        if name == "Epochs":
            return (str(t.epochs) if t.epochs is not None else "–"), t.epochs if t.epochs is not None else missing
        if name == "Time":
            return (f"{t.seconds:.0f} s" if t.seconds is not None else "–"), t.seconds if t.seconds is not None else missing
        return t.message, t.message

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        t = self.trials[index.row()]
        text, key = self._cell(t, index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == SORT_ROLE:
            return key
        if role == Qt.ItemDataRole.ToolTipRole:
            return t.checkpoint or t.message or None
        if role == Qt.ItemDataRole.TextAlignmentRole and len(self.names) < index.column() < self.columnCount() - 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class SettingRow(QWidget):
    """One "setting -> values" row of the grid."""

    changed = Signal()
    removed = Signal(object)  # this row

    def __init__(self, name: str, values: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.name_combo = QComboBox()
        self.name_combo.addItems(SETTING_NAMES)
        self.name_combo.setCurrentText(name)
        self.values_edit = QLineEdit(values)
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setToolTip("Remove this setting from the grid")
        self.name_combo.currentTextChanged.connect(self._on_name_combo_changed)
        self.values_edit.textChanged.connect(self.changed)
        self.remove_button.clicked.connect(lambda: self.removed.emit(self))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.name_combo)
        layout.addWidget(QLabel("→"))
        layout.addWidget(self.values_edit, 1)
        layout.addWidget(self.remove_button)
        self._on_name_combo_changed(name, emit=False)

    def _on_name_combo_changed(self, name: str, emit: bool = True) -> None:
        example = "on, off" if name in sweeps.FLAGS else EXAMPLES.get(name, "value1, value2")
        self.values_edit.setPlaceholderText(f"comma-separated values, e.g. {example}")
        if emit:
            self.changed.emit()

    def parsed(self) -> tuple[str, tuple[str, ...]]:
        """(name, values); ConfigError naming what is wrong."""
        name = self.name_combo.currentText()
        if not self.values_edit.text().strip():
            raise ConfigError(f"{name} has no values yet")
        return sweeps.parse_set(f"{name}={self.values_edit.text()}")


class SweepsPage(Page):
    """``SweepsPage(state)``; the window calls :meth:`attach_projects`. ``runs_added`` when trials saved runs."""

    title = "Sweeps"
    runs_added = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.projects: Any = None  # gui.projects.ProjectController
        self.rows: list[SettingRow] = []
        self.model_override: list[str] | None = None  # ["--model", preset] chosen for a hand-edited spec
        self.base_args: list[str] = []
        self.base_problems: tuple[str, ...] = ()
        self._base_stale = True
        self.sweep_grid: list[tuple[str, tuple[str, ...]]] = []
        self.model = TrialsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setDynamicSortFilter(True)
        self._build()
        for signal in (state.data_config_changed, state.spec_changed, state.train_config_changed, state.torch_ready):
            signal.connect(self._on_state_settings_changed)
        self.add_row("lr")
        self._update_controls()

    # --- layout

    def _build(self) -> None:
        heading = QLabel("Sweeps")
        heading.setFont(title_font(heading.font()))
        self.folder_label = HintLabel("No project is open: sweeps record their trials as runs of a project.")
        self.base_banner = MessageBanner(self, closable=False)
        self.base_edit = QLineEdit()
        self.base_edit.setReadOnly(True)
        self.base_edit.setToolTip("Every trial runs this command with its own values of the swept settings")

        self.rows_box = QVBoxLayout()
        self.rows_box.setSpacing(4)
        self.add_button = QPushButton("Add setting")
        self.add_button.clicked.connect(lambda: self.add_row())
        self.grid_error = QLabel()
        self.grid_error.setStyleSheet("color: #dc3545;")
        self.grid_error.setWordWrap(True)
        self.random_spin = QSpinBox()
        self.random_spin.setRange(0, sweeps.MAX_TRIALS)
        self.random_spin.setSpecialValueText("all combinations")
        self.random_spin.setToolTip("Run this many combinations drawn from the grid (seeded) instead of all")
        self.parallel_spin = QSpinBox()
        self.parallel_spin.setRange(0, 64)
        self.parallel_spin.setSpecialValueText(f"auto ({sweeps.auto_parallel()} on this CPU, or one per GPU)")
        self.parallel_spin.setToolTip("Trials at once; auto: one single-threaded trial per core, or one per GPU")
        for spin in (self.random_spin, self.parallel_spin):
            spin.valueChanged.connect(self._update_controls)
        self.plan_label = HintLabel("")

        self.start_button = QPushButton("Start sweep")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the running trials (they save their best weights) and start no more")
        self.best_button = QPushButton("Use best")
        self.best_button.setToolTip("Open the best trial's checkpoint: its model and training settings become current")
        self.start_button.clicked.connect(self.start_sweep)
        self.stop_button.clicked.connect(self.stop_sweep)
        self.best_button.clicked.connect(self.use_best)
        self.progress = ProgressBar()
        self.progress.setRange(0, 1)  # idle: a labelled, empty bar rather than a blank box
        self.progress.setValue(0)
        self.progress.setFormat("No sweep running")
        self.queue_label = QLabel("")

        form = QFormLayout()
        form.addRow("Each trial runs", self.base_edit)
        grid_box = QVBoxLayout()
        grid_box.addLayout(self.rows_box)
        add_line = QHBoxLayout()
        add_line.addWidget(self.add_button)
        add_line.addStretch(1)
        grid_box.addLayout(add_line)
        grid_box.addWidget(self.grid_error)
        form.addRow("Grid", grid_box)
        form.addRow("Trials", self.random_spin)
        form.addRow("At a time", self.parallel_spin)
        buttons = QHBoxLayout()
        for widget in (self.start_button, self.stop_button, self.best_button):
            buttons.addWidget(widget)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.queue_label)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.plot = ParallelCoordinatesPlot()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.plot)
        split.setSizes([560, 440])

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.base_banner)
        layout.addLayout(form)
        layout.addWidget(self.plan_label)
        layout.addLayout(buttons)
        layout.addWidget(split, 1)

    # --- the project

    def attach_projects(self, projects: Any) -> None:
        self.projects = projects
        projects.project_opened.connect(self._on_projects_project_opened)
        if projects.project is not None:
            self._on_projects_project_opened(projects.loaded)

    def _on_projects_project_opened(self, loaded: Any) -> None:
        folder = loaded.project.folder
        self.folder_label.setText(f"Trials are recorded as runs of {folder}"
                                  + ("  (read-only: open a project you can write to sweep)" if loaded.read_only else ""))
        self._update_controls()

    @property
    def project_folder(self) -> Path | None:
        if self.projects is None or self.projects.project is None or self.projects.read_only:
            return None
        return Path(self.projects.project.folder)

    # --- the base command

    def _on_state_settings_changed(self, *_: Any) -> None:
        self.model_override = None  # a new model: ask again whether to sweep from a preset
        self._base_stale = True
        if self.isVisible():
            self.refresh_base()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._base_stale:
            self.refresh_base()

    def refresh_base(self) -> None:
        """Translate the current settings into train options (needs torch imported: the presets module does)."""
        if not self.state.torch_loaded:
            self.base_edit.setText("(waiting for PyTorch to load)")
            self._update_controls()
            return
        from cvstudio.core.train_command import nearest_preset, train_command

        self._base_stale = False
        s = self.state
        command = train_command(s.data_config, s.spec, s.train_config, model_override=self.model_override)
        self.base_args, self.base_problems = list(command.args), command.problems
        hand_edited = s.spec is not None and any("edited by hand" in p for p in command.problems)
        if self.model_override is not None and s.spec is not None:
            self.base_banner.show_message(
                f"Sweeping from the preset {self.model_override[1]!r} with its default width and depth, not from the "
                f"hand-edited model {s.spec.name!r}, which the train command cannot build.", INFO)
        elif hand_edited and len(command.problems) == 1:
            nearest = nearest_preset(s.spec)
            self.base_banner.show_message(
                f"The current model {s.spec.name!r} was edited by hand: `cvstudio train` builds only presets "
                f"(with width, depth, dropout and batch norm) and torchvision architectures, so a sweep cannot "
                f"train it. The nearest preset is {nearest!r}.", WARNING,
                action_text=f"Sweep from {nearest}", action=lambda: self.sweep_from_preset(nearest))
        elif command.problems:
            self.base_banner.show_message("A sweep cannot reproduce the current settings: "
                                          + "; ".join(command.problems) + ".", ERROR)
        else:
            self.base_banner.clear()
        self._update_controls()

    def sweep_from_preset(self, name: str) -> None:
        self.model_override = ["--model", name]
        self.refresh_base()

    # --- the grid

    def add_row(self, name: str | None = None, values: str = "") -> SettingRow:
        used = {r.name_combo.currentText() for r in self.rows}
        name = name or next((n for n in ("lr", "width", "depth", "dropout", "weight-decay", "batch-size", *SETTING_NAMES)
                             if n not in used), SETTING_NAMES[0])
        row = SettingRow(name, values)
        row.changed.connect(self._update_controls)
        row.removed.connect(self._on_row_removed)
        self.rows.append(row)
        self.rows_box.addWidget(row)
        self._update_controls()
        return row

    def _on_row_removed(self, row: SettingRow) -> None:
        self.rows.remove(row)
        row.deleteLater()
        self._update_controls()

    def grid(self) -> tuple[list[tuple[str, tuple[str, ...]]], list[dict[str, str]], str | None]:
        """(grid, planned trials, why it cannot run or None)."""
        if not self.rows:
            return [], [], "add a setting to vary"
        grid = []
        try:
            for row in self.rows:
                grid.append(row.parsed())
            trials = sweeps.plan_trials(grid, self.random_spin.value() or None, seed=0)
        except ConfigError as e:
            return grid, [], str(e)
        return grid, trials, None

    # --- running

    @property
    def running(self) -> bool:
        return self.tasks.busy("sweep")

    def _update_controls(self, *_: Any) -> None:
        grid, trials, problem = self.grid()
        self._show_command(grid)
        self.grid_error.setText(problem or "")
        self.grid_error.setVisible(bool(problem) and self.rows != [] and any(r.values_edit.text() for r in self.rows))
        parallel = self.parallel_spin.value() or sweeps.auto_parallel()
        self.plan_label.setText(f"{len(trials)} trial(s), up to {min(parallel, len(trials))} at a time"
                                if trials else "")
        why_not = (problem or ("open a project you can write to" if self.project_folder is None else None)
                   or ("PyTorch is still loading" if not self.state.torch_loaded else None)
                   or (self.base_problems[0] if self.base_problems else None))
        self.start_button.setEnabled(not self.running and why_not is None)
        self.start_button.setToolTip(f"Cannot start: {why_not}" if why_not else "Run every trial of the grid")
        self.stop_button.setEnabled(self.running)
        for widget in (self.add_button, self.random_spin, self.parallel_spin, *self.rows):
            widget.setEnabled(not self.running)
        best = self.model.best()
        self.best_button.setEnabled(best is not None and not self.state.training)
        self.best_button.setToolTip(f"Open {best.checkpoint} (val acc {best.val_acc:.4f})" if best else
                                    "No trial has finished yet")

    def trial_base(self, grid: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
        """The base options less those the grid varies (a base --batchnorm would outlive batchnorm=off)."""
        from cvstudio.core.train_command import without_options

        varied = {sweeps.SWEEPABLE[n] for n, _ in grid if n in sweeps.SWEEPABLE}
        return without_options(self.base_args, varied, {f"--{n}" for n, _ in grid if n in sweeps.FLAGS})

    def _show_command(self, grid: Sequence[tuple[str, Sequence[str]]]) -> None:
        if not self.state.torch_loaded:
            return
        swept = " ".join(f"--{n} …" if n in sweeps.SWEEPABLE else f"[--{n}]" for n, _ in grid)
        text = "cvstudio train " + shlex.join(self.trial_base(grid)) + (f"  + {swept}" if swept else "")
        if text != self.base_edit.text():
            self.base_edit.setText(text)
            self.base_edit.setCursorPosition(0)

    def start_sweep(self) -> None:
        if self._base_stale:
            self.refresh_base()
        grid, trials, problem = self.grid()
        project = self.project_folder
        problem = problem or ("open a project you can write to" if project is None else None)
        problem = problem or (self.base_problems[0] if self.base_problems else None)
        base = self.trial_base(grid)
        problem = problem or invalid_value(base, grid)
        if problem:
            show_error(self, "Sweep", f"The sweep cannot start: {problem}")
            return
        self.sweep_grid = grid
        self.model.set_trials([n for n, _ in grid], [sweeps.Trial(dict(s)) for s in trials])
        self.proxy.sort(len(grid) + RESULT_COLUMNS.index("Val acc"), Qt.SortOrder.DescendingOrder)
        self.table.horizontalHeader().setSortIndicator(len(grid) + 1, Qt.SortOrder.DescendingOrder)
        self.plot.set_axes(grid)
        self.progress.setFormat("%v of %m trials ended")
        self.progress.setRange(0, len(trials))
        self.progress.setValue(0)
        self.tasks.start(run_sweep_task, base, grid, str(project), self.random_spin.value() or None,
                         self.parallel_spin.value() or None, tuple(TRAIN_COMMAND), key="sweep",
                         pass_control=True, pass_partial=True, on_partial=self._on_sweep_partial,
                         on_result=self._on_sweep_result, on_error=self._on_sweep_error,
                         on_finished=self._on_sweep_finished)
        self.state.status_message.emit(f"Sweep started: {len(trials)} trial(s)")
        self._show_progress()

    def stop_sweep(self) -> None:
        self.tasks.cancel("sweep")  # run_sweep interrupts the children: each saves its best weights
        self.stop_button.setEnabled(False)
        self.state.status_message.emit("Stopping the sweep: the running trials save their weights…")

    def _on_sweep_partial(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        ended = False
        for event, data in items:
            trial = sweeps.Trial.from_dict(data)
            if trial is not None and self.model.update(trial):
                ended = ended or event == "ended"
        if ended:
            self.runs_added.emit()  # the Runs page lists the new checkpoints
        self._show_progress()

    def _on_sweep_result(self, trials: list[dict[str, Any]]) -> None:
        for data in trials:
            trial = sweeps.Trial.from_dict(data)
            if trial is not None:
                self.model.update(trial)
        best = self.model.best()
        self.state.status_message.emit(
            f"Sweep ended: best val acc {best.val_acc:.4f} ({sweeps.trial_key(best.settings)})" if best else
            "Sweep ended without a finished trial")
        self._show_progress()

    def _on_sweep_error(self, error: Any) -> None:
        show_error(self, "Sweep", f"The sweep failed: {error.message}")

    def _on_sweep_finished(self) -> None:
        self.runs_added.emit()
        self._update_controls()

    def _show_progress(self) -> None:
        counts = self.model.counts()
        ended = len(self.model.trials) - counts["pending"] - counts["running"]
        self.progress.setValue(ended)
        self.queue_label.setText(" · ".join(f"{n} {k}" for k, n in counts.items()))
        self.plot.set_trials([(t.settings, t.val_acc) for t in self.model.trials if t.done and t.val_acc is not None])
        self._update_controls()

    # --- the best trial

    def use_best(self) -> None:
        best = self.model.best()
        if best is None or best.checkpoint is None:
            return
        self.state.open_checkpoint(best.checkpoint, on_error=lambda error: show_error(
            self, "Use best", f"The best trial's checkpoint cannot be opened: {error.message}"))


if __name__ == "__main__":
    sys.exit(SweepsPage.preview())
