"""Projects in the window: restore after restart, autosave, checkpoint context, runs browser, bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from cvstudio.core.models import get_preset
from cvstudio.core.projects import LOCK_FILE, load_project, release_lock
from cvstudio.core.specs import DataConfig, LayerSpec, TrainConfig
from cvstudio.gui import errors as gui_errors
from cvstudio.gui.main_window import PAGES, MainWindow
from tests.conftest import make_tiny_bundle

TIMEOUT_MS = 60_000
PAGES_USED = [p for p in PAGES if p.title in ("Train", "Runs")]


def make_window(qtbot, project: Path, pages=PAGES_USED) -> MainWindow:
    w = MainWindow(load_data=False, pages=pages, project_dir=project)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.state.torch_loaded, timeout=TIMEOUT_MS)
    return w


def close_window(w: MainWindow) -> None:
    w.close()
    for box in gui_errors.open_error_dialogs():
        box.close()
    for box in w.findChildren(QMessageBox):
        box.close()


def train_one_run(qtbot, w: MainWindow, lr: float) -> Path:
    w.state.set_dataset(make_tiny_bundle())
    w.state.set_train_config(TrainConfig(epochs=2, lr=lr, device="cpu"))
    with qtbot.waitSignal(w.train_page.run_finished, timeout=TIMEOUT_MS) as finished:
        w.train_page.start_training()
    return Path(finished.args[0].checkpoint)


def test_everything_comes_back_after_a_restart(qtbot, tmp_path):
    project = tmp_path / "proj"
    w = make_window(qtbot, project)
    assert (project / "project.json").is_file()  # a new project exists at once
    checkpoint = train_one_run(qtbot, w, lr=0.03)
    assert checkpoint.parent == project / "runs"  # runs are saved in the project
    spec = get_preset("convnet").with_layers(get_preset("convnet").layers + (LayerSpec("dropout", p=0.25),))
    spec = type(spec)("hand edited", spec.layers)
    w.state.set_spec(spec)
    w.state.set_data_config(DataConfig(source="shapes", classes=("star", "circle"), augment="flip-crop"))
    w.state.set_train_config(TrainConfig(epochs=7, lr=0.002, optimizer="adam", batch_size=32, device="cpu"))
    w.show_page(w._page_index("Runs"))
    with qtbot.waitSignal(w.projects.saved, timeout=5_000):  # autosaved after a short pause, without asking
        pass
    close_window(w)

    again = make_window(qtbot, project, pages=PAGES)  # every page: none may override what the project restores
    s = again.state
    assert s.spec == spec and s.data_config.classes == ("star", "circle") and s.data_config.augment == "flip-crop"
    assert s.train_config.lr == 0.002 and s.train_config.epochs == 7 and s.train_config.optimizer == "adam"
    assert again.stack.currentIndex() == again._page_index("Runs")
    qtbot.waitUntil(lambda: s.checkpoint_path == checkpoint, timeout=TIMEOUT_MS)  # the current model
    assert s.spec == spec  # the restored model did not replace the hand-edited spec
    assert again.page("Model").isEnabled()
    plots = again.train_page.plots
    qtbot.waitUntil(lambda: [r.checkpoint for r in plots.runs] == [checkpoint], timeout=TIMEOUT_MS)
    assert len(plots.runs[0].epochs) == 2 and plots.runs[0].epochs[-1].val_acc > 0
    assert "proj — CV Studio" == again.windowTitle()
    close_window(again)


def test_opening_a_checkpoint_offers_its_dataset_and_takes_its_training_settings(qtbot, tmp_path):
    from cvstudio.core.runs import train_and_save

    trained_on = DataConfig(source="shapes", classes=("ring", "bar"))
    out = tmp_path / "other-data.safetensors"
    train_and_save(get_preset("mlp", width=8), make_tiny_bundle(), TrainConfig(epochs=1, lr=0.07, device="cpu"),
                   trained_on, out=out)
    w = make_window(qtbot, tmp_path / "proj")
    assert w.state.data_config != trained_on
    with qtbot.waitSignal(w.state.checkpoint_data_offered, timeout=TIMEOUT_MS):
        w.open_checkpoint(out)
    assert w.state.train_config.lr == 0.07  # its training settings are on the Train page
    assert w.train_page.form_config().lr == 0.07
    box = next(b for b in w.findChildren(QMessageBox) if b.objectName() == "load_checkpoint_data")
    qtbot.waitUntil(box.isVisible, timeout=5_000)
    load = next(b for b in box.buttons() if b.text() == "Load its dataset")
    load.click()
    qtbot.waitUntil(lambda: w.state.dataset is not None and w.state.dataset.class_names == ("ring", "bar"),
                    timeout=TIMEOUT_MS)
    assert w.state.data_config == trained_on
    close_window(w)


def test_runs_browser_lists_filters_notes_diffs_overlays_and_trashes(qtbot, tmp_path):
    project = tmp_path / "proj"
    w = make_window(qtbot, project)
    first = train_one_run(qtbot, w, lr=0.03)
    second = train_one_run(qtbot, w, lr=0.01)
    w.train_page.plots.clear_runs()
    runs = w.page("Runs")
    qtbot.waitUntil(lambda: runs.model.rowCount() == 2, timeout=TIMEOUT_MS)
    assert {r.checkpoint for r in runs.model.records} == {first, second}

    from cvstudio.gui.pages.runs import COLUMNS

    runs.proxy.sort(COLUMNS.index("Time"), Qt.SortOrder.DescendingOrder)  # numbers sort as numbers
    shown = [runs.model.record(runs.proxy.mapToSource(runs.proxy.index(i, 0)).row()).seconds for i in range(2)]
    assert shown == sorted(shown, reverse=True)
    runs.filter_edit.setText("0.01")  # the LR column of the second run only
    assert runs.proxy.rowCount() == 1
    runs.filter_edit.setText("")

    row = next(i for i, r in enumerate(runs.model.records) if r.checkpoint == first)
    notes = runs.model.index(row, runs.model.columnCount() - 1)
    tags = runs.model.index(row, runs.model.columnCount() - 2)
    assert runs.model.setData(notes, "lr 0.03 was better")
    assert runs.model.setData(tags, "baseline, cpu, baseline")
    assert w.projects.save_now()
    saved = json.loads((project / "project.json").read_text())["runs"][first.stem]
    assert saved == {"notes": "lr 0.03 was better", "tags": ["baseline", "cpu"]}

    runs.select_ids([first.stem, second.stem])
    dialog = runs.diff_dialog()
    assert "train.lr" in dialog.differences and "model" not in dialog.differences
    dialog.close()

    runs.overlay_button.click()
    qtbot.waitUntil(lambda: len(w.train_page.plots.runs) == 2, timeout=TIMEOUT_MS)

    runs.select_ids([first.stem])
    with qtbot.waitSignal(w.checkpoint_opened, timeout=TIMEOUT_MS):
        runs.open_button.click()  # its model and settings become current
    assert w.state.checkpoint_path == first and w.state.train_config.lr == 0.03

    runs.select_ids([second.stem])
    runs.trash_button.click()
    assert not second.exists() and (project / "trash" / second.name).is_file()
    assert [r.checkpoint for r in runs.model.records] == [first]
    close_window(w)


def test_many_runs_overlay_a_few_per_event_loop_turn_and_are_kept_while_waiting(qtbot, tmp_path):
    """Overlaying (or restoring) dozens of runs must not freeze the window: ~7 ms of pyqtgraph items a run."""
    import shutil

    from cvstudio.gui.projects import OVERLAY_SLICE, read_run_histories

    project = tmp_path / "proj"
    w = make_window(qtbot, project)
    first = train_one_run(qtbot, w, lr=0.03)
    w.train_page.plots.clear_runs()
    copies = [first.with_name(f"{first.stem}-copy{i:02d}{first.suffix}") for i in range(3 * OVERLAY_SLICE)]
    for copy in copies:
        shutil.copy(first, copy)
    histories = read_run_histories([str(c) for c in copies])
    plots = w.train_page.plots

    w.projects._on_curves_read(histories)
    assert len(plots.runs) == 0  # queued: drawn from the next turns of the event loop
    QApplication.processEvents()
    assert 0 < len(plots.runs) <= OVERLAY_SLICE
    assert w.projects.save_now()  # saved while some still wait: all of them are kept
    saved = json.loads((project / "project.json").read_text())["ui"]["overlaid_runs"]
    assert sorted(saved) == sorted(c.stem for c in copies)
    qtbot.waitUntil(lambda: len(plots.runs) == len(copies), timeout=5_000)

    w.train_page.plots.clear_runs()
    w.projects._on_curves_read(histories)
    QApplication.processEvents()
    w.train_page.clear_button.setEnabled(True)
    w.train_page.clear_button.click()  # the ones still waiting are cleared too
    qtbot.wait(100)
    assert len(plots.runs) == 0
    close_window(w)


def test_autosave_writes_off_the_gui_thread_one_write_at_a_time_newest_last(qtbot, tmp_path, monkeypatch):
    """An fsync can take seconds on a busy disk (a checkpoint just written): the autosave must not wait for it on
    the GUI thread. Changes made while a write hangs are written after it, the newest settings last, and an
    explicit save waits for the write in flight rather than racing it for project.json."""
    import threading

    from cvstudio.core import projects as core_projects
    from cvstudio.gui import projects as gui_projects

    project = tmp_path / "proj"
    w = make_window(qtbot, project)
    release_write = threading.Event()
    writes: list[tuple[bool, float]] = []  # (on the GUI thread, lr written)
    real_write = gui_projects.write_project_text

    def slow_write(text, *where):
        writes.append((threading.current_thread() is threading.main_thread(), json.loads(text)["train_config"]["lr"]))
        if len(writes) == 1:
            assert release_write.wait(10), "the test never released the first write"
        return real_write(text, *where)

    monkeypatch.setattr(gui_projects, "write_project_text", slow_write)
    monkeypatch.setattr(core_projects, "write_project_text", slow_write)  # what save_project (save_now) calls
    w.state.set_train_config(TrainConfig(lr=0.11, device="cpu"))
    qtbot.waitUntil(lambda: len(writes) == 1, timeout=5_000)  # the first write now hangs in its worker
    for lr in (0.12, 0.13):  # the GUI goes on; these wait behind it, the newest replacing the older
        w.state.set_train_config(TrainConfig(lr=lr, device="cpu"))
        qtbot.wait(gui_projects.AUTOSAVE_DELAY_MS + 150)
    assert len(writes) == 1 and json.loads((project / "project.json").read_text())["train_config"]["lr"] != 0.11
    with qtbot.waitSignal(w.projects.saved, timeout=5_000) as saved:
        release_write.set()
    assert Path(saved.args[0]).resolve() == (project / "project.json").resolve()
    qtbot.waitUntil(lambda: json.loads((project / "project.json").read_text())["train_config"]["lr"] == 0.13,
                    timeout=5_000)
    assert writes == [(False, 0.11), (False, 0.13)]  # 0.12 was superseded while it waited

    release_write.clear()
    writes.clear()
    w.state.set_train_config(TrainConfig(lr=0.14, device="cpu"))
    qtbot.waitUntil(lambda: len(writes) == 1, timeout=5_000)  # hangs again
    w.state.set_train_config(TrainConfig(lr=0.15, device="cpu"))
    threading.Timer(0.3, release_write.set).start()
    assert w.projects.save_now()  # waits for the write in flight, then writes the newest itself
    assert writes == [(False, 0.14), (True, 0.15)]
    assert json.loads((project / "project.json").read_text())["train_config"]["lr"] == 0.15
    close_window(w)


def test_a_damaged_project_opens_says_what_is_missing_and_keeps_a_backup(qtbot, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    damaged = '{"format_version": 1, "train_config": {"lr": 0.5'
    (project / "project.json").write_text(damaged)
    w = make_window(qtbot, project)
    box = next(b for b in w.findChildren(QMessageBox) if b.objectName() == "project_problems")
    qtbot.waitUntil(box.isVisible, timeout=5_000)
    lines = box.text().splitlines()
    assert any("damaged" in line for line in lines) and any(".bak" in line for line in lines)
    assert w.state.train_config.lr == 0.01  # the defaults
    w.state.set_train_config(TrainConfig(lr=0.2))
    assert w.projects.save_now()
    assert (project / "project.json.bak").read_text() == damaged
    assert json.loads((project / "project.json").read_text())["train_config"]["lr"] == 0.2
    close_window(w)


def test_a_project_open_elsewhere_opens_read_only_and_is_never_written(qtbot, tmp_path):
    project = tmp_path / "proj"
    load_project(project).project  # noqa: B018 - makes the folder
    release_lock(project)
    from cvstudio.core.projects import Project, save_project

    save_project(Project(project.absolute(), train_config=TrainConfig(lr=0.4)))
    before = (project / "project.json").read_bytes()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (project / LOCK_FILE).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))
        w = make_window(qtbot, project)
        assert w.projects.read_only and "(read-only)" in w.windowTitle()
        assert w.state.train_config.lr == 0.4
        w.state.set_train_config(TrainConfig(lr=0.3))
        assert not w.projects.save_now()
        close_window(w)
        assert (project / "project.json").read_bytes() == before
        assert json.loads((project / LOCK_FILE).read_text())["pid"] == other.pid  # not ours to remove
    finally:
        other.kill()
        other.wait()


@pytest.mark.skipif(os.environ.get("CVSTUDIO_SCREENSHOTS") != "1", reason="writes docs/screenshots (CVSTUDIO_SCREENSHOTS=1)")
def test_screenshot_of_the_runs_browser(qtbot, tmp_path):
    project = tmp_path / "experiments"
    w = make_window(qtbot, project)
    w.resize(1560, 520)
    checkpoints = [train_one_run(qtbot, w, lr=lr) for lr in (0.05, 0.005)]
    w.state.set_spec(get_preset("mlp", width=64))
    checkpoints.append(train_one_run(qtbot, w, lr=0.02))
    runs = w.page("Runs")
    qtbot.waitUntil(lambda: runs.model.rowCount() == 3, timeout=TIMEOUT_MS)
    row = next(i for i, r in enumerate(runs.model.records) if r.checkpoint == checkpoints[0])
    runs.model.setData(runs.model.index(row, runs.model.columnCount() - 2), "baseline")
    runs.model.setData(runs.model.index(row, runs.model.columnCount() - 1), "first try, lr 0.05")
    runs.select_ids([checkpoints[0].stem, checkpoints[1].stem])
    w.show_page(w._page_index("Runs"))
    QApplication.processEvents()
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "runs-browser.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    assert w.grab().save(str(out))
    close_window(w)


def test_gui_command_opens_a_project_folder_and_the_default_project_otherwise(qtbot, tmp_path, monkeypatch):
    from cvstudio import cli
    from cvstudio.core.projects import default_project_dir
    from cvstudio.gui import app

    calls = []
    monkeypatch.setattr(app, "run_app", lambda checkpoint_path=None, project_dir=None: calls.append(
        (checkpoint_path, project_dir)) or 0)
    assert cli.main(["gui", str(tmp_path)]) == 0
    assert cli.main(["gui", str(tmp_path / "x.safetensors")]) == 0
    assert cli.main(["gui", str(tmp_path / "new-project")]) == 0
    assert calls == [(None, str(tmp_path)), (str(tmp_path / "x.safetensors"), None), (None, str(tmp_path / "new-project"))]

    w = make_window(qtbot, None)
    assert w.projects.folder == default_project_dir().absolute() and (default_project_dir() / "project.json").is_file()
    close_window(w)


def test_the_dataset_of_the_project_is_loaded_at_start(qtbot, tmp_path):
    from cvstudio.core.projects import Project, save_project

    project = tmp_path / "proj"
    save_project(Project(project.absolute(), data_config=DataConfig(source="shapes", classes=("star", "circle"))))
    w = MainWindow(pages=PAGES_USED, project_dir=project)  # load_data: the start-up loader reads the project's data
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.state.dataset is not None, timeout=TIMEOUT_MS)
    assert w.state.dataset.class_names == ("star", "circle")
    close_window(w)


def test_switching_projects_swaps_settings_and_curves(qtbot, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    w = make_window(qtbot, first)
    assert str(first.absolute() / "runs") in w.train_page.result_hint.text()  # where a run will be saved
    checkpoint = train_one_run(qtbot, w, lr=0.04)
    assert w.project_menu.open_project(second)
    assert w.train_page.plots.runs == [] and w.windowTitle().startswith("b —")
    assert str(second.absolute() / "runs") in w.train_page.result_hint.text()
    w.state.set_train_config(TrainConfig(lr=0.3, device="cpu"))
    assert w.project_menu.open_project(first)
    assert w.state.train_config.lr == 0.04
    qtbot.waitUntil(lambda: [r.checkpoint for r in w.train_page.plots.runs] == [checkpoint], timeout=TIMEOUT_MS)
    assert json.loads((second / "project.json").read_text())["train_config"]["lr"] == 0.3  # written on leaving
    close_window(w)


def test_save_project_as_copies_runs_and_continues_in_the_copy(qtbot, tmp_path):
    first, copy = tmp_path / "a", tmp_path / "copy"
    w = make_window(qtbot, first)
    checkpoint = train_one_run(qtbot, w, lr=0.04)
    w.projects.set_note(checkpoint.stem, "kept in the copy")
    done = []
    w.projects.save_as(copy, on_done=done.append, on_error=pytest.fail)
    qtbot.waitUntil(lambda: bool(done), timeout=TIMEOUT_MS)
    copied = copy / "runs" / checkpoint.name
    assert copied.read_bytes() == checkpoint.read_bytes() and w.projects.folder == copy.absolute()
    assert w.state.checkpoint_path == copied and w.state.runs_folder == copy.absolute() / "runs"
    saved = json.loads((copy / "project.json").read_text())
    assert saved["current_run"] == checkpoint.stem and saved["ui"]["overlaid_runs"] == [checkpoint.stem]
    assert saved["runs"][checkpoint.stem]["notes"] == "kept in the copy" and saved["train_config"]["lr"] == 0.04
    errors = []
    w.projects.save_as(first, on_error=errors.append)  # a folder holding a project is not overwritten
    assert errors and "holds a project already" in errors[0]
    close_window(w)


def test_a_checkpoint_whose_data_folder_is_gone_says_so_and_offers_nothing(qtbot, tmp_path):
    from cvstudio.core.runs import train_and_save

    out = tmp_path / "gone-data.safetensors"
    train_and_save(get_preset("mlp", width=8), make_tiny_bundle(), TrainConfig(epochs=1, device="cpu"),
                   DataConfig(source=str(tmp_path / "photos-removed")), out=out)
    w = make_window(qtbot, tmp_path / "proj")
    offered = []
    w.state.checkpoint_data_offered.connect(offered.append)
    with qtbot.waitSignal(w.checkpoint_opened, timeout=TIMEOUT_MS):
        w.open_checkpoint(out)
    assert offered == [] and w.state.checkpoint_path == out
    assert "cannot be loaded here" in w.activity_label.text() and "photos-removed" in w.activity_label.text()
    close_window(w)


def test_a_checkpoint_with_settings_beyond_the_forms_keeps_the_current_ones(qtbot, tmp_path):
    from cvstudio.core.runs import train_and_save

    out = tmp_path / "big-seed.safetensors"
    train_and_save(get_preset("mlp", width=8), make_tiny_bundle(), TrainConfig(epochs=1, seed=2**40, lr=0.09,
                   device="cpu"), DataConfig(), out=out)  # a CLI run may use seeds the Train page cannot show
    w = make_window(qtbot, tmp_path / "proj")
    before = w.state.train_config
    with qtbot.waitSignal(w.checkpoint_opened, timeout=TIMEOUT_MS):
        w.open_checkpoint(out)
    assert w.state.train_config == before and w.state.checkpoint_path == out
    assert "were not taken: seed" in w.activity_label.text()
    close_window(w)


def test_an_unusable_project_folder_falls_back_to_the_default_project_and_says_so(qtbot, tmp_path):
    from cvstudio.core.projects import default_project_dir

    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("a file")
    w = make_window(qtbot, not_a_folder)
    assert w.projects.folder == default_project_dir().absolute()
    box = next(b for b in w.findChildren(QMessageBox) if b.objectName() == "project_problems")
    assert f"could not open the project {not_a_folder}" in box.text() and "is a file" in box.text()
    assert not_a_folder.read_text() == "a file"
    close_window(w)
