"""The Data page: sources, class subsets, folder drops, statistics, samples and error messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from cvstudio.gui.state import AppState

LOAD_TIMEOUT_MS = 120_000  # the first load of the built-in shapes generates them


def make_folder(root: Path, classes: dict[str, int], size: int = 12, seed: int = 0) -> Path:
    """``root/<class>/<i>.png`` with random colour images."""
    rng = np.random.default_rng(seed)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def drag_enter(page, path: Path) -> bool:
    """Send a drag of ``path`` entering the page, as a file manager would; True if the page accepts it."""
    mime = QMimeData()  # the event does not own its mime data: keep it alive while the event is used
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    page.dragEnterEvent(event)
    return event.isAccepted()


def drop(page, path: Path) -> None:
    """Drop ``path`` onto the page (the same code path as a drop from a file manager)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    page.dropEvent(event)


@pytest.fixture
def state():
    import cvstudio.core.data  # noqa: F401 - what the main window imports in the background

    s = AppState()
    s.mark_torch_ready()
    return s


@pytest.fixture
def page(qtbot, state):
    from cvstudio.gui.pages.data import DataPage

    p = DataPage(state)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    qtbot.waitUntil(lambda: p._available is not None, timeout=10_000)
    yield p
    p.shutdown()


@pytest.fixture
def shapes_home(shared_cache_home, monkeypatch):
    """The built-in shapes are generated once per test session and read from this cache afterwards."""
    monkeypatch.setenv("CVSTUDIO_HOME", str(shared_cache_home))
    return shared_cache_home


def wait_loaded(qtbot, page, state):
    qtbot.waitUntil(lambda: not page.is_loading(), timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: page._described is state.dataset or state.dataset is None, timeout=10_000)


def class_table(page) -> list[tuple[str, ...]]:
    t = page.class_table
    return [tuple(t.item(r, c).text() for c in range(t.columnCount())) for r in range(t.rowCount())]


def test_page_module_does_not_import_torch():
    code = "import sys, cvstudio.gui.pages.data; assert 'torch' not in sys.modules, 'the page imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_shows_loading_until_torch_is_ready(qtbot):
    from cvstudio.gui.pages.data import DataPage

    state = AppState()
    page = DataPage(state)
    qtbot.addWidget(page)
    assert page._stack.currentWidget() is page._loading
    import cvstudio.core.data  # noqa: F401

    state.mark_torch_ready()
    assert page._stack.currentWidget() is page._content
    qtbot.waitUntil(lambda: page._available is not None, timeout=10_000)


def test_builtin_shapes_show_counts_stats_and_samples(page, state, qtbot, shapes_home):
    assert page.shapes_radio.isChecked()
    assert page.apply()
    assert state.dataset is None  # while loading
    wait_loaded(qtbot, page, state)
    bundle = state.dataset
    assert bundle is not None and state.data_config.source == "shapes"
    names = tuple(bundle.class_names)
    assert len(names) >= 2
    rows = class_table(page)
    assert [r[1] for r in rows] == list(names)
    assert [r[0] for r in rows] == [str(i) for i in range(len(names))]
    assert sum(int(r[2].replace(",", "")) for r in rows) == len(bundle.train)
    assert sum(int(r[3].replace(",", "")) for r in rows) == len(bundle.val)
    assert page.stats_table.rowCount() == 3
    assert page.stats_table.item(0, 1).text() == f"{bundle.mean[0]:.4f}"
    assert page.stats_table.item(2, 2).text() == f"{bundle.std[2]:.4f}"
    assert f"{bundle.mean[1]:.4f}" in page.normalize_label.text()
    assert page.image_grid.row_names == list(names)
    assert page.image_grid.image_count == len(names) * page.per_class_spin.value()
    assert page.banner.isHidden()


def test_class_subset_ticking_sets_the_classes_in_list_order(page, state, qtbot, shapes_home):
    names = page._available
    assert page.class_list.count() == len(names)
    page.none_button.click()
    assert page.selected_classes() == ()
    first, last = names[0], names[-1]
    page.class_list.item(len(names) - 1).setCheckState(Qt.CheckState.Checked)
    page.class_list.item(0).setCheckState(Qt.CheckState.Checked)
    assert page.selected_classes() == (first, last)  # list order, not click order
    item = page.class_list.takeItem(len(names) - 1)  # what dragging the last class to the top does
    page.class_list.insertItem(0, item)
    assert page.selected_classes() == (last, first)
    assert "not loaded yet" in page.pending_label.text()
    assert page.apply()
    assert state.data_config.classes == (last, first)
    wait_loaded(qtbot, page, state)
    assert tuple(state.dataset.class_names) == (last, first)
    assert [r[1] for r in class_table(page)] == [last, first]
    assert page.pending_label.text() == ""
    # every class ticked in the source's order is "all classes"
    page.all_button.click()
    page.class_list.clear()
    page._fill_class_list(names, ())
    assert page.config_from_controls().classes == ()


def test_one_or_no_class_ticked_is_refused_with_a_message(page, state):
    page.none_button.click()
    assert not page.apply()
    assert "Tick at least two classes" in page.banner.text()
    page.class_list.item(0).setCheckState(Qt.CheckState.Checked)
    assert not page.apply()
    assert "at least two classes" in page.banner.text()
    assert not page.is_loading() and state.dataset is None


def test_dropped_folder_loads(page, state, qtbot, tmp_path):
    folder = make_folder(tmp_path / "pets", {"cats": 10, "dogs": 10})
    assert drag_enter(page, folder)
    assert page._drop_overlay.isVisible()
    drop(page, folder)
    assert not page._drop_overlay.isVisible()
    wait_loaded(qtbot, page, state)
    assert page.banner.isHidden(), page.banner.text()
    assert state.data_config.source == str(folder)
    assert tuple(state.dataset.class_names) == ("cats", "dogs")
    assert page.folder_radio.isChecked() and page.folder_edit.text() == str(folder)
    assert [page.class_list.item(i).text() for i in range(page.class_list.count())] == ["cats", "dogs"]
    assert page.image_grid.row_names == ["cats", "dogs"]
    assert state.dataset.input_shape == (3, 32, 32)


def test_folder_options_reach_the_config(page, state, qtbot, tmp_path):
    folder = make_folder(tmp_path / "pets", {"cats": 10, "dogs": 10})
    drop(page, folder)
    wait_loaded(qtbot, page, state)
    page.grayscale_check.setChecked(True)
    page.image_size_spin.setValue(16)
    page.val_fraction_spin.setValue(0.3)
    assert "not loaded yet" in page.pending_label.text()
    assert page.apply()
    wait_loaded(qtbot, page, state)
    config = state.data_config
    assert (config.grayscale, config.image_size, config.val_fraction) == (True, 16, 0.3)
    assert state.dataset.input_shape == (1, 16, 16)
    assert page.stats_table.rowCount() == 1 and page.stats_table.item(0, 0).text() == "Gray"


def test_validation_share_is_disabled_with_a_reason_for_a_folder_with_its_own_split(page, state, qtbot, tmp_path):
    split = tmp_path / "parts"
    make_folder(split / "train", {"ok": 6, "bad": 6})
    make_folder(split / "test", {"ok": 2, "bad": 2}, seed=1)
    drop(page, split)
    wait_loaded(qtbot, page, state)
    qtbot.waitUntil(lambda: not page.tasks.busy("classes"), timeout=10_000)
    assert not page.val_fraction_spin.isEnabled()
    assert "own validation images in test/" in page.val_fraction_spin.toolTip()
    assert page.val_fraction_note.isVisibleTo(page) and "test/" in page.val_fraction_note.text()
    plain = make_folder(tmp_path / "pets", {"cats": 6, "dogs": 6})
    drop(page, plain)
    wait_loaded(qtbot, page, state)
    qtbot.waitUntil(lambda: not page.tasks.busy("classes"), timeout=10_000)
    assert page.val_fraction_spin.isEnabled()
    assert not page.val_fraction_note.isVisibleTo(page)


def test_folder_without_images_shows_a_message(page, state, qtbot, tmp_path):
    folder = tmp_path / "empty"
    for name in ("cats", "dogs"):
        (folder / name).mkdir(parents=True)
        (folder / name / "notes.txt").write_text("not an image")
    drop(page, folder)
    wait_loaded(qtbot, page, state)
    assert state.dataset is None
    assert not page.banner.isHidden() and page.banner.level == "error"
    assert page.banner.text()


def test_folder_with_one_class_shows_a_message(page, state, qtbot, tmp_path):
    folder = make_folder(tmp_path / "lonely", {"cats": 10})
    drop(page, folder)
    wait_loaded(qtbot, page, state)
    assert state.dataset is None
    assert not page.banner.isHidden() and page.banner.level == "error"
    assert page.banner.text()


def test_dropping_a_file_or_a_missing_path_is_explained(page, state, tmp_path):
    image = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(image)
    drop(page, image)
    assert "is a file" in page.banner.text()
    assert not page.open_folder(str(tmp_path / "nowhere"))
    assert "does not exist" in page.banner.text()
    page.folder_radio.setChecked(True)
    page.folder_edit.clear()
    assert not page.apply()
    assert "Choose an image folder" in page.banner.text()
    assert not page.is_loading()


def test_failed_load_keeps_the_previous_dataset(page, state, qtbot, tmp_path):
    good = make_folder(tmp_path / "good", {"a": 8, "b": 8})
    drop(page, good)
    wait_loaded(qtbot, page, state)
    previous = state.dataset
    assert previous is not None
    drop(page, make_folder(tmp_path / "bad", {"only": 8}))
    wait_loaded(qtbot, page, state)
    qtbot.waitUntil(lambda: "still loaded" in page.banner.text(), timeout=LOAD_TIMEOUT_MS)
    assert state.dataset is previous
    assert state.data_config.source == str(good)
    qtbot.waitUntil(lambda: page.image_grid.image_count > 0, timeout=10_000)


def test_unreadable_files_are_reported_as_warnings(page, state, qtbot, tmp_path):
    folder = make_folder(tmp_path / "pets", {"cats": 8, "dogs": 8})
    (folder / "cats" / "broken.png").write_bytes(b"definitely not a png")
    drop(page, folder)
    wait_loaded(qtbot, page, state)
    assert state.dataset is not None
    if state.dataset.warnings:
        assert not page.warnings_banner.isHidden()
        assert page.warnings_banner.level == "warning"
        assert state.dataset.warnings[0] in page.warnings_banner.text()


def test_missing_torchvision_files_suggest_download(page, state, qtbot, tmp_path):
    page.torchvision_radio.setChecked(True)
    page.torchvision_combo.setCurrentIndex(page.torchvision_combo.findData("mnist"))
    page.data_dir_edit.setText(str(tmp_path / "datasets"))
    page._on_source_edited()
    qtbot.waitUntil(lambda: not page.tasks.busy("classes"), timeout=10_000)
    page.banner.clear()
    if page._available is None:  # the class list itself needs the files: its message offers Download already
        page._available = ("0", "1")
        page._fill_class_list(page._available, ())
    assert page.apply()
    wait_loaded(qtbot, page, state)
    assert state.dataset is None
    assert not page.banner.isHidden() and page.banner.level == "error"
    assert page.banner._button.isVisible() and page.banner._button.text() == "Download"
    # the window speaks of its Download button, not of the command line's --download
    assert "press Download to fetch it" in page.banner.text()
    assert "--download" not in page.banner.text()


def test_cifar10_offers_the_cheatsheet_subset(page, state, qtbot, tmp_path):
    page.torchvision_radio.setChecked(True)
    page.torchvision_combo.setCurrentIndex(page.torchvision_combo.findData("cifar10"))
    page.data_dir_edit.setText(str(tmp_path / "datasets"))
    page._on_source_edited()
    assert page.cheatsheet_button.isVisibleTo(page)
    qtbot.waitUntil(lambda: not page.tasks.busy("classes"), timeout=10_000)
    if page._available is None:
        pytest.skip("the core lists CIFAR-10's classes only once it is downloaded")
    page.cheatsheet_button.click()
    assert page.selected_classes() == ("airplane", "bird")
    assert page.config_from_controls().classes == ("airplane", "bird")
    page.shapes_radio.setChecked(True)
    assert not page.cheatsheet_button.isVisibleTo(page)


def test_augmentation_changes_the_config_without_reloading(page, state):
    page.augment_box.checks["flip"].setChecked(True)
    page.augment_box.checks["crop"].setChecked(True)
    assert state.data_config.augment == "flip-crop"
    page.augment_box.checks["trivial"].setChecked(True)
    assert state.data_config.augment == "crop,flip,trivial"
    assert not page.is_loading()


def test_config_from_elsewhere_updates_the_controls(page, state, qtbot, tmp_path):
    import dataclasses

    folder = make_folder(tmp_path / "pets", {"cats": 6, "dogs": 6})
    state.set_data_config(dataclasses.replace(state.data_config, source=str(folder), classes=("dogs", "cats"),
                                              augment="flip-crop"))
    assert page.folder_radio.isChecked() and page.folder_edit.text() == str(folder)
    assert page.augment_box.value() == "flip-crop" and page.augment_box.checks["crop"].isChecked()
    qtbot.waitUntil(lambda: page._available == ("cats", "dogs"), timeout=10_000)
    assert page.selected_classes() == ("dogs", "cats")


def test_training_disables_changes(page, state, tmp_path):
    state.set_training(True)
    assert not page._controls.isEnabled()
    assert "training" in page.training_banner.text()
    drop(page, make_folder(tmp_path / "pets", {"cats": 4, "dogs": 4}))
    assert "cannot change" in page.banner.text()
    assert not page.is_loading()
    state.set_training(False)
    assert page._controls.isEnabled()


def test_dataset_loaded_elsewhere_is_shown(page, state, qtbot, tmp_path):
    """The main window loads the first dataset itself; the page shows whatever arrives in the state."""
    from cvstudio.core.data import load_dataset
    from cvstudio.core.specs import DataConfig

    folder = make_folder(tmp_path / "pets", {"cats": 6, "dogs": 6})
    config = DataConfig(source=str(folder))
    bundle = load_dataset(config)
    state.set_data_config(config)
    state.set_dataset(bundle)
    qtbot.waitUntil(lambda: page._described is bundle, timeout=10_000)
    assert [r[1] for r in class_table(page)] == ["cats", "dogs"]
    assert page.title_label.text() == bundle.description
    state.set_dataset(None)
    assert page.image_grid.image_count == 0


def test_shuffle_and_samples_per_class(page, state, qtbot, tmp_path):
    folder = make_folder(tmp_path / "pets", {"cats": 12, "dogs": 12})
    drop(page, folder)
    wait_loaded(qtbot, page, state)
    page.per_class_spin.setValue(3)
    qtbot.waitUntil(lambda: page.image_grid.image_count == 6, timeout=10_000)
    page.shuffle_button.click()
    qtbot.waitUntil(lambda: not page.tasks.busy("describe"), timeout=10_000)
    assert page.image_grid.image_count == 6


def test_download_progress_is_shown_in_megabytes(page):
    from cvstudio.core.events import Progress

    page._set_busy(True, "Downloading…")
    page._on_load_task_progress(Progress("download", 5e6, 20e6, "cifar-10-python.tar.gz"))
    assert page.progress_label.text() == "cifar-10-python.tar.gz: 5.0 of 20.0 MB"
    assert page.progress_bar.value() == 250 and page.progress_bar.maximum() == 1000
    page._on_load_task_progress(Progress("decode", 3, None))
    assert page.progress_bar.maximum() == 0  # busy: the total is unknown
    page._set_busy(False)
    assert page.progress_bar.isHidden() and page.load_button.isEnabled()


def test_dataset_loaded_elsewhere_leaves_no_pending_note(page, state, qtbot, tiny_bundle):
    """At start-up the main window loads the built-in data itself; the page must not claim it is unloaded."""
    assert "not loaded yet" in page.pending_label.text()
    state.set_dataset(tiny_bundle)  # the default DataConfig, as the window sets it
    qtbot.waitUntil(lambda: page.pending_label.text() == "", timeout=5000)


def test_cancel_keeps_the_previous_dataset(page, state, qtbot, tmp_path, caplog):
    good = make_folder(tmp_path / "good", {"a": 8, "b": 8})
    drop(page, good)
    wait_loaded(qtbot, page, state)
    previous = state.dataset
    big = make_folder(tmp_path / "big", {"x": 300, "y": 300}, size=24)
    drop(page, big)
    assert page.is_loading()
    assert page.cancel_button.isVisible() and page.cancel_button.isEnabled()
    page.cancel_button.click()  # before the event loop runs again: the stop comes long before 600 decodes end
    assert page.progress_label.text() == "Cancelling…"
    wait_loaded(qtbot, page, state)
    qtbot.waitUntil(lambda: "cancelled" in page.banner.text(), timeout=LOAD_TIMEOUT_MS)
    assert page.banner.level == "info"
    assert "still loaded" in page.banner.text()
    assert state.dataset is previous
    assert state.data_config.source == str(good)
    assert page.cancel_button.isHidden()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # a cancel is not logged as a bug
    drop(page, good)  # the page loads again after a cancel
    wait_loaded(qtbot, page, state)
    assert state.dataset is not None and state.dataset is not previous


def test_stage_eta_estimates_from_the_pace_of_the_current_stage():
    from cvstudio.gui.pages.data_jobs import StageEta, format_time_left

    eta = StageEta()
    assert eta.update("decode", 0.0, 100.0) is None  # the stage's clock starts
    assert eta.update("decode", 0.1, 100.5) is None  # too early to trust
    assert eta.update("decode", 0.25, 102.0) == pytest.approx(6.0)  # 25 % in 2 s -> 75 % in 6 s
    assert eta.update("decode", None, 103.0) is None  # unknown total
    assert eta.update("stats", 0.5, 103.0) is None  # a new stage starts its own clock
    assert eta.update("stats", 0.75, 105.0) == pytest.approx(2.0)
    assert format_time_left(6.0) == "about 6 s left"
    assert format_time_left(0.2) == "about 1 s left"
    assert format_time_left(150) == "about 3 min left"
    assert format_time_left(4800) == "about 1 h 20 min left"


def test_progress_line_shows_the_time_left(page, qtbot, monkeypatch):
    from cvstudio.core.events import Progress

    clock = iter([10.0, 12.0])
    monkeypatch.setattr("cvstudio.gui.pages.data.monotonic", lambda: next(clock))
    page._set_busy(True, "Loading…")
    page._on_load_task_progress(Progress("decode", 0, 1000))
    page._on_load_task_progress(Progress("decode", 400, 1000))
    assert page.progress_label.text() == "Decoding images: 40%, about 3 s left"
    page._set_busy(False)
