"""The Classify page, driven like a user: simulated drops of file URLs, checkpoints, the clipboard.

Every awkward image (point 3 of the issue) must reach the model exactly as the
core's decoder makes it, every bad input (point 4) must get its own row with a
plain reason while the rest is classified, and nothing may block or crash.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QKeySequence
from PySide6.QtWidgets import QApplication

from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
from cvstudio.core.inference import Classifier, decode_image
from cvstudio.core.models import build_model, get_preset
from cvstudio.core.paths import runs_dir
from cvstudio.gui.pages.classify import CSV_COLUMNS, ClassifyPage
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.classify_results import COL_PROB
from cvstudio.gui.widgets.drop_zone import DropZone

CLASSES = ("cat", "dog", "bird")
SHAPE = (3, 32, 32)
WAIT_MS = 30_000


# --- helpers ------------------------------------------------------------------------------


def make_checkpoint(path: Path, preset: str = "convnet", classes=CLASSES, shape=SHAPE, seed: int = 0,
                    val_acc: float = 0.875, created: str | None = None) -> Path:
    torch.manual_seed(seed)
    spec = get_preset(preset)
    model = build_model(spec, shape, len(classes))
    c = shape[0]
    kw = {"created": created} if created else {}
    meta = CheckpointMeta(model_spec=spec, class_names=classes, input_shape=shape, mean=(0.45,) * c,
                          std=(0.25,) * c, dataset="test", metrics={"val_acc": val_acc}, **kw)
    return save_checkpoint(path, model, meta)


def noise(path: Path, size=(40, 30), seed: int = 0, mode: str = "RGB", **save) -> Path:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path, **save)
    return path


def mime_for(paths) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def drop(page: ClassifyPage, paths=None, mime: QMimeData | None = None) -> QDropEvent:
    """A user dragging onto the page and letting go: drag-enter, then drop, with file URLs."""
    mime = mime if mime is not None else mime_for(paths)
    pos = QPointF(page.width() / 2, page.height() / 2)
    enter = QDragEnterEvent(QPoint(int(pos.x()), int(pos.y())), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(page, enter)
    assert enter.isAccepted()
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(page, event)
    return event


def wait_idle(qtbot, page: ClassifyPage) -> None:
    qtbot.waitUntil(page.is_idle, timeout=WAIT_MS)


def rows(page: ClassifyPage):
    return page.results_model.results()


@pytest.fixture
def state():
    s = AppState()
    s.mark_torch_ready()  # torch is imported in the test process already
    return s


@pytest.fixture
def make_page(qtbot, state):
    pages: list[ClassifyPage] = []

    def make(st: AppState | None = None) -> ClassifyPage:
        page = ClassifyPage(st or state)
        qtbot.addWidget(page)
        page.resize(1100, 700)
        page.show()
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.shutdown()
        qtbot.waitUntil(page.is_idle, timeout=WAIT_MS)


@pytest.fixture
def ckpt(tmp_path) -> Path:
    return make_checkpoint(tmp_path / "models" / "cats.safetensors")


def ready_page(qtbot, make_page, checkpoint: Path) -> ClassifyPage:
    page = make_page()
    with qtbot.waitSignal(page.model_loaded, timeout=WAIT_MS):
        page.load_checkpoint(checkpoint)
    wait_idle(qtbot, page)
    return page


# --- basics -------------------------------------------------------------------------------


def test_module_does_not_import_torch():
    code = "import sys, cvstudio.gui.pages.classify; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_empty_state_waits_for_torch_then_classifies(qtbot, tmp_path, ckpt):
    st = AppState()  # torch not "ready" yet: what the main window shows in its first second
    page = ClassifyPage(st)
    qtbot.addWidget(page)
    page.show()
    assert page.results_stack.currentWidget() is page.drop_zone
    assert isinstance(page.drop_zone, DropZone)
    assert page.drop_zone.title.text() == "Drop images here, or open a folder"
    assert "Ctrl+O / Ctrl+V" in page.drop_zone.hint.text()
    assert not page.model_combo.isEnabled() and "PyTorch" in page.model_info.full_text()
    assert page.open_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert page.paste_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Paste)

    image = noise(tmp_path / "early.png")
    drop(page, [image])
    page.load_checkpoint(ckpt)  # both wait for torch
    assert page.results_model.rowCount() == 0 and page.busy
    with qtbot.waitSignal(page.model_loaded, timeout=WAIT_MS):
        st.mark_torch_ready()
    qtbot.waitUntil(lambda: page.results_model.rowCount() == 1, timeout=WAIT_MS)
    wait_idle(qtbot, page)
    assert rows(page)[0].ok and page.model_combo.isEnabled()
    page.shutdown()


def test_runs_folder_listing_and_newest_loaded(qtbot, make_page):
    runs = runs_dir()
    old = make_checkpoint(runs / "old-run.safetensors", classes=("a", "b"), val_acc=0.5, created="2024-01-02T03:04:05+00:00")
    new = make_checkpoint(runs / "new-run.safetensors", val_acc=0.9125, created="2024-06-07T08:09:10+00:00", seed=1)
    os.utime(old, (1_700_000_000, 1_700_000_000))
    (runs / "broken.safetensors").write_bytes(b"not a checkpoint at all")
    page = make_page()
    with qtbot.waitSignal(page.model_loaded, timeout=WAIT_MS) as loaded:
        pass
    wait_idle(qtbot, page)
    assert loaded.args[0].path == str(new)  # the newest readable checkpoint is picked for the user
    combo = page.model_combo
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert combo.currentText().startswith("new-run — ")
    new_text = next(t for t in texts if t.startswith("new-run"))
    old_text = next(t for t in texts if t.startswith("old-run"))
    assert "3 classes" in new_text and "91.2 %" in new_text and "2024-06-07" in new_text
    assert "2 classes" in old_text and "50.0 %" in old_text
    broken = texts.index("broken — unreadable")
    assert not combo.model().item(broken).isEnabled()
    assert "not a safetensors checkpoint" in combo.itemData(broken, Qt.ItemDataRole.ToolTipRole)
    info = page.model_info.full_text()
    for part in ("3 classes: cat, dog, bird", "input 32×32 RGB", "validation accuracy 91.2 %", "Grad-CAM on conv2"):
        assert part in info
    # choosing the other one from the list loads it
    with qtbot.waitSignal(page.model_loaded, timeout=WAIT_MS) as loaded:
        combo.activated.emit(texts.index(old_text))
    assert loaded.args[0].path == str(old) and page.loaded_model.meta.class_names == ("a", "b")
    wait_idle(qtbot, page)


# --- one image, the fast path ---------------------------------------------------------------


def test_drop_one_image(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    image = noise(tmp_path / "photo.jpg", size=(300, 200), format="JPEG")
    with qtbot.waitSignal(page.results_added, timeout=WAIT_MS):
        drop(page, [image])
    assert not page.progress_row.isVisible()  # one image: no progress bar flashing
    (r,) = rows(page)
    expect = Classifier.from_checkpoint(ckpt).classify_image(image, top_k=5)
    assert r.ok and r.prediction.label == expect.label
    assert [lbl for lbl, _ in r.prediction.top_k] == [lbl for lbl, _ in expect.top_k]
    assert np.allclose([p for _, p in r.prediction.top_k], [p for _, p in expect.top_k], atol=1e-6)
    # the detail shows it at once: label, bars, the model's view
    assert page.detail.result.key == r.key
    assert page.detail.label.full_text() == r.prediction.label
    assert page.detail.bars.values() == r.prediction.top_k
    view = decode_image(image, SHAPE).permute(1, 2, 0).numpy()
    assert np.array_equal(r.model_view, view)
    shown = page.detail.image_view.image()
    assert shown is not None and (shown.width(), shown.height()) == (32, 32)
    # the thumbnail follows, made on the worker
    wait_idle(qtbot, page)
    r = rows(page)[0]
    assert r.thumbnail is not None and r.thumbnail.dtype == np.uint8 and max(r.thumbnail.shape[:2]) == 64
    assert r.original_size == (300, 200) and r.image_format == "JPEG"
    assert "from 300×200 JPEG" in page.detail.image_caption.text()


# --- point 3: preprocessing exactly as the checkpoint says ----------------------------------------


def awkward_images(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(folder / "exif_rotated.jpg", "JPEG", exif=exif.tobytes(), quality=95)
    out.append(folder / "exif_rotated.jpg")
    p = Image.new("P", (24, 24), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.paste(1, (12, 0, 24, 24))
    p.save(folder / "palette_transparent.png", transparency=0)
    out.append(folder / "palette_transparent.png")
    la = Image.new("LA", (16, 16), (0, 0))
    la.paste((0, 255), (8, 0, 16, 16))
    la.save(folder / "gray_alpha.png")
    out.append(folder / "gray_alpha.png")
    Image.new("RGBA", (20, 20), (255, 0, 0, 128)).save(folder / "rgba.png")
    out.append(folder / "rgba.png")
    a = (np.arange(40 * 30, dtype=np.uint32).reshape(30, 40) * 50 % 65536).astype(np.uint16)
    Image.fromarray(a).save(folder / "sixteen_bit.png")
    out.append(folder / "sixteen_bit.png")
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(folder / "cmyk.jpg", "JPEG", quality=95)
    out.append(folder / "cmyk.jpg")
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    out.append(folder / "animated.gif")
    y, x = np.mgrid[0:1500, 0:2000]
    big = np.stack([x * 255 // 2000, y * 255 // 1500, np.full_like(x, 128)], -1).astype(np.uint8)
    Image.fromarray(big).save(folder / "big.jpg", "JPEG", quality=90)  # decoded from a JPEG draft
    out.append(folder / "big.jpg")
    bits = np.indices((16, 16)).sum(0) % 2 == 0
    Image.fromarray(bits).convert("1").save(folder / "one_bit.png")
    out.append(folder / "one_bit.png")
    noise(folder / "gray.png", mode="L")
    out.append(folder / "gray.png")
    noise(folder / "plain.webp", format="WEBP")
    out.append(folder / "plain.webp")
    noise(folder / "plain.bmp")
    out.append(folder / "plain.bmp")
    return out


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)], ids=["rgb-model", "grayscale-model"])
def test_awkward_images_are_preprocessed_exactly_like_the_core(qtbot, make_page, tmp_path, shape):
    checkpoint = make_checkpoint(tmp_path / f"m{shape[0]}.safetensors", shape=shape)
    page = ready_page(qtbot, make_page, checkpoint)
    files = awkward_images(tmp_path / "awkward")
    drop(page, files)
    wait_idle(qtbot, page)
    got = rows(page)
    assert [r.path for r in got] == [str(f) for f in files]
    expect = Classifier.from_checkpoint(checkpoint).classify_paths(files, top_k=5)
    for r, e, f in zip(got, expect, files):
        assert r.ok, (f.name, r.prediction.error)
        assert r.prediction.label == e.label, f.name
        assert np.allclose([p for _, p in r.prediction.top_k], [p for _, p in e.top_k], atol=1e-6), f.name
        view = decode_image(f, shape).permute(1, 2, 0).numpy()
        assert np.array_equal(r.model_view, view), f.name  # the very pixels the core's decoder makes
        assert r.thumbnail is not None and r.thumbnail.shape[2] == 3
    by_name = {r.name: r for r in got}
    assert by_name["exif_rotated.jpg"].original_size == (20, 40)  # shown upright
    assert by_name["big.jpg"].original_size == (2000, 1500)


# --- point 4: bad input -----------------------------------------------------------------


def bad_inputs(folder: Path, monkeypatch) -> dict[str, tuple[Path, str]]:
    """name -> (path, expected words of the reason)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("hello, not a picture")
    (folder / "empty.png").write_bytes(b"")
    data = io.BytesIO()
    noise_im = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    noise_im.save(data, "PNG")
    (folder / "truncated.png").write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    data = io.BytesIO()
    noise_im.save(data, "JPEG")
    (folder / "truncated.jpg").write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    Image.new("RGB", (80, 80)).save(folder / "bomb.png")  # 6,400 px: over the limit (Pillow only warns)
    Image.new("RGB", (120, 120)).save(folder / "huge_bomb.png")  # over twice the limit: Pillow refuses
    (folder / "drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')
    secret = noise(folder / "secret.png")
    real_open = Image.open

    def open_refusing_secret(fp, *a, **k):
        if str(fp) == str(secret):
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *a, **k)

    monkeypatch.setattr(Image, "open", open_refusing_secret)  # big files: Pillow opens them
    import builtins

    import cvstudio.core.inference as inference

    def builtin_open_refusing_secret(file, *a, **k):
        if str(file) == str(secret):
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, *a, **k)

    monkeypatch.setattr(inference, "open", builtin_open_refusing_secret, raising=False)  # small files: read whole
    return {
        "notes.txt": (folder / "notes.txt", "not an image"),
        "empty.png": (folder / "empty.png", "empty file"),
        "truncated.png": (folder / "truncated.png", "truncated"),
        "truncated.jpg": (folder / "truncated.jpg", "truncated"),
        "bomb.png": (folder / "bomb.png", "image is too large (6400 pixels; limit 5000)"),
        "huge_bomb.png": (folder / "huge_bomb.png", "image is too large (14400 pixels; limit 5000)"),
        "drawing.svg": (folder / "drawing.svg", "not an image (unrecognized file format)"),
        "secret.png": (secret, "permission denied"),
        "gone.png": (folder / "gone.png", "file not found"),
    }


def test_bad_inputs_get_their_own_rows_and_the_rest_is_classified(qtbot, make_page, tmp_path, ckpt, monkeypatch):
    page = ready_page(qtbot, make_page, ckpt)
    bad = bad_inputs(tmp_path / "bad", monkeypatch)
    good = [noise(tmp_path / f"good{i}.png", seed=i) for i in range(3)]
    inputs = [good[0]] + [p for p, _ in bad.values()] + good[1:]
    drop(page, inputs)
    wait_idle(qtbot, page)
    got = {r.name: r for r in rows(page)}
    assert len(got) == len(inputs)
    for name, (_, reason) in bad.items():
        r = got[name]
        assert not r.ok and reason in r.prediction.error, (name, r.prediction.error)
        assert "\n" not in r.prediction.error and r.thumbnail is None
    assert all(got[g.name].ok and got[g.name].prediction.label in CLASSES for g in good)
    assert page.results_model.counts() == (3, len(bad))
    assert f"{len(bad)} not classified" in page.summary_label.full_text()
    # a bad row's detail says why, plainly
    assert page.show_result(got["truncated.png"].key)
    assert "Not classified: truncated image file" in page.detail.problem.text()
    # the table shows the reason in its Problem column
    page.set_view("table")
    page.problems_check.setChecked(True)
    assert page.proxy.rowCount() == len(bad)
    page.problems_check.setChecked(False)


@pytest.mark.parametrize("name", ["notes.txt", "truncated.jpg", "huge_bomb.png", "gone.png", "secret.png"])
def test_one_bad_file_alone(qtbot, make_page, tmp_path, ckpt, monkeypatch, name):
    page = ready_page(qtbot, make_page, ckpt)
    path, reason = bad_inputs(tmp_path / "bad", monkeypatch)[name]
    drop(page, [path])
    wait_idle(qtbot, page)
    (r,) = rows(page)
    assert not r.ok and reason in r.prediction.error
    assert page.detail.result.key == r.key and reason in page.detail.problem.text()


# --- folders, checkpoints, cancel, export ------------------------------------------------------


def test_folder_drop_is_recursive(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    root = tmp_path / "photos"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    names = ["a.png", "z.jpg", "b/c.png", "b/deep/d.gif", "b/deep/e.bmp"]
    for i, rel in enumerate(names):
        noise(root / rel, seed=i)
    noise(root / ".hidden" / "x.png")
    (root / "readme.txt").write_text("not an image, skipped inside folders")
    (root / "b" / "model.safetensors").write_bytes(b"")
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS) as done:
        drop(page, [root])
    summary = done.args[0]
    assert summary.total == 5 and summary.done == 5 and not summary.cancelled
    wait_idle(qtbot, page)
    got = rows(page)
    assert sorted(Path(r.path).relative_to(root).as_posix() for r in got) == sorted(names)
    assert all(r.ok for r in got)
    assert {r.location for r in got} == {str(root), str(root / "b"), str(root / "b" / "deep")}
    assert page.progress_bar.maximum() == 5 and page.progress_bar.value() == 5
    assert not page.progress_row.isVisible()  # hidden again once done
    # an empty folder is reported, not silently ignored
    (tmp_path / "empty").mkdir()
    drop(page, [tmp_path / "empty"])
    wait_idle(qtbot, page)
    assert "No images found in empty" in page.banner.text()


def test_checkpoint_drop_and_a_bad_checkpoint_keeps_the_previous_model(qtbot, make_page, tmp_path, ckpt):
    page = make_page()
    with qtbot.waitSignal(page.model_loaded, timeout=WAIT_MS) as loaded:
        drop(page, [ckpt])
    assert loaded.args[0].path == str(ckpt)
    wait_idle(qtbot, page)
    assert page.model_combo.currentText().startswith("cats — ")
    assert "3 classes: cat, dog, bird" in page.model_info.full_text()

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with qtbot.waitSignal(page.model_failed, timeout=WAIT_MS):
        drop(page, [garbage])
    wait_idle(qtbot, page)
    assert page.loaded_model.path == str(ckpt)
    assert "Could not load garbage" in page.banner.text() and "Still using cats" in page.banner.text()
    assert page.model_combo.currentText().startswith("cats — ")
    combo_texts = [page.model_combo.itemText(i) for i in range(page.model_combo.count())]
    assert not any("garbage" in t for t in combo_texts)  # a file that never loaded is not offered again
    assert "3 classes" in page.model_combo.currentText() and "87.5 %" in page.model_combo.currentText()

    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(ckpt.read_bytes()[:-200])
    with qtbot.waitSignal(page.model_failed, timeout=WAIT_MS) as failed:
        drop(page, [cut])
    assert "truncated" in failed.args[0] and page.loaded_model.path == str(ckpt)
    wait_idle(qtbot, page)

    # a checkpoint dropped with images: the images are classified by the new model
    other = make_checkpoint(tmp_path / "colours.safetensors", classes=("red", "green"), seed=3)
    image = noise(tmp_path / "x.png")
    drop(page, [other, image])
    wait_idle(qtbot, page)
    (r,) = rows(page)
    assert r.model_name == "colours" and r.prediction.label in ("red", "green")


def small_pngs(folder: Path, n: int) -> Path:
    """``n`` 16x16 noise PNGs named 0000.png, 0001.png, ...: a folder that takes several batches."""
    folder.mkdir()
    for i in range(n):
        noise(folder / f"{i:04d}.png", size=(16, 16), seed=i)
    return folder


def test_cancel_stops_between_batches(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    folder = small_pngs(tmp_path / "many", 500)
    page.results_added.connect(lambda _n: page.cancel())  # cancel as soon as the first results show
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS) as done:
        drop(page, [folder])
    summary = done.args[0]
    wait_idle(qtbot, page)
    assert summary.cancelled and summary.total == 500 and summary.done < 500
    got = rows(page)
    assert len(got) == summary.done
    assert [Path(r.path).name for r in got] == [f"{i:04d}.png" for i in range(len(got))]  # a prefix, in order
    assert "Cancelled" in page.banner.text()
    assert not page.progress_row.isVisible()


@pytest.mark.parametrize("delay_ms, shown", [(60_000, False), (0, True)])
def test_the_progress_row_shows_only_for_a_folder_still_running_after_a_delay(qtbot, make_page, tmp_path, ckpt,
                                                                              monkeypatch, delay_ms, shown):
    """A folder classified within the delay never flashes the row (nor moves the grid twice); past it, it shows."""
    import cvstudio.gui.pages.classify as classify_page

    monkeypatch.setattr(classify_page, "PROGRESS_DELAY_MS", delay_ms)
    page = ready_page(qtbot, make_page, ckpt)
    folder = small_pngs(tmp_path / "some", 200)
    visible: list[bool] = []
    page.results_added.connect(lambda _n: visible.append(page.progress_row.isVisible()))
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS):
        drop(page, [folder])
    wait_idle(qtbot, page)
    assert visible and any(visible) == shown
    assert page.progress_bar.maximum() == 200 and page.progress_bar.value() == 200  # kept up to date all along
    assert not page.progress_row.isVisible()


def test_the_progress_row_stays_from_one_queued_folder_to_the_next(qtbot, make_page, tmp_path, ckpt, monkeypatch):
    import cvstudio.gui.pages.classify as classify_page
    from PySide6.QtCore import QEvent, QObject

    class HideCounter(QObject):
        hidden = 0

        def eventFilter(self, _obj, event):  # noqa: N802 - Qt override
            self.hidden += event.type() == QEvent.Type.Hide
            return False

    monkeypatch.setattr(classify_page, "PROGRESS_DELAY_MS", 0)
    page = ready_page(qtbot, make_page, ckpt)
    first, second = small_pngs(tmp_path / "first", 300), small_pngs(tmp_path / "second", 300)
    counter = HideCounter()
    page.progress_row.installEventFilter(counter)
    finished: list = []
    page.job_finished.connect(finished.append)
    drop(page, [first])
    qtbot.waitUntil(page.progress_row.isVisible, timeout=WAIT_MS)
    drop(page, [second])  # queued behind the first
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=WAIT_MS)
    wait_idle(qtbot, page)
    assert page.results_model.rowCount() == 600
    assert counter.hidden == 1 and not page.progress_row.isVisible()  # once, at the end


def test_clear_while_a_folder_streams_in_leaves_the_list_empty(qtbot, make_page, tmp_path, ckpt):
    """The batch in flight when Clear is pressed used to arrive after it: 64 rows in the emptied list."""
    page = ready_page(qtbot, make_page, ckpt)
    folder = small_pngs(tmp_path / "many", 400)
    cleared: list[int] = []

    def clear_once(_n: int) -> None:
        if not cleared:
            cleared.append(page.results_model.rowCount())
            page.clear()

    page.results_added.connect(clear_once)
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS):
        drop(page, [folder])
    wait_idle(qtbot, page)
    assert cleared and page.results_model.rowCount() == 0 and page.summary_label.full_text() == ""
    assert "Cancelled" not in page.banner.text() and not page.progress_row.isVisible()
    page.results_added.disconnect()
    drop(page, [folder / "0000.png"])  # the next drop is listed as usual, the cleared files included
    wait_idle(qtbot, page)
    assert [r.name for r in rows(page)] == ["0000.png"]


def test_model_views_are_kept_within_a_budget_and_decoded_again_beyond_it(qtbot, make_page, tmp_path, ckpt,
                                                                         monkeypatch):
    import cvstudio.gui.pages.classify as classify_module

    view_bytes = 32 * 32 * 3
    monkeypatch.setattr(classify_module, "KEEP_MODEL_VIEW_BYTES", 2 * view_bytes)
    page = ready_page(qtbot, make_page, ckpt)
    folder = tmp_path / "four"
    folder.mkdir()
    for i in range(3):
        noise(folder / f"{i}.png", seed=i)
    drop(page, [folder])
    wait_idle(qtbot, page)
    drop(page, [noise(tmp_path / "later.png", seed=7)])  # a later drop gets what is left of the budget: none
    wait_idle(qtbot, page)
    got = rows(page)
    assert [r.model_view is not None for r in got] == [True, True, False, False]
    with qtbot.waitSignal(page.inspection_shown, timeout=WAIT_MS, check_params_cb=lambda k: k == got[2].key):
        page.show_result(got[2].key)  # no view kept: decoded again in a worker for the detail view
    shown = page.detail.image_view.image()
    assert shown is not None and (shown.width(), shown.height()) == (32, 32)
    page.clear()
    drop(page, [folder / "0.png"])  # an emptied list has the whole budget again
    wait_idle(qtbot, page)
    assert rows(page)[0].model_view is not None


def test_csv_export_in_the_order_shown(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    files = [noise(tmp_path / f"img{i}.png", seed=i) for i in range(6)]
    (tmp_path / "broken.png").write_text("nope")
    drop(page, files[:3] + [tmp_path / "broken.png"] + files[3:])
    wait_idle(qtbot, page)
    page.set_view("table")
    page.table.sortByColumn(COL_PROB, Qt.SortOrder.DescendingOrder)
    out = tmp_path / "out" / "predictions.csv"
    out.parent.mkdir()
    with qtbot.waitSignal(page.csv_exported, timeout=WAIT_MS):
        page.export_csv(out)
    wait_idle(qtbot, page)
    with open(out, newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert tuple(table[0]) == CSV_COLUMNS
    body = table[1:]
    assert len(body) == 7
    probs = [float(row[2]) for row in body if row[2]]
    assert probs == sorted(probs, reverse=True) and len(probs) == 6
    assert body[-1][0] == str(tmp_path / "broken.png") and body[-1][4].startswith("not an image")
    first = body[0]
    top = [item.split("=") for item in first[3].split("; ")]
    assert top[0][0] == first[1] and float(top[0][1]) == pytest.approx(float(first[2]))
    assert first[5] == "cats"
    # a filter exports only what is shown
    page.filter_edit.setText("img1")
    with qtbot.waitSignal(page.csv_exported, timeout=WAIT_MS):
        page.export_csv(out)
    wait_idle(qtbot, page)
    with open(out, newline="", encoding="utf-8") as f:
        assert [row[0] for row in list(csv.reader(f))[1:]] == [str(files[1])]
    # an unwritable target is a message, not a crash
    page.export_csv(tmp_path / "no" / "such" / "dir" / "x.csv")
    wait_idle(qtbot, page)
    assert page.banner.text().startswith("Export failed: could not write")


def test_sorting_and_filters(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    files = [noise(tmp_path / f"n{i}.png", seed=i) for i in range(8)]
    (tmp_path / "bad.png").write_bytes(b"")
    drop(page, files + [tmp_path / "bad.png"])
    wait_idle(qtbot, page)
    page.set_view("table")
    assert page.results_stack.currentWidget() is page.table
    page.table.sortByColumn(COL_PROB, Qt.SortOrder.AscendingOrder)
    shown = page.proxy.results()
    assert not shown[0].ok  # problems sort below every probability
    probs = [r.prediction.prob for r in shown[1:]]
    assert probs == sorted(probs)
    label = shown[-1].prediction.label
    page.filter_edit.setText(label.upper())  # case-insensitive, on the label too
    assert page.proxy.rowCount() == sum(1 for r in rows(page) if r.ok and r.prediction.label == label)
    page.filter_edit.clear()
    page.problems_check.setChecked(True)
    assert [r.name for r in page.proxy.results()] == ["bad.png"]
    page.problems_check.setChecked(False)
    assert page.proxy.rowCount() == len(rows(page)) == 9  # no filter: every row again
    page.set_view("grid")
    assert page.results_stack.currentWidget() is page.grid and page.grid.model() is page.proxy


# --- clipboard, images from other applications, remote URLs -------------------------------------


def test_paste_an_image_and_files(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    qimage = QImage(50, 40, QImage.Format.Format_RGB32)
    qimage.fill(0xFF3366CC)
    QApplication.clipboard().setImage(qimage)
    page.paste()
    wait_idle(qtbot, page)
    (r,) = rows(page)
    assert r.ok and r.name == "Pasted image 1" and r.location == "clipboard"
    pil = Image.new("RGB", (50, 40), (0x33, 0x66, 0xCC))
    expect = Classifier.from_checkpoint(ckpt).classify_image(pil, top_k=5)
    assert r.prediction.label == expect.label and r.prediction.prob == pytest.approx(expect.prob, abs=1e-5)
    assert r.thumbnail is not None and r.original_size == (50, 40)
    files = [noise(tmp_path / f"c{i}.png", seed=i) for i in range(2)]
    QApplication.clipboard().setMimeData(mime_for(files))
    page.paste()
    wait_idle(qtbot, page)
    assert [x.name for x in rows(page)] == ["Pasted image 1", "c0.png", "c1.png"]
    # an image dragged from another application (no file)
    mime = QMimeData()
    mime.setImageData(qimage)
    drop(page, mime=mime)
    wait_idle(qtbot, page)
    assert rows(page)[-1].name == "Pasted image 2"
    # nothing usable on the clipboard
    QApplication.clipboard().setText("just text")
    page.paste()
    assert "no image" in page.banner.text()


def test_remote_urls_are_refused_with_a_reason(qtbot, make_page, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/cat.jpg")])
    drop(page, mime=mime)
    assert "Only files on this computer" in page.banner.text()
    assert page.results_model.rowCount() == 0 and page.is_idle()


# --- models ----------------------------------------------------------------------------


def test_saliency_view(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    files = [noise(tmp_path / f"s{i}.png", seed=i) for i in range(3)]
    drop(page, files)
    wait_idle(qtbot, page)
    first, second = rows(page)[0], rows(page)[1]
    page.show_result(first.key)
    with qtbot.waitSignal(page.inspection_shown, timeout=WAIT_MS, check_params_cb=lambda k: k == first.key):
        page.detail.set_saliency_enabled(True)
    overlay = page.detail.image_view.overlay()
    assert overlay is not None and (overlay.width(), overlay.height()) == (32, 32)
    assert overlay.format() == QImage.Format.Format_RGBA8888
    assert page.detail.saliency_caption.text().startswith("Grad-CAM on conv2 for “")
    # another row gets its own heatmap; coming back is instant (cached)
    with qtbot.waitSignal(page.inspection_shown, timeout=WAIT_MS, check_params_cb=lambda k: k == second.key):
        page.show_result(second.key)
    assert page.detail.image_view.overlay() is not None and page.detail.image_view.overlay() is not overlay
    page.show_result(first.key)
    assert page.detail.image_view.overlay() is overlay
    page.detail.set_saliency_enabled(False)
    assert page.detail.image_view.overlay() is None
    wait_idle(qtbot, page)

    # an MLP has no convolution: input gradients
    mlp = make_checkpoint(tmp_path / "mlp.safetensors", preset="mlp")
    with qtbot.waitSignal(page.model_loaded, timeout=WAIT_MS):
        page.load_checkpoint(mlp)
    wait_idle(qtbot, page)
    assert "saliency: input gradients" in page.model_info.full_text()
    page.show_result(first.key)
    with qtbot.waitSignal(page.inspection_shown, timeout=WAIT_MS, check_params_cb=lambda k: k == first.key):
        page.detail.set_saliency_enabled(True)
    assert page.detail.saliency_caption.text().startswith("Input gradients for “")
    wait_idle(qtbot, page)


def test_large_inputs_are_decoded_again_for_the_detail(qtbot, make_page, tmp_path):
    checkpoint = make_checkpoint(tmp_path / "big.safetensors", shape=(3, 160, 160))
    page = ready_page(qtbot, make_page, checkpoint)
    image = noise(tmp_path / "p.png", size=(200, 150))
    with qtbot.waitSignal(page.inspection_shown, timeout=WAIT_MS):
        drop(page, [image])
    wait_idle(qtbot, page)
    assert rows(page)[0].model_view is None  # not kept in memory for every row
    shown = page.detail.image_view.image()
    assert shown is not None and (shown.width(), shown.height()) == (160, 160)


def test_current_model_of_the_app(qtbot, make_page, state, tmp_path, ckpt):
    page = make_page()
    wait_idle(qtbot, page)
    assert page.loaded_model is None and "No model yet" in page.model_info.full_text()
    image = noise(tmp_path / "wait.png")
    drop(page, [image])  # nothing to classify with: the user is told, the image waits
    assert "Choose a model" in page.banner.text() and page.results_model.rowCount() == 0

    torch.manual_seed(0)
    spec = get_preset("convnet")
    model = build_model(spec, SHAPE, 2).eval()
    meta = CheckpointMeta(spec, ("ok", "defect"), SHAPE, (0.5,) * 3, (0.25,) * 3)
    with qtbot.waitSignal(page.model_loaded, timeout=WAIT_MS) as loaded:
        state.set_model(model, meta, None)  # training just finished
    assert loaded.args[0].path is None and loaded.args[0].name == "current model"
    assert page.model_combo.currentText() == "Current model (not saved)"
    wait_idle(qtbot, page)
    (r,) = rows(page)  # the waiting image was classified by it
    assert r.model_name == "current model" and r.prediction.label in ("ok", "defect")
    assert page.banner.text() == ""  # the "choose a model" warning is gone

    # switching models marks older results and offers to classify them again
    with qtbot.waitSignal(page.model_loaded, timeout=WAIT_MS):
        page.load_checkpoint(ckpt)
    wait_idle(qtbot, page)
    assert "come from another model (current model)" in page.banner.text()
    page.reclassify_all()
    wait_idle(qtbot, page)
    (r,) = rows(page)
    assert r.model_name == "cats" and r.prediction.label in CLASSES


def test_drop_overlay_while_results_are_shown(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    drop(page, [noise(tmp_path / "a.png")])
    wait_idle(qtbot, page)
    mime = mime_for([ckpt])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(page, enter)
    assert enter.isAccepted() and page.overlay.text() == "Drop to use this model"
    from PySide6.QtGui import QDragLeaveEvent

    QApplication.sendEvent(page, QDragLeaveEvent())
    assert not page.overlay.isVisible()


def test_adding_a_folder_again_adds_each_file_once(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        noise(root / f"{i}.png", seed=i)
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS):
        drop(page, [root])
    wait_idle(qtbot, page)
    assert len(rows(page)) == 3
    link = tmp_path / "same-photos"
    link.symlink_to(root, target_is_directory=True)
    noise(root / "new.png", seed=9)
    # the same folder again, through a link, one of its files by a roundabout path, and one new file
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS):
        drop(page, [root, link, root / ".." / "photos" / "1.png"])
    wait_idle(qtbot, page)
    got = rows(page)
    assert sorted(Path(r.path).name for r in got) == ["0.png", "1.png", "2.png", "new.png"]
    assert "8 images are already in the list" in page.banner.text()
    page.clear()  # an emptied list takes the files again
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS):
        drop(page, [root])
    wait_idle(qtbot, page)
    assert len(rows(page)) == 4


def test_classify_dialogs_remember_their_own_folder(qtbot, make_page, tmp_path, ckpt, monkeypatch):
    """Opening a dataset class folder to classify does not move where checkpoints or CSV files are proposed."""
    from PySide6.QtWidgets import QFileDialog

    from cvstudio.gui import settings as prefs

    page = ready_page(qtbot, make_page, ckpt)
    class_folder = tmp_path / "dataset" / "train" / "cat"
    class_folder.mkdir(parents=True)
    noise(class_folder / "a.png")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(class_folder)))
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS):
        page.open_folder_dialog()
    wait_idle(qtbot, page)
    starts = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda _p, _t, start, _f: (starts.append(start), ("", ""))[1]))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda _p, _t, start, _f: (starts.append(start), ([], ""))[1]))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda _p, _t, start, _f: (starts.append(start), ("", ""))[1]))
    page.open_checkpoint_dialog()
    page.export_csv_dialog()
    page.open_images_dialog()
    assert starts[0] == str(Path.home())  # no checkpoint dialog was used yet
    assert Path(starts[1]).parent == Path.home()  # nor a CSV one
    assert starts[2] == str(class_folder)  # images come from where images came from
    s = prefs.make_settings()
    assert prefs.last_dir(s, "exports") == str(Path.home())


def test_first_run_hint_shows_until_the_first_image_is_classified(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    assert page.drop_zone.title.text() == "Drop images here, or open a folder"
    assert page.first_run_hint.isVisible() and page.first_run_hint.text().startswith("New here?")
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS):
        drop(page, [noise(tmp_path / "a.png")])
    wait_idle(qtbot, page)
    assert not page.first_run_hint.isVisible()
    page.clear()
    assert not make_page().first_run_hint.isVisible()  # gone for good, in later sessions too


def test_cards_are_drawn_again_when_their_row_changes(qtbot, make_page, tmp_path, ckpt):
    page = ready_page(qtbot, make_page, ckpt)
    page.set_view("grid")
    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(3):
        noise(folder / f"{i}.png", size=(64, 64), seed=i)
    with qtbot.waitSignal(page.job_finished, timeout=WAIT_MS):
        drop(page, [folder])
    wait_idle(qtbot, page)
    first = rows(page)[0]
    rect = page.grid.visualRect(page.proxy.mapFromSource(page.results_model.index(0, 0)))

    def centre_of_icon() -> tuple[int, int, int]:
        QApplication.processEvents()
        image = page.grid.viewport().grab().toImage()
        colour = image.pixelColor(rect.center().x(), rect.top() + 8 + 32)  # the icon's middle (64 px icon, 8 px in)
        return colour.red(), colour.green(), colour.blue()

    before = centre_of_icon()
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 255
    page.results_model.update(first.key, thumbnail=red)  # a new ImageResult: its cached card is stale
    after = centre_of_icon()
    assert after != before and after[0] > 200 and after[1] < 60 and after[2] < 60
    # a wide thumbnail (32x8) fills the 64 px box's width and keeps its aspect: 16 px high, centred
    page.results_model.update(first.key, thumbnail=red[:8, :32])
    QApplication.processEvents()
    image = page.grid.viewport().grab().toImage()
    middle = rect.top() + 8 + 32
    edge, above = image.pixelColor(rect.center().x() - 30, middle), image.pixelColor(rect.center().x(), middle - 12)
    assert edge.red() > 200 and edge.green() < 60  # near the box's left edge: the image
    assert above.green() > 150  # above the 16 px band: the card, not the image
    page.clear()
    assert not page.grid.itemDelegate()._cards  # cleared rows leave no cached cards behind


def grid_page_with_rows(qtbot, make_page, n: int) -> ClassifyPage:
    """A shown page in grid view holding ``n`` classified rows (no model: the rows are appended directly)."""
    from cvstudio.core.inference import Prediction
    from cvstudio.gui.widgets.classify_results import ImageResult

    page = make_page()
    qtbot.waitExposed(page)
    page.set_view("grid")
    thumb = np.zeros((32, 32, 3), np.uint8)
    page.results_model.append([
        ImageResult(i, f"/x/{i}.png", f"{i}.png", "/x", Prediction(f"/x/{i}.png", "cat", 0.9, [("cat", 0.9)]), thumb)
        for i in range(n)])
    page._update_empty_state()
    return page


def test_the_card_cache_stays_bounded_while_scrolling(qtbot, make_page):
    page = grid_page_with_rows(qtbot, make_page, 600)
    delegate = page.grid.itemDelegate()
    bar = page.grid.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=WAIT_MS)
    for value in range(0, bar.maximum() + 1, max(1, bar.maximum() // 20)):
        bar.setValue(value)
        qtbot.wait(5)
        page.grid.viewport().grab()  # paints the cards now in view
    assert 0 < len(delegate._cards) <= delegate.CACHE_LIMIT


def test_icons_stay_bounded_and_an_evicted_one_is_made_again(qapp):
    """A folder of 100,000 photos scrolled through kept every row's icons (~24 KB a row in both views)."""
    from cvstudio.core.inference import Prediction
    from cvstudio.gui.widgets.classify_results import ICONS_KEPT, ImageResult, ResultsModel

    model = ResultsModel()
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 255
    results = [ImageResult(i, f"/x/{i}.png", f"{i}.png", "/x", Prediction(f"/x/{i}.png", "cat", 0.9, [("cat", 0.9)]),
                           red) for i in range(ICONS_KEPT + 40)]
    model.append(results)
    for r in results:
        model.icon(r, 40)
    assert len(model._icons) == ICONS_KEPT
    again = model.icon(results[0], 40)  # evicted: made again from the row's thumbnail
    image = again.pixmap(40, 40).toImage()
    assert (image.width(), image.height()) == (40, 40) and image.pixelColor(20, 20).red() > 200
    assert len(model._icons) == ICONS_KEPT


def test_the_detail_view_keeps_the_last_rows_only_and_inspects_an_evicted_one_again(qtbot, make_page, tmp_path,
                                                                                    ckpt, monkeypatch):
    import cvstudio.gui.pages.classify as classify_module

    monkeypatch.setattr(classify_module, "DETAILS_KEPT", 2)
    page = ready_page(qtbot, make_page, ckpt)
    drop(page, [noise(tmp_path / f"d{i}.png", seed=i) for i in range(4)])
    wait_idle(qtbot, page)
    page.detail.set_saliency_enabled(True)
    results = rows(page)
    for r in results:
        with qtbot.waitSignal(page.inspection_shown, timeout=WAIT_MS, check_params_cb=lambda k, r=r: k == r.key):
            page.show_result(r.key)
        assert page.detail.image_view.overlay() is not None
    assert len(page._overlays) == len(page._inspections) == len(page._images) == 2
    assert results[0].key not in page._overlays
    with qtbot.waitSignal(page.inspection_shown, timeout=WAIT_MS,
                          check_params_cb=lambda k: k == results[0].key):  # computed again in the worker
        page.show_result(results[0].key)
    assert page.detail.image_view.overlay() is not None and results[0].key in page._overlays
    wait_idle(qtbot, page)


def test_a_result_added_to_thousands_of_cards_is_scrolled_into_view(qtbot, make_page):
    """The grid lays cards out in batches: a card not placed yet could not be scrolled to, so one more
    image dropped on a grid of 3,000 was selected but stayed out of view."""
    from cvstudio.core.inference import Prediction
    from cvstudio.gui.widgets.classify_results import ImageResult

    page = grid_page_with_rows(qtbot, make_page, 3000)
    qtbot.waitUntil(lambda: page.grid.verticalScrollBar().maximum() > 0, timeout=WAIT_MS)
    new = ImageResult(5000, "/x/new.png", "new.png", "/x", Prediction("/x/new.png", "cat", 0.9, [("cat", 0.9)]),
                      np.zeros((32, 32, 3), np.uint8))
    page.results_model.append([new])
    assert page.show_result(5000)
    index = page.table.selectionModel().currentIndex()
    qtbot.waitUntil(lambda: page.grid.viewport().rect().intersects(page.grid.visualRect(index)), timeout=WAIT_MS)
    assert page.grid.verticalScrollBar().value() > 0


def test_the_selected_result_is_in_view_in_either_view(qtbot, make_page):
    """show_result scrolls the view on screen; the other view is scrolled when it is shown."""
    page = grid_page_with_rows(qtbot, make_page, 400)
    assert page.show_result(0)  # the detail panel opens beside the views
    qtbot.waitUntil(lambda: page.grid.verticalScrollBar().maximum() > 0, timeout=WAIT_MS)  # laid out
    qtbot.wait(50)
    assert page.show_result(390)
    index = page.table.selectionModel().currentIndex()

    def in_view(view) -> bool:
        return view.viewport().rect().intersects(view.visualRect(index))

    qtbot.waitUntil(lambda: in_view(page.grid), timeout=WAIT_MS)
    assert page.grid.verticalScrollBar().value() > 0
    assert page.table.verticalScrollBar().value() == 0  # hidden: not laid out for nothing
    page.table_button.click()
    assert page.results_stack.currentWidget() is page.table
    qtbot.waitUntil(lambda: in_view(page.table), timeout=WAIT_MS)
    assert page.show_result(5)
    index = page.table.selectionModel().currentIndex()
    qtbot.waitUntil(lambda: in_view(page.table), timeout=WAIT_MS)
    page.grid_button.click()
    qtbot.waitUntil(lambda: in_view(page.grid), timeout=WAIT_MS)
