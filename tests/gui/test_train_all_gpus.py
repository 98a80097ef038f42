"""The Train page's "All N GPUs" device: torchrun as a child process, read back into the usual plots.

This machine has no GPU: the device count is faked to 2 and each rank trains on the CPU with gloo,
which runs the same child process, JSON lines, stop file and checkpoint as the NCCL path on GPUs.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cvstudio.core import launch
from cvstudio.core.specs import DataConfig, TrainConfig
from cvstudio.core.training import devices
from cvstudio.gui import errors as gui_errors
from cvstudio.gui.pages.train import TrainPage
from cvstudio.gui.state import AppState
from tests.cli.test_cli import _folder_dataset

RUN_TIMEOUT_MS = 120_000  # two ranks import torch and train on 2 shared CPU cores


@pytest.fixture
def page(qtbot, monkeypatch, tmp_path, tiny_bundle):
    from cvstudio.core.models import get_preset

    monkeypatch.setattr(devices, "gpu_count", lambda: 2)
    monkeypatch.setattr(launch, "ALL_GPUS_CHILD_DEVICE", "cpu")
    folder = _folder_dataset(tmp_path / "data")  # what the ranks load: the window's data settings
    s = AppState()
    s.mark_torch_ready()
    s.set_spec(get_preset("convnet", width=8))
    s.set_dataset(tiny_bundle)
    s.set_data_config(DataConfig(source=str(folder), image_size=16))
    s.set_train_config(TrainConfig(epochs=1, batch_size=8, device="cpu", lr=0.05))
    p = TrainPage(s)
    qtbot.addWidget(p)
    p.show()
    yield p
    if p.task is not None:
        p.stop_training()
        p.task.wait()
    for dialog in gui_errors.open_error_dialogs():
        dialog.close()


def _choose_all_gpus(page) -> None:
    index = page.device_combo.findData(launch.ALL_GPUS)
    assert index >= 0 and page.device_combo.itemText(index).startswith("All 2 GPUs")
    page.device_combo.setCurrentIndex(index)
    assert page.state.train_config.device == launch.ALL_GPUS
    assert page.config_banner.text() == "" or not page.config_banner.isVisible()


def test_all_gpus_run_streams_rank_0_into_the_plots_then_stop_ends_every_rank(qtbot, page):
    state = page.state
    _choose_all_gpus(page)
    page.epochs_spin.setValue(200)  # long enough to be stopped part-way
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    task = page.task
    assert task is not None and state.training
    assert not page.pause_button.isEnabled() and "not available" in page.pause_button.toolTip()
    run = page.current_run
    qtbot.waitUntil(lambda: len(run.epochs) >= 2 or page.task is None, timeout=RUN_TIMEOUT_MS)  # rank 0's epochs reached the plots
    assert page.task is task, page.result_banner.text()
    proc = task.worker._proc
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] is run
    assert proc.poll() == 0  # torchrun returns 0 only once every rank has ended well
    points = page.plots.points(run)
    steps = run.steps_per_epoch
    assert steps == 3  # 48 training images / (8 per rank x 2 ranks)
    assert points["raw"] >= 2 * steps and points["train_loss"] == points["val_loss"] == len(run.epochs) >= 2
    assert run.status == "stopped" and len(run.epochs) < 200
    assert run.checkpoint is not None and run.checkpoint.is_file()
    assert state.checkpoint_path == run.checkpoint and state.model is not None
    assert state.checkpoint_meta.model_spec.layers == state.spec.layers
    assert "Stopped" in page.result_banner.text() or "stopped" in page.result_banner.text()
    assert not state.training and page.start_button.isEnabled()


def test_all_gpus_run_to_the_end_draws_every_step_and_opens_the_checkpoint(qtbot, page):
    state = page.state
    _choose_all_gpus(page)
    page.epochs_spin.setValue(2)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    run = finished.args[0]
    assert run.status == "finished", page.result_banner.text()
    points = page.plots.points(run)
    assert points["raw"] == 2 * 3 and points["train_acc"] == points["val_acc"] == 2  # every step, every epoch
    assert page.progress_bar.value() == page.progress_bar.maximum() == 6
    assert "Finished" in page.result_banner.text() and "img/s on cpu" in page.result_banner.text()
    assert run.checkpoint is not None and run.checkpoint.is_file() and state.checkpoint_path == run.checkpoint
    assert [e["epoch"] for e in state.checkpoint_meta.history] == [1, 2]


def test_closing_the_window_stops_every_rank(qtbot, page):
    _choose_all_gpus(page)
    page.epochs_spin.setValue(500)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    task, run = page.task, page.current_run
    qtbot.waitUntil(lambda: len(run.epochs) >= 1 or page.task is None, timeout=RUN_TIMEOUT_MS)
    proc = task.worker._proc
    assert page.shutdown(30_000)  # what the main window's close does for each page
    assert proc.poll() == 0  # every rank stopped and torchrun ended
    qtbot.waitUntil(lambda: page.task is None, timeout=5_000)
    assert run.status == "stopped" and run.checkpoint is not None and run.checkpoint.is_file()


def test_settings_the_ranks_cannot_reproduce_fail_in_one_line(qtbot, page):
    state = page.state
    state.set_data_config(DataConfig(source=state.data_config.source, image_size=16, seed=5))  # != training seed
    _choose_all_gpus(page)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert "data seed" in page.result_banner.text() and "single device" in page.result_banner.text()
    for dialog in gui_errors.open_error_dialogs():
        dialog.close()


def test_a_failing_rank_is_one_line_in_the_result_banner(qtbot, page, tmp_path):
    state = page.state
    state.set_data_config(DataConfig(source=str(tmp_path / "gone"), image_size=16))  # the ranks find no images
    _choose_all_gpus(page)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    text = page.result_banner.text()
    assert finished.args[0].status == "failed" and "rank 0 of 2 failed" in text and "gone" in text, text
    assert "\n" not in text
    for dialog in gui_errors.open_error_dialogs():
        dialog.close()
