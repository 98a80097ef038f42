"""Each kind of file remembers its own folder; exports are proposed next to their checkpoint."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import QFileDialog

from cvstudio.core import paths
from cvstudio.gui import dialogs
from cvstudio.gui import export_dialog
from cvstudio.gui import settings as prefs


@pytest.fixture
def save_starts(monkeypatch):
    starts: list[str] = []

    def fake_save(_parent, _title, start, _filter):
        starts.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_save))
    return starts


def test_kinds_do_not_share_a_folder(tmp_path):
    s = prefs.make_settings()
    images, checkpoints = tmp_path / "images", tmp_path / "ckpts"
    images.mkdir()
    checkpoints.mkdir()
    prefs.remember_folder(s, images, "images")
    prefs.remember_dir(s, checkpoints / "a.safetensors", "checkpoints")
    assert prefs.last_dir(s, "images") == str(images)
    assert prefs.last_dir(s, "checkpoints") == str(checkpoints)
    assert prefs.last_dir(s, "csv") == str(Path.home())
    assert prefs.last_dir(s, "exports", default=checkpoints) == str(checkpoints)
    images.rmdir()  # a remembered folder that is gone falls back
    assert prefs.last_dir(s, "images") == str(Path.home())
    with pytest.raises(ValueError, match="unknown kind"):
        prefs.last_dir(s, "everything")


def test_export_is_proposed_next_to_the_checkpoint_not_in_the_last_image_folder(tmp_path, save_starts):
    s = prefs.make_settings()
    class_folder = tmp_path / "data" / "cat"
    class_folder.mkdir(parents=True)
    prefs.remember_folder(s, class_folder, "images")  # Classify > Open folder on a class folder
    other_exports = tmp_path / "old-exports"
    other_exports.mkdir()
    prefs.remember_folder(s, other_exports, "exports")
    runs = tmp_path / "runs"
    runs.mkdir()
    state = SimpleNamespace(checkpoint_path=runs / "convnet.safetensors", checkpoint_meta=None)
    dialogs.ask_save_path(None, "Export", export_dialog.default_name(state, "onnx"), "ONNX (*.onnx)", ".onnx",
                          "exports", export_dialog.default_folder(state), prefer_default=True)
    assert save_starts[-1] == str(runs / "convnet.onnx")


def test_export_without_a_checkpoint_goes_to_the_exports_folder(save_starts):
    state = SimpleNamespace(checkpoint_path=None, checkpoint_meta=None)
    folder = export_dialog.default_folder(state)
    assert folder == paths.exports_dir() and folder.is_dir()
    dialogs.ask_save_path(None, "Export", "model.onnx", "ONNX (*.onnx)", ".onnx", "exports", folder)
    assert save_starts[-1] == str(paths.exports_dir() / "model.onnx")


def test_the_status_bar_line_of_an_export_ends_with_the_export(qtbot, tmp_path, monkeypatch):
    """"Exporting the model to …" is replaced once the export is done (it stayed there after success)."""
    import torch
    from PySide6.QtWidgets import QApplication, QMessageBox

    from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
    from cvstudio.core.models import build_model, get_preset
    from cvstudio.gui.export_dialog import export_current_model, running_exports
    from cvstudio.gui.state import AppState

    torch.manual_seed(0)
    spec = get_preset("convnet")
    model = build_model(spec, (3, 32, 32), 2).eval()
    meta = CheckpointMeta(model_spec=spec, class_names=("a", "b"), input_shape=(3, 32, 32), mean=(0.5,) * 3,
                          std=(0.25,) * 3)
    path = save_checkpoint(tmp_path / "runs" / "convnet.safetensors", model, meta)
    state = AppState()
    state.mark_torch_ready()
    state.set_model(model, meta, path)
    statuses: list[str] = []
    state.status_message.connect(statuses.append)
    out = tmp_path / "model.pt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    export_current_model(None, state, "torchscript")
    assert statuses[-1] == f"Exporting the model to {out}…"
    qtbot.waitUntil(lambda: not running_exports(), timeout=120_000)
    assert statuses[-1] == f"Exported the model to {out}"
    for box in QApplication.topLevelWidgets():
        if isinstance(box, QMessageBox):
            box.close()
