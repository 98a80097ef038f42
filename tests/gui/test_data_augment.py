"""The Data page's augmentation preview (issue 13): the same image before and after the ticked steps."""


from cvstudio.gui.pages.data_augment import AugmentBox
from cvstudio.gui.pages.base import Page
from cvstudio.gui.state import AppState
from tests.conftest import make_tiny_bundle


def test_preview_shows_the_first_training_image_and_its_augmentations(qtbot):
    import torch  # noqa: F401 - as after start-up

    state = AppState()
    state.mark_torch_ready()
    page = Page(state)
    qtbot.addWidget(page)
    box = AugmentBox(state, page.tasks, page)
    seen = []
    box.changed.connect(seen.append)
    state.set_dataset(make_tiny_bundle(n_train=8, n_val=4, size=32))
    qtbot.waitUntil(lambda: box.original_label.pixmap() is not None and not box.original_label.pixmap().isNull(),
                    timeout=20_000)
    before = box.preview_labels[0].pixmap().toImage()
    box.checks["rotate"].setChecked(True)
    box.checks["color"].setChecked(True)
    assert seen[-1] == "rotate,color"
    qtbot.waitUntil(lambda: box.preview_labels[0].pixmap().toImage() != before, timeout=20_000)
    assert "training batches" in box.hint.text()
    box.set_value("none")
    assert not any(c.isChecked() for c in box.checks.values()) and box.value() == "none"
    page.shutdown()
