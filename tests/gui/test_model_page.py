"""The Model page: presets, the layer table, the live summary, errors and the code view."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSpinBox

from cvstudio.core.specs import LayerSpec
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.layer_table import COL_KERNEL, COL_KIND, COL_OUT, COL_SHAPE, ERROR_BACKGROUND
from tests.gui.model_page_helpers import choose_preset, set_cell, shown_model_page, torch_ready_state


@pytest.fixture
def state():
    return torch_ready_state()


@pytest.fixture
def page(qtbot, state):
    return shown_model_page(qtbot, state, (1200, 800))


def test_page_module_does_not_import_torch():
    code = "import sys, cvstudio.gui.pages.model; assert 'torch' not in sys.modules, 'the page imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_shows_loading_until_torch_is_ready(qtbot):
    from cvstudio.gui.pages.model import ModelPage

    state = AppState()
    page = ModelPage(state)
    qtbot.addWidget(page)
    assert page._stack.currentWidget() is page._loading
    assert state.spec is None
    import cvstudio.core.models  # noqa: F401

    state.mark_torch_ready()
    assert page._stack.currentWidget() is page._content
    assert state.spec is not None and state.spec.name == "convnet"


def test_convnet_preset_has_the_cheatsheet_parameter_count(page, state):
    from cvstudio.core.models import get_preset

    choose_preset(page, "mlp")
    choose_preset(page, "convnet")
    assert "18,090 trainable parameters" in page.total_label.text()
    assert state.spec == get_preset("convnet")
    assert state.spec_error is None
    assert page.description_label.text() == "2 x [Conv 3x3 pad 1, Tanh, MaxPool 2], Linear(512,32)-Tanh-Linear(32,k) (cheatsheet)"
    # per-layer summary: output shapes and parameters in the table
    model = page.table_model
    assert model.index(0, COL_SHAPE).data() == "16×32×32"
    assert [model.summary(r).params for r in range(model.rowCount())] == [448, 0, 0, 1160, 0, 0, 16416, 0, 66]
    assert model.index(8, COL_OUT).data() == "classes (2)"


def test_mlp_preset_uses_nll_and_sets_its_training_values(page, state):
    choose_preset(page, "convnet-width")
    assert "38,386" in page.total_label.text()
    assert state.train_config.lr == pytest.approx(0.1)
    assert state.train_config.weight_decay == pytest.approx(1e-3)
    assert page.weight_decay_spin.value() == pytest.approx(1e-3)
    choose_preset(page, "mlp")
    assert "393,602" in page.total_label.text()
    assert state.spec.loss == "nll" and page.loss_combo.currentData() == "nll"
    assert state.train_config.weight_decay == 0.0


def test_impossible_kernel_highlights_the_row_and_sets_the_error(page, state):
    choose_preset(page, "convnet")
    set_cell(page, 0, COL_KERNEL, 40)
    model = page.table_model
    assert model.error_row == 0
    assert model.index(0, COL_KIND).data(Qt.ItemDataRole.BackgroundRole) == ERROR_BACKGROUND
    assert model.index(1, COL_KIND).data(Qt.ItemDataRole.BackgroundRole) is None
    assert state.spec_error is not None and state.spec_error.layer_index == 0
    assert "40x40 kernel does not fit the 32x32 input" in page.banner.text()
    assert not page.banner.isHidden()
    assert not page.code_view.copy_button.isEnabled()
    assert not state.can_train
    # the last valid spec stays in the state; fixing the layer clears the error
    set_cell(page, 0, COL_KERNEL, 5)
    assert state.spec_error is None and model.error_row is None
    assert page.banner.isHidden()
    assert state.spec.layers[0].kernel == 5
    assert page.code_view.copy_button.isEnabled()


def test_pooling_down_to_nothing_names_the_layer(page, state):
    choose_preset(page, "convnet")
    page.table.select_row(5)  # after the second max-pool: 8x8
    for _ in range(4):
        page.add_layer("maxpool")  # 4x4, 2x2, 1x1, then impossible
    page.refresh_now()
    assert page.table_model.error_row == 9
    assert state.spec_error.layer_index == 9
    assert "cannot pool a 1x1 map" in page.banner.text()
    # the layers above the failing one still show how the image shrank
    assert [page.table_model.index(r, COL_SHAPE).data() for r in range(6, 9)] == ["8×4×4", "8×2×2", "8×1×1"]
    assert page.table_model.index(9, COL_SHAPE).data() == "—"
    page.table.select_row(9)
    page.remove_action.trigger()
    page.refresh_now()
    assert state.spec_error is None
    assert page.table_model.index(8, COL_SHAPE).data() == "8×1×1"


def test_typing_in_a_cell_updates_the_summary_after_a_pause(page, state, qtbot):
    choose_preset(page, "convnet")
    index = page.table_model.index(0, COL_KERNEL)
    page.table.setCurrentIndex(index)
    page.table.edit(index)
    editor = page.table.viewport().findChild(QSpinBox)
    assert editor is not None
    editor.setValue(40)  # committed while typing, no need to leave the cell
    assert page.table_model.layers[0].kernel == 40
    qtbot.waitUntil(lambda: state.spec_error is not None, timeout=2000)
    editor.setValue(3)
    qtbot.waitUntil(lambda: state.spec_error is None, timeout=2000)


def test_code_view_shows_runnable_pytorch(page, state):
    import torch  # noqa: F401 - the exec'd code imports it

    choose_preset(page, "convnet")
    code = page.code_view.editor.toPlainText()
    assert "nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1)" in code
    namespace: dict = {"__name__": "generated"}
    exec(compile(code, "<model page>", "exec"), namespace)
    model = namespace["Net"]()
    assert sum(p.numel() for p in model.parameters()) == 18_090
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 2)


def test_code_view_saves_a_py_file(page, tmp_path):
    choose_preset(page, "convnet")
    assert page.code_view.save_to(tmp_path / "net")
    assert (tmp_path / "net.py").read_text() == page.code_view.code()
    assert not page.code_view.save_to(tmp_path / "missing" / "net.py")
    assert "Could not save" in page.code_view.banner.text()


def test_width_depth_and_regularization_regenerate(page, state):
    choose_preset(page, "convnet-relu")
    page.width_spin.setValue(32)
    assert "38,386" in page.total_label.text()  # the cheatsheet's width-32 network
    page.depth_spin.setValue(3)
    assert sum(1 for l in state.spec.layers if l.kind == "conv") == 3
    page.dropout_spin.setValue(0.3)
    # after each of the 3 poolings and after the hidden activation of the classifier head
    assert [l.p for l in state.spec.layers if l.kind == "dropout"] == [0.3] * 4
    page.batchnorm_check.setChecked(True)
    assert sum(1 for l in state.spec.layers if l.kind == "batchnorm") == 4  # 3 convs + the hidden linear
    assert state.spec.name == "convnet-relu"
    page.dropout_spin.setValue(0.0)
    assert not any(l.kind == "dropout" for l in state.spec.layers)


def test_knob_change_after_hand_edits_asks_first(page, state, monkeypatch):
    choose_preset(page, "convnet")
    set_cell(page, 0, COL_OUT, 20)
    assert state.spec.name == "convnet-edited"
    monkeypatch.setattr(page, "_confirm_discard_edits", lambda: False)
    page.width_spin.setValue(24)
    assert page.width_spin.value() == 16  # reverted: the edit is kept
    assert state.spec.layers[0].out == 20
    monkeypatch.setattr(page, "_confirm_discard_edits", lambda: True)
    page.width_spin.setValue(24)
    assert state.spec.layers[0].out == 24 and state.spec.name == "convnet"


def test_layer_buttons_add_move_duplicate_remove(page, state):
    choose_preset(page, "convnet")
    page.table.select_row(1)
    page.duplicate_action.trigger()
    assert page.table.current_row() == 2
    page.move_down_action.trigger()
    assert page.table.current_row() == 3
    kinds = [l.kind for l in page.table_model.layers]
    assert kinds[:4] == ["conv", "activation", "maxpool", "activation"]
    page.move_up_action.trigger()
    page.remove_action.trigger()
    page.refresh_now()
    assert [l.kind for l in state.spec.layers][:3] == ["conv", "activation", "maxpool"]
    page.table.select_row(0)
    assert not page.move_up_action.isEnabled()
    row = page.add_layer("batchnorm")
    page.refresh_now()
    assert row == 1 and state.spec.layers[1] == LayerSpec("batchnorm")
    assert page.table_model.summary(1).params == 32  # BatchNorm2d(16)


def test_delete_key_removes_the_selected_layer(page, qtbot):
    choose_preset(page, "convnet")
    page.table.setFocus()
    page.table.select_row(2)
    n = page.table_model.rowCount()
    qtbot.keyClick(page.table, Qt.Key.Key_Delete)
    assert page.table_model.rowCount() == n - 1


def test_type_change_keeps_channels_and_output_layer_needs_classes(page, state):
    choose_preset(page, "convnet")
    set_cell(page, 3, COL_KIND, "residual")
    assert state.spec.layers[3] == LayerSpec("residual", out=8)
    set_cell(page, 8, COL_OUT, 5)  # the output layer no longer gives one score per class
    assert state.spec_error.layer_index == 8
    assert "one score per class" in page.banner.text()
    set_cell(page, 8, COL_OUT, 0)  # 0 = "classes"
    assert state.spec_error is None


def test_spec_from_elsewhere_is_shown_with_its_knobs(page, state):
    from cvstudio.core.models import get_preset

    state.set_spec(get_preset("convnet-width", width=64))
    assert page.preset_combo.currentData() == "convnet-width"
    assert page.width_spin.value() == 64
    assert page.table_model.layers == state.spec.layers
    assert not page._edited()
    state.set_spec(get_preset("resnet", depth=2))
    assert page.depth_spin.value() == 2 and page.batchnorm_check.isChecked()
    state.set_spec(get_preset("airbench", width=16, depth=2))  # its 24-wide stem is not the width
    assert (page.preset_combo.currentData(), page.width_spin.value(), page.depth_spin.value()) == ("airbench", 16, 2)
    assert not page._edited()
    assert page._size_form.labelForField(page.depth_spin).text() == "Conv groups"
    assert not page.batchnorm_check.isChecked()
    state.set_spec(get_preset("airbench", batchnorm=True))
    assert page.batchnorm_check.isChecked() and not page._edited()


def test_dataset_shape_feeds_the_summary(page, state):
    choose_preset(page, "convnet")
    state.set_dataset(SimpleNamespace(input_shape=(1, 28, 28), num_classes=10))
    assert page.input_label.text().startswith("Input 1×28×28, 10 classes")
    assert page.table_model.index(8, COL_OUT).data() == "classes (10)"
    # 28 -> 14 -> 7: Linear(8*7*7, 32)
    assert page.table_model.summary(6).params == 8 * 7 * 7 * 32 + 32
    assert state.spec_error is None


def test_regularization_penalties_go_to_the_train_config(page, state):
    page.l1_spin.setValue(1e-5)
    page.weight_decay_spin.setValue(1e-3)
    assert state.train_config.l1 == pytest.approx(1e-5)
    assert state.train_config.weight_decay == pytest.approx(1e-3)
    assert page.weight_decay_spin.text() == "0.001"
    page.weight_decay_spin.stepBy(1)
    assert state.train_config.weight_decay == pytest.approx(2e-3)  # the 1-2-5 ladder
    import dataclasses

    state.set_train_config(dataclasses.replace(state.train_config, l1=0.0))
    assert page.l1_spin.value() == 0.0


def test_training_locks_the_model(page, state):
    choose_preset(page, "convnet")
    state.set_training(True)
    assert not page._controls.isEnabled()
    assert not page.remove_action.isEnabled()
    assert not page.table_model.flags(page.table_model.index(0, COL_KERNEL)) & Qt.ItemFlag.ItemIsEditable
    assert "training" in page.training_banner.text()
    state.set_training(False)
    assert page._controls.isEnabled()
    assert page.table_model.flags(page.table_model.index(0, COL_KERNEL)) & Qt.ItemFlag.ItemIsEditable


def test_a_network_from_no_preset_keeps_its_name(page, state, monkeypatch):
    from cvstudio.core.specs import ModelSpec

    spec = ModelSpec("tiny", (LayerSpec("conv", out=4, kernel=3), LayerSpec("global_avgpool"), LayerSpec("linear")))
    state.set_spec(spec)
    assert page.table_model.layers == spec.layers
    assert "not from a preset" in page.description_label.text()
    assert page.total_label.text().startswith(f"{4 * 27 + 4 + 4 * 2 + 2:,} trainable parameters")
    set_cell(page, 0, COL_OUT, 6)
    assert state.spec.name == "tiny" and state.spec.layers[0].out == 6
    monkeypatch.setattr(page, "_confirm_discard_edits", lambda: False)
    page.reset_button.click()  # re-generating would replace it: declined
    assert state.spec.name == "tiny"


def test_picking_a_preset_sets_its_recommended_sgd_settings(page, state):
    from cvstudio.core.models import PRESETS

    choose_preset(page, "convnet-width")
    info = PRESETS["convnet-width"]
    assert (state.train_config.lr, state.train_config.momentum, state.train_config.weight_decay) == (
        info.lr, info.momentum, info.weight_decay,
    )


@pytest.mark.parametrize("door", ["evaluate", "inspect", "classify"])
def test_model_page_follows_a_checkpoint_opened_from_any_page(qtbot, page, state, tmp_path, door):
    """Issue 11's bug: opening a checkpoint from Evaluate or Inspect left the Model page on the old network."""
    import torch

    from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
    from cvstudio.core.models import build_model, get_preset
    from cvstudio.gui.pages.classify import ClassifyPage
    from cvstudio.gui.pages.evaluate import EvaluatePage
    from cvstudio.gui.pages.inspect import InspectPage

    choose_preset(page, "convnet")
    torch.manual_seed(0)
    spec = get_preset("mlp")
    meta = CheckpointMeta(spec, ("a", "b"), (3, 32, 32), (0.5,) * 3, (0.25,) * 3)
    ckpt = save_checkpoint(tmp_path / "mlp.safetensors", build_model(spec, (3, 32, 32), 2), meta)
    other = {"evaluate": EvaluatePage, "inspect": InspectPage, "classify": ClassifyPage}[door](state)
    qtbot.addWidget(other)
    opener = other.load_checkpoint if door == "classify" else other.open_checkpoint
    with qtbot.waitSignal(state.checkpoint_opened, timeout=30_000):
        opener(ckpt)
    assert state.checkpoint_path == ckpt and state.spec == spec
    assert page.current_spec().name == "mlp"  # the Model page shows the opened network
    other.shutdown()
