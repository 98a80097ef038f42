"""Tiny stand-ins for the torchvision datasets, written in their real on-disk layouts.

Each ``make_*`` writes a few dozen images under ``root`` exactly where and how
torchvision expects them and returns what is needed to check the result. The
``patch_*`` helpers point the md5 checksums of torchvision's classes at the
generated files (torchvision verifies CIFAR and SVHN files by md5).
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
from torchvision.datasets.utils import calculate_md5

from cvstudio.core.data.torchvision_sources import CIFAR10_CLASSES, CIFAR100_CLASSES


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- CIFAR ------------------------------------------------------------------


def _pickle(path: Path, obj: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return calculate_md5(str(path))


def make_cifar10(root: Path, per_batch: int = 6, test: int = 8, seed: int = 0) -> dict:
    """``root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``; returns arrays and md5s."""
    rng = _rng(seed)
    base = root / "cifar-10-batches-py"
    md5 = {}
    train_x, train_y = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, per_batch)]
        y[: min(per_batch, 3)] = [0, 2, 9][: min(per_batch, 3)]  # make sure airplane/bird/truck occur
        batch = {"batch_label": f"batch {i}", "data": x, "labels": y}
        md5[f"data_batch_{i}"] = _pickle(base / f"data_batch_{i}", batch)
        train_x.append(x)
        train_y += y
    tx = rng.integers(0, 256, (test, 3072), dtype=np.uint8)
    ty = [int(v) for v in rng.integers(0, 10, test)]
    ty[:3] = [0, 2, 5]
    md5["test_batch"] = _pickle(base / "test_batch", {"batch_label": "test", "data": tx, "labels": ty})
    md5["batches.meta"] = _pickle(
        base / "batches.meta", {"label_names": list(CIFAR10_CLASSES), "num_cases_per_batch": per_batch}
    )
    return {
        "train_x": np.concatenate(train_x).reshape(-1, 3, 32, 32),
        "train_y": np.array(train_y),
        "test_x": tx.reshape(-1, 3, 32, 32),
        "test_y": np.array(ty),
        "md5": md5,
    }


def patch_cifar10_md5(monkeypatch, md5: dict) -> None:
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    meta = {"filename": "batches.meta", "key": "label_names", "md5": md5["batches.meta"]}
    monkeypatch.setattr(CIFAR10, "meta", meta)


def make_cifar100(root: Path, train: int = 30, test: int = 10, seed: int = 1) -> dict:
    rng = _rng(seed)
    base = root / "cifar-100-python"
    x = rng.integers(0, 256, (train, 3072), dtype=np.uint8)
    y = [int(v) for v in rng.integers(0, 100, train)]
    tx = rng.integers(0, 256, (test, 3072), dtype=np.uint8)
    ty = [int(v) for v in rng.integers(0, 100, test)]
    md5 = {
        "train": _pickle(base / "train", {"data": x, "fine_labels": y, "coarse_labels": [v // 5 for v in y]}),
        "test": _pickle(base / "test", {"data": tx, "fine_labels": ty, "coarse_labels": [v // 5 for v in ty]}),
        "meta": _pickle(
            base / "meta",
            {"fine_label_names": list(CIFAR100_CLASSES), "coarse_label_names": [f"c{i}" for i in range(20)]},
        ),
    }
    return {"train_x": x.reshape(-1, 3, 32, 32), "train_y": np.array(y), "test_y": np.array(ty), "md5": md5}


def patch_cifar100_md5(monkeypatch, md5: dict) -> None:
    from torchvision.datasets import CIFAR100

    monkeypatch.setattr(CIFAR100, "train_list", [["train", md5["train"]]])
    monkeypatch.setattr(CIFAR100, "test_list", [["test", md5["test"]]])
    monkeypatch.setattr(CIFAR100, "meta", {"filename": "meta", "key": "fine_label_names", "md5": md5["meta"]})


# --- MNIST / FashionMNIST (idx files) ---------------------------------------


def idx_images(x: np.ndarray) -> bytes:
    n, h, w = x.shape
    return struct.pack(">IIII", 0x00000803, n, h, w) + x.astype(np.uint8).tobytes()


def idx_labels(y: np.ndarray) -> bytes:
    return struct.pack(">II", 0x00000801, len(y)) + y.astype(np.uint8).tobytes()


def mnist_files(train: int = 20, test: int = 10, seed: int = 2) -> dict[str, bytes]:
    """The four raw (decompressed) idx files, by name."""
    rng = _rng(seed)
    x = rng.integers(0, 256, (train, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, train)
    tx = rng.integers(0, 256, (test, 28, 28), dtype=np.uint8)
    ty = rng.integers(0, 10, test)
    return {
        "train-images-idx3-ubyte": idx_images(x),
        "train-labels-idx1-ubyte": idx_labels(y),
        "t10k-images-idx3-ubyte": idx_images(tx),
        "t10k-labels-idx1-ubyte": idx_labels(ty),
    }


def make_mnist(root: Path, folder: str = "MNIST", seed: int = 2) -> dict[str, bytes]:
    """``root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``."""
    files = mnist_files(seed=seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (raw / name).write_bytes(data)
    return files


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(data)
    return buf.getvalue()


# --- SVHN (.mat) --------------------------------------------------------------


def svhn_mat(path: Path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    rng = _rng(seed)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = rng.integers(1, 11, (n, 1)).astype(np.uint8)  # 10 means digit 0
    y[0, 0] = 10
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"X": x, "y": y})
    return x, y


def make_svhn(root: Path) -> dict:
    x, y = svhn_mat(root / "train_32x32.mat", 24, 3)
    tx, ty = svhn_mat(root / "test_32x32.mat", 10, 4)
    return {
        "train_x": x,
        "train_y": y,
        "test_y": ty,
        "md5": {split: calculate_md5(str(root / f"{split}_32x32.mat")) for split in ("train", "test")},
    }


def patch_svhn_md5(monkeypatch, md5: dict, urls: dict | None = None) -> None:
    from torchvision.datasets import SVHN

    lists = dict(SVHN.split_list)
    for split in ("train", "test"):
        url, filename, _ = lists[split]
        lists[split] = [(urls or {}).get(split, url), filename, md5[split]]
    monkeypatch.setattr(SVHN, "split_list", lists)


def tar_gz(path: Path, members: dict[str, bytes]) -> str:
    """Write a .tar.gz with the given member paths and contents; return its md5."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return calculate_md5(str(path))
