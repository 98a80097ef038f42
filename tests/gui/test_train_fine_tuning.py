"""The Train page's fine-tuning box, learning-rate plot and "Resume a stopped run" (issue 13)."""

from __future__ import annotations

import dataclasses

import pytest

from cvstudio.core.specs import DataConfig, TrainConfig
from tests.cli.test_cli import _folder_dataset
from tests.gui.test_train_page import RUN_TIMEOUT_MS, page, state  # noqa: F401 - fixtures


def test_fine_tuning_settings_reach_the_config_and_come_back(qtbot, page, state):  # noqa: F811
    box = page.tuning
    qtbot.waitUntil(lambda: box.freeze_combo.findData("upto:conv1") >= 0, timeout=30_000)  # the network's stages
    box.freeze_combo.setCurrentIndex(box.freeze_combo.findData("backbone"))
    box.freeze_combo.activated.emit(box.freeze_combo.currentIndex())
    box.schedule_combo.setCurrentIndex(box.schedule_combo.findData("cosine"))
    box.schedule_combo.activated.emit(box.schedule_combo.currentIndex())
    box.smoothing_spin.setValue(0.1)
    box.amp_check.setChecked(True)
    box.clip_check.setChecked(True)
    c = state.train_config
    assert (c.freeze, c.schedule, c.label_smoothing, c.amp, c.clip_grad) == ("backbone", "cosine", 0.1, True, 1.0)
    page.lr_spin.setValue(0.02)  # another field of the form keeps them
    assert state.train_config.schedule == "cosine" and state.train_config.lr == 0.02
    state.set_train_config(dataclasses.replace(state.train_config, freeze="upto:conv1", backbone_lr=1e-3, amp=False))
    assert box.freeze_combo.currentData() == "upto:conv1" and box.backbone_check.isChecked()
    assert box.backbone_spin.value() == 1e-3 and not box.amp_check.isChecked()


def test_the_learning_rate_curve_follows_the_schedule(qtbot, page, state):  # noqa: F811
    state.set_train_config(TrainConfig(epochs=3, batch_size=32, lr=0.1, device="cpu", schedule="cosine"))
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        page.start_training()
    run = finished.args[0]
    page.plots.redraw_now()
    assert page.plots.points(run)["lr"] == 3 and not page.plots.lr_plot.isHidden()  # shown: the rate changes
    lrs = run.epoch_array("lr")
    assert lrs[0] == pytest.approx(0.1) and lrs[0] > lrs[1] > lrs[2]


def test_resume_a_stopped_run_from_its_checkpoint(qtbot, page, state, tmp_path):  # noqa: F811
    from cvstudio.core.checkpoints import read_meta
    from cvstudio.core.control import RunControl
    from cvstudio.core.data import load_dataset
    from cvstudio.core.models import get_preset
    from cvstudio.core.runs import train_and_save

    data_config = DataConfig(source=str(_folder_dataset(tmp_path / "data")), image_size=16)
    control = RunControl()

    class StopAfterFirstEpoch:
        def on_epoch_ended(self, e):
            control.request_stop()

    config = TrainConfig(epochs=3, batch_size=8, lr=0.05, device="cpu", schedule="cosine")
    stopped = train_and_save(get_preset("convnet"), load_dataset(data_config), config, data_config,
                             out=tmp_path / "stopped.safetensors", callbacks=[StopAfterFirstEpoch()], control=control)
    assert stopped.result.status == "stopped"

    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        page.tuning.resume_requested.emit(str(stopped.checkpoint))
    run = finished.args[0]
    assert run.status == "finished" and [e.epoch for e in run.epochs] == [2, 3]
    assert "resumed stopped" in run.label
    meta = read_meta(state.checkpoint_path)
    assert [h["epoch"] for h in meta.history] == [1, 2, 3] and meta.train_config == config


def test_resuming_a_finished_run_is_one_line_and_the_page_stays_usable(qtbot, page, state, tmp_path):  # noqa: F811
    from cvstudio.core.checkpoints import read_meta
    from cvstudio.gui import errors as gui_errors

    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        page.start_training()
    done = finished.args[0].checkpoint
    assert read_meta(done).status == "finished"
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        page.tuning.resume_requested.emit(str(done))
    qtbot.waitUntil(lambda: bool(gui_errors.open_error_dialogs()) or "holds no resume state" in page.result_banner.text(),
                    timeout=10_000)
    texts = [d.text() if hasattr(d, "text") else "" for d in gui_errors.open_error_dialogs()] + [page.result_banner.text()]
    assert any("holds no resume state" in t for t in texts)
    for dialog in gui_errors.open_error_dialogs():
        dialog.close()
    assert page.start_button.isEnabled()
