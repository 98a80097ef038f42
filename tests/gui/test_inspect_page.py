"""The Inspect page: kernels, feature maps, the kernel playground and exports (pytest-qt, offscreen)."""

import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage

from cvstudio.gui.pages.inspect import InspectPage
from cvstudio.gui.state import AppState
from tests.conftest import make_tiny_bundle

WAIT_MS = 15_000


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """A convnet trained for two epochs on 32x32 tiny data, saved as a checkpoint."""
    from cvstudio.core.models import get_preset
    from cvstudio.core.runs import train_and_save
    from cvstudio.core.specs import TrainConfig

    bundle = make_tiny_bundle(n_train=256, n_val=64, classes=4, size=32)
    out = tmp_path_factory.mktemp("ckpt") / "convnet.safetensors"
    outcome = train_and_save(get_preset("convnet"), bundle, TrainConfig(epochs=2, device="cpu"), out=out)
    assert outcome.checkpoint == out
    return out


@pytest.fixture
def bundle():
    return make_tiny_bundle(n_train=64, n_val=32, classes=4, size=32)


@pytest.fixture
def state():
    return AppState()


@pytest.fixture
def page(qtbot, state):
    page = InspectPage(state)
    # pytest-qt closes and deletes the widget before fixtures end: let its worker jobs finish first
    qtbot.addWidget(page, before_close_func=lambda w: qtbot.waitUntil(lambda: w.idle, timeout=WAIT_MS))
    page.resize(1240, 780)
    page.show()
    return page


def ready(qtbot, page, state, bundle=None):
    state.mark_torch_ready()
    if bundle is not None:
        state.set_dataset(bundle)
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)


def open_trained(qtbot, page, path):
    with qtbot.waitSignal(page.kernels_drawn, timeout=WAIT_MS):
        page.open_checkpoint(path)
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)


def set_model(state, preset, classes=4, shape=(3, 32, 32)):
    from cvstudio.core.checkpoints import CheckpointMeta
    from cvstudio.core.models import build_model, get_preset

    spec = get_preset(preset)
    model = build_model(spec, shape, classes).eval()
    meta = CheckpointMeta(model_spec=spec, class_names=tuple(f"class{k}" for k in range(classes)), input_shape=shape,
                          mean=(0.4,) * shape[0], std=(0.3,) * shape[0], dataset="test")
    state.set_model(model, meta, None)
    return model


def test_page_module_does_not_import_torch():
    code = "import sys, cvstudio.gui.pages.inspect; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_shows_loading_until_torch_is_ready(qtbot, page, state):
    assert page._stack.currentWidget() is page._loading
    ready(qtbot, page, state)
    assert page._stack.currentWidget() is page._content
    # no model yet: both model tabs explain what to do, with a way to open a checkpoint
    assert page.kernels.stack.currentWidget() is page.kernels.explanation
    assert "No model" in page.kernels.explanation.title.text()
    assert not page.kernels.explanation.button.isHidden()


def test_kernels_of_a_trained_checkpoint(qtbot, page, state, bundle, trained_checkpoint):
    from cvstudio.core.checkpoints import load_checkpoint

    ready(qtbot, page, state, bundle)
    open_trained(qtbot, page, trained_checkpoint)
    assert state.checkpoint_path == trained_checkpoint
    assert page.kernels.stack.currentWidget() is page.kernels.content
    assert "convnet" in page.model_label.text() and trained_checkpoint.name in page.model_detail.text()

    model = load_checkpoint(trained_checkpoint).model
    grid = page.kernels.grid
    assert [page.kernels.layer_combo.itemData(i) for i in range(page.kernels.layer_combo.count())] == ["conv1", "conv2"]
    # first layer: 16 colour kernels with a symmetric scale
    assert page.kernels.layer == "conv1" and grid.view_mode == "rgb" and grid.display.rgb
    assert grid.display.mosaic.count == 16
    w1 = model.conv1.weight.detach().numpy()
    np.testing.assert_allclose(grid.weights, w1)
    assert grid.display.levels == pytest.approx((-np.abs(w1).max(), np.abs(w1).max()))

    # a deeper layer: RGB is not possible, per input channel grey tiles with the diverging colour bar
    page.kernels.set_layer("conv2")
    assert grid.view_mode == "channels" and not page.kernels.view_radios["rgb"].isEnabled()
    assert grid.display.mosaic.count == 8 * 16 and not grid.display.rgb and grid.colorbar.isVisible()
    lo, hi = grid.display.levels
    assert lo == -hi and grid.colorbar.levels() == pytest.approx((lo, hi))
    page.kernels.view_radios["mean"].click()
    assert grid.view_mode == "mean" and grid.display.mosaic.count == 8
    np.testing.assert_allclose(grid.display.levels[1], np.abs(model.conv2.weight.detach().numpy().mean(axis=1)).max(),
                               rtol=1e-6)

    # hover text names the kernel and its weights; a click shows its numbers
    line, tip = grid.describe(3, 1, 2)
    w2 = model.conv2.weight.detach().numpy()
    assert "kernel 3" in line and f"{w2[3].mean(axis=0)[1, 2]:+.3f}" in line and "conv2 kernel 3" in tip
    with qtbot.waitSignal(grid.kernel_clicked) as clicked:
        grid.tile_clicked.emit(5, 0, 0)
    assert clicked.args == [5]
    assert page.kernels.numbers.kernel.shape == (16, 3, 3)
    np.testing.assert_allclose(page.kernels.numbers.kernel, w2[5])
    assert "kernel 5 of 8" in page.kernels.detail_title.text()


def test_hover_over_the_grid_reads_a_kernel(qtbot, page, state, bundle, trained_checkpoint):
    ready(qtbot, page, state, bundle)
    open_trained(qtbot, page, trained_checkpoint)
    grid = page.kernels.grid
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)  # the trained model's kernels are drawn, not the last model's
    qtbot.waitUntil(lambda: grid.graphics.isVisible())
    top, left = grid.display.mosaic.tile_origin(6)
    scene_pos = grid.image_item.mapToScene(QPointF(left + 1.5, top + 1.5))
    grid._on_scene_mouse_moved(scene_pos)
    assert grid.info.text().startswith("kernel 6 ·")


def test_feature_maps_switch_layers_and_images(qtbot, page, state, bundle, trained_checkpoint, tmp_path):
    ready(qtbot, page, state, bundle)
    with qtbot.waitSignal(page.features_drawn, timeout=WAIT_MS):
        open_trained(qtbot, page, trained_checkpoint)
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    page.tabs.setCurrentWidget(page.features)
    names = [m.name for m in page.features.maps]
    assert names[:4] == ["input", "conv1", "act1", "pool1"] and names[-1] == "fc2"
    assert page.features.layer == "conv1"
    assert page.features.grid.display.mosaic.count == 16
    assert "16×32×32" in page.features.grid.title.text()
    # the input as the model sees it: normalized values, and the picture denormalized again
    inp = page.features.maps[0]
    np.testing.assert_allclose(inp.values[0], (bundle.val.images[0, 0].numpy() / 255 - bundle.mean[0]) / bundle.std[0],
                               rtol=1e-5, atol=1e-5)
    assert "normalized" in page.picker.detail.text()
    page.features.set_layer("input")
    assert "mean (0.400, 0.400, 0.400)" in page.features.grid.subtitle.text()
    page.features.set_layer("conv1")
    assert "The model says" in page.features.prediction.text()

    page.features.set_layer("pool1")
    assert page.features.grid.values.shape == (16, 16, 16)
    page.features.set_layer("fc2")
    assert page.features.grid.values.shape == (4,)
    assert page.features.grid.describe(0, 0, 1).startswith("class 'class1'")
    page.features.relative_check.setChecked(True)
    assert page.features.grid.display.relative

    before = page.features.grid.values.copy()
    with qtbot.waitSignal(page.features_drawn, timeout=WAIT_MS):
        page.select_dataset_image("val", 5)
    assert page.image.index == 5 and page.features.layer == "fc2"  # the layer choice is kept
    assert not np.array_equal(before, page.features.grid.values)
    assert page.picker.caption.text() == "class1"  # image 5 of 4 classes has label 1
    assert page.picker.detail.text().startswith("Validation image 6 of 32")

    # any image file, resized to the model's input
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 60, 3), dtype=np.uint8)).save(path)
    with qtbot.waitSignal(page.features_drawn, timeout=WAIT_MS):
        page.open_image_file(path)
    assert page.pixels.shape == (3, 32, 32) and page.picker.caption.text() == "photo.png"

    # a file that is not an image: a message, and the page keeps working
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    page.open_image_file(bad)
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    assert "Could not use this image" in page.banner.text() and "notes.png" in page.banner.text()


def test_class_filter_and_stepping_through_images(qtbot, page, state, bundle):
    ready(qtbot, page, state, bundle)
    set_model(state, "convnet")
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    picker = page.picker
    picker.class_combo.setCurrentIndex(picker.class_combo.findData(2))
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    assert page.image.label == 2 and picker.index_spin.suffix() == " of 8"
    picker.next_button.click()
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    assert page.image.label == 2 and page.image.index == 6  # the second image of class 2 (labels cycle 0..3)
    picker.random_button.click()
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    assert page.image.label == 2


def test_model_without_convs_is_explained(qtbot, page, state, bundle):
    ready(qtbot, page, state, bundle)
    with qtbot.waitSignal(page.features_drawn, timeout=WAIT_MS):
        set_model(state, "mlp")
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    assert page.kernels.stack.currentWidget() is page.kernels.explanation
    assert "No convolution layers" in page.kernels.explanation.title.text()
    assert "3,072 numbers" in page.kernels.explanation.text.text()
    assert "no convolution layers" in page.features.banner.text()
    # the layers still show their outputs, as vectors
    assert all(m.values.ndim == 1 for m in page.features.maps[1:])
    assert page.features.grid.display is not None
    # a convnet afterwards brings the kernels back
    with qtbot.waitSignal(page.kernels_drawn, timeout=WAIT_MS):
        set_model(state, "convnet")
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    assert page.kernels.stack.currentWidget() is page.kernels.content
    assert page.features.banner.text() == ""


def test_playground_presets_shapes_and_edits(qtbot, page, state, bundle):
    ready(qtbot, page, state, bundle)  # no model needed
    pg_tab = page.playground
    page.tabs.setCurrentWidget(pg_tab)
    assert pg_tab.picker_slot.indexOf(page.picker) >= 0  # the image picker moved to the shown tab
    qtbot.waitUntil(lambda: pg_tab.output is not None and page.idle, timeout=WAIT_MS)
    assert pg_tab.preset_combo.currentData() == "vertical edge"

    def settle():
        qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)

    assert pg_tab.output.shape == (32, 32)  # padding 1 keeps 32x32
    pg_tab.padding_spin.setValue(0)
    settle()
    assert pg_tab.output.shape == (30, 30) and "32×32" in pg_tab.shape_label.text() and "30×30" in pg_tab.shape_label.text()
    pg_tab.padding_spin.setValue(1)
    pg_tab.pool_check.setChecked(True)
    settle()
    assert pg_tab.output.shape == (16, 16) and "max-pool 2" in pg_tab.shape_label.text()
    pg_tab.pool_check.setChecked(False)
    pg_tab.stride_spin.setValue(2)
    settle()
    assert pg_tab.output.shape == (16, 16) and "stride=2" in pg_tab.code.toPlainText()
    pg_tab.stride_spin.setValue(1)
    settle()

    # the output is nn.Conv2d of the image with the kernel
    from cvstudio.core.inspect import PLAYGROUND_KERNELS, apply_kernel

    np.testing.assert_allclose(pg_tab.output, apply_kernel(page.pixels, PLAYGROUND_KERNELS["vertical edge"], 1), rtol=1e-5)

    # presets
    pg_tab.preset_combo.setCurrentIndex(pg_tab.preset_combo.findData("box blur"))
    pg_tab.preset_combo.activated.emit(pg_tab.preset_combo.currentIndex())
    settle()
    np.testing.assert_allclose(pg_tab.kernel(), np.full((3, 3), 1 / 9), rtol=1e-6)
    assert pg_tab.output.min() >= 0 and not pg_tab.output_view.display.diverging  # a blur of pixels stays positive

    # edit a cell: a fraction is accepted, the preset becomes "custom" and the output follows
    table = pg_tab.table
    table.item(1, 1).setText("1/2")
    settle()
    assert pg_tab.kernel()[1, 1] == pytest.approx(0.5) and pg_tab.preset_combo.currentData() == "custom"
    expected = np.full((3, 3), 1 / 9, np.float32)
    expected[1, 1] = 0.5
    np.testing.assert_allclose(pg_tab.output, apply_kernel(page.pixels, expected, 1), rtol=1e-5)
    # nonsense is refused with a message and the old value comes back
    table.item(0, 0).setText("abc")
    assert table.item(0, 0).text() == "0.1111" and "not a weight" in pg_tab.banner.text()
    # editing back to a preset's values names the preset again
    pg_tab.set_kernel(PLAYGROUND_KERNELS["laplacian"])
    settle()
    assert pg_tab.preset_combo.currentData() == "laplacian"

    # 5x5 kernels: the 3x3 one is kept in the middle; padding 1 then shrinks the image by 2
    pg_tab.size_combo.setCurrentIndex(pg_tab.size_combo.findData(5))
    pg_tab.size_combo.activated.emit(pg_tab.size_combo.currentIndex())
    settle()
    assert pg_tab.kernel().shape == (5, 5) and pg_tab.kernel()[2, 2] == -4 and pg_tab.output.shape == (30, 30)


def test_export_png_and_npy(qtbot, page, state, bundle, trained_checkpoint, tmp_path):
    ready(qtbot, page, state, bundle)
    open_trained(qtbot, page, trained_checkpoint)
    qtbot.waitUntil(lambda: page.features.inspection is not None and page.playground.output is not None, timeout=WAIT_MS)
    for what in ("kernels", "features", "playground"):
        png = page.export(what, "png", tmp_path / f"{what}.png")
        image = QImage(str(png))
        assert not image.isNull() and image.width() > 50 and image.height() > 50, what
        npy = page.export(what, "npy", tmp_path / f"{what}.npy")
        assert np.load(npy).dtype == np.float32
    np.testing.assert_array_equal(np.load(tmp_path / "kernels.npy"), page.kernels.grid.weights)
    assert np.load(tmp_path / "features.npy").shape == (16, 32, 32)
    assert np.load(tmp_path / "playground.npy").shape == page.playground.output.shape


def test_refresh_kernels_slot_for_epoch_ends(qtbot, page, state, bundle):
    ready(qtbot, page, state, bundle)
    set_model(state, "convnet")
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    page.kernels.set_layer("conv2")
    fresh = {
        "conv1": np.random.default_rng(0).normal(size=(16, 3, 3, 3)).astype(np.float32),
        "conv2": np.random.default_rng(1).normal(size=(8, 16, 3, 3)).astype(np.float32),
    }
    with qtbot.waitSignal(page.kernels_drawn):
        page.refresh_kernels(fresh, "Live from the run in progress, after epoch 3.")
    assert page.kernels.layer == "conv2"  # the chosen layer is kept across refreshes
    np.testing.assert_array_equal(page.kernels.grid.weights, fresh["conv2"])
    assert "epoch 3" in page.kernels.source_label.text()


def test_drop_an_image_file(qtbot, page, state, bundle, tmp_path):
    from PIL import Image

    ready(qtbot, page, state, bundle)
    path = tmp_path / "dropped.png"
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(page.image_shown, timeout=WAIT_MS):
        page.dropEvent(event)
    assert page.image.kind == "file" and page.tabs.currentWidget() is page.features
    assert page.pixels.shape == (3, 32, 32) and abs(int(page.pixels.mean()) - 128) <= 1


def test_dark_palette_and_no_dataset(qtbot, page, state):
    from cvstudio.gui.theme import make_palette

    ready(qtbot, page, state)
    page.setPalette(make_palette(dark=True))
    set_model(state, "convnet")
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    assert not page.picker.dataset_note.isHidden() and page.image is None
    assert page.features.grid.display is None  # nothing chosen yet: a hint, not an empty grid
    assert page.kernels.grid.display is not None
    page.grab()  # paints without errors


def test_closing_the_page_while_work_runs(qtbot, state, bundle):
    """A page deleted while its worker jobs run leaves no thread behind and nothing crashes."""
    from cvstudio.gui.tasks import running_threads

    page = InspectPage(state)
    state.mark_torch_ready()
    state.set_dataset(bundle)
    set_model(state, "convnet")
    assert not page.idle
    page.deleteLater()
    qtbot.waitUntil(lambda: not running_threads(), timeout=WAIT_MS)
    set_model(state, "mlp")  # the state lives on; the deleted page no longer listens
    qtbot.wait(50)


def test_results_for_a_replaced_model_are_dropped(qtbot, page, state, bundle):
    ready(qtbot, page, state, bundle)
    set_model(state, "convnet")
    state.set_model(None, None, None)  # before the worker has read the convnet's kernels
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    assert page.kernels.stack.currentWidget() is page.kernels.explanation
    assert page.features.stack.currentWidget() is page.features.explanation
    assert page.model_label.text() == "No model"
    assert page.playground.output is not None  # the playground needs no model


def test_header_follows_a_training_run_that_shows_live_kernels(qtbot, page, state, bundle):
    from cvstudio.core.models import get_preset

    ready(qtbot, page, state, bundle)
    state.set_spec(get_preset("convnet"))
    assert page.model_label.text() == "No model"
    state.set_training(True)
    kernels = {"conv1": np.random.default_rng(0).standard_normal((16, 3, 3, 3)).astype(np.float32)}
    with qtbot.waitSignal(page.kernels_drawn, timeout=WAIT_MS):
        state.epoch_weights.emit((1, kernels, "during"))
    assert page.model_label.text() == "convnet · training"
    assert "live from the run in progress, during epoch 1" in page.model_detail.text()
    assert "No model" not in page.model_label.text() + page.model_detail.text()
    assert "during epoch 1" in page.kernels.source_label.text()
    state.set_training(False)  # the run ended without a model (e.g. it failed): the header says so again
    assert page.model_label.text() == "No model"


def test_live_kernels_wait_while_the_page_is_hidden_and_the_newest_is_drawn_when_shown(qtbot, page, state, bundle):
    from cvstudio.core.models import get_preset

    ready(qtbot, page, state, bundle)
    state.set_spec(get_preset("convnet"))
    state.set_training(True)
    page.hide()
    drawn = []
    page.kernels_drawn.connect(lambda: drawn.append(1))
    rng = np.random.default_rng(1)
    for epoch in (1, 2, 3):  # a hidden page draws nothing: the training threads keep the CPU
        state.epoch_weights.emit((epoch, {"conv1": rng.standard_normal((16, 3, 3, 3)).astype(np.float32)}, "after"))
    qtbot.wait(20)
    assert drawn == []
    assert "after epoch 3" in page.model_detail.text()  # the header (cheap) follows at once
    with qtbot.waitSignal(page.kernels_drawn, timeout=WAIT_MS):
        page.show()
    assert drawn == [1] and "after epoch 3" in page.kernels.source_label.text()
