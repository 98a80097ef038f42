"""What the Model page's test modules share: a torch-ready state, the page, and the two ways to edit it."""

from __future__ import annotations

from PySide6.QtCore import Qt

from cvstudio.gui.state import AppState


def torch_ready_state() -> AppState:
    import cvstudio.core.models  # noqa: F401 - what the main window imports in the background

    s = AppState()
    s.mark_torch_ready()
    return s


def shown_model_page(qtbot, state: AppState, size: tuple[int, int] = (1200, 800)):
    from cvstudio.gui.pages.model import ModelPage

    p = ModelPage(state)
    qtbot.addWidget(p)
    p.resize(*size)
    p.show()
    return p


def choose_preset(page, name: str) -> None:
    page.preset_combo.setCurrentIndex(page.preset_combo.findData(name))
    page.preset_combo.activated.emit(page.preset_combo.currentIndex())


def set_cell(page, row: int, col: int, value) -> None:
    assert page.table_model.setData(page.table_model.index(row, col), value, Qt.ItemDataRole.EditRole)
    page.refresh_now()
