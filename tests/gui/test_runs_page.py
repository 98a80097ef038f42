"""The Runs page's table on a project with many runs: a run ending must not stall the window nor undo the user's
column widths (a sweep ends a run every few seconds)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import Qt

from cvstudio.core.projects import RunRecord
from cvstudio.gui.pages.runs import COLUMNS, NOTES_COLUMN, RunsPage, RunsTableModel
from cvstudio.gui.state import AppState


def records(n: int) -> list[RunRecord]:
    return [RunRecord(id=f"2026-11-28-{i:05d}-convnet", checkpoint=Path(f"/p/runs/{i}.safetensors"), model="convnet",
                      dataset="shapes (star, circle)", optimizer="sgd", lr=0.01 * (1 + i % 7), batch_size=64,
                      val_acc=(i % 97) / 97, train_acc=(i % 89) / 89, epochs=10, seconds=10.0 + i, images_per_s=1e4 + i,
                      status="done", created=f"2026-11-28T03:{i // 60 % 60:02d}:{i % 60:02d}", notes=f"note {i}\nmore",
                      tags=("sweep",)) for i in range(n)]


def test_a_refresh_formats_each_row_once_and_keeps_the_users_column_widths(qtbot, monkeypatch):
    page = RunsPage(AppState())
    qtbot.addWidget(page)
    page.resize(1400, 700)
    page.show()
    page._on_runs_listed(records(400))  # a project opened: columns fit their contents
    lr_column = COLUMNS.index("LR")
    fitted = page.table.columnWidth(lr_column)
    page.table.setColumnWidth(lr_column, fitted + 57)  # the user widens a column

    formatted: list[str] = []
    real_cells = RunsTableModel._cells
    monkeypatch.setattr(RunsTableModel, "_cells", lambda self, r: formatted.append(r.id) or real_cells(self, r))
    page._on_runs_listed(records(401))  # a run ended
    qtbot.wait(50)  # painted
    assert page.table.columnWidth(lr_column) == fitted + 57
    assert page.proxy.rowCount() == 401
    # sorting, sizing and painting ask for each cell many times: a row is formatted once, and a refresh formats
    # the new row and the few it is compared with, not all 401 again
    assert len(formatted) == len(set(formatted)) and "2026-11-28-00400-convnet" in formatted and len(formatted) < 40
    assert shown_ids(page)[:2] == ["2026-11-28-00400-convnet", "2026-11-28-00399-convnet"]  # newest first, as sorted

    page.select_ids(["2026-11-28-00005-convnet"])
    later = records(401)
    later[7] = dataclasses.replace(later[7], notes="read again with a note")
    del later[100:103], later[9]  # trashed elsewhere (cvstudio runs --trash)
    page._on_runs_listed(later)
    assert sorted(r.id for r in page.model.records) == sorted(r.id for r in later)
    assert shown_ids(page)[0] == "2026-11-28-00400-convnet" and len(shown_ids(page)) == 397
    row = next(i for i, r in enumerate(page.model.records) if r.id == later[7].id)
    assert page.model.data(page.model.index(row, NOTES_COLUMN)) == "read again with a note"
    assert [r.id for r in page.selected_records()] == ["2026-11-28-00005-convnet"]  # a refresh keeps the selection


def shown_ids(page: RunsPage) -> list[str]:
    return [page.proxy.index(i, 0).data() for i in range(page.proxy.rowCount())]


def test_an_edited_note_shows_at_once(qtbot):
    model = RunsTableModel()
    model.set_records(records(3))
    notes = model.index(1, NOTES_COLUMN)
    assert model.data(notes) == "note 1"  # the first line, formatted and kept
    assert model.setData(notes, "better with lr 0.02\nand more")
    assert model.data(notes) == "better with lr 0.02"
    assert model.data(notes, Qt.ItemDataRole.ToolTipRole) == "better with lr 0.02\nand more"
    assert model.data(model.index(1, COLUMNS.index("LR"))) == "0.02"


def test_a_header_click_sorts_numbers_as_numbers_and_the_selection_follows_its_run(qtbot):
    page = RunsPage(AppState())
    qtbot.addWidget(page)
    page.show()
    page._on_runs_listed([dataclasses.replace(r, batch_size=(8, 64, 128)[i % 3]) for i, r in enumerate(records(120))])
    page.select_ids(["2026-11-28-00042-convnet"])
    page.table.sortByColumn(COLUMNS.index("Best val acc"), Qt.SortOrder.DescendingOrder)  # what a header click does
    shown = [float(page.proxy.index(i, COLUMNS.index("Best val acc")).data()) for i in range(page.proxy.rowCount())]
    assert shown == sorted(shown, reverse=True)
    page.table.sortByColumn(COLUMNS.index("Batch"), Qt.SortOrder.AscendingOrder)
    batches = [page.proxy.index(i, COLUMNS.index("Batch")).data() for i in range(page.proxy.rowCount())]
    assert batches[0] == "8" and batches[-1] == "128"  # as numbers: as text "128" < "64" < "8"
    assert [r.id for r in page.selected_records()] == ["2026-11-28-00042-convnet"]

    page.table.sortByColumn(COLUMNS.index("Tags"), Qt.SortOrder.AscendingOrder)
    row = next(i for i, r in enumerate(page.model.records) if r.id == "2026-11-28-00042-convnet")
    assert page.model.setData(page.model.index(row, COLUMNS.index("Tags")), "aaa first")  # an edit re-sorts
    assert page.proxy.index(0, 0).data() == "2026-11-28-00042-convnet"
    page.filter_edit.setText("00042")
    assert page.proxy.rowCount() == 1
