"""The downloader, against a local HTTP server and file:// URLs (no internet needed)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10, MNIST, SVHN
from torchvision.datasets.utils import calculate_md5

from cvstudio.core.data import download, load_dataset
from cvstudio.core.errors import DataError
from cvstudio.core.specs import DataConfig
from tests.core import data_fakes as fakes


class Recorder:
    def __init__(self):
        self.events = []

    def on_progress(self, event):
        self.events.append(event)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server serving tmp_path/www; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def serve_mnist(www: Path) -> list[tuple[str, str]]:
    (www / "mnist").mkdir()
    resources = []
    for name, data in fakes.mnist_files().items():
        gz = www / "mnist" / f"{name}.gz"
        gz.write_bytes(fakes.gzip_bytes(data))
        resources.append((gz.name, calculate_md5(str(gz))))
    return resources


def test_mnist_download_tries_mirrors_and_reports_bytes(server, tmp_path, monkeypatch):
    www, base = server
    resources = serve_mnist(www)
    monkeypatch.setattr(MNIST, "mirrors", [f"{base}/missing/", f"{base}/mnist/"])  # first answers 404
    monkeypatch.setattr(MNIST, "resources", resources)
    root = tmp_path / "data"
    rec = Recorder()
    bundle = load_dataset(DataConfig(source="mnist", data_dir=str(root), download=True), [rec])
    assert bundle.train.images.shape == (20, 1, 28, 28)
    raw = root / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(fakes.mnist_files())  # .gz removed, no leftovers
    downloads = [e for e in rec.events if e.stage == "download"]
    sizes = {name: (www / "mnist" / name).stat().st_size for name, _ in resources}
    finished = [e for e in downloads if e.message.startswith("downloaded")]
    assert sorted((e.message.split()[-1], e.done, e.total) for e in finished) == sorted(
        (name, size, size) for name, size in sizes.items()
    )
    assert all(e.total is None or e.done <= e.total for e in downloads)


def test_checksum_mismatch_is_an_error_and_leaves_nothing(server, tmp_path, monkeypatch):
    www, base = server
    resources = serve_mnist(www)
    monkeypatch.setattr(MNIST, "mirrors", [f"{base}/mnist/"])
    monkeypatch.setattr(MNIST, "resources", [(resources[0][0], "0" * 32)] + resources[1:])
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(source="mnist", data_dir=str(root), download=True))
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz is damaged (checksum mismatch)" in msg
    assert str(root / "MNIST" / "raw") in msg
    assert list((root / "MNIST" / "raw").iterdir()) == []


def test_network_failure_is_a_clear_error(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/svhn/train_32x32.mat"
    monkeypatch.setattr(SVHN, "split_list", {**SVHN.split_list, "train": [url, "train_32x32.mat", "0" * 32]})
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(source="svhn", data_dir=str(root), download=True))
    msg = str(info.value)
    assert msg.startswith("could not download train_32x32.mat: ")
    assert msg.endswith(f"; check the network or put the files in {root}")
    assert "\n" not in msg


def test_cifar10_from_file_url_is_extracted(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    fake = fakes.make_cifar10(staging, per_batch=3, test=4)
    base = staging / "cifar-10-batches-py"
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes() for p in base.iterdir()}
    archive = tmp_path / "server" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    md5 = fakes.tar_gz(archive, members)
    fakes.patch_cifar10_md5(monkeypatch, fake["md5"])
    monkeypatch.setattr(CIFAR10, "url", archive.as_uri())
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5)
    root = tmp_path / "data"
    rec = Recorder()
    config = DataConfig(source="cifar10", data_dir=str(root), download=True, classes=("airplane", "bird"))
    bundle = load_dataset(config, [rec])
    assert bundle.class_names == ("airplane", "bird")
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]  # archive and temp files gone
    assert any(e.stage == "download" and e.total == archive.stat().st_size for e in rec.events)

    # present and intact: no download at all the next time, even with download=True
    def no_network(*a, **k):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(download.urllib.request, "urlopen", no_network)
    download.download_dataset("cifar10", root)


def test_svhn_over_http(server, tmp_path, monkeypatch):
    www, base = server
    fake = fakes.make_svhn(www)
    fakes.patch_svhn_md5(
        monkeypatch, fake["md5"], urls={"train": f"{base}/train_32x32.mat", "test": f"{base}/test_32x32.mat"}
    )
    root = tmp_path / "data"
    bundle = load_dataset(DataConfig(source="svhn", data_dir=str(root), download=True))
    assert len(bundle.train) == 24 and len(bundle.val) == 10
    assert bundle.train.labels.tolist() == (fake["train_y"][:, 0] % 10).tolist()
    first = np.transpose(fake["train_x"][..., 0], (2, 0, 1)).copy()
    assert torch.equal(bundle.train.images[0], torch.from_numpy(first))


def test_unsafe_archive_is_refused(tmp_path, monkeypatch):
    archive = tmp_path / "evil.tar.gz"
    md5 = fakes.tar_gz(archive, {"../escaped.txt": b"gotcha"})
    monkeypatch.setattr(CIFAR10, "url", archive.as_uri())
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5)
    root = tmp_path / "data"
    with pytest.raises(DataError, match="could not extract"):
        download.download_dataset("cifar10", root)
    assert not (tmp_path / "escaped.txt").exists()


def test_fetch_progress_is_throttled(tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(np.random.default_rng(0).integers(0, 256, 5 * 2**20, dtype=np.uint8).tobytes())
    rec = Recorder()
    dest = tmp_path / "out" / "big.bin"
    download.fetch([src.as_uri()], dest, calculate_md5(str(src)), [rec])
    assert dest.read_bytes() == src.read_bytes()
    assert 2 <= len(rec.events) <= 8
    assert rec.events[-1].done == rec.events[-1].total == 5 * 2**20
