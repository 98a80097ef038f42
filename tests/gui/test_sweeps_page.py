"""The Sweeps page: grid from the panel, a real sweep of child processes (a stand-in training script), Stop, Use best."""

from __future__ import annotations

import dataclasses
import os
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from cvstudio.core.models import get_preset
from cvstudio.core.specs import DataConfig, LayerSpec, TrainConfig
from cvstudio.gui.main_window import PAGES
from cvstudio.gui.pages import sweeps as sweeps_page
from tests.conftest import make_tiny_bundle
from tests.gui.test_projects_gui import TIMEOUT_MS, close_window, make_window

SWEEP_PAGES = [p for p in PAGES if p.title in ("Runs", "Sweeps")]

# Stands in for `cvstudio train`: copies a real checkpoint into the project's runs/ after FAKE_DELAY seconds
# (or at once on SIGINT, reporting "stopped", as the real command does) and reports an accuracy made from
# its options, so the best trial is known.
FAKE_TRAIN = textwrap.dedent('''
    import json, os, shutil, signal, sys, time
    args = sys.argv[1:]
    assert args[0] == "train" and "--json" in args
    def option(name, default):
        return args[args.index(name) + 1] if name in args else default
    lr, width = float(option("--lr", "0.01")), int(option("--width", "8"))
    stopped = []
    signal.signal(signal.SIGINT, lambda *_: stopped.append(True))
    open(os.path.join(option("--project", ""), f"ready-{lr}"), "w").close()  # from now on a stop is a clean one
    start = time.monotonic()
    while time.monotonic() - start < float(os.environ["FAKE_DELAY"]) and not stopped:
        time.sleep(0.02)
    runs = os.path.join(option("--project", ""), "runs")
    os.makedirs(runs, exist_ok=True)
    checkpoint = os.path.join(runs, f"trial-lr{lr}-w{width}-{os.getpid()}.safetensors")
    shutil.copyfile(os.environ["FAKE_CHECKPOINT"], checkpoint)
    print(json.dumps({"event": "done", "status": "stopped" if stopped else "finished", "val_acc": 0.5 + lr + width / 1000,
                      "train_acc": 0.99, "val_loss": 1 - lr, "epochs": 1, "checkpoint": checkpoint}), flush=True)
''')


@pytest.fixture
def fake_train(tmp_path, monkeypatch):
    from cvstudio.core.runs import train_and_save

    checkpoint = tmp_path / "made-in-test.safetensors"
    train_and_save(get_preset("mlp", width=8), make_tiny_bundle(), TrainConfig(epochs=1, lr=0.07, device="cpu"),
                   DataConfig(), out=checkpoint)
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    monkeypatch.setattr(sweeps_page, "TRAIN_COMMAND", (sys.executable, str(script)))
    monkeypatch.setenv("FAKE_CHECKPOINT", str(checkpoint))
    monkeypatch.setenv("FAKE_DELAY", "0.2")
    return checkpoint


def sweeps_window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "proj", pages=SWEEP_PAGES)
    w.state.set_spec(get_preset("mlp", width=8))
    w.state.set_train_config(TrainConfig(epochs=1, lr=0.01, device="cpu"))
    page = w.page("Sweeps")
    w.show_page(w._page_index("Sweeps"))
    return w, page


def shown_column(page, name):
    column = page.model.names.index(name) if name in page.model.names else \
        len(page.model.names) + sweeps_page.RESULT_COLUMNS.index(name)
    return [page.proxy.index(r, column).data() for r in range(page.proxy.rowCount())]


def test_a_grid_defined_in_the_panel_runs_lists_plots_and_opens_the_best(qtbot, tmp_path, fake_train):
    w, page = sweeps_window(qtbot, tmp_path)
    assert "--model mlp --width 8" in page.base_edit.text() and page.base_banner.isHidden()
    assert page.progress.text() == "No sweep running"
    page.rows[0].values_edit.setText("0.1, 0.3")
    assert page.start_button.isEnabled() and page.plan_label.text().startswith("2 trial(s)")
    page.start_button.click()
    assert page.running and not page.start_button.isEnabled()
    qtbot.waitUntil(lambda: not page.running, timeout=TIMEOUT_MS)

    assert shown_column(page, "lr") == ["0.3", "0.1"]  # sorted by validation accuracy, best first
    assert shown_column(page, "Status") == ["finished", "finished"]
    assert shown_column(page, "Val acc") == ["0.8080", "0.6080"]
    assert page.queue_label.text().startswith("0 pending · 0 running · 2 finished")
    assert page.progress.value() == 2 and page.progress.maximum() == 2 and page.progress.text() == "2 of 2 trials ended"
    assert len(page.plot.trial_heights) == 2 and page.plot.line_accuracies == [pytest.approx(0.608), pytest.approx(0.808)]
    best_line = page.plot.trial_heights[-1]
    assert best_line[0] == 1.0 and best_line[-1] == 1.0  # lr 0.3 tops the lr axis and the accuracy axis

    runs = w.page("Runs")
    qtbot.waitUntil(lambda: runs.model.rowCount() == 2, timeout=TIMEOUT_MS)  # the trials are runs of the project
    w.state.set_train_config(TrainConfig(epochs=3, lr=0.5, device="cpu"))
    assert page.best_button.isEnabled()
    with qtbot.waitSignal(w.state.checkpoint_opened, timeout=TIMEOUT_MS):
        page.best_button.click()
    assert w.state.checkpoint_path.name.startswith("trial-lr0.3-")
    assert w.state.train_config.lr == 0.07  # the checkpoint's training settings became current
    close_window(w)


def test_stop_interrupts_the_running_trials_and_starts_no_more(qtbot, tmp_path, fake_train, monkeypatch):
    monkeypatch.setenv("FAKE_DELAY", "60")
    w, page = sweeps_window(qtbot, tmp_path)
    page.rows[0].values_edit.setText("0.1, 0.2, 0.3, 0.4")
    page.parallel_spin.setValue(2)
    page.start_button.click()
    qtbot.waitUntil(lambda: page.model.counts()["running"] == 2, timeout=TIMEOUT_MS)
    # (a trial interrupted while Python is still starting ends "failed": wait until both can stop cleanly)
    qtbot.waitUntil(lambda: len(list((tmp_path / "proj").glob("ready-*"))) == 2, timeout=TIMEOUT_MS)
    assert page.model.counts()["pending"] == 2 and page.stop_button.isEnabled()
    page.stop_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=30_000)  # far less than the trials' 60 s
    statuses = sorted(shown_column(page, "Status"))
    assert statuses == ["not run", "not run", "stopped", "stopped"]
    assert len(page.plot.trial_heights) == 0 and not page.best_button.isEnabled()  # a stopped trial is no result
    assert page.start_button.isEnabled()
    close_window(w)


def test_a_hand_edited_model_is_said_plainly_and_the_nearest_preset_offered(qtbot, tmp_path):
    w, page = sweeps_window(qtbot, tmp_path)
    base = get_preset("convnet")
    edited = dataclasses.replace(base, name="my net", layers=base.layers + (LayerSpec("dropout", p=0.1),))
    w.state.set_spec(edited)
    page.rows[0].values_edit.setText("0.1, 0.2")
    assert "edited by hand" in page.base_banner.text() and not page.start_button.isEnabled()
    assert "--model" not in page.base_edit.text()
    page.base_banner._button.click()  # "Sweep from convnet"
    assert "--model convnet" in page.base_edit.text() and "instead" not in page.base_banner.text()
    assert "not from the hand-edited model 'my net'" in page.base_banner.text()
    assert page.start_button.isEnabled()
    close_window(w)


def test_bad_grid_values_are_named_before_anything_runs(qtbot, tmp_path):
    w, page = sweeps_window(qtbot, tmp_path)
    page.rows[0].values_edit.setText("0.1, 0.1")
    assert "twice" in page.grid_error.text() and not page.start_button.isEnabled()
    page.rows[0].values_edit.setText("0.1, fast")
    assert page.start_button.isEnabled()  # a value's type is the train command's to check:
    assert "lr = fast" in sweeps_page.invalid_value(page.base_args, [("lr", ("0.1", "fast"))])
    row = page.add_row("lr", "0.5")
    assert "once" in page.grid_error.text() and not page.start_button.isEnabled()
    row.remove_button.click()
    QApplication.processEvents()
    assert page.start_button.isEnabled()
    close_window(w)


@pytest.mark.skipif(os.environ.get("CVSTUDIO_SCREENSHOTS") != "1", reason="writes docs/screenshots (CVSTUDIO_SCREENSHOTS=1)")
def test_screenshot_of_the_sweeps_panel(qtbot, tmp_path, fake_train):
    w, page = sweeps_window(qtbot, tmp_path)
    w.resize(1500, 860)
    page.rows[0].values_edit.setText("0.01, 0.05, 0.1, 0.2")
    page.add_row("width", "8, 16, 32")
    page.start_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=TIMEOUT_MS)
    assert len(page.plot.trial_heights) == 12
    QApplication.processEvents()
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "sweeps.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    assert w.grab().save(str(out))
    close_window(w)
