"""The main window: start-up, pages, menus, checkpoints, closing during training, error handling."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent, QPalette
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from cvstudio.core import paths
from cvstudio.core.specs import TrainConfig
from cvstudio.gui import errors as gui_errors
from cvstudio.gui import settings as prefs
from cvstudio.gui.main_window import PAGES, MainWindow
from cvstudio.gui.theme import apply_theme
from tests.conftest import make_tiny_bundle

ROOT = Path(__file__).resolve().parents[2]
TRAIN_ONLY = [p for p in PAGES if p.title == "Train"]  # window tests that need no Data/Model page
RUN_TIMEOUT_MS = 60_000


def _close_dialogs():
    for box in gui_errors.open_error_dialogs():
        box.close()


@pytest.fixture(autouse=True)
def _restore_theme(qapp):
    style, palette = qapp.style().name(), QPalette(qapp.palette())
    yield
    qapp.setStyle(style)
    qapp.setPalette(palette)


def _make_window(qtbot, pages=TRAIN_ONLY, **kwargs) -> MainWindow:
    w = MainWindow(load_data=False, pages=pages, **kwargs)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.state.torch_loaded, timeout=RUN_TIMEOUT_MS)  # built after the first paint
    return w


@pytest.fixture
def window(qtbot):
    w = _make_window(qtbot)
    yield w
    train = w.train_page
    if train is not None and train.running:
        train.stop_training()
        train.task.wait()
    _close_dialogs()


def _slow_run(window):
    """Tiny images, many steps: an epoch lasts seconds."""
    window.state.set_dataset(make_tiny_bundle(n_train=8192, n_val=64))
    window.state.set_train_config(TrainConfig(epochs=3, batch_size=4, device="cpu"))


@pytest.fixture
def checkpoint(tmp_path, tiny_bundle):
    from cvstudio.core.models import get_preset
    from cvstudio.core.runs import train_and_save

    out = tmp_path / "tiny.safetensors"
    train_and_save(get_preset("convnet"), tiny_bundle, TrainConfig(epochs=1, device="cpu"), out=out)
    return out


# --- start-up ---------------------------------------------------------------------------


def test_window_opens_and_becomes_ready(qtbot):
    w = MainWindow()  # the real pages, the built-in dataset
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.became_ready, timeout=180_000):
        w.show()
    s = w.state
    assert s.torch_loaded and s.dataset is not None and s.spec is not None and s.spec.name == "convnet"
    assert s.data_config.source == "shapes" and s.dataset.num_classes >= 2
    assert list(w.pages) and set(w.pages) == {p.title for p in PAGES}
    qtbot.waitUntil(lambda: w.startup.done, timeout=10_000)
    assert w.device_label.text().startswith("Device: CPU") or "GiB" in w.device_label.text()
    assert w.busy_bar.isHidden() and "Ready" in w.activity_label.text()
    train = w.train_page
    qtbot.waitUntil(lambda: train.start_button.isEnabled(), timeout=30_000)  # a first-time user can press Train
    assert s.can_train


def test_nothing_heavy_is_imported_before_the_first_paint():
    code = (
        "import sys\n"
        "from cvstudio.gui.app import create_application\n"
        "app = create_application()\n"
        "from cvstudio.gui.main_window import MainWindow\n"
        "w = MainWindow(load_data=False)\n"
        "heavy = [m for m in ('torch', 'torchvision', 'pyqtgraph') if m in sys.modules]\n"
        "print('heavy', heavy)\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "heavy []" in proc.stdout


_POOL_PROBE = (
    "import os, sys\n"
    "from PySide6.QtGui import QImage\n"
    "if sys.argv[1] == 'app':\n"
    "    from cvstudio.gui.app import create_application\n"
    "    app = create_application()\n"
    "else:\n"
    "    from PySide6.QtWidgets import QApplication\n"
    "    app = QApplication([])\n"
    "image = QImage(2000, 2000, QImage.Format.Format_ARGB32)\n"
    "image.fill(0x80336699)\n"
    "image.convertToFormat(QImage.Format.Format_RGB888)  # large enough for Qt to split it over its GUI pool\n"
    "names = [open(f'/proc/self/task/{t}/comm').read().strip() for t in os.listdir('/proc/self/task')]\n"
    "print('pool threads', sum(n.startswith('Thread (pooled)') for n in names))\n"
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or (os.cpu_count() or 1) < 2,
                    reason="thread names come from Linux's /proc; Qt starts no pool on one CPU")
def test_the_app_paints_without_qt_gui_thread_pool():
    env = {k: v for k, v in os.environ.items() if k != "QT_NO_GUI_THREADPOOL"}
    env["QT_QPA_PLATFORM"] = "offscreen"

    def pool_threads(how: str) -> int:
        proc = subprocess.run([sys.executable, "-c", _POOL_PROBE, how], capture_output=True, text=True, env=env,
                              timeout=60, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.split("pool threads")[1])

    assert pool_threads("plain") > 0  # the probe does reach Qt's pool when nothing keeps it off
    assert pool_threads("app") == 0


def test_first_paint_benchmark_hook(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CVSTUDIO_BENCH_FIRST_PAINT="1",
               CVSTUDIO_LAUNCH_T0=repr(time.time()), CVSTUDIO_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "cvstudio"], capture_output=True, text=True, env=env, timeout=60,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("first_paint_s=")]
    assert line and 0 < float(line[0].split("=")[1]) < 30


def test_pages_switch_from_the_sidebar_and_the_view_menu(qtbot):
    w = _make_window(qtbot, pages=PAGES)
    titles = [w.sidebar.item(i).text() for i in range(w.sidebar.count())]
    assert titles[:3] == ["Data", "Model", "Train"] and titles == [p.title for p in PAGES]
    w.page_actions[2].trigger()
    assert w.stack.currentWidget() is w.train_page and w.sidebar.currentRow() == 2
    assert w.page_actions[0].shortcut().toString() == "Ctrl+1"
    w.sidebar.setCurrentRow(1)
    assert w.stack.currentWidget() is w.page("Model") and w.page_actions[1].isChecked()


# --- training and closing ---------------------------------------------------------------


def _answer_close_dialog(monkeypatch, answer: str, asked: list):
    def fake_exec(box):
        asked.append(box.text())
        for button in box.buttons():
            if button.text() == answer:
                button.click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)


def test_close_during_training_asks_stops_and_keeps_the_checkpoint(qtbot, window, monkeypatch):
    _slow_run(window)
    train = window.train_page
    runs_dir = window.projects.project.runs_dir  # the window's runs go to its (default) project
    window.show_page(0)
    with qtbot.waitSignal(train.plots.redrawn, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    run = train.current_run
    asked: list[str] = []
    _answer_close_dialog(monkeypatch, "Stop and quit", asked)
    window.close()
    assert asked == ["A training run is in progress."]
    assert window.isVisible() and train.task.stop_requested  # stays up until the checkpoint is written
    assert "Stopping" in window.activity_label.text()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=RUN_TIMEOUT_MS)
    assert not window.state.training and run.status == "stopped"
    assert run.checkpoint is not None and run.checkpoint.is_file() and run.checkpoint.parent == runs_dir


def test_close_during_training_cancel_keeps_training(qtbot, window, monkeypatch):
    _slow_run(window)
    train = window.train_page
    with qtbot.waitSignal(train.plots.redrawn, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    asked: list[str] = []
    _answer_close_dialog(monkeypatch, "Cancel", asked)
    window.close()
    assert asked and window.isVisible() and train.running and not train.task.stop_requested
    with qtbot.waitSignal(train.run_finished, timeout=RUN_TIMEOUT_MS):
        train.stop_training()
    assert window.isVisible()


def test_window_close_when_idle_saves_settings(qtbot, tmp_path):
    w = _make_window(qtbot, pages=PAGES)
    w.show_page(2)
    w.resize(1100, 700)
    w.set_theme("dark")
    w.close()
    s = prefs.make_settings()
    assert s.value(prefs.LAST_PAGE) == "Train" and s.value(prefs.THEME) == "dark"
    again = MainWindow(load_data=False, pages=PAGES)
    qtbot.addWidget(again)
    assert again.stack.currentIndex() == 2 and again.theme == "dark" and again.theme_actions["dark"].isChecked()
    assert again.size().height() == 700  # (the offscreen screen is 800 px wide: the width is clamped)


# --- checkpoints ------------------------------------------------------------------------


def test_open_checkpoint_from_the_file_menu(qtbot, window, checkpoint, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(checkpoint), "")))
    with qtbot.waitSignal(window.checkpoint_opened, timeout=RUN_TIMEOUT_MS):
        window.open_action.trigger()
    s = window.state
    assert s.model is not None and s.checkpoint_path == checkpoint
    assert s.spec == s.checkpoint_meta.model_spec and s.spec.name == "convnet"
    assert window.save_as_action.isEnabled()
    assert prefs.recent_files(window.settings)[0] == str(checkpoint.resolve())
    window.recent_menu.aboutToShow.emit()
    assert checkpoint.name in window.recent_menu.actions()[0].text()
    assert "Opened tiny.safetensors" in window.activity_label.text()


def test_save_checkpoint_as_from_the_file_menu(qtbot, window, checkpoint, tmp_path, monkeypatch):
    with qtbot.waitSignal(window.checkpoint_opened, timeout=RUN_TIMEOUT_MS):
        window.open_checkpoint(checkpoint)
    target = tmp_path / "copy.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    window.save_as_action.trigger()
    qtbot.waitUntil(lambda: target.is_file() and "saved to" in window.activity_label.text(), timeout=10_000)
    assert target.read_bytes() == checkpoint.read_bytes()


def test_open_a_broken_checkpoint_shows_a_plain_message(qtbot, window, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"this is not a checkpoint")
    task = window.open_checkpoint(bad)
    qtbot.waitUntil(lambda: task.done, timeout=RUN_TIMEOUT_MS)
    boxes = gui_errors.open_error_dialogs()
    assert len(boxes) == 1 and "broken.safetensors" in boxes[0].text()
    assert boxes[0].detailedText() == ""  # a CheckpointError is a user error: no traceback
    assert window.state.model is None
    _close_dialogs()


def test_dropping_a_checkpoint_opens_it(qtbot, window, checkpoint):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(checkpoint))])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.checkpoint_opened, timeout=RUN_TIMEOUT_MS):
        window.dropEvent(event)
    assert window.state.checkpoint_path == checkpoint


def test_checkpoint_given_on_the_command_line_opens_after_start(qtbot, checkpoint):
    w = MainWindow(load_data=False, pages=TRAIN_ONLY, checkpoint_path=str(checkpoint))
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.checkpoint_opened, timeout=RUN_TIMEOUT_MS):
        w.show()
    assert w.state.checkpoint_path == checkpoint and w.state.spec.name == "convnet"


def test_a_trained_model_becomes_the_current_checkpoint(qtbot, window):
    window.state.set_dataset(make_tiny_bundle())
    window.state.set_train_config(TrainConfig(epochs=1, device="cpu"))
    train = window.train_page
    with qtbot.waitSignal(train.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    assert window.state.checkpoint_path == finished.args[0].checkpoint
    assert window.save_as_action.isEnabled()
    assert prefs.recent_files(window.settings)[0] == str(finished.args[0].checkpoint.resolve())


# --- look, help, errors -----------------------------------------------------------------


def test_theme_switch_recolours_the_plots(qtbot, window):
    plot = window.train_page.plots.loss_plot
    window.set_theme("dark")
    dark_bg = plot.backgroundBrush().color()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128 and dark_bg.lightness() < 128
    window.set_theme("light")
    assert plot.backgroundBrush().color().lightness() > 128
    assert window.theme_actions["light"].isChecked()


def test_about_and_shortcuts(qtbot, window):
    import PySide6
    import torch

    import cvstudio

    text = window.about_text()
    assert cvstudio.__version__ in text and torch.__version__ in text and PySide6.__version__ in text
    assert "CUDA" in text
    shortcuts = window.shortcuts_text()
    assert "Ctrl+O" in shortcuts and "Ctrl+1" in shortcuts and "F5" in shortcuts


@pytest.mark.qt_no_exception_capture
def test_uncaught_exceptions_are_logged_and_shown(qtbot):
    gui_errors.setup_logging()
    gui_errors.install_exception_hooks()
    try:
        def explode():
            raise ValueError("a bug in a slot")

        QTimer.singleShot(0, explode)
        qtbot.waitUntil(lambda: len(gui_errors.open_error_dialogs()) == 1, timeout=5000)
        box = gui_errors.open_error_dialogs()[0]
        assert "ValueError: a bug in a slot" in box.text() and "Traceback" in box.detailedText()
        box.close()

        thread = threading.Thread(target=lambda: 1 / 0, name="worker-bug")
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: len(gui_errors.open_error_dialogs()) == 1, timeout=5000)
        assert "ZeroDivisionError" in gui_errors.open_error_dialogs()[0].text()
        _close_dialogs()
        for handler in logging.getLogger().handlers:
            handler.flush()
        log = (paths.log_dir() / gui_errors.LOG_FILE_NAME).read_text()
        assert "a bug in a slot" in log and "ZeroDivisionError" in log and "worker-bug" in log
    finally:
        gui_errors.uninstall_exception_hooks()
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_cvstudio", False):
                root.removeHandler(handler)
                handler.close()
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(None)


def test_the_same_error_is_not_shown_twice(qtbot):
    first = gui_errors.show_error(None, "t", "Same message")
    second = gui_errors.show_error(None, "t", "Same message")
    assert first is not None and second is None
    _close_dialogs()


def test_apply_theme_switches_palettes(qapp):
    assert apply_theme("dark") == "dark"
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 128
    assert apply_theme("light") == "light"
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 128
    assert apply_theme("no-such-theme") in ("light", "dark")


def test_every_page_is_in_the_sidebar():
    assert [p.title for p in PAGES] == ["Data", "Model", "Train", "Evaluate", "Inspect", "Classify", "Runs", "Sweeps"]


def test_export_menu_follows_the_current_model_and_exports(qtbot, window, checkpoint, tmp_path, monkeypatch):
    assert not window.export_menu.isEnabled()
    with qtbot.waitSignal(window.checkpoint_opened, timeout=RUN_TIMEOUT_MS):
        window.open_checkpoint(checkpoint)
    assert window.export_menu.isEnabled()
    import cvstudio.gui.export_dialog as export_dialog

    calls = []
    monkeypatch.setattr(export_dialog, "export_current_model", lambda parent, state, fmt=None: calls.append(fmt))
    for action in window.export_menu.actions():
        action.trigger()
    assert calls == ["python", "torchscript", "onnx"]


def test_stop_and_quit_stays_open_when_the_checkpoint_cannot_be_saved(qtbot, window, monkeypatch):
    quit_asked: list[int] = []
    monkeypatch.setattr(window, "confirm_quit_with_unsaved_run", lambda: quit_asked.append(1) or False)
    _slow_run(window)
    runs = window.projects.project.runs_dir  # the window's runs go to its (default) project
    runs.rmdir()
    runs.write_text("a file where the runs folder should be")
    train = window.train_page
    with qtbot.waitSignal(train.plots.redrawn, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    _answer_close_dialog(monkeypatch, "Stop and quit", [])
    window.close()
    qtbot.waitUntil(lambda: not window.state.training, timeout=RUN_TIMEOUT_MS)
    qtbot.wait(50)  # the queued close would run now
    assert window.isVisible() and window.centralWidget().isEnabled()
    assert train.has_unsaved_run and train.unsaved_dialog.isVisible()
    assert "could not be saved" in train.result_banner.text()
    # a later close asks before losing the weights; Cancel keeps the window
    train.unsaved_dialog.close()
    window.close()
    assert window.isVisible() and quit_asked == [1]
    monkeypatch.setattr(window, "confirm_quit_with_unsaved_run", lambda: True)  # let the fixture close it
