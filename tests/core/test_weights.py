"""Starting weights (issue 13): pretrained from the torch hub cache, hash-checked downloads,
state_dict files, and CV Studio checkpoints with a different class count."""

import hashlib
import os

import pytest
import torch
from safetensors.torch import save_file

from cvstudio.core.models import get_preset
from cvstudio.core.models.torchvision_models import arch_spec
from cvstudio.core.models.weights import WeightsError, download_file, pretrained_file
from cvstudio.core.runs import ModelInit, prepare_model, train_and_save
from cvstudio.core.specs import TrainConfig
from tests.conftest import make_tiny_bundle


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def photos():
    return make_tiny_bundle(n_train=32, n_val=16, size=32)


def _imagenet_resnet18():
    """A torchvision-format resnet18 state_dict with 1000 classes, as torchvision publishes it."""
    import torchvision

    torch.manual_seed(123)
    return torchvision.models.resnet18(weights=None).state_dict()


def test_pretrained_weights_come_from_the_hub_cache_and_never_download_unasked(hub, photos):
    path, url = pretrained_file("resnet18")
    assert path == hub / "resnet18-f37072fd.pth" and url.endswith("resnet18-f37072fd.pth")
    with pytest.raises(WeightsError, match=r"resnet18-f37072fd\.pth.*--download-weights"):
        prepare_model(arch_spec("resnet18"), photos, 0, ModelInit(pretrained=True))
    hub.mkdir(parents=True)
    ref = _imagenet_resnet18()
    torch.save(ref, path)
    prepared = prepare_model(arch_spec("resnet18"), photos, 0, ModelInit(pretrained=True))
    assert prepared.spec.weights == "IMAGENET1K_V1"
    state = prepared.model.state_dict()
    torch.testing.assert_close(state["layer3.0.conv1.weight"], ref["layer3.0.conv1.weight"])
    assert state["fc.weight"].shape == (2, 512)  # the 1000-class head was replaced
    assert any("fc" in n and "1000 outputs" in n for n in prepared.notes)
    assert prepared.data.mean == pytest.approx((0.485, 0.456, 0.406))  # ImageNet statistics


def test_downloads_are_hash_checked(tmp_path):
    src = tmp_path / "weights.pth"
    torch.save({"w": torch.ones(3)}, src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    good = download_file(src.as_uri(), tmp_path / "hub" / f"net-{digest[:8]}.pth")
    assert torch.load(good, weights_only=True)["w"].sum() == 3
    with pytest.raises(WeightsError, match="damaged"):
        download_file(src.as_uri(), tmp_path / "hub" / "net-00000000.pth")
    assert not (tmp_path / "hub" / "net-00000000.pth").exists()


def test_weights_files_pth_and_safetensors_with_named_mismatches(tmp_path, photos):
    ref = _imagenet_resnet18()
    torch.save(ref, tmp_path / "r.pth")
    save_file({k: v.contiguous() for k, v in ref.items()}, str(tmp_path / "r.safetensors"))
    for name in ("r.pth", "r.safetensors"):
        prepared = prepare_model(arch_spec("resnet18"), photos, 0, ModelInit(weights_file=str(tmp_path / name)))
        torch.testing.assert_close(prepared.model.state_dict()["conv1.weight"], ref["conv1.weight"])
    bad = dict(ref)
    bad["layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=r"'layer1\.0\.conv1\.weight' has shape \(64, 64, 5, 5\).*\(64, 64, 3, 3\)"):
        prepare_model(arch_spec("resnet18"), photos, 0, ModelInit(weights_file=str(tmp_path / "bad.pth")))
    with pytest.raises(WeightsError, match="missing tensors"):
        prepare_model(arch_spec("resnet34"), photos, 0, ModelInit(weights_file=str(tmp_path / "r.pth")))

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match="cannot be loaded safely"):
        prepare_model(arch_spec("resnet18"), photos, 0, ModelInit(weights_file=str(tmp_path / "evil.pth")))


def test_init_from_a_checkpoint_with_other_classes_replaces_the_head(tmp_path):
    three = make_tiny_bundle(n_train=48, n_val=12, classes=3)
    first = train_and_save(get_preset("convnet"), three, TrainConfig(epochs=1, device="cpu"), out=tmp_path / "a.safetensors")
    two = make_tiny_bundle(n_train=32, n_val=16, classes=2, seed=1)
    two = type(two)(two.train, two.val, ("cat", "dog"), two.mean, two.std, two.description, two.source)
    prepared = prepare_model(get_preset("convnet"), two, 5, ModelInit(init_from=str(first.checkpoint)))
    state = prepared.model.state_dict()
    torch.testing.assert_close(state["conv1.weight"], first.model.state_dict()["conv1.weight"])
    assert state["fc2.weight"].shape == (2, 32)
    assert any("differ" in n for n in prepared.notes) and any("fc2" in n and "replaced" in n for n in prepared.notes)
    outcome = train_and_save(get_preset("convnet"), two, TrainConfig(epochs=1, device="cpu"),
                             out=tmp_path / "b.safetensors", prepared=prepared)
    assert outcome.meta.class_names == ("cat", "dog") and outcome.notes == prepared.notes
    # Same classes: every tensor, head included, carries over.
    again = prepare_model(get_preset("convnet"), three, 9, ModelInit(init_from=str(first.checkpoint)))
    torch.testing.assert_close(again.model.state_dict()["fc2.weight"], first.model.state_dict()["fc2.weight"])
    assert again.notes == []


def test_download_reports_progress_and_cancel_or_truncation_leave_nothing(tmp_path):
    import http.server
    import threading

    from cvstudio.core.control import RunControl
    from cvstudio.core.errors import Cancelled

    src = tmp_path / "weights.pth"
    torch.save({"w": torch.ones(300_000)}, src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    hub = tmp_path / "hub"

    class Events:
        def __init__(self):
            self.events = []

        def on_progress(self, e):
            self.events.append((e.done, e.total))

    seen = Events()
    download_file(src.as_uri(), hub / f"net-{digest[:8]}.pth", callbacks=[seen])
    assert seen.events[0] == (0, src.stat().st_size) and seen.events[-1][0] == src.stat().st_size

    control = RunControl()
    control.request_stop()
    with pytest.raises(Cancelled):
        download_file(src.as_uri(), hub / f"other-{digest[:8]}.pth", control=control)

    class Truncating(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(src.stat().st_size))
            self.end_headers()
            self.wfile.write(src.read_bytes()[:1000])

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Truncating)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    try:
        with pytest.raises(WeightsError, match="truncated|broke off"):
            download_file(f"http://127.0.0.1:{server.server_port}/w.pth", hub / f"cut-{digest[:8]}.pth")
    finally:
        thread.join(10)
        server.server_close()
    assert sorted(p.name for p in hub.iterdir()) == [f"net-{digest[:8]}.pth"]  # no partial or cancelled file
