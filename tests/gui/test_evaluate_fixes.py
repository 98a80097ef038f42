"""Fixing mistakes from the Evaluate page: tile tooltips with paths, the image viewer, show in folder,
move to class with undo, and class names that fit their tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QDesktopServices, QFont, QFontMetrics
from PySide6.QtWidgets import QInputDialog

from cvstudio.gui.widgets.banner import ERROR, INFO
from cvstudio.gui.widgets.prediction_gallery import CARD_WIDTH, MAX_CARD_WIDTH, GalleryDelegate, GalleryModel, GallerySource
from tests.gui.test_evaluate_page import CLASSES, WAIT_MS, bundle, load, page, state, trained  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def folder_bundle(bundle, tmp_path_factory):  # noqa: F811 - the fixture above
    """The tiny data written as class folders, with a third of the validation images in the wrong folder."""
    from cvstudio.core.data import load_dataset
    from cvstudio.core.specs import DataConfig

    root = tmp_path_factory.mktemp("folder-data")
    for split, part in (("train", bundle.train), ("val", bundle.val)):
        for i, (image, label) in enumerate(zip(part.images.numpy(), part.labels.tolist())):
            if split == "val" and i % 3 == 0:
                label = (label + 1) % CLASSES  # mislabelled: the model will call it by its real class
            path = root / split / bundle.class_names[label] / f"{split}{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.transpose(1, 2, 0)).save(path)
    return load_dataset(DataConfig(source=str(root), image_size=32)), root


@pytest.fixture
def loaded(qtbot, page, state, folder_bundle, trained):  # noqa: F811
    data, root = folder_bundle
    load(qtbot, page, state, data, trained)
    return page, data, root


def test_tile_tooltip_gives_the_file_path(loaded):
    page, data, _ = loaded
    gallery = page.top_losses
    assert gallery.model.rowCount() > 0
    for row in range(min(5, gallery.model.rowCount())):
        index = int(gallery.indices[row])
        tip = gallery.model.tooltip(row).splitlines()
        assert tip[0] == data.val.paths[index] and Path(tip[0]).is_file()
        assert Path(tip[0]).parent.name == data.class_names[int(data.val.labels[index])]
        assert "Validation image" not in tip[0]


def test_double_click_opens_the_image_large_with_its_path(qtbot, loaded):
    page, data, _ = loaded
    gallery = page.top_losses
    gallery.view.doubleClicked.emit(gallery.model.index(0))  # what the view emits for a double-click
    viewer = page.fixes.viewer
    assert viewer is not None and viewer.isVisible()
    path = data.val.paths[int(gallery.indices[0])]
    assert viewer.path == path and path in viewer.path_label.text()
    assert viewer.move_button.isVisible() and viewer.folder_button.isVisible()
    pm = viewer.image_label.pixmap()
    assert not pm.isNull() and pm.width() >= 32  # the file itself, fitted to the window
    viewer.close()


def test_show_in_folder_opens_the_files_folder(loaded, monkeypatch):
    page, data, _ = loaded
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    path = data.val.paths[0]
    assert page.fixes.show_in_folder(path)
    assert opened == [str(Path(path).parent)]
    assert not page.fixes.show_in_folder(str(Path(path).parent / "gone" / "x.png"))
    assert page.banner.level == ERROR


def test_move_to_class_is_undoable(qtbot, loaded, monkeypatch):
    page, data, root = loaded
    gallery = page.top_losses
    index = int(gallery.indices[0])
    path = Path(data.val.paths[index])
    predicted = data.class_names[int(gallery.model.source.probs[index].argmax())]
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (predicted, True))
    page.fixes.open_viewer(gallery, index)
    page.fixes.viewer.move_button.click()  # asks which class (answered above), then moves
    moved = path.parent.parent / predicted / path.name
    assert moved.is_file() and not path.exists()
    assert page.banner.level == INFO and "Data page" in page.banner.text()
    assert page.undo_stack.undoText() == f"Move {path.name} to class {predicted}"
    assert page.fixes.viewer.path == str(moved)
    assert page.fixes.current_path(str(path)) == str(moved)  # what the card's menu acts on now
    assert f"Moved to class {predicted}" in gallery.model.tooltip(0)
    page.undo_stack.undo()
    assert path.is_file() and not moved.exists() and page.fixes.current_path(str(path)) == str(path)
    assert "Moved to class" not in gallery.model.tooltip(0) and page.fixes.viewer.path == str(path)
    page.undo_stack.redo()
    assert moved.is_file() and not path.exists()
    page.undo_stack.undo()
    assert path.is_file()
    # a move that cannot be done changes nothing and says why in one line
    assert not page.fixes.move_to_class(str(path), "../../outside")
    assert path.is_file() and page.banner.level == ERROR and "\n" not in page.banner.text()
    page.fixes.viewer.close()


def test_built_in_data_keeps_the_old_tooltip_and_cannot_move(qtbot, page, state, bundle, trained):  # noqa: F811
    load(qtbot, page, state, bundle, trained)
    gallery = page.cell_gallery if page.top_losses.model.rowCount() == 0 else page.top_losses
    if gallery.model.rowCount() == 0:
        page.show_cell(0, 0)
        gallery = page.cell_gallery
    assert gallery.model.tooltip(0).startswith("Validation image ")
    viewer = page.fixes.open_viewer(gallery, int(gallery.indices[0]))
    assert viewer.path is None and not viewer.move_button.isVisible() and not viewer.folder_button.isVisible()
    viewer.close()


def test_class_names_fit_their_tiles(qtbot):
    font = QFont()
    bold = QFont(font)
    bold.setWeight(QFont.Weight.DemiBold)
    names = ("airplane", "automobile")
    source = GallerySource(np.zeros((1, 3, 32, 32), np.uint8), np.zeros(1, np.int64), np.full((1, 2), 0.5, np.float32),
                           names, "Validation")
    model = GalleryModel()
    model.set_items(source, np.zeros(1, np.int64))
    width = GalleryDelegate(model).card_size(font).width()
    assert width >= CARD_WIDTH
    assert QFontMetrics(bold).horizontalAdvance("✗ automobile 100.0%") <= width - 10  # nothing elided
    long = GallerySource(source.images, source.labels, source.probs, ("x" * 300, "y"), "Validation")
    model.set_items(long, np.zeros(1, np.int64))
    assert GalleryDelegate(model).card_size(font).width() == MAX_CARD_WIDTH  # capped: elided, tooltip has it whole
    assert "x" * 300 in model.tooltip(0)
