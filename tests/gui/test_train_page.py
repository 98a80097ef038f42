"""The Train page: settings -> TrainConfig, a run from button clicks, pause/resume/stop, errors, exports."""

from __future__ import annotations

import csv
import threading
import time

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from cvstudio.core import paths
from cvstudio.core.errors import TrainingError
from cvstudio.core.specs import TrainConfig
from cvstudio.gui import errors as gui_errors
from cvstudio.gui.pages.train import TrainPage, fmt_duration, run_label
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.plots import RunHistory, decimate_mean, decimate_peaks
from cvstudio.gui.workers import TRAINING_UPDATE_INTERVAL_S, _TrainingBridge
from tests.conftest import make_tiny_bundle

RUN_TIMEOUT_MS = 60_000


@pytest.fixture
def state(qtbot, tiny_bundle):
    import torch  # noqa: F401 - the page's device list needs it, as after start-up

    from cvstudio.core.models import get_preset

    s = AppState()
    s.mark_torch_ready()
    s.set_spec(get_preset("convnet"))
    s.set_dataset(tiny_bundle)
    s.set_train_config(TrainConfig(epochs=1, batch_size=32, device="cpu"))
    return s


@pytest.fixture
def page(qtbot, state):
    p = TrainPage(state)
    qtbot.addWidget(p)
    p.resize(1100, 720)
    p.show()
    yield p
    if p.task is not None:  # a failed assertion must not leave a run going
        p.stop_training()
        p.task.wait()
    for dialog in gui_errors.open_error_dialogs():
        dialog.close()


def _slow_state(state, steps=2048):
    """A run whose epoch takes a few seconds: many tiny batches."""
    state.set_dataset(make_tiny_bundle(n_train=steps * 4, n_val=64))
    state.set_train_config(TrainConfig(epochs=2, batch_size=4, device="cpu"))


def _click(qtbot, button):
    assert button.isEnabled(), button.toolTip()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _steps_seen(run: RunHistory) -> int:
    return len(run.losses)


# --- a whole run ------------------------------------------------------------------------


def test_train_one_epoch_by_clicking_shows_points_and_saves_checkpoint(qtbot, page, state):
    assert page.start_button.isEnabled()
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        _click(qtbot, page.start_button)
        assert state.training and not page.start_button.isEnabled() and page.stop_button.isEnabled()
    run = finished.args[0]
    assert run.status == "finished" and len(run.epochs) == 1
    points = page.plots.points(run)
    assert points["raw"] == 256 // 32 and points["smooth"] == points["raw"]  # every step of the epoch
    assert points["train_loss"] == points["val_loss"] == 1
    assert points["train_acc"] == points["val_acc"] == 1
    # the checkpoint is in the runs folder and is now the app's model
    assert run.checkpoint is not None and run.checkpoint.is_file()
    assert run.checkpoint.parent == paths.runs_dir()
    assert state.checkpoint_path == run.checkpoint and state.model is not None
    assert state.checkpoint_meta.train_config == state.train_config
    assert page.checkpoint_row.isVisible() and page.checkpoint_label.text() == str(run.checkpoint)
    assert "Finished" in page.result_banner.text()
    assert not state.training and page.start_button.isEnabled() and not page.stop_button.isEnabled()
    assert page.plots.lr_plot.isHidden()  # a constant learning rate gets no plot of its own


def test_two_runs_overlay_with_legend_labels_then_clear(qtbot, page, state):
    for lr in (0.01, 0.05):
        page.lr_spin.setValue(lr)
        with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
            _click(qtbot, page.start_button)
    labels = [r.label for r in page.plots.runs]
    assert labels == ["convnet · sgd lr 0.01 · bs 32", "convnet · sgd lr 0.05 · bs 32"]
    assert len({r.colour for r in page.plots.runs}) == 2
    key = ["training", "validation"]  # one marker convention (filled, hollow), stated in both legends
    legend = [label.text for _, label in page.plots.loss_plot.legend.items]
    assert legend == key + labels
    assert [label.text for _, label in page.plots.acc_plot.legend.items] == key
    # filled = training and hollow = validation, in the loss plot and in the accuracy plot alike
    items = page.plots._items[id(page.plots.runs[0])]
    colour = page.plots.runs[0].colour
    def fill(item):
        return pg.mkBrush(item.opts["symbolBrush"]).color().name()

    for training, validation in ((items.train_loss, items.val_loss), (items.train_acc, items.val_acc)):
        assert fill(training) == colour
        assert fill(validation) != colour
        assert validation.opts["pen"].style() == Qt.PenStyle.DashLine
    _click(qtbot, page.clear_button)
    assert page.plots.runs == [] and [label.text for _, label in page.plots.loss_plot.legend.items] == key
    assert not page.clear_button.isEnabled()


def test_export_plots_png_and_history_csv(qtbot, page, state, tmp_path, monkeypatch):
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    png, table = tmp_path / "plots", tmp_path / "history.csv"
    answers = iter([(str(png), ""), (str(table), "")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: next(answers)))
    _click(qtbot, page.export_png_button)
    _click(qtbot, page.export_csv_button)
    assert (tmp_path / "plots.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the suffix was added
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 1 and rows[0]["run"] == page.plots.runs[0].label
    assert 0.0 <= float(rows[0]["val_acc"]) <= 1.0


def test_save_checkpoint_as_copies_the_file(qtbot, page, state, tmp_path, monkeypatch):
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        _click(qtbot, page.start_button)
    target = tmp_path / "mine" / "model"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    messages = []
    state.status_message.connect(messages.append)
    _click(qtbot, page.save_as_button)
    saved = tmp_path / "mine" / "model.safetensors"
    qtbot.waitUntil(lambda: saved.is_file() and any("saved to" in m for m in messages), timeout=10_000)
    assert saved.read_bytes() == finished.args[0].checkpoint.read_bytes()


# --- controls ---------------------------------------------------------------------------


def test_pause_then_resume(qtbot, page, state):
    _slow_state(state)
    with qtbot.waitSignal(page.plots.redrawn, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    run = page.current_run
    _click(qtbot, page.pause_button)
    assert page.task.paused and page.resume_button.isEnabled() and not page.pause_button.isEnabled()
    assert "paused" in page.progress_bar.format()
    qtbot.wait(int(3 * TRAINING_UPDATE_INTERVAL_S * 1000))  # groups already on their way arrive
    steps = _steps_seen(run)
    qtbot.wait(400)
    assert _steps_seen(run) == steps, "training went on while paused"
    _click(qtbot, page.resume_button)
    assert not page.task.paused and "paused" not in page.progress_bar.format()
    qtbot.waitUntil(lambda: _steps_seen(run) > steps, timeout=10_000)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.stop_button)
    assert run.status == "stopped"


def test_first_run_hint_says_what_train_does_until_the_first_run(qtbot, page, state):
    hint = page.first_run_hint
    assert hint.isVisible()
    assert hint.text().startswith("Press Train to train the convnet on ")
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    assert not hint.isVisible()
    again = TrainPage(state)  # a later session: the hint stays gone
    qtbot.addWidget(again)
    again.show()
    assert not again.first_run_hint.isVisible()


def test_stop_mid_epoch_keeps_a_checkpoint(qtbot, page, state):
    _slow_state(state)
    with qtbot.waitSignal(page.plots.redrawn, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    run = page.current_run
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.stop_button)
        assert not page.stop_button.isEnabled() and "Stopping" in page.blocker_label.text()
    assert run.status == "stopped" and run.epochs == []  # stopped inside the first epoch
    assert 0 < _steps_seen(run) < run.steps_per_epoch
    assert run.checkpoint is not None and run.checkpoint.is_file()
    assert state.checkpoint_path == run.checkpoint
    text = page.result_banner.text()
    assert text.startswith("Stopped by the user during epoch 1.")  # said once, not "Stopped: Stopped by ..."


def test_stop_while_paused(qtbot, page, state):
    _slow_state(state)
    with qtbot.waitSignal(page.plots.redrawn, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    _click(qtbot, page.pause_button)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        _click(qtbot, page.stop_button)
    assert finished.args[0].status == "stopped" and finished.args[0].checkpoint.is_file()


# --- why Train is disabled, bad settings ------------------------------------------------


def test_train_disabled_with_the_reason(qtbot):
    s = AppState()
    p = TrainPage(s)
    qtbot.addWidget(p)
    assert not p.start_button.isEnabled()
    assert "PyTorch" in p.start_button.toolTip() and "PyTorch" in p.blocker_label.text()
    s.mark_torch_ready()
    assert "Data page" in p.start_button.toolTip()
    s.set_dataset(make_tiny_bundle())
    assert "Model page" in p.start_button.toolTip()
    from cvstudio.core.errors import SpecError
    from cvstudio.core.models import get_preset

    s.set_spec(get_preset("convnet"))
    s.set_spec_error(SpecError("layer 3 (linear) needs a positive size"))
    assert "layer 3" in p.start_button.toolTip()
    s.set_spec_error(None)
    assert p.start_button.isEnabled() and p.blocker_label.isHidden()


def test_invalid_combination_shows_inline_and_blocks_train(qtbot, page, state):
    page.momentum_spin.setValue(0.0)
    page.nesterov_check.setChecked(True)
    assert "Nesterov" in page.config_banner.text()
    assert not page.start_button.isEnabled() and "Nesterov" in page.start_button.toolTip()
    assert state.train_config.nesterov is False  # the invalid config never reached the state
    page.momentum_spin.setValue(0.9)
    assert page.config_banner.text() == "" and page.start_button.isEnabled()
    assert state.train_config.momentum == 0.9 and state.train_config.nesterov


def test_form_edits_reach_the_state_and_back(qtbot, page, state):
    page.optimizer_combo.setCurrentIndex(page.optimizer_combo.findData("adamw"))
    page.lr_spin.setValue(3e-4)
    page.weight_decay_spin.setValue(1e-3)
    page.l1_spin.setValue(1e-5)
    page.batch_size_spin.setValue(128)
    page.epochs_spin.setValue(7)
    page.seed_spin.setValue(42)
    page.stop_loss_check.setChecked(True)
    page.stop_loss_spin.setValue(0.1)
    page.patience_check.setChecked(True)
    page.patience_spin.setValue(3)
    assert state.train_config == TrainConfig(
        optimizer="adamw", lr=3e-4, weight_decay=1e-3, l1=1e-5, batch_size=128, epochs=7, seed=42,
        stop_loss=0.1, patience=3, device="cpu",
    )
    assert not page.momentum_spin.isEnabled() and not page.nesterov_check.isEnabled()  # SGD only
    page.augment_combo.setCurrentIndex(page.augment_combo.findData("flip-crop"))
    assert state.data_config.augment == "flip-crop"
    # another page changing the config updates the form
    state.set_train_config(TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, epochs=2, device="cpu"))
    assert page.optimizer_combo.currentData() == "sgd" and page.lr_spin.value() == pytest.approx(0.1)
    assert page.momentum_spin.value() == pytest.approx(0.9) and not page.stop_loss_check.isChecked()
    assert page.device_combo.findData("cpu") >= 0 and page.device_combo.findData("auto") == 0


def test_settings_are_locked_while_training(qtbot, page, state):
    _slow_state(state)
    with qtbot.waitSignal(page.plots.redrawn, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    assert not page.lr_spin.isEnabled() and not page.epochs_spin.isEnabled()
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.stop_button)
    assert page.lr_spin.isEnabled()


def test_progress_labels_update(qtbot, page, state):
    _slow_state(state)
    with qtbot.waitSignal(page.plots.redrawn, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    qtbot.waitUntil(lambda: page.progress_bar.value() > 0, timeout=10_000)
    assert page.progress_bar.format().startswith("Epoch 1 / 2 · step ")
    assert page.speed_label.text().endswith("img/s") and page.speed_label.text() != "– img/s"
    assert page.eta_label.text().startswith("ETA ") and page.eta_label.text() != "ETA –"
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.stop_button)


# --- errors -----------------------------------------------------------------------------


def _patch_train_and_save(monkeypatch, exc):
    import cvstudio.core.runs as runs

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(runs, "train_and_save", fail)


def test_worker_exception_shows_error_dialog_and_page_stays_usable(qtbot, page, state, monkeypatch):
    _patch_train_and_save(monkeypatch, RuntimeError("boom in the worker"))
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        _click(qtbot, page.start_button)
    assert finished.args[0].status == "failed"
    boxes = gui_errors.open_error_dialogs()
    assert len(boxes) == 1
    assert "RuntimeError: boom in the worker" in boxes[0].text()
    assert "Traceback" in boxes[0].detailedText()  # a bug: the details hold the traceback
    assert "Training failed" in page.result_banner.text()
    assert page.start_button.isEnabled() and not state.training
    boxes[0].close()
    monkeypatch.undo()
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:  # the page still trains
        _click(qtbot, page.start_button)
    assert finished.args[0].status == "finished"


def test_out_of_memory_shows_the_suggestion(qtbot, page, state, monkeypatch):
    _patch_train_and_save(monkeypatch, TrainingError(
        "the device ran out of memory at batch size 32: try a smaller batch size, a smaller model, or train on the CPU"
    ))
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    boxes = gui_errors.open_error_dialogs()
    assert len(boxes) == 1 and "try a smaller batch size" in boxes[0].text()
    assert boxes[0].text().startswith("The device ran out of memory")
    assert boxes[0].detailedText() == ""  # a user error: a plain message, no traceback
    assert page.start_button.isEnabled()


# --- pieces -----------------------------------------------------------------------------


def test_run_label_and_duration():
    from cvstudio.core.models import get_preset
    from cvstudio.core.specs import DataConfig

    spec = get_preset("convnet")
    assert run_label(spec, TrainConfig(), DataConfig()) == "convnet · sgd lr 0.01 · bs 64"
    label = run_label(spec, TrainConfig(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3, seed=3),
                      DataConfig(augment="flip-crop"))
    assert label == "convnet · sgd lr 0.1 mom 0.9 nesterov · bs 64 · wd 0.001 · flip-crop · seed 3"
    assert fmt_duration(None) == "–" and fmt_duration(75) == "1:15" and fmt_duration(3725) == "1:02:05"


def test_decimation_keeps_peaks_and_bounds_points():
    x = np.arange(100_000, dtype=np.float64)
    y = np.ones_like(x)
    y[12_345] = 50.0
    y[67_890] = -3.0
    xd, yd = decimate_peaks(x, y, 3000)
    assert len(xd) <= 3002 and yd.max() == 50.0 and yd.min() == -3.0
    assert np.all(np.diff(xd) >= 0)  # still in x order
    xm, ym = decimate_mean(x, y, 3000)
    assert len(xm) <= 3001 and np.all(np.diff(xm) > 0)
    small = np.arange(10.0)
    assert decimate_peaks(small, small)[1] is small


def test_run_history_positions_and_smoothing():
    run = RunHistory("r", "#000000", steps_per_epoch=10)
    run.add_losses(5, np.array([1.0, 1.0, 1.0, 1.0, 1.0]))
    run.add_losses(10, np.full(5, 3.0))
    assert run.x.view()[0] == pytest.approx(0.1) and run.x.view()[-1] == pytest.approx(1.0)
    smooth = run.smooth.view()
    assert smooth[0] == pytest.approx(1.0)  # bias-corrected: starts at the first loss, not at 0
    assert 1.0 < smooth[-1] < 3.0 and np.all(np.diff(smooth[5:]) > 0)


def test_bridge_throttles_bursts_and_flushes_at_the_end():
    from cvstudio.core.events import BatchesEnded, EpochEnded, FitEnded

    class Sig:
        def __init__(self):
            self.calls = []

        def emit(self, value):
            self.calls.append(value)

    class FakeWorker:
        def __init__(self):
            self.fit_started, self.batches_ended, self.epochs_ended, self.fit_ended = Sig(), Sig(), Sig(), Sig()

    worker = FakeWorker()
    bridge = _TrainingBridge(worker)  # type: ignore[arg-type]
    start = time.monotonic()
    for epoch in range(1, 201):  # a tiny dataset: 200 epochs as fast as possible
        bridge.on_batches_ended(BatchesEnded(epoch, 1, 1, epoch, np.array([float(epoch)]), 100.0, 1.0))
        bridge.on_epoch_ended(EpochEnded(epoch, 1.0, 0.5, 1.0, 0.5, 0.01, 0.001, 100.0, False))
    bridge.on_fit_ended(FitEnded("finished", "done", 200, 1, 0.5))
    elapsed = time.monotonic() - start
    emitted = len(worker.batches_ended.calls) + len(worker.epochs_ended.calls)
    assert emitted <= 2 * (elapsed / TRAINING_UPDATE_INTERVAL_S + 2)  # at most ~20 signals a second
    losses = np.concatenate([b.losses for b in worker.batches_ended.calls])
    assert losses.tolist() == [float(e) for e in range(1, 201)]  # nothing lost, in order
    assert [e.epoch for batch in worker.epochs_ended.calls for e in batch] == list(range(1, 201))
    assert len(worker.fit_ended.calls) == 1


def test_training_signals_arrive_in_the_gui_thread(qtbot, page, state):
    threads = set()
    page.plots.redrawn.connect(lambda: threads.add(threading.current_thread()))
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    assert threads == {threading.main_thread()}


def test_loss_axis_starts_at_zero_and_log_scale_toggles(qtbot, page, state):
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        _click(qtbot, page.start_button)
    run = finished.args[0]
    box = page.plots.loss_plot.getPlotItem().getViewBox()
    (x0, x1), (y0, y1) = box.viewRange()
    assert y0 == 0.0 and y1 >= run.peak  # a round number above the largest loss
    assert x0 <= 0.0 and x1 >= 1.0  # the planned epochs are in view
    page.log_check.setChecked(True)
    assert page.plots.log_loss and box.state["logMode"][1]
    assert "log" in page.plots.loss_plot.getPlotItem().getAxis("left").labelText
    page.log_check.setChecked(False)
    assert box.viewRange()[1][0] == 0.0


def test_checkpoint_path_is_shortened_in_the_middle(qtbot):
    from cvstudio.gui.widgets.labels import ElidedLabel

    label = ElidedLabel("/a/very/long/folder/name/that/does/not/fit/20260101-120000-convnet-shapes.safetensors")
    qtbot.addWidget(label)
    label.resize(120, 20)
    shown = label.fontMetrics().elidedText(label.text(), Qt.TextElideMode.ElideMiddle, label.contentsRect().width())
    assert shown.startswith("/a") and shown.endswith("sors") and "…" in shown  # both ends stay readable
    assert label.toolTip() == label.text()


# --- wiring to the other pages ----------------------------------------------------------------


def test_kernels_reach_the_app_state_at_each_epoch_end(qtbot, page, state):
    state.set_train_config(TrainConfig(epochs=2, batch_size=32, device="cpu"))
    seen = []
    state.epoch_weights.connect(seen.append)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    qtbot.waitUntil(lambda: len([p for p in seen if p[2] == "after"]) == 2, timeout=5000)
    ends = [p for p in seen if p[2] == "after"]
    assert [epoch for epoch, _, _ in ends] == [1, 2]
    kernels = ends[-1][1]
    assert list(kernels) == ["conv1", "conv2"] and kernels["conv1"].shape == (16, 3, 3, 3)
    final = state.model.conv1.weight.detach().numpy()  # the best epoch's weights
    assert any(np.array_equal(k["conv1"], final) for _, k, _ in ends)
    assert not np.array_equal(ends[0][1]["conv1"], ends[1][1]["conv1"])  # copies, not live views


def test_kernels_arrive_during_the_first_epoch_of_a_slow_run(qtbot, page, state, monkeypatch):
    import cvstudio.gui.workers as workers

    monkeypatch.setattr(workers, "KERNEL_INTERVAL_S", 0.3)  # the run's first epoch lasts several seconds here
    _slow_state(state, steps=4096)
    seen, epochs_done = [], []
    state.epoch_weights.connect(seen.append)
    with qtbot.waitSignal(page.plots.redrawn, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    run = page.current_run
    page.task.epochs_ended.connect(epochs_done.append)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=RUN_TIMEOUT_MS)
    arrived_during_epoch_1 = not epochs_done and not run.epochs
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.stop_button)
    assert arrived_during_epoch_1, "kernels waited for the end of the epoch"
    assert [(epoch, when) for epoch, _, when in seen[:2]] == [(1, "during"), (1, "during")]
    assert not np.array_equal(seen[0][1]["conv1"], seen[1][1]["conv1"])  # the kernels moved between snapshots


def test_find_lr_button_opens_the_finder_and_follows_train_blockers(qtbot, page, state, monkeypatch):
    opened = []
    import cvstudio.gui.widgets.lr_finder as lr_finder

    monkeypatch.setattr(lr_finder, "show_lr_finder", lambda parent, s: opened.append((parent, s)))
    assert page.find_lr_button.isEnabled()
    _click(qtbot, page.find_lr_button)
    assert opened == [(page, state)]
    state.set_spec_error(ValueError("bad layer"))
    page._update_controls()
    assert not page.find_lr_button.isEnabled()


# --- a checkpoint that cannot be written (issue 10: a run is never lost silently) --------


def _block_the_runs_folder():
    """A file where the runs folder should be: the save fails for root too (unlike chmod)."""
    runs = paths.runs_dir()
    runs.parent.mkdir(parents=True, exist_ok=True)
    runs.write_text("not a folder")


def test_unsaveable_checkpoint_keeps_the_weights_and_offers_save_as(qtbot, page, state, tmp_path, monkeypatch):
    from cvstudio.core.checkpoints import load_checkpoint

    _block_the_runs_folder()
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        _click(qtbot, page.start_button)
    run = finished.args[0]
    assert run.checkpoint is None and page.has_unsaved_run
    assert "could not be saved" in page.result_banner.text() and "Save checkpoint as" in page.result_banner.text()
    assert page.checkpoint_row.isVisible() and "not saved" in page.checkpoint_label.text()
    assert state.model is not None and state.checkpoint_path is None  # the model stays usable
    dialog = page.unsaved_dialog
    assert dialog.isVisible() and "could not be saved" in dialog.text()

    target = tmp_path / "kept.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    save = next(b for b in dialog.buttons() if b.text() == "Save as…")
    with qtbot.waitSignal(state.model_changed, timeout=RUN_TIMEOUT_MS):
        save.click()
    assert target.is_file() and not page.has_unsaved_run
    assert run.checkpoint == target and state.checkpoint_path == target
    assert page.checkpoint_label.text() == str(target)
    loaded = load_checkpoint(target)
    assert loaded.meta.class_names == state.dataset.class_names and loaded.meta.status == "finished"


def test_a_new_run_asks_before_discarding_unsaved_weights(qtbot, page, state, monkeypatch):
    _block_the_runs_folder()
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, page.start_button)
    page.unsaved_dialog.close()
    asked = []
    monkeypatch.setattr(page, "confirm_discard_unsaved_run", lambda: asked.append(1) or False)
    assert page.start_training() is None and asked == [1] and page.has_unsaved_run


def test_the_settings_column_shows_every_field_whole(qtbot, page):
    """No settings row is wider than the column that holds it (the fine-tuning rows once were clipped)."""
    scroll = page.tuning.parentWidget().parentWidget().parentWidget()  # settings widget -> viewport -> scroll area
    settings = scroll.widget()
    assert settings.minimumSizeHint().width() <= scroll.viewport().width()
