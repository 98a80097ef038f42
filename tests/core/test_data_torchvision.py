"""torchvision datasets read from generated files in their real on-disk layouts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from cvstudio.core.data import SOURCES, available_classes, is_torchvision_source, load_dataset, resolve_source
from cvstudio.core.data.torchvision_sources import CIFAR10_CLASSES, CIFAR100_CLASSES, FASHION_MNIST_CLASSES
from cvstudio.core.errors import DataError
from cvstudio.core.specs import DataConfig
from tests.core import data_fakes as fakes


def test_sources_and_names():
    assert set(SOURCES) == {"shapes", "cifar10", "cifar100", "mnist", "fashion-mnist", "svhn"}
    assert all(isinstance(v, str) and v for v in SOURCES.values())
    assert is_torchvision_source("cifar10") and is_torchvision_source("CIFAR-10")
    assert not is_torchvision_source("shapes") and not is_torchvision_source("/some/folder")
    assert resolve_source("Fashion_MNIST").name == "fashion-mnist"
    assert resolve_source("shapes").kind == "shapes"
    with pytest.raises(DataError, match="unknown dataset 'cifar11': use one of shapes, cifar10"):
        resolve_source("cifar11")


def test_available_classes_without_files_or_torchvision():
    code = (
        "from cvstudio.core.data import available_classes as a; from cvstudio.core.specs import DataConfig as D;"
        "import sys; c = a(D(source='cifar100'));"
        "print(len(c), a(D(source='cifar10'))[:3], a(D(source='mnist'))[0], a(D(source='svhn'))[9],"
        "'torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["100", "('airplane',", "'automobile',", "'bird')", "0", "9", "False"]
    assert available_classes(DataConfig(source="fashion-mnist")) == FASHION_MNIST_CLASSES
    assert CIFAR100_CLASSES[:3] == ("apple", "aquarium_fish", "baby") and len(set(CIFAR100_CLASSES)) == 100
    assert list(CIFAR100_CLASSES) == sorted(CIFAR100_CLASSES)  # fine labels are in alphabetical order


@pytest.mark.parametrize("name, title, size", [("cifar10", "CIFAR-10", "170 MB"), ("mnist", "MNIST", "12 MB"),
                                              ("svhn", "SVHN", "246 MB")])  # fmt: skip
def test_missing_files_say_where_and_how_to_download(tmp_path, name, title, size):
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(source=name, data_dir=str(tmp_path)))
    msg = str(info.value)
    assert msg == (
        f"{title} not found in {tmp_path}: run with --download (or press Download) to fetch it ({size})"
    )


def test_cifar10_all_classes_and_cifar2(tmp_path, monkeypatch):
    fake = fakes.make_cifar10(tmp_path)
    fakes.patch_cifar10_md5(monkeypatch, fake["md5"])
    bundle = load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path)))
    assert bundle.class_names == CIFAR10_CLASSES
    assert bundle.description == "CIFAR-10: 10 classes"
    assert bundle.train.images.shape == (30, 3, 32, 32) and bundle.train.images.is_contiguous()
    assert torch.equal(bundle.train.images, torch.from_numpy(fake["train_x"]))
    assert torch.equal(bundle.train.labels, torch.from_numpy(fake["train_y"]).long())
    assert torch.equal(bundle.val.images, torch.from_numpy(fake["test_x"]))
    x = torch.from_numpy(fake["train_x"]).double() / 255
    assert bundle.mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist())
    assert bundle.std == pytest.approx(x.transpose(0, 1).reshape(3, -1).std(dim=1, unbiased=False).tolist())

    cifar2 = load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path), classes=("airplane", "bird")))
    assert cifar2.class_names == ("airplane", "bird")
    assert cifar2.description == "CIFAR-10: airplane, bird"
    ty = fake["train_y"]
    keep = (ty == 0) | (ty == 2)
    assert torch.equal(cifar2.train.labels, torch.from_numpy((ty[keep] == 2).astype(np.int64)))
    assert torch.equal(cifar2.train.images, torch.from_numpy(fake["train_x"][keep]))
    assert set(cifar2.val.labels.tolist()) == {0, 1}
    x2 = torch.from_numpy(fake["train_x"][keep]).double() / 255
    assert cifar2.mean == pytest.approx(x2.mean(dim=(0, 2, 3)).tolist())

    # order given = label order
    swapped = load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path), classes=("bird", "airplane")))
    assert torch.equal(swapped.train.labels, 1 - cifar2.train.labels)


def test_unknown_and_repeated_classes(tmp_path, monkeypatch):
    fake = fakes.make_cifar10(tmp_path, per_batch=2, test=3)
    fakes.patch_cifar10_md5(monkeypatch, fake["md5"])
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path), classes=("airplane", "plane")))
    assert str(info.value) == (
        "CIFAR-10 has no class 'plane'; "
        "available: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck"
    )
    with pytest.raises(DataError, match="listed twice"):
        load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path), classes=("bird", "Bird")))
    with pytest.raises(DataError, match="at least two classes"):
        load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path), classes=("bird",)))


def test_cifar_corrupted_file_is_a_data_error(tmp_path, monkeypatch):
    fake = fakes.make_cifar10(tmp_path, per_batch=2, test=3)
    fakes.patch_cifar10_md5(monkeypatch, fake["md5"])
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"damaged")
    expected = "CIFAR-10 files in .* are corrupted or incomplete: delete them and run with --download"
    with pytest.raises(DataError, match=expected):
        load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path)))


def test_cifar_incomplete(tmp_path, monkeypatch):
    fakes.make_cifar10(tmp_path, per_batch=2, test=3)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    expected = r"CIFAR-10 is incomplete in .* \(missing cifar-10-batches-py/test_batch\): run with --download"
    with pytest.raises(DataError, match=expected):
        load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path)))


def test_cifar100(tmp_path, monkeypatch):
    fake = fakes.make_cifar100(tmp_path)
    fakes.patch_cifar100_md5(monkeypatch, fake["md5"])
    bundle = load_dataset(DataConfig(source="cifar100", data_dir=str(tmp_path)))
    assert bundle.class_names == CIFAR100_CLASSES and bundle.description == "CIFAR-100: 100 classes"
    assert torch.equal(bundle.train.labels, torch.from_numpy(fake["train_y"]).long())
    assert torch.equal(bundle.train.images, torch.from_numpy(fake["train_x"]))
    a, b = CIFAR100_CLASSES[fake["train_y"][0]], CIFAR100_CLASSES[fake["test_y"][0]]
    if a != b:
        sub = load_dataset(DataConfig(source="cifar100", data_dir=str(tmp_path), classes=(a, b)))
        assert sub.class_names == (a, b) and int(sub.train.labels[0]) == 0


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_likes(tmp_path, name, folder):
    files = fakes.make_mnist(tmp_path, folder)
    bundle = load_dataset(DataConfig(source=name, data_dir=str(tmp_path)))
    assert bundle.train.images.shape == (20, 1, 28, 28) and bundle.val.images.shape == (10, 1, 28, 28)
    assert bundle.train.images.dtype == torch.uint8 and bundle.train.labels.dtype == torch.int64
    raw = np.frombuffer(files["train-images-idx3-ubyte"][16:], np.uint8).reshape(20, 1, 28, 28)
    assert torch.equal(bundle.train.images, torch.from_numpy(raw.copy()))
    labels = np.frombuffer(files["t10k-labels-idx1-ubyte"][8:], np.uint8)
    assert bundle.val.labels.tolist() == labels.tolist()
    assert len(bundle.mean) == 1
    expected = ("0", "1") if name == "mnist" else FASHION_MNIST_CLASSES[:2]
    sub = load_dataset(DataConfig(source=name, data_dir=str(tmp_path), classes=expected))
    assert sub.class_names == expected


def test_data_dir_pointing_inside_the_dataset_is_accepted(tmp_path):
    fakes.make_mnist(tmp_path)
    for inner in (tmp_path / "MNIST", tmp_path / "MNIST" / "raw"):
        bundle = load_dataset(DataConfig(source="mnist", data_dir=str(inner)))
        assert len(bundle.train) == 20


def test_mnist_grayscale_setting_is_fine_but_size_warns(tmp_path):
    fakes.make_mnist(tmp_path)
    bundle = load_dataset(DataConfig(source="mnist", data_dir=str(tmp_path), grayscale=True, image_size=32))
    assert len(bundle.warnings) == 1
    assert "image size setting applies to folders and shapes only" in bundle.warnings[0]


def test_svhn(tmp_path, monkeypatch):
    fake = fakes.make_svhn(tmp_path)
    fakes.patch_svhn_md5(monkeypatch, fake["md5"])
    bundle = load_dataset(DataConfig(source="svhn", data_dir=str(tmp_path)))
    assert bundle.class_names == tuple("0123456789")
    assert bundle.train.images.shape == (24, 3, 32, 32) and bundle.train.images.is_contiguous()
    expected = torch.from_numpy(np.transpose(fake["train_x"], (3, 2, 0, 1)).copy())
    assert torch.equal(bundle.train.images, expected)
    assert int(bundle.train.labels[0]) == 0  # label 10 means digit 0
    assert bundle.train.labels.tolist() == (fake["train_y"][:, 0] % 10).tolist()
    assert bundle.val.labels.tolist() == (fake["test_y"][:, 0] % 10).tolist()


def test_torchvision_cache_hit_skips_torchvision(tmp_path, monkeypatch):
    fake = fakes.make_cifar10(tmp_path, per_batch=2, test=3)
    fakes.patch_cifar10_md5(monkeypatch, fake["md5"])
    first = load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path)))
    from cvstudio.core.data import torchvision_sources

    def fail(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(torchvision_sources, "decode_torchvision", fail)
    second = load_dataset(DataConfig(source="cifar10", data_dir=str(tmp_path)))
    assert torch.equal(first.train.images, second.train.images)
