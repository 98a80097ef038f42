"""The runs browser: every run of the open project in a sortable, filterable table.

Rows come from the checkpoints in the project's ``runs/`` folder (their
headers only, read in a worker by ``core.projects.list_runs``); notes and tags
are edited in place and kept in ``project.json``. Select runs to overlay their
curves on the Train page, open one (its model, data and settings become
current), put two side by side (Diff) or move runs to the project's trash.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.pages.base import Page
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.labels import HintLabel, title_font

COLUMNS = ("Run", "Model", "Data", "Optimizer", "LR", "Batch", "Epochs", "Best val acc", "Train acc",
           "Time", "img/s", "Status", "Date", "Tags", "Notes")
TAGS_COLUMN, NOTES_COLUMN = COLUMNS.index("Tags"), COLUMNS.index("Notes")
_ROLES_SERVED = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole, Qt.ItemDataRole.ToolTipRole,
                           Qt.ItemDataRole.TextAlignmentRole})
RESIZE_SAMPLE_ROWS = 200  # columns fit the widest of this many rows (Qt's 1,000: ~0.6 s for 1,000 runs)


def list_project_runs(project: Any) -> list[Any]:
    """Worker: the project's RunRecords (reads checkpoint headers, imports torch)."""
    from cvstudio.core.projects import list_runs

    return list_runs(project)


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, fmt)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunsProxy(QSortFilterProxyModel):
    """Filters the runs (in Qt) and hands sorting to :meth:`RunsTableModel.sort`, shown in the model's order."""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)


def _contiguous(rows: list[int]) -> list[tuple[int, int]]:
    """Ascending row numbers as (first, last) ranges of consecutive rows."""
    ranges: list[tuple[int, int]] = []
    for row in rows:
        if ranges and ranges[-1][1] == row - 1:
            ranges[-1] = (ranges[-1][0], row)
        else:
            ranges.append((row, row))
    return ranges


class RunsTableModel(QAbstractTableModel):
    """RunRecords as rows; Tags and Notes are editable and reported through ``edited``."""

    edited = Signal(str, str, str)  # run id, "tags" | "notes", new text

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.records: list[Any] = []
        self._row_cells: list[tuple[tuple[str, Any], ...] | None] = []  # _cells per row, made when first asked
        self._sort_column, self._sort_order = -1, Qt.SortOrder.AscendingOrder
        self.editable = True

    def set_records(self, records: list[Any]) -> None:
        """Show ``records``. A list of mostly the same runs (a run ended, one was trashed) changes only the rows
        that differ, so the sorted view places those alone instead of sorting every row again."""
        records = list(records)
        ids = [r.id for r in records]
        if not self.records or not records or len(set(ids)) != len(ids):
            self.beginResetModel()
            self.records = records
            self._row_cells = [None] * len(records)
            self._reorder(self._sorted_rows())
            self.endResetModel()
            return
        incoming = dict(zip(ids, records))
        gone = [row for row, r in enumerate(self.records) if r.id not in incoming]
        for first, last in reversed(_contiguous(gone)):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self.records[first : last + 1], self._row_cells[first : last + 1]
            self.endRemoveRows()
        kept = set()
        for row, old in enumerate(self.records):
            kept.add(old.id)
            new = incoming[old.id]
            if new != old:  # read again with other values (notes, tags, a damaged file)
                self.records[row], self._row_cells[row] = new, None
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        added = [r for r in records if r.id not in kept]
        if added:
            start = len(self.records)
            self.beginInsertRows(QModelIndex(), start, start + len(added) - 1)
            self.records.extend(added)
            self._row_cells.extend([None] * len(added))
            self.endInsertRows()
        self._apply_sort()  # new and re-read rows to their places

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Rows in the order of ``column``'s sort keys (numbers as numbers), kept through later changes: each
        row's key is made once and Python sorts them, where a sort proxy asked Python for two cells per
        comparison (a header click on 1,000 runs: ~65 ms)."""
        self._sort_column, self._sort_order = column, order
        self._apply_sort()

    def _sorted_rows(self) -> list[int] | None:
        """The current rows' indices in sorted order; None when unsorted or already in order."""
        column, n = self._sort_column, len(self.records)
        if not 0 <= column < len(COLUMNS) or n < 2:
            return None
        keys = [self._cells_of(row)[column][1] for row in range(n)]
        order = sorted(range(n), key=keys.__getitem__, reverse=self._sort_order == Qt.SortOrder.DescendingOrder)
        return None if all(i == row for row, i in enumerate(order)) else order

    def _reorder(self, order: list[int] | None) -> None:
        if order is not None:
            self.records = [self.records[i] for i in order]
            self._row_cells = [self._row_cells[i] for i in order]

    def _apply_sort(self) -> None:
        order = self._sorted_rows()
        if order is None:
            return
        self.layoutAboutToBeChanged.emit()
        new_row = {old: new for new, old in enumerate(order)}
        persistent = self.persistentIndexList()  # selections and the views' current cells follow their rows
        self._reorder(order)
        self.changePersistentIndexList(persistent, [self.index(new_row[i.row()], i.column()) for i in persistent])
        self.layoutChanged.emit()

    def record(self, row: int) -> Any:
        return self.records[row]

    def remove_ids(self, ids: set[str]) -> None:
        self.set_records([r for r in self.records if r.id not in ids])

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if self.editable and index.column() in (TAGS_COLUMN, NOTES_COLUMN):
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def _cells(self, r: Any) -> tuple[tuple[str, Any], ...]:
        """(shown text, sort key: numbers as numbers, missing values first) per column."""
        missing = -1.0
        return (
            (r.id, r.id),
            (r.model, r.model),
            (r.dataset, r.dataset),
            (r.optimizer, r.optimizer),
            (_num(r.lr, "g"), r.lr if r.lr is not None else missing),
            (str(r.batch_size) if r.batch_size else "–", r.batch_size or 0),
            (str(r.epochs), r.epochs),
            (_num(r.val_acc, ".4f"), r.val_acc if r.val_acc is not None and math.isfinite(r.val_acc) else missing),
            (_num(r.train_acc, ".4f"), r.train_acc if r.train_acc is not None and math.isfinite(r.train_acc) else missing),
            (_duration(r.seconds), r.seconds if r.seconds is not None else missing),
            (_num(r.images_per_s, ",.0f"), r.images_per_s if r.images_per_s is not None else missing),
            (r.status, r.status),
            (r.created.replace("T", " ")[:19], r.created),
            (", ".join(r.tags), ", ".join(r.tags)),
            (r.notes.splitlines()[0] if r.notes else "", r.notes),
        )

    def _cells_of(self, row: int) -> tuple[tuple[str, Any], ...]:
        cells = self._row_cells[row]
        if cells is None:  # Qt asks for each cell several times (roles, sizes, sorting): format a row once
            cells = self._row_cells[row] = self._cells(self.records[row])
        return cells

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROLES_SERVED or not index.isValid():  # Qt asks for many roles per cell: be quick
            return None
        row = index.row()
        r = self.records[row]
        text = self._cells_of(row)[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == Qt.ItemDataRole.EditRole:
            return ", ".join(r.tags) if index.column() == TAGS_COLUMN else r.notes if index.column() == NOTES_COLUMN else text
        if role == Qt.ItemDataRole.ToolTipRole:
            if r.error:
                return f"This checkpoint cannot be read: {r.error}"
            if index.column() == NOTES_COLUMN and r.notes:
                return r.notes
            return str(r.checkpoint) if index.column() == 0 else None
        if role == Qt.ItemDataRole.TextAlignmentRole and 4 <= index.column() <= 10:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() not in (TAGS_COLUMN, NOTES_COLUMN):
            return False
        import dataclasses

        from cvstudio.core.projects import MAX_NOTE_CHARS, clean_tags

        r = self.records[index.row()]
        text = str(value)
        if index.column() == TAGS_COLUMN:
            self.records[index.row()] = dataclasses.replace(r, tags=tuple(clean_tags(text.split(","))))
            self.edited.emit(r.id, "tags", text)
        else:
            self.records[index.row()] = dataclasses.replace(r, notes=text.strip()[:MAX_NOTE_CHARS])
            self.edited.emit(r.id, "notes", text)
        self._row_cells[index.row()] = None
        self.dataChanged.emit(index, index)
        self._apply_sort()
        return True


class RunsDiffDialog(QDialog):
    """Two runs' settings side by side; rows that differ are bold."""

    def __init__(self, a: Any, b: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Compare runs")
        self.resize(820, 560)
        names = sorted(set(a.settings) | set(b.settings))
        self.differences = [n for n in names if a.settings.get(n) != b.settings.get(n)]
        self.table = QTableWidget(len(names), 3)
        self.table.setHorizontalHeaderLabels(["Setting", a.id, b.id])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        bold = QFont(self.font())
        bold.setBold(True)
        for row, name in enumerate(names):
            for col, text in enumerate((name, a.settings.get(name, "–"), b.settings.get(name, "–"))):
                item = QTableWidgetItem(text)
                if name in self.differences:
                    item.setFont(bold)
                self.table.setItem(row, col, item)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.only_differences = QCheckBox(f"Only the {len(self.differences)} differences")
        self.only_differences.toggled.connect(self._on_only_differences_toggled)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.only_differences)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.only_differences.setChecked(bool(self.differences))

    def _on_only_differences_toggled(self, only: bool) -> None:
        for row in range(self.table.rowCount()):
            self.table.setRowHidden(row, only and self.table.item(row, 0).text() not in self.differences)


class RunsPage(Page):
    """All runs of the open project. ``RunsPage(state)``; the window calls :meth:`attach_projects`."""

    title = "Runs"
    run_opened = Signal(object)  # Path of the run made current

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.projects: Any = None  # gui.projects.ProjectController
        self.model = RunsTableModel(self)
        self.model.edited.connect(self._on_model_edited)
        self.proxy = RunsProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._build()
        state.training_changed.connect(self._on_state_training_changed)
        self._update_controls()

    def _build(self) -> None:
        self.heading = QLabel("Runs")
        self.heading.setFont(title_font(self.heading.font()))
        self.folder_label = HintLabel("No project is open.")
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: model, data, status, tag, note…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.refresh_button = QPushButton("Refresh")
        self.overlay_button = QPushButton("Overlay on Train")
        self.overlay_button.setToolTip("Draw the selected runs' curves on the Train page")
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Make the run current: its model, data and training settings go to their pages")
        self.diff_button = QPushButton("Diff")
        self.diff_button.setToolTip("Show two selected runs' settings side by side")
        self.trash_button = QPushButton("Move to trash")
        self.trash_button.setToolTip("Move the selected runs' checkpoints to the project's trash/ folder")
        for button, slot in ((self.refresh_button, self.refresh), (self.overlay_button, self._on_overlay_button_clicked),
                             (self.open_button, self._on_open_button_clicked), (self.diff_button, self._on_diff_button_clicked),
                             (self.trash_button, self._on_trash_button_clicked)):
            button.clicked.connect(slot)
        tools = QHBoxLayout()
        tools.addWidget(self.filter_edit, 1)
        for button in (self.refresh_button, self.overlay_button, self.open_button, self.diff_button, self.trash_button):
            tools.addWidget(button)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMNS.index("Date"), Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # run ids differ at both ends: time and name
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setResizeContentsPrecision(RESIZE_SAMPLE_ROWS)
        self.table.selectionModel().selectionChanged.connect(self._update_controls)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.empty_hint = HintLabel("No runs yet: train on the Train page, or run "
                                    "`cvstudio train --project FOLDER`; every run of the project appears here.")

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.folder_label)
        layout.addLayout(tools)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty_hint)

    # --- the project

    def attach_projects(self, projects: Any) -> None:
        self.projects = projects
        projects.project_opened.connect(self._on_projects_project_opened)
        if projects.project is not None:
            self._on_projects_project_opened(projects.loaded)

    def _on_projects_project_opened(self, loaded: Any) -> None:
        project = loaded.project
        self.folder_label.setText(f"{project.folder}" + ("  (read-only)" if loaded.read_only else ""))
        self.model.editable = not loaded.read_only
        self.model.set_records([])
        self.refresh()

    def refresh(self) -> None:
        if self.projects is None or self.projects.project is None:
            return
        import dataclasses

        project = self.projects.project
        snapshot = dataclasses.replace(project, notes=dict(project.notes), tags={k: list(v) for k, v in project.tags.items()})
        self.tasks.start(list_project_runs, snapshot, key="list", on_result=self._on_runs_listed)  # edits go on meanwhile

    def _on_runs_listed(self, records: list[Any]) -> None:
        selected = [r.id for r in self.selected_records()]  # a refresh keeps the selection
        first_listing = self.model.rowCount() == 0
        self.model.set_records(records)
        self.select_ids(selected)
        if first_listing:  # later refreshes (a run ended) keep the widths, the user's own included
            self.table.resizeColumnsToContents()
            for column, widest in ((0, 190), (COLUMNS.index("Data"), 160), (TAGS_COLUMN, 140)):  # long names elide
                self.table.setColumnWidth(column, min(self.table.columnWidth(column), widest))
            self.table.setColumnWidth(TAGS_COLUMN, max(self.table.columnWidth(TAGS_COLUMN), 110))  # room to type tags
        self.empty_hint.setVisible(not records)
        self._update_controls()

    def _on_state_training_changed(self, running: bool) -> None:
        if not running:  # a run just ended: its checkpoint is in runs/
            self.refresh()
        self._update_controls()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.refresh()  # runs may have been added meanwhile, e.g. by `cvstudio train --project`

    # --- selection and actions

    def selected_records(self) -> list[Any]:
        rows = sorted({self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.record(r) for r in rows]

    def select_ids(self, ids: list[str]) -> None:
        """Select the rows of these run ids (tests and restoring a selection)."""
        from PySide6.QtCore import QItemSelectionModel

        sel = self.table.selectionModel()
        sel.clearSelection()
        for row, record in enumerate(self.model.records):
            if record.id in ids:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                sel.select(index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)

    def _update_controls(self, *_: Any) -> None:
        chosen = self.selected_records()
        readable = [r for r in chosen if r.error is None]
        writable = self.projects is not None and not self.projects.read_only
        self.overlay_button.setEnabled(bool(readable))
        self.open_button.setEnabled(len(readable) == 1 and not self.state.training)
        self.diff_button.setEnabled(len(readable) == 2)
        self.trash_button.setEnabled(bool(chosen) and writable)

    def _on_overlay_button_clicked(self) -> None:
        records = [r for r in self.selected_records() if r.error is None]
        if self.projects is not None and records:
            self.projects.overlay_checkpoints([str(r.checkpoint) for r in records])
            self.state.status_message.emit(f"{len(records)} run(s) drawn on the Train page")

    def open_run(self, record: Any) -> None:
        self.state.open_checkpoint(record.checkpoint, load_data=True)
        self.run_opened.emit(record.checkpoint)

    def _on_open_button_clicked(self) -> None:
        records = [r for r in self.selected_records() if r.error is None]
        if len(records) == 1:
            self.open_run(records[0])

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        if index.column() in (TAGS_COLUMN, NOTES_COLUMN) and self.model.editable:
            return  # editing
        record = self.model.record(self.proxy.mapToSource(index).row())
        if record.error is None and not self.state.training:
            self.open_run(record)

    def diff_dialog(self) -> RunsDiffDialog | None:
        records = [r for r in self.selected_records() if r.error is None]
        if len(records) != 2:
            return None
        dialog = RunsDiffDialog(records[0], records[1], self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        return dialog

    def _on_diff_button_clicked(self) -> None:
        dialog = self.diff_dialog()
        if dialog is not None:
            dialog.open()

    def _on_trash_button_clicked(self) -> None:
        from cvstudio.core.projects import ProjectError, trash_run
        from cvstudio.gui.errors import show_error

        if self.projects is None or self.projects.project is None or self.projects.read_only:
            return
        moved: set[str] = set()
        for record in self.selected_records():
            try:
                trash_run(self.projects.project, record.id)
            except ProjectError as e:
                show_error(self, "Move to trash", str(e))
                break
            moved.add(record.id)
        self.model.remove_ids(moved)
        self.projects.schedule_save()
        self.empty_hint.setVisible(not self.model.records)
        if moved:
            self.state.status_message.emit(
                f"{len(moved)} run(s) moved to {self.projects.project.trash_dir} (move them back into runs/ to restore)"
            )
        self._update_controls()

    def _on_model_edited(self, run_id: str, what: str, text: str) -> None:
        if self.projects is None:
            return
        if what == "tags":
            self.projects.set_tags(run_id, text.split(","))
        else:
            self.projects.set_note(run_id, text)


if __name__ == "__main__":
    import sys

    sys.exit(RunsPage.preview())
