"""CV Studio's training against the cheatsheet's own code, same model, batch size and machine.

Prints, in one run:
  1. training loop images/s: the cheatsheet's loop (a list of per-item
     ToTensor+Normalize tensors, DataLoader at batch 64, printing the loss
     once per epoch) vs core.training.fit (uint8 tensor, whole-batch
     normalization, channels_last, no per-step host sync). Target >= 1.4x.
  2. the whole experiment: read a folder of PNG files, compute mean/std,
     train, evaluate. Cheatsheet style (ImageFolder + transforms + list +
     stats by hand + DataLoader) vs CV Studio (load_dataset + fit). Target >= 1.5x.
  3. loading the same folder dataset again from the cache vs its first decode. Target >= 10x.

Usage: .venv/bin/python benchmarks/train_speed.py [--images 10000] [--epochs 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvstudio.core.data.bundle import DatasetBundle, ImageSet  # noqa: E402
from cvstudio.core.data.shapes import CLASS_NAMES, generate_shapes  # noqa: E402
from cvstudio.core.models import get_preset  # noqa: E402
from cvstudio.core.specs import DataConfig, TrainConfig  # noqa: E402
from cvstudio.core.training import evaluate, fit, new_model  # noqa: E402
from cvstudio.core.training.loop import EVAL_BATCH_SIZE, BatchLoader, make_loss  # noqa: E402


class CheatsheetNet(nn.Module):
    """The cheatsheet's Net, verbatim apart from the class count."""

    def __init__(self, classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 8, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(8 * 8 * 8, 32)
        self.fc2 = nn.Linear(32, classes)

    def forward(self, x):
        out = F.max_pool2d(torch.tanh(self.conv1(x)), 2)
        out = F.max_pool2d(torch.tanh(self.conv2(out)), 2)
        out = out.view(-1, 8 * 8 * 8)
        out = torch.tanh(self.fc1(out))
        return self.fc2(out)


def cheatsheet_train(dataset_list, classes: int, epochs: int, device: str) -> tuple[nn.Module, float]:
    """The cheatsheet's loop; returns the model and training images/s."""
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    model = CheatsheetNet(classes).to(device)
    loader = DataLoader(dataset_list, batch_size=64, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    seen, start = 0, time.perf_counter()
    for epoch in range(epochs):
        for imgs, labels in loader:
            imgs, labels = imgs.to(device), labels.to(device)
            outputs = model(imgs)
            loss = loss_fn(outputs, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += labels.shape[0]
        print(f"    Epoch {epoch}, Training loss {loss.item()}")
    return model, seen / (time.perf_counter() - start)


def cheatsheet_evaluate(model, dataset_list, device: str) -> float:
    from torch.utils.data import DataLoader

    correct = total = 0
    with torch.no_grad():
        for imgs, labels in DataLoader(dataset_list, batch_size=64, shuffle=False):
            outputs = model(imgs.to(device))
            _, predicted = torch.max(outputs, dim=1)
            total += labels.shape[0]
            correct += int((predicted == labels.to(device)).sum())
    return correct / total


def as_cheatsheet_list(images: torch.Tensor, labels: torch.Tensor, mean, std):
    """Per-item ToTensor + Normalize, kept as a list of (tensor, label) like the cheatsheet's cifar2."""
    from PIL import Image
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    nhwc = images.permute(0, 2, 3, 1).numpy()
    return [(tf(Image.fromarray(img)), int(label)) for img, label in zip(nhwc, labels)]


def shapes(n: int, seed: int) -> tuple[ImageSet, ImageSet, tuple[str, ...]]:
    ti, tl, vi, vl = generate_shapes(seed=seed, train_size=n, val_size=1000)
    return ImageSet(ti, tl), ImageSet(vi, vl), CLASS_NAMES


def bench_loop(args) -> float:
    print("1. training loop (convnet, batch 64, SGD lr 1e-2)")
    train, val, names = shapes(args.images, seed=0)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    bundle = DatasetBundle(train, val, names, mean, std, "shapes", "shapes")
    listed = as_cheatsheet_list(train.images, train.labels, mean, std)
    spec = get_preset("convnet")
    ref_best = ours_best = 0.0
    for trial in range(args.trials):  # interleaved, best of each, so both see the same machine load
        _, ref_ips = cheatsheet_train(listed, len(names), args.epochs, args.device)
        model = new_model(spec, bundle, 0)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        started = time.perf_counter()
        result = fit(model, bundle, TrainConfig(epochs=args.epochs, batch_size=64, lr=1e-2, device=args.device))
        whole_s = time.perf_counter() - started
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        ours_ips = result.images_per_s
        print(f"  trial {trial + 1}: cheatsheet {ref_ips:,.0f} img/s, CV Studio {ours_ips:,.0f} img/s "
              f"(its whole fit, evaluations included: {whole_s:.2f} s, {faults:,} page faults; see core/memory.py)")
        ref_best, ours_best = max(ref_best, ref_ips), max(ours_best, ours_ips)
    ratio = ours_best / ref_best
    print(f"  => training loop: {ratio:.2f}x the cheatsheet's images/s (target >= 1.4x)\n")
    return ratio


def write_png_folder(root: Path, images: torch.Tensor, labels: torch.Tensor, names, split: str) -> None:
    from PIL import Image

    for name in names:
        (root / split / name).mkdir(parents=True, exist_ok=True)
    nhwc = images.permute(0, 2, 3, 1).numpy()
    for i, (img, label) in enumerate(zip(nhwc, labels.tolist())):
        Image.fromarray(img).save(root / split / names[label] / f"{i:05d}.png")


def bench_experiment(args) -> tuple[float, float]:
    print(f"2. whole experiment: read PNG files, stats, train {args.epochs} epochs, evaluate")
    train, val, names = shapes(args.images, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shapes_png"
        write_png_folder(root, train.images, train.labels, names, "train")
        write_png_folder(root, val.images, val.labels, names, "test")
        os.environ["CVSTUDIO_HOME"] = str(Path(tmp) / "home")

        start = time.perf_counter()
        from torchvision import datasets, transforms

        raw = datasets.ImageFolder(str(root / "train"), transform=transforms.ToTensor())
        imgs = torch.stack([img for img, _ in raw], dim=3)  # the cheatsheet's hand-made statistics
        mean = imgs.view(3, -1).mean(dim=1).tolist()
        std = imgs.view(3, -1).std(dim=1).tolist()
        tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
        train_list = [(img, label) for img, label in datasets.ImageFolder(str(root / "train"), transform=tf)]
        val_list = [(img, label) for img, label in datasets.ImageFolder(str(root / "test"), transform=tf)]
        model, _ = cheatsheet_train(train_list, len(names), args.epochs, args.device)
        ref_acc = cheatsheet_evaluate(model, val_list, args.device)
        ref_s = time.perf_counter() - start

        from cvstudio.core.data import load_dataset

        start = time.perf_counter()
        bundle = load_dataset(DataConfig(source=str(root)))
        first_decode_s = time.perf_counter() - start
        model = new_model(get_preset("convnet"), bundle, 0)
        fit(model, bundle, TrainConfig(epochs=args.epochs, batch_size=64, lr=1e-2, device=args.device))
        _, ours_acc = evaluate(model, BatchLoader(bundle.val, EVAL_BATCH_SIZE, args.device, bundle.mean, bundle.std), make_loss("cross_entropy"))
        ours_s = time.perf_counter() - start

        reloads = []
        for _ in range(3):  # a ~50 ms load: one sample is at the mercy of the machine
            start = time.perf_counter()
            again = load_dataset(DataConfig(source=str(root)))
            reloads.append(time.perf_counter() - start)
            assert torch.equal(again.train.images, bundle.train.images)
        cached_s = statistics.median(reloads)

    ratio = ref_s / ours_s
    print(f"  cheatsheet {ref_s:.1f} s (val acc {ref_acc:.3f}), CV Studio {ours_s:.1f} s (val acc {ours_acc:.3f})")
    print(f"  => whole experiment: {ratio:.2f}x faster (target >= 1.5x)\n")
    cache_ratio = first_decode_s / cached_s
    print("3. dataset cache (the same PNG folder)")
    print(f"  first decode {first_decode_s:.2f} s, from cache {cached_s:.3f} s (median of 3)")
    print(f"  => {cache_ratio:.1f}x faster the second time (target >= 10x)\n")
    return ratio, cache_ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", choices=("loop", "experiment"))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}\n")
    results = {}
    if args.only in (None, "loop"):
        results["loop"] = bench_loop(args)
    if args.only in (None, "experiment"):
        results["experiment"], results["cache"] = bench_experiment(args)
    print("summary: " + ", ".join(f"{k} {v:.2f}x" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
