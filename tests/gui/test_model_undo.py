"""The model builder's undo/redo for every kind of edit, and its architecture files."""

from __future__ import annotations

import json

import pytest

from cvstudio.core.specs import LayerSpec, ModelSpec
from cvstudio.gui.widgets.banner import ERROR
from cvstudio.gui.widgets.layer_table import COL_KERNEL, COL_OUT
from tests.gui.model_page_helpers import choose_preset, set_cell, shown_model_page, torch_ready_state


@pytest.fixture
def state():
    return torch_ready_state()


@pytest.fixture
def page(qtbot, state):
    return shown_model_page(qtbot, state, (1200, 800))


def check_undo_redo(page, state, edit, text: str) -> None:
    """``edit`` is one command named ``text``; undo brings back the network before it, redo the one after."""
    stack = page.undo_stack
    before_spec, before_snap = page.current_spec(), page.snapshot()
    count = stack.count()
    edit()
    page.refresh_now()
    after_spec = page.current_spec()
    assert after_spec != before_spec or state.train_config is not None
    assert stack.count() == count + 1 and stack.undoText() == text
    stack.undo()
    assert page.current_spec() == before_spec and state.spec == before_spec
    assert page.snapshot().same_network(before_snap)
    stack.redo()
    assert page.current_spec() == after_spec and state.spec == after_spec


def test_starts_with_nothing_to_undo(page):
    assert page.undo_stack.count() == 0 and not page.undo_stack.canUndo()


def test_undo_redo_of_layer_table_edits(page, state):
    def add():
        page.table.select_row(2)
        page.add_layer("dropout")

    check_undo_redo(page, state, add, "Add Dropout layer")

    def remove():
        page.table.select_row(1)
        page.remove_action.trigger()

    check_undo_redo(page, state, remove, "Remove layer 2")

    def move():
        page.table.select_row(1)
        page.move_down_action.trigger()

    check_undo_redo(page, state, move, "Move layer 2 down")

    def duplicate():
        page.table.select_row(0)
        page.duplicate_action.trigger()

    check_undo_redo(page, state, duplicate, "Duplicate layer 1")
    check_undo_redo(page, state, lambda: set_cell(page, 0, COL_KERNEL, 5), "Change kernel of layer 1")


def test_typing_in_one_cell_is_one_command(page, state):
    n = page.undo_stack.count()
    for value in (2, 24, 240):
        set_cell(page, 0, COL_OUT, value)
    assert page.undo_stack.count() == n + 1
    set_cell(page, 3, COL_OUT, 4)  # another cell: another command
    assert page.undo_stack.count() == n + 2
    page.undo_stack.undo()
    page.undo_stack.undo()
    assert state.spec.layers[0].out == 16 and state.spec.name == "convnet"  # not edited any more


def test_undo_redo_of_knobs_preset_and_loss(page, state):
    check_undo_redo(page, state, lambda: page.width_spin.setValue(32), "Change width")
    check_undo_redo(page, state, lambda: page.depth_spin.setValue(3), "Change depth")
    check_undo_redo(page, state, lambda: page.dropout_spin.setValue(0.3), "Change dropout")
    check_undo_redo(page, state, lambda: page.batchnorm_check.setChecked(True), "Change batch norm")
    assert page.width_spin.value() == 32 and page.batchnorm_check.isChecked()
    page.undo_stack.undo()
    assert not page.batchnorm_check.isChecked()  # the knob widgets follow too
    page.undo_stack.redo()

    lr_before = state.train_config.lr
    check_undo_redo(page, state, lambda: choose_preset(page, "mlp"), "Choose preset mlp")
    assert page.preset_combo.currentData() == "mlp" and page.current_spec().loss == "nll"
    page.undo_stack.undo()
    assert page.preset_combo.currentData() == "convnet" and state.train_config.lr == lr_before
    page.undo_stack.redo()

    def loss():
        page.loss_combo.setCurrentIndex(page.loss_combo.findData("cross_entropy"))
        page.loss_combo.activated.emit(page.loss_combo.currentIndex())

    check_undo_redo(page, state, loss, "Change loss to Cross-entropy")
    assert page.loss_combo.currentData() == "cross_entropy"
    page.undo_stack.undo()
    assert page.loss_combo.currentData() == "nll"


def test_undo_of_training_penalties(page, state):
    page.l1_spin.setValue(1e-5)
    page.l1_spin.setValue(2e-5)
    assert page.undo_stack.undoText() == "Change L1 weight"
    page.undo_stack.undo()
    assert state.train_config.l1 == 0.0 and page.l1_spin.value() == 0.0
    page.undo_stack.redo()
    assert state.train_config.l1 == pytest.approx(2e-5)


def test_undo_is_off_while_training(page, state, qtbot):
    from PySide6.QtGui import QUndoGroup

    group = QUndoGroup(page)
    group.addStack(page.undo_stack)
    page.undo_stack.setActive(True)
    set_cell(page, 0, COL_OUT, 20)
    assert group.canUndo()
    state.set_training(True)
    assert not group.canUndo() and not group.createUndoAction(page).isEnabled()
    state.set_training(False)
    assert group.canUndo()
    page.hide()
    assert group.activeStack() is None
    page.show()
    assert group.activeStack() is page.undo_stack


# ------------------------------------------------------------------ architecture files


def test_save_and_load_an_architecture_round_trip(page, state, tmp_path, monkeypatch):
    from cvstudio.gui.pages import model_files

    monkeypatch.setattr(page, "_confirm_discard_edits", lambda: True)
    set_cell(page, 0, COL_OUT, 20)
    saved = page.current_spec()
    path = tmp_path / "mine.json"
    assert model_files.save_architecture(page, path)
    choose_preset(page, "mlp")
    assert model_files.open_architecture(page, path)
    page.refresh_now()
    assert page.current_spec().layers == saved.layers and state.spec.layers[0].out == 20
    assert page.undo_stack.undoText() == "Load architecture convnet-edited"
    page.undo_stack.undo()
    assert page.current_spec().name == "mlp"


@pytest.mark.parametrize("content", [
    b"{broken", b"\xff\xfe\x00garbage",
    json.dumps({"name": "x", "layers": [{"kind": "linear", "out": 10**30}]}).encode(),
    json.dumps({"name": "x", "layers": [{"kind": "os.system('rm -rf /')"}]}).encode(),
    b"[" * 50_000,
])
def test_a_damaged_or_hostile_file_gives_one_line_and_changes_nothing(page, state, tmp_path, content):
    from cvstudio.gui.pages import model_files

    path = tmp_path / "bad.json"
    path.write_bytes(content)
    before, count = page.current_spec(), page.undo_stack.count()
    assert not model_files.open_architecture(page, path)
    assert page.current_spec() == before and state.spec == before and page.undo_stack.count() == count
    text = page.banner.text()
    assert text.startswith("Could not load the architecture: bad.json") and "\n" not in text
    assert page.banner.level == ERROR


def test_import_the_network_of_a_checkpoint(page, state, tmp_path):
    import torch

    from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
    from cvstudio.core.models import build_model, get_preset
    from cvstudio.gui.pages import model_files

    torch.manual_seed(0)
    spec = get_preset("mlp-deep")
    meta = CheckpointMeta(spec, ("a", "b"), (3, 32, 32), (0.5,) * 3, (0.25,) * 3)
    ckpt = save_checkpoint(tmp_path / "deep.safetensors", build_model(spec, (3, 32, 32), 2), meta)
    assert model_files.import_from_checkpoint(page, ckpt)
    page.refresh_now()
    assert state.spec == spec and state.checkpoint_path is None  # the network only, not the model
    page.undo_stack.undo()
    assert state.spec.name == "convnet"
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    assert not model_files.import_from_checkpoint(page, tmp_path / "junk.safetensors")
    assert page.banner.text().startswith("Could not import the architecture:") and state.spec.name == "convnet"


def test_a_torchvision_architecture_is_refused(page, state):
    spec = ModelSpec("rn", (LayerSpec("linear"),), arch="resnet18")
    before = page.current_spec()
    assert not page.load_architecture(spec, "Load")
    assert page.current_spec() == before and "torchvision" in page.banner.text()


def test_the_windows_edit_menu_undoes_the_page_on_screen(qtbot):
    from PySide6.QtGui import QKeySequence

    from cvstudio.gui.main_window import PAGES, MainWindow

    pages = [p for p in PAGES if p.title in ("Model", "Evaluate")]
    w = MainWindow(load_data=False, pages=pages)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.state.torch_loaded and len(w.pages) == 2, timeout=60_000)
    model, evaluate = w.page("Model"), w.page("Evaluate")
    w.show_page(0)
    assert w.undo_group.activeStack() is model.undo_stack
    assert w.undo_action.shortcut() == QKeySequence("Ctrl+Z") and QKeySequence("Ctrl+Shift+Z") in w.redo_action.shortcuts()
    assert not w.undo_action.isEnabled()
    set_cell(model, 0, COL_OUT, 20)
    assert w.undo_action.isEnabled() and "layer 1" in w.undo_action.text()
    w.undo_action.trigger()
    assert w.state.spec.layers[0].out == 16 and w.redo_action.isEnabled()
    w.redo_action.trigger()
    assert w.state.spec.layers[0].out == 20
    w.show_page(1)
    assert w.undo_group.activeStack() is evaluate.undo_stack and not w.undo_action.isEnabled()
    w.show_page(0)
    assert w.undo_action.isEnabled()
