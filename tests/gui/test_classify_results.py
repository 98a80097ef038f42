"""The results model sorts its own rows: a header click, rows arriving while sorted, the selection kept."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListView, QTableView

from cvstudio.core.inference import Prediction
from cvstudio.gui.widgets.classify_results import COL_IMAGE, COL_PROB, ImageResult, ResultsModel, ResultsProxy


def result(key: int, prob: float | None, name: str | None = None) -> ImageResult:
    name = name or f"img{key}.png"
    if prob is None:
        return ImageResult(key, f"/x/{name}", name, "/x", Prediction(f"/x/{name}", error="not an image"))
    return ImageResult(key, f"/x/{name}", name, "/x", Prediction(f"/x/{name}", "cat", prob, [("cat", prob)]))


@pytest.fixture
def views(qapp):
    """The page's arrangement: one model, one filter proxy, a table and a grid sharing one selection."""
    model = ResultsModel()
    proxy = ResultsProxy()
    proxy.setSourceModel(model)
    table = QTableView()
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.horizontalHeader().setSortIndicatorClearable(True)
    table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    grid = QListView()
    grid.setModel(proxy)
    grid.setSelectionModel(table.selectionModel())
    yield model, proxy, table
    table.deleteLater()
    grid.deleteLater()


def shown_keys(proxy: ResultsProxy) -> list[int]:
    return [r.key for r in proxy.results()]


def test_a_header_click_sorts_with_ties_in_arrival_order_both_ways(views):
    model, proxy, table = views
    model.append([result(1, 0.5), result(2, 0.9), result(3, None), result(4, 0.5), result(5, 0.1)])
    table.sortByColumn(COL_PROB, Qt.SortOrder.DescendingOrder)
    assert shown_keys(proxy) == [2, 1, 4, 5, 3]  # the two 0.5s in arrival order, the problem last
    table.sortByColumn(COL_PROB, Qt.SortOrder.AscendingOrder)
    assert shown_keys(proxy) == [3, 5, 1, 4, 2]
    assert [r.key for r in model.results()] == [1, 2, 3, 4, 5]  # results() is the order of arrival
    table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # the indicator cleared
    assert shown_keys(proxy) == [1, 2, 3, 4, 5]


def test_rows_arriving_while_sorted_take_their_places_and_the_selection_follows_its_row(views):
    model, proxy, table = views
    model.append([result(1, 0.2), result(2, 0.8)])
    table.sortByColumn(COL_PROB, Qt.SortOrder.DescendingOrder)
    table.selectRow(1)  # key 1 (0.2)
    model.append([result(3, 0.5), result(4, 0.9), result(5, 0.2)])
    assert shown_keys(proxy) == [4, 2, 3, 1, 5]
    current = table.selectionModel().currentIndex()
    assert proxy.result(current.row()).key == 1 and current.row() == 3
    assert proxy.row_of(5) == 4 and proxy.row_of(4) == 0
    assert model.row_of(5) == 4 and model.row_of(4) == 3  # the model keeps the order of arrival
    red = np.zeros((4, 4, 3), np.uint8)
    model.update(3, thumbnail=red)  # the shown row follows the model's
    assert proxy.result(proxy.row_of(3)).thumbnail is red


def test_a_filter_and_a_sort_together(views):
    model, proxy, table = views
    model.append([result(1, 0.3, "b.png"), result(2, 0.7, "a.png"), result(3, None, "c.png"), result(4, 0.1, "ab.png")])
    table.sortByColumn(COL_IMAGE, Qt.SortOrder.AscendingOrder)
    proxy.set_filter_text("B")  # b.png and ab.png, sorted by name
    assert shown_keys(proxy) == [4, 1]
    proxy.set_filter_text("")
    proxy.set_problems_only(True)
    assert shown_keys(proxy) == [3]
    proxy.set_problems_only(False)
    model.append([result(7, 0.4, "we[i]rd (1).png")])
    proxy.set_filter_text("[I]RD (1")  # typed text, not a pattern
    assert shown_keys(proxy) == [7]
    proxy.set_problems_only(True)  # both: a problem whose text matches
    assert shown_keys(proxy) == []
    proxy.set_filter_text("NOT AN")
    assert shown_keys(proxy) == [3]
    proxy.set_filter_text("")
    proxy.set_problems_only(False)
    model.clear()  # the sort stays for the rows to come
    model.append([result(5, 0.5, "z.png"), result(6, 0.5, "m.png")])
    assert shown_keys(proxy) == [6, 5]


def test_the_selection_stays_on_its_row_through_filters_while_it_is_shown(views):
    model, proxy, table = views
    model.append([result(1, 0.3, "b.png"), result(2, 0.7, "a.png"), result(3, 0.1, "ab.png")])
    table.sortByColumn(COL_PROB, Qt.SortOrder.AscendingOrder)
    table.selectRow(proxy.row_of(2))
    proxy.set_filter_text("a")  # label "cat" holds an "a" too: every row stays, in the same order
    assert proxy.result(table.selectionModel().currentIndex().row()).key == 2
    proxy.set_filter_text("ab")
    assert shown_keys(proxy) == [3] and not table.selectionModel().currentIndex().isValid()
    assert not table.selectionModel().selectedRows()
    proxy.set_filter_text("")
    assert shown_keys(proxy) == [3, 1, 2]


def test_a_row_updated_while_sorted_stays_updated_through_later_filtering(views):
    # the sorted order of all results is kept between keystrokes; a row replaced meanwhile must not come back old
    model, proxy, table = views
    model.append([result(1, 0.2, "red1.jpg"), result(2, 0.8, "blue2.jpg"), result(3, 0.5, "red3.jpg")])
    table.sortByColumn(COL_PROB, Qt.SortOrder.DescendingOrder)
    proxy.set_filter_text("red")
    assert shown_keys(proxy) == [3, 1]
    thumb = np.zeros((2, 2, 3), np.uint8)
    model.update(2, thumbnail=thumb)  # hidden by the filter when it arrives
    proxy.set_filter_text("")
    assert shown_keys(proxy) == [2, 3, 1] and proxy.result(0).thumbnail is thumb
    proxy.set_filter_text("red")
    model.update(3, thumbnail=thumb)  # shown
    for text in ("", "blue", "jpg"):
        proxy.set_filter_text(text)
        assert all(r is model.result(model.row_of(r.key)) for r in proxy.results()), text
    assert shown_keys(proxy) == [2, 3, 1]
    assert all(r.thumbnail is thumb for r in proxy.results() if r.key in (2, 3))


def test_random_appends_sorts_filters_and_clears_match_a_plain_filter_then_sort(views):
    """Against a reference: the rows the filter keeps, in arrival order, stably sorted by the column's key."""
    import random

    from cvstudio.gui.widgets.classify_results import COLUMNS, sort_key

    model, proxy, table = views
    rng = random.Random(7)
    labels = ["cat", "dog", "bird"]
    column, descending, text, problems = -1, False, "", False
    key = 0
    for _step in range(300):
        action = rng.random()
        if action < 0.35:
            batch = []
            for _ in range(rng.randint(1, 12)):
                key += 1
                prob = None if rng.random() < 0.1 else rng.choice([0.25, 0.5, 0.75, rng.random()])  # ties too
                r = result(key, prob, f"{rng.choice('abc')}{key}.png")
                if prob is not None:
                    label = rng.choice(labels)
                    r = ImageResult(r.key, r.source, r.name, r.location, Prediction(r.path, label, prob, [(label, prob)]))
                batch.append(r)
            model.append(batch)
        elif action < 0.55:
            column = rng.choice([-1, *range(len(COLUMNS))])
            descending = rng.random() < 0.5
            proxy.sort(column, Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)
        elif action < 0.75:
            text = rng.choice(["", "a", "B", "do", "1", "not an"])
            proxy.set_filter_text(text)
        elif action < 0.85:
            problems = not problems
            proxy.set_problems_only(problems)
        elif action < 0.95 and model.rowCount():
            r = model.result(rng.randrange(model.rowCount()))
            model.update(r.key, thumbnail=np.zeros((2, 2, 3), np.uint8))
        elif action >= 0.95:
            model.clear()
        kept = [r for r in model.results()
                if (not problems or not r.ok) and (not text or any(
                    text.casefold() in h.casefold()
                    for h in (r.name, r.location, r.prediction.label or "", r.prediction.error or "")))]
        if column >= 0:
            kept = sorted(kept, key=lambda r: sort_key(r, column), reverse=descending)
        assert [r.key for r in proxy.results()] == [r.key for r in kept]
        assert all(proxy.result(proxy.row_of(r.key)) is r for r in kept)  # updated rows are the model's own
        assert proxy.rowCount() == len(kept)


def test_kept_results_are_left_out_of_full_collections_and_still_freed_when_cleared(qapp):
    """A full collection walked every kept row (50,000: a 60-130 ms stall while more rows arrived); frozen
    rows are skipped by it, and refcounting still frees them once the model lets go (they hold no cycles)."""
    import gc
    import weakref

    model = ResultsModel()
    rows = [result(k, k / 10) for k in range(10)]
    watched = [weakref.ref(r.prediction) for r in rows]
    before = gc.get_freeze_count()
    model.append(rows)
    assert gc.get_freeze_count() >= before + len(rows)
    del rows
    model.clear()
    assert all(w() is None for w in watched)
