"""The standard datasets read through torchvision: CIFAR-10/100, MNIST, FashionMNIST, SVHN.

The files live where torchvision puts them under the data folder (``root``):

    cifar10        root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    cifar100       root/cifar-100-python/{train, test, meta}
    mnist          root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte
    fashion-mnist  root/FashionMNIST/raw/(same names)
    svhn           root/{train,test}_32x32.mat

Everything needed without reading the files -- class names, file names, sizes
-- is known here, so listing classes or checking a cached copy never imports
torchvision (which takes seconds). Decoding reads each split's whole array at
once from the torchvision dataset object; no item is ever visited one by one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cvstudio.core.errors import DOWNLOAD_ADVICE, DataError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# CIFAR-100 fine labels, in label order (as in the dataset's "meta" file).
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger",
    "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip

DIGITS = tuple(str(i) for i in range(10))

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class TorchvisionSource:
    name: str  # our name, e.g. "cifar10"
    title: str  # e.g. "CIFAR-10"
    tv_class: str  # class in torchvision.datasets
    classes: tuple[str, ...]
    files: tuple[str, ...]  # paths relative to the data folder that must exist
    download_size: str  # what --download fetches, for messages
    summary: str  # one line for `cvstudio datasets`

    def missing_files(self, root: Path) -> list[str]:
        return [f for f in self.files if not (root / f).is_file()]


TORCHVISION_SOURCES: dict[str, TorchvisionSource] = {
    s.name: s
    for s in (
        TorchvisionSource(
            "cifar10",
            "CIFAR-10",
            "CIFAR10",
            CIFAR10_CLASSES,
            tuple(
                f"cifar-10-batches-py/{f}"
                for f in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
            ),
            "170 MB",
            "CIFAR-10: 60,000 32x32 colour photos in 10 classes (airplane, bird, cat, ...); download 170 MB",
        ),
        TorchvisionSource(
            "cifar100",
            "CIFAR-100",
            "CIFAR100",
            CIFAR100_CLASSES,
            ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
            "169 MB",
            "CIFAR-100: 60,000 32x32 colour photos in 100 classes; download 169 MB",
        ),
        TorchvisionSource(
            "mnist",
            "MNIST",
            "MNIST",
            DIGITS,
            tuple(f"MNIST/raw/{f}" for f in _MNIST_FILES),
            "12 MB",
            "MNIST: 70,000 28x28 grey handwritten digits 0-9; download 12 MB",
        ),
        TorchvisionSource(
            "fashion-mnist",
            "Fashion-MNIST",
            "FashionMNIST",
            FASHION_MNIST_CLASSES,
            tuple(f"FashionMNIST/raw/{f}" for f in _MNIST_FILES),
            "31 MB",
            "Fashion-MNIST: 70,000 28x28 grey pictures of clothing in 10 classes; download 31 MB",
        ),
        TorchvisionSource(
            "svhn",
            "SVHN",
            "SVHN",
            DIGITS,
            ("train_32x32.mat", "test_32x32.mat"),
            "246 MB",
            "SVHN: 99,289 32x32 colour photos of house-number digits 0-9; download 246 MB",
        ),
    )
}


def is_torchvision_source(name: str) -> bool:
    return name in TORCHVISION_SOURCES


def locate_root(info: TorchvisionSource, root: Path) -> Path:
    """``root``, or the folder above it when the user pointed at the dataset's own folder.

    E.g. ``~/data/cifar-10-batches-py`` or ``~/data/MNIST/raw`` instead of ``~/data``.
    """
    if not info.missing_files(root):
        return root
    for parent in list(root.parents)[:2]:
        if not info.missing_files(parent):
            return parent
    return root


def check_present(info: TorchvisionSource, root: Path) -> None:
    """Raise DataError, telling how to download, when files of ``info`` are missing."""
    if root.exists() and not root.is_dir():
        raise DataError(f"the data folder {root} is a file; choose a folder for datasets")
    missing = info.missing_files(root)
    if not missing:
        return
    if len(missing) == len(info.files):
        raise DataError(
            f"{info.title} not found in {root}: {DOWNLOAD_ADVICE} "
            f"to fetch it ({info.download_size})"
        )
    raise DataError(
        f"{info.title} is incomplete in {root} (missing {missing[0]}"
        f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}): "
        f"{DOWNLOAD_ADVICE} to fetch it ({info.download_size})"
    )


def file_fingerprint(info: TorchvisionSource, root: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime in ns) of each file: what a cached copy depends on."""
    out = []
    for rel in info.files:
        st = os.stat(root / rel)
        out.append((rel, st.st_size, st.st_mtime_ns))
    return out


def decode_torchvision(
    info: TorchvisionSource, root: Path
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Read both splits: ``(train_images, train_labels, val_images, val_labels)``.

    Images are uint8 (N, C, H, W) contiguous, labels int64. The validation
    split is the dataset's test split.
    """
    check_present(info, root)
    import torchvision.datasets as tvd  # slow import: only when files are really read

    cls = getattr(tvd, info.tv_class)
    try:
        if info.name == "svhn":
            train = cls(str(root), split="train")
            test = cls(str(root), split="test")
        else:
            train = cls(str(root), train=True)
            test = cls(str(root), train=False)
        tr_x, tr_y = _arrays(info, train)
        te_x, te_y = _arrays(info, test)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted."
        raise DataError(
            f"{info.title} files in {root} are corrupted or incomplete: delete them and {DOWNLOAD_ADVICE} "
            f"to fetch them again"
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:  # damaged pickles / .mat / idx files: whatever their reader raises
        raise DataError(f"cannot read {info.title} from {root}: {_one_line(exc)}") from exc
    _check_labels(info, tr_y, root)
    _check_labels(info, te_y, root)
    return tr_x, tr_y, te_x, te_y


def _arrays(info: TorchvisionSource, ds: object) -> tuple[torch.Tensor, torch.Tensor]:
    data = ds.data  # type: ignore[attr-defined]
    if info.name == "svhn":
        labels = ds.labels  # type: ignore[attr-defined]  # numpy int64, 10 already mapped to 0
        images = torch.from_numpy(np.ascontiguousarray(data, dtype=np.uint8))  # (N, 3, 32, 32)
    elif info.name in ("mnist", "fashion-mnist"):
        labels = ds.targets  # type: ignore[attr-defined]  # torch tensor
        images = torch.as_tensor(data, dtype=torch.uint8).unsqueeze(1).contiguous()  # (N, 1, 28, 28)
    else:  # CIFAR: numpy (N, 32, 32, 3)
        labels = ds.targets  # type: ignore[attr-defined]  # list of ints
        images = torch.from_numpy(np.asarray(data, dtype=np.uint8)).permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64).reshape(-1).contiguous()
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def _check_labels(info: TorchvisionSource, labels: torch.Tensor, root: Path) -> None:
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(info.classes)):
        raise DataError(f"cannot read {info.title} from {root}: labels outside 0..{len(info.classes) - 1}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
