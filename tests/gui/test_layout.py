"""At the smallest supported window (1024x700) nothing overlaps; at 1280x800 the layer table shows every column."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QWidget

from cvstudio.gui.state import AppState
from tests.conftest import make_tiny_bundle

SIDEBAR = 148  # the window's page list; pages get the rest
SMALL = (1024 - SIDEBAR, 700 - 60)  # menu and status bar
LARGE = (1280 - SIDEBAR, 800 - 60)


def global_rect(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(widget.rect().topLeft()), widget.size())


def assert_apart(*widgets: QWidget) -> None:
    shown = [w for w in widgets if w.isVisible()]
    for a, b in itertools.combinations(shown, 2):
        assert not global_rect(a).intersects(global_rect(b)), f"{a.objectName() or a} overlaps {b.objectName() or b}"


@pytest.fixture
def state():
    import torch  # noqa: F401 - as after start-up

    from cvstudio.core.models import get_preset

    s = AppState()
    s.mark_torch_ready()
    s.set_spec(get_preset("convnet"))
    s.set_dataset(make_tiny_bundle(n_train=64, n_val=16, classes=3, size=32))
    return s


def test_classify_tools_do_not_overlap_at_1024x700(qtbot, state):
    from cvstudio.gui.pages.classify import ClassifyPage

    page = ClassifyPage(state)
    qtbot.addWidget(page)
    page.resize(*SMALL)
    page.show()
    page.tools_bar.show()  # as when results are listed
    qtbot.wait(50)
    assert_apart(page.open_images_button, page.open_folder_button, page.paste_button, page.filter_edit,
                 page.problems_check, page.grid_button, page.table_button)
    for button in (page.open_images_button, page.open_folder_button):
        assert button.width() >= button.sizeHint().width()  # not clipped
    check, detail = page.detail.saliency_check, page.detail
    # the detail pane (its saliency row shows with a result) is never narrower than that row
    assert detail.minimumWidth() >= check.sizeHint().width() + page.detail.opacity_slider.width()
    assert detail.width() >= detail.minimumWidth()
    page.shutdown()


def test_data_statistics_note_stays_below_its_table_at_1024x700(qtbot, state):
    from cvstudio.gui.pages.data import DataPage

    page = DataPage(state)
    qtbot.addWidget(page)
    page.resize(*SMALL)
    page.show()
    qtbot.waitUntil(lambda: page.stats_table.rowCount() > 0, timeout=30_000)
    qtbot.wait(50)
    table = page.stats_table
    below = [w for w in table.parentWidget().findChildren(QWidget) if w is not table and w.isVisible()
             and w.parentWidget() is table.parentWidget() and w.y() > table.y()]
    assert below, "the note under the statistics table is missing"
    for widget in below:
        assert widget.y() >= table.y() + table.height(), f"{widget} is drawn over the statistics table"
    page.shutdown()


def test_layer_table_shows_every_column_at_1280x800(qtbot, state):
    from cvstudio.gui.pages.model import ModelPage

    page = ModelPage(state)
    qtbot.addWidget(page)
    page.resize(*LARGE)
    page.show()
    qtbot.wait(100)
    table = page.table
    assert table.horizontalScrollBar().maximum() == 0, "a column of the layer table is out of view"
    page.shutdown()
