"""The Evaluate page, the learning-rate finder dialog and File > Export (pytest-qt, offscreen)."""

import dataclasses
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from cvstudio.gui.pages.evaluate import TOP_LOSSES_SHOWN, EvaluatePage, describe_mismatch
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.confusion_matrix import percent
from tests.conftest import make_tiny_bundle

WAIT_MS = 30_000
CLASSES = 4


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle():
    return make_tiny_bundle(n_train=256, n_val=96, classes=CLASSES, size=32)


@pytest.fixture(scope="module")
def trained(bundle, tmp_path_factory):
    """(model, meta, path): a convnet trained briefly on the tiny 4-class data."""
    from cvstudio.core.models import get_preset
    from cvstudio.core.runs import train_and_save
    from cvstudio.core.specs import TrainConfig

    out = tmp_path_factory.mktemp("ckpt") / "convnet-tiny.safetensors"
    outcome = train_and_save(get_preset("convnet"), bundle,
                             TrainConfig(epochs=4, lr=0.05, momentum=0.9, batch_size=32, device="cpu"), out=out)
    assert outcome.checkpoint == out
    return outcome.model, outcome.meta, out


@pytest.fixture
def state():
    s = AppState()
    s.set_train_config(dataclasses.replace(s.train_config, device="cpu"))
    return s


@pytest.fixture
def page(qtbot, state):
    page = EvaluatePage(state)
    # pytest-qt closes the widget before fixtures end: let its workers finish first
    qtbot.addWidget(page, before_close_func=lambda w: qtbot.waitUntil(lambda: w.idle, timeout=WAIT_MS))
    page.resize(1240, 780)
    page.show()
    return page


def load(qtbot, page, state, bundle, trained):
    """Torch ready, the dataset and the trained model set; wait for both splits to be evaluated."""
    model, meta, path = trained
    state.mark_torch_ready()
    state.set_dataset(bundle)
    state.set_model(model, meta, path)
    qtbot.waitUntil(lambda: page.idle and len(page.reports) == 2, timeout=WAIT_MS)


def core_evaluation(model, bundle, meta, split="val"):
    from cvstudio.core.evaluate import evaluate_split

    data = dataclasses.replace(bundle, mean=meta.mean, std=meta.std)
    return evaluate_split(model, data, split, outputs_log_probs=meta.model_spec.outputs_log_probs)


# --- the page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["cvstudio.gui.pages.evaluate", "cvstudio.gui.widgets.lr_finder",
                                    "cvstudio.gui.export_dialog"])
def test_modules_do_not_import_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_loading_then_explains_what_is_missing(qtbot, page, state, bundle):
    assert page._stack.currentWidget() is page._loading
    state.mark_torch_ready()
    assert page._stack.currentWidget() is page._content
    assert page.results_stack.currentWidget() is page.explanation
    assert "No model" in page.explanation.title.text()
    assert not page.explanation.button.isHidden() and "checkpoint" in page.explanation.button.text().lower()
    assert not page.evaluate_button.isEnabled()
    assert page.evaluate() is False and page.idle


def test_confusion_matrix_matches_the_core(qtbot, page, state, bundle, trained):
    model, meta, _ = trained
    load(qtbot, page, state, bundle, trained)
    expected = core_evaluation(model, bundle, meta)
    assert page.results_stack.currentWidget() is page.results
    assert page.split == "val"
    np.testing.assert_array_equal(page.matrix.counts, expected.confusion)
    assert page.matrix.counts.sum() == len(bundle.val)
    np.testing.assert_allclose(page.matrix.rates.sum(axis=1), 1.0)
    assert page.matrix.class_names == bundle.class_names
    # counts mode: the count is the big number, the row share the small one; rates mode swaps them
    i, j = 0, 0
    count = int(expected.confusion[i, j])
    share = expected.confusion[i, j] / expected.confusion[i].sum()
    big, small = page.matrix.cell_texts(i, j)
    assert big == f"{count:,}" and float(small.rstrip("%")) == pytest.approx(share * 100, abs=0.051)
    page.rates_button.click()
    assert page.matrix.mode == "rates"
    assert page.matrix.cell_texts(i, j) == (small, big)
    page.counts_button.click()
    assert page.matrix.mode == "counts"
    assert "validation" in page.matrix_box.title().lower()
    assert page.evaluation.accuracy == pytest.approx(expected.accuracy)


def test_clicking_a_cell_lists_its_images(qtbot, page, state, bundle, trained):
    model, meta, _ = trained
    load(qtbot, page, state, bundle, trained)
    ev = core_evaluation(model, bundle, meta)
    # the most populated off-diagonal cell (or a diagonal one if the model makes no mistakes)
    off = ev.confusion.copy()
    np.fill_diagonal(off, -1)
    true, pred = np.unravel_index(int(np.argmax(off)), off.shape)
    if off[true, pred] <= 0:
        true, pred = 0, 0
    with qtbot.waitSignal(page.cell_shown, timeout=WAIT_MS) as blocker:
        QTest.mouseClick(page.matrix, Qt.MouseButton.LeftButton, pos=page.matrix.cell_rect(true, pred).center())
    assert blocker.args == [true, pred]
    assert page.matrix.selected == (true, pred)
    assert page.gallery_tabs.currentIndex() == 1
    shown = page.cell_gallery.indices
    expected = ev.cell_indices(true, pred)
    assert sorted(shown.tolist()) == sorted(expected.tolist())
    assert len(shown) == ev.confusion[true, pred]
    # the most confident prediction first, and each card names the classes and probabilities
    conf = ev.probs[shown, pred]
    assert np.all(np.diff(conf) <= 1e-7)
    first, second = page.cell_gallery.captions()[0]
    names = bundle.class_names
    assert names[pred] in first and "%" in first
    assert (names[true] in second) or (true == pred)
    assert f"{names[true]} → {names[pred]}" in page.gallery_tabs.tabText(1)

    # a cell of the other split: switching keeps the selected cell and lists the training images
    page.set_split("train")
    train_ev = core_evaluation(model, bundle, meta, "train")
    np.testing.assert_array_equal(page.matrix.counts, train_ev.confusion)
    assert sorted(page.cell_gallery.indices.tolist()) == sorted(train_ev.cell_indices(true, pred).tolist())


def test_keyboard_moves_through_cells(qtbot, page, state, bundle, trained):
    load(qtbot, page, state, bundle, trained)
    page.matrix.setFocus()
    with qtbot.waitSignal(page.cell_shown, timeout=WAIT_MS):
        QTest.keyClick(page.matrix, Qt.Key.Key_Return)
    assert page.matrix.selected == (0, 0)
    with qtbot.waitSignal(page.cell_shown, timeout=WAIT_MS) as blocker:
        QTest.keyClick(page.matrix, Qt.Key.Key_Right)
    assert blocker.args == [0, 1]


def test_per_class_table_shows_the_core_metrics(qtbot, page, state, bundle, trained):
    from cvstudio.core.evaluate import per_class_metrics

    model, meta, _ = trained
    load(qtbot, page, state, bundle, trained)
    ev = core_evaluation(model, bundle, meta)
    rows = per_class_metrics(ev.confusion, bundle.class_names)
    m = page.class_model
    assert m.rowCount() == CLASSES and m.columnCount() == 5
    for r, expected in enumerate(rows):
        assert m.data(m.index(r, 0)) == expected.name
        for col, value in ((1, expected.precision), (2, expected.recall), (3, expected.f1)):
            shown = m.data(m.index(r, col))
            if math.isnan(value):
                assert shown == "—"
            else:
                assert m.data(m.index(r, col), Qt.ItemDataRole.UserRole + 2) == pytest.approx(value)
        assert m.data(m.index(r, 4)) == f"{expected.support:,}"
    # sorting by recall orders the rows by the numbers, not the text
    page.class_table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    proxy = page.class_proxy
    recalls = [proxy.data(proxy.index(r, 2), Qt.ItemDataRole.UserRole + 2) for r in range(proxy.rowCount())]
    assert recalls == sorted(recalls, reverse=True)
    assert f"Accuracy {percent(ev.accuracy)} on {len(bundle.val)} validation images" in page.class_summary.text()


def test_top_losses_most_confidently_wrong_first(qtbot, page, state, bundle, trained):
    from cvstudio.core.evaluate import top_losses

    model, meta, _ = trained
    # a harder dataset for the same model: the validation labels shifted, so there are many mistakes
    hard = dataclasses.replace(bundle, val=dataclasses.replace(bundle.val, labels=(bundle.val.labels + 1) % CLASSES))
    load(qtbot, page, state, hard, trained)
    ev = core_evaluation(model, hard, meta)
    shown = page.top_losses.indices
    expected = top_losses(ev.probs, ev.labels, TOP_LOSSES_SHOWN)
    np.testing.assert_array_equal(shown, expected)
    assert len(shown) == int(ev.confusion.sum() - np.trace(ev.confusion)) > 0
    assert np.all(ev.probs[shown].argmax(1) != ev.labels[shown])  # only mistakes
    p_true = ev.probs[shown, ev.labels[shown]]
    assert np.all(np.diff(p_true) >= -1e-7)  # the lowest probability for the truth (highest loss) first
    first, second = page.top_losses.captions()[0]
    i = int(shown[0])
    assert first.startswith("✗ " + hard.class_names[int(ev.probs[i].argmax())])
    assert second.startswith("true: " + hard.class_names[int(ev.labels[i])])
    assert f"({len(shown):,})" in page.gallery_tabs.tabText(0)
    # the gallery shows the dataset's own uint8 pixels
    np.testing.assert_array_equal(page.top_losses.model.source.images[i], hard.val.images[i].numpy())


def test_overfitting_warning_for_a_large_gap(qtbot, page, state, bundle, trained):
    from cvstudio.core.evaluate import overfitting_warning

    model, meta, _ = trained
    # validation images are the training images with wrong labels: a huge train/validation gap
    val = dataclasses.replace(bundle.train, labels=(bundle.train.labels + 1) % CLASSES)
    gap_data = dataclasses.replace(bundle, val=val)
    load(qtbot, page, state, gap_data, trained)
    train_acc = page.reports["train"].accuracy
    val_acc = page.reports["val"].accuracy
    assert train_acc - val_acc > 0.10
    expected = overfitting_warning(train_acc, val_acc)
    assert page.overfitting_banner.text() == expected
    assert page.overfitting_banner.level == "warning" and page.overfitting_banner.isVisible()
    assert page.train_tile.value.text() == percent(train_acc)
    assert page.val_tile.value.text() == percent(val_acc)
    assert page.gap_tile.value.text().startswith("+")


def test_no_warning_without_a_gap(qtbot, page, state, bundle, trained):
    from cvstudio.core.evaluate import overfitting_warning

    # the same images in both splits: no gap at all
    same = dataclasses.replace(bundle, val=bundle.train)
    load(qtbot, page, state, same, trained)
    assert page.reports["train"].accuracy == pytest.approx(page.reports["val"].accuracy)
    assert overfitting_warning(page.reports["train"].accuracy, page.reports["val"].accuracy) is None
    assert page.overfitting_banner.text() == ""
    assert "no sign of overfitting" in page.accuracy_note.text()


def test_mismatched_dataset_is_explained(qtbot, page, state, bundle, trained):
    model, meta, path = trained
    state.mark_torch_ready()
    other = make_tiny_bundle(n_train=32, n_val=16, classes=2, size=32)
    state.set_dataset(other)
    state.set_model(model, meta, path)
    assert page.idle and not page.reports
    assert page.results_stack.currentWidget() is page.explanation
    assert "does not fit" in page.explanation.title.text()
    text = page.explanation.text.text()
    assert "4 classes" in text and "2" in text and "Data page" in text
    assert not page.evaluate_button.isEnabled()
    assert page.evaluate() is False
    # with a listener, the explanation offers to go to the Data page
    calls = []
    page.data_page_requested.connect(lambda: calls.append(True))
    state.set_dataset(other)
    assert not page.explanation.button.isHidden()
    page.explanation.button.click()
    assert calls == [True]

    # a different image size and a different class order are named too
    smaller = make_tiny_bundle(n_train=32, n_val=16, classes=CLASSES, size=16)
    assert "16×16" in describe_mismatch(meta, smaller) and "32×32" in describe_mismatch(meta, smaller)
    names = tuple(reversed(bundle.class_names))
    shuffled = dataclasses.replace(bundle, class_names=names)
    assert "different order" in describe_mismatch(meta, shuffled)
    assert describe_mismatch(meta, bundle) is None

    # the matching dataset is evaluated at once
    state.set_dataset(bundle)
    qtbot.waitUntil(lambda: page.idle and len(page.reports) == 2, timeout=WAIT_MS)
    assert page.results_stack.currentWidget() is page.results


def test_hidden_page_evaluates_when_shown(qtbot, state, bundle, trained):
    model, meta, path = trained
    page = EvaluatePage(state)
    qtbot.addWidget(page, before_close_func=lambda w: qtbot.waitUntil(lambda: w.idle, timeout=WAIT_MS))
    state.mark_torch_ready()
    state.set_dataset(bundle)
    state.set_model(model, meta, path)
    assert page.idle and not page.reports  # nothing runs for a page nobody looks at
    assert "Not evaluated" in page.explanation.title.text()
    page.show()
    qtbot.waitUntil(lambda: page.idle and len(page.reports) == 2, timeout=WAIT_MS)


def test_a_new_model_replaces_old_results(qtbot, page, state, bundle, trained):
    from cvstudio.core.models import build_model

    model, meta, path = trained
    load(qtbot, page, state, bundle, trained)
    first = page.matrix.counts.copy()
    fresh = build_model(meta.model_spec, meta.input_shape, CLASSES).eval()  # untrained weights
    state.set_model(fresh, meta, None)
    assert page.reports == {}  # the old model's results are gone at once
    qtbot.waitUntil(lambda: page.idle and len(page.reports) == 2, timeout=WAIT_MS)
    expected = core_evaluation(fresh, bundle, meta)
    np.testing.assert_array_equal(page.matrix.counts, expected.confusion)
    assert first.sum() == page.matrix.counts.sum()


def test_cancel_stops_the_evaluation(qtbot, page, state, bundle, trained):
    model, meta, path = trained
    big = make_tiny_bundle(n_train=4096, n_val=2048, classes=CLASSES, size=32)
    state.mark_torch_ready()
    state.set_dataset(big)
    state.set_model(model, meta, path)
    assert not page.idle
    page.cancel()
    qtbot.waitUntil(lambda: page.idle, timeout=WAIT_MS)
    assert "train" not in page.reports
    assert "cancelled" in page.banner.text().lower()


def test_open_checkpoint_evaluates_it(qtbot, page, state, bundle, trained):
    _, _, path = trained
    state.mark_torch_ready()
    state.set_dataset(bundle)
    page.open_checkpoint(path)
    qtbot.waitUntil(lambda: page.idle and len(page.reports) == 2, timeout=WAIT_MS)
    assert state.checkpoint_path == path
    assert "convnet" in page.model_label.text() and path.name in page.model_detail.text()


# --- learning-rate finder ----------------------------------------------------------------------


@pytest.fixture
def lr_state(state):
    from cvstudio.core.models import build_model, get_preset

    state.mark_torch_ready()
    data = make_tiny_bundle(n_train=128, n_val=32, classes=2, size=16)
    state.set_dataset(data)
    spec = get_preset("mlp")
    state.set_spec(spec)
    state.set_train_config(dataclasses.replace(state.train_config, batch_size=16, optimizer="sgd", lr=0.01))
    current = build_model(spec, data.input_shape, 2).eval()  # "the current model" must stay as it is
    state.set_model(current, None, None)
    return state


def make_dialog(qtbot, state, steps=40):
    from cvstudio.gui.widgets.lr_finder import LRFinderDialog

    dialog = LRFinderDialog(state, autostart=False)
    qtbot.addWidget(dialog, before_close_func=lambda d: d.wait())
    dialog.start_spin.setValue(1e-4)
    dialog.end_spin.setValue(1.0)
    dialog.steps_spin.setValue(steps)
    dialog.show()
    return dialog


def test_lr_finder_runs_on_a_copy_and_use_sets_the_lr(qtbot, lr_state):
    state = lr_state
    before = {k: v.clone() for k, v in state.model.state_dict().items()}
    config_before = state.train_config
    dialog = make_dialog(qtbot, state)
    with qtbot.waitSignal(dialog.run_finished, timeout=WAIT_MS) as blocker:
        assert dialog.run()
    result = blocker.args[0]
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT_MS)
    # nothing of the app changed
    for k, v in state.model.state_dict().items():
        assert np.array_equal(v.numpy(), before[k].numpy()), k
    assert state.train_config is config_before
    # the curve on a log x axis, the suggestion marked
    xs, ys = dialog.curve.getData()
    assert len(xs) == len(result.lrs) > 10
    assert dialog.plot.getPlotItem().ctrl.logXCheck.isChecked()
    assert result.suggestion is not None, result.message
    assert dialog.suggestion_line.isVisible()
    assert dialog.suggestion_line.value() == pytest.approx(math.log10(result.suggestion))
    assert dialog.use_button.isEnabled()
    assert dialog.use_button.text() == f"Use {result.suggestion:.1e}"
    with qtbot.waitSignal(state.train_config_changed, timeout=1000):
        dialog.use_button.click()
    assert state.train_config.lr == pytest.approx(result.suggestion, rel=0.05)
    assert dataclasses.replace(state.train_config, lr=config_before.lr) == config_before
    assert not dialog.isVisible()


def test_lr_finder_without_a_suggestion(qtbot, lr_state, monkeypatch):
    import cvstudio.core.evaluate as core_evaluate

    monkeypatch.setattr(core_evaluate, "suggest_lr", lambda lrs, losses: None)
    dialog = make_dialog(qtbot, lr_state, steps=12)
    with qtbot.waitSignal(dialog.run_finished, timeout=WAIT_MS):
        dialog.run()
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT_MS)
    assert dialog.suggestion is None
    assert not dialog.use_button.isEnabled() and dialog.use_button.text() == "Use"
    assert not dialog.suggestion_line.isVisible()
    assert "No suggestion" in dialog.message.text()
    assert "did not fall" in dialog.banner.text()
    lr = lr_state.train_config.lr
    dialog.apply_suggestion()
    assert lr_state.train_config.lr == lr


def test_lr_finder_cancel_and_close(qtbot, lr_state):
    dialog = make_dialog(qtbot, lr_state, steps=2000)
    with qtbot.waitSignal(dialog.run_finished, timeout=WAIT_MS) as blocker:
        dialog.run()
        qtbot.waitUntil(lambda: dialog.progress.value() >= 2, timeout=WAIT_MS)
        dialog.cancel_button.click()
    assert len(blocker.args[0].lrs) < 2000
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT_MS)
    assert "stopped" in dialog.message.text() or "stopped" in dialog.banner.text().lower()
    # closing while a sweep runs stops it (the thread check of conftest fails a test that leaks one)
    dialog.run()
    assert dialog.running
    dialog.reject()
    dialog.wait()


def test_lr_finder_explains_why_it_cannot_run(qtbot, state):
    from cvstudio.gui.widgets.lr_finder import LRFinderDialog

    dialog = LRFinderDialog(state)  # torch not ready, no data, no spec
    qtbot.addWidget(dialog)
    assert not dialog.running
    assert "PyTorch" in dialog.banner.text()
    state.mark_torch_ready()
    assert dialog.run() is False and "dataset" in dialog.banner.text()


# --- export ------------------------------------------------------------------------------------


@pytest.fixture
def window(qtbot):
    from PySide6.QtWidgets import QWidget

    w = QWidget()
    qtbot.addWidget(w)
    w.show()
    return w


def answer_dialogs(monkeypatch, fmt_label, target):
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: (fmt_label, True)))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))


def message_boxes(name):
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == name and w.isVisible()]


def close_boxes():
    for w in QApplication.topLevelWidgets():
        if isinstance(w, QMessageBox) and w.isVisible():
            w.close()


@pytest.mark.parametrize("fmt,label,suffix", [("python", "PyTorch code (.py)", ".py"),
                                              ("torchscript", "TorchScript (.pt)", ".pt"),
                                              ("onnx", "ONNX (.onnx)", ".onnx")])
def test_export_writes_a_verified_file(qtbot, window, state, trained, tmp_path, monkeypatch, fmt, label, suffix):
    from cvstudio.gui.export_dialog import export_current_model, running_exports

    model, meta, path = trained
    state.mark_torch_ready()
    state.set_model(model, meta, path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    target = tmp_path / "exported"  # no suffix: the right one is added
    answer_dialogs(monkeypatch, label, target)
    export_current_model(window, state)
    qtbot.waitUntil(lambda: not running_exports() and bool(message_boxes("exportReport")), timeout=120_000)
    out = target.with_name("exported" + suffix)
    assert out.is_file() and out.stat().st_size > 0
    box = message_boxes("exportReport")[0]
    assert str(out) in box.text()
    assert "largest difference" in box.informativeText()
    # no temporary file left; a .py gets its weights beside it (the checkpoint is elsewhere) so it runs as is
    expected = [out.name] + (["exported.safetensors"] if fmt == "python" else [])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    for k, v in model.state_dict().items():  # the app's model was not touched
        assert np.array_equal(v.numpy(), before[k].numpy())
    close_boxes()


def test_export_failure_leaves_no_file(qtbot, window, state, trained, tmp_path, monkeypatch):
    import cvstudio.core.export as core_export
    from cvstudio.gui import errors as gui_errors
    from cvstudio.gui.export_dialog import export_current_model, running_exports

    def broken(model, tmp, x, expected):
        tmp.write_bytes(b"half a file")
        raise RuntimeError("the exporter crashed")

    monkeypatch.setattr(core_export, "_export_torchscript", broken)
    model, meta, path = trained
    state.mark_torch_ready()
    state.set_model(model, meta, path)
    target = tmp_path / "model.pt"
    answer_dialogs(monkeypatch, "TorchScript (.pt)", target)
    export_current_model(window, state)
    qtbot.waitUntil(lambda: not running_exports() and bool(gui_errors.open_error_dialogs()), timeout=WAIT_MS)
    assert list(tmp_path.iterdir()) == []
    box = gui_errors.open_error_dialogs()[0]
    assert "the exporter crashed" in box.text()
    assert not message_boxes("exportReport")
    for b in gui_errors.open_error_dialogs():
        b.close()


def test_export_without_a_model_or_when_cancelled(qtbot, state, trained, tmp_path, monkeypatch):
    from cvstudio.gui.export_dialog import export_current_model, running_exports

    export_current_model(None, state)
    assert message_boxes("exportMessage") and "no model" in message_boxes("exportMessage")[0].text().lower()
    close_boxes()
    model, meta, path = trained
    state.mark_torch_ready()
    state.set_model(model, meta, path)
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("", False)))
    export_current_model(None, state)
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("ONNX (.onnx)", True)))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: ("", "")))
    export_current_model(None, state)
    assert not running_exports() and list(tmp_path.iterdir()) == []
