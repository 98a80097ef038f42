"""The Model page with torchvision architectures and starting weights (issue 13)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from cvstudio.core.models.torchvision_models import arch_spec
from tests.gui.model_page_helpers import shown_model_page, torch_ready_state


@pytest.fixture
def state():
    return torch_ready_state()


@pytest.fixture
def page(qtbot, state):
    return shown_model_page(qtbot, state, (1300, 850))


def _photos(state, size=64, classes=3):
    state.set_dataset(SimpleNamespace(input_shape=(3, size, size), num_classes=classes))


def choose_arch(qtbot, page, name):
    combo = page.arch.arch_combo
    with qtbot.waitSignal(page.arch.summarized, timeout=60_000):
        combo.setCurrentIndex(combo.findData(name))
        combo.activated.emit(combo.currentIndex())


def stages(page):
    t = page.arch.stage_table
    return {t.item(r, 0).text(): (t.item(r, 2).text(), t.item(r, 3).text()) for r in range(t.rowCount())}


def test_choosing_resnet18_shows_stages_code_and_becomes_the_spec(qtbot, page, state):
    _photos(state)
    choose_arch(qtbot, page, "resnet18")
    rows = stages(page)
    assert rows["layer4"][0] == "512×2×2" and rows["fc"] == ("3", f"{512 * 3 + 3:,}")
    assert page.arch.stage_table.isVisible() and not page.table.isVisible()
    assert state.spec.arch == "resnet18" and state.spec_error is None
    assert "torchvision.models.resnet18(weights=None)" in page.code_view.code()
    assert "model.fc = nn.Linear(512, 3)" in page.code_view.code()
    total = sum(p.numel() for p in __import__("torchvision").models.resnet18(num_classes=3).parameters())
    assert f"{total:,} trainable parameters" in page.total_label.text()

    # Pretrained weights: the spec names them, the code passes them, the next run starts from them.
    combo = page.arch.start_combo
    with qtbot.waitSignal(page.arch.summarized, timeout=60_000):
        combo.setCurrentIndex(combo.findData("pretrained:IMAGENET1K_V1"))
        combo.activated.emit(combo.currentIndex())
    assert state.spec.weights == "IMAGENET1K_V1" and state.model_init.pretrained
    assert "weights='IMAGENET1K_V1'" in page.code_view.code()
    assert "224×224" in page.arch.info_label.text() and "not downloaded" in page.arch.info_label.text()
    assert page.arch.download_button.isEnabled()

    # Back to the layer presets.
    combo = page.arch.arch_combo
    combo.setCurrentIndex(combo.findData(None))
    combo.activated.emit(combo.currentIndex())
    assert state.spec.arch is None and page.table.isVisible() and not page.arch.stage_table.isVisible()
    assert state.model_init is None


def test_an_image_size_the_architecture_cannot_take_is_one_line_and_blocks_training(qtbot, page, state):
    _photos(state, size=16)
    with qtbot.waitSignal(page.arch.failed, timeout=60_000):
        combo = page.arch.arch_combo
        combo.setCurrentIndex(combo.findData("mobilenet_v3_small"))
        combo.activated.emit(combo.currentIndex())
    assert state.spec_error is not None and "at least 32x32" in str(state.spec_error)
    assert page.banner.isVisible() and "\n" not in str(state.spec_error)


def test_an_opened_architecture_checkpoint_keeps_arch_and_weights(qtbot, page, state):
    _photos(state)
    spec = arch_spec("mobilenet_v3_small", "IMAGENET1K_V1", name="my-photos")
    with qtbot.waitSignal(page.arch.summarized, timeout=60_000):
        state.set_spec(spec)
    assert page.current_spec() == spec and state.spec == spec
    assert page.arch.arch_combo.currentData() == "mobilenet_v3_small"
    assert "features.12" in stages(page)


def test_a_weights_file_for_another_architecture_is_refused_and_the_start_stays(qtbot, page, state, tmp_path):
    import torchvision

    _photos(state)
    choose_arch(qtbot, page, "resnet18")
    good, bad = tmp_path / "r18.pth", tmp_path / "mnv3.pth"
    torch.save(torchvision.models.resnet18().state_dict(), good)
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), bad)
    with qtbot.waitSignal(state.model_init_changed, timeout=60_000):
        page.arch.check_file("file", str(good), (3, 64, 64), 3)
    assert state.model_init.weights_file == str(good)
    assert "fc" in page.arch.banner.text()  # the 1000-class head was replaced
    page.arch.check_file("file", str(bad), (3, 64, 64), 3)
    qtbot.waitUntil(lambda: "does not fit" in page.arch.banner.text(), timeout=60_000)
    assert state.model_init.weights_file == str(good)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    page.arch.check_file("file", str(tmp_path / "evil.pth"), (3, 64, 64), 3)
    qtbot.waitUntil(lambda: "cannot be loaded safely" in page.arch.banner.text(), timeout=60_000)
    assert state.model_init.weights_file == str(good)


def test_download_weights_with_progress_then_the_page_says_they_are_there(qtbot, page, state, tmp_path, monkeypatch):
    import hashlib

    import cvstudio.core.models.weights as weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    src = tmp_path / "published.pth"
    torch.save({"w": torch.ones(200_000)}, src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:8]
    hub = weights.hub_checkpoints_dir()
    monkeypatch.setattr(weights, "pretrained_file", lambda arch, name=None: (hub / f"{arch}-{digest}.pth", src.as_uri()))
    _photos(state)
    choose_arch(qtbot, page, "resnet18")
    combo = page.arch.start_combo
    with qtbot.waitSignal(page.arch.summarized, timeout=60_000):
        combo.setCurrentIndex(combo.findData("pretrained:IMAGENET1K_V1"))
        combo.activated.emit(combo.currentIndex())
    assert page.arch.download_button.isEnabled() and "not downloaded" in page.arch.info_label.text()
    with qtbot.waitSignal(page.arch.summarized, timeout=60_000):
        page.arch.download_button.click()
        assert page.arch.cancel_button.isVisible() and page.arch.progress.isVisible()
    assert (hub / f"resnet18-{digest}.pth").is_file()
    assert "Downloaded" in page.arch.banner.text() and "(downloaded)" in page.arch.info_label.text()
    assert not page.arch.download_button.isEnabled() and not page.arch.cancel_button.isVisible()
