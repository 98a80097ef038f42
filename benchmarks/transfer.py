"""Transfer learning on a small labelled folder (issue 13, "Your own photos"), through the CLI.

A small "own photos" folder is built from the built-in shapes data (no
network): two classes, --per-class training images each, held apart from the
four classes a network is first trained on. Prints, in one run:

  1. accuracy gap: the same network fine-tuned from the checkpoint trained on
     the other four classes (``--init-from``, head replaced) against the same
     network from random weights, same epochs, seed and settings;
  2. the time of a linear-probe epoch (``--freeze backbone``) against a full
     fine-tuning epoch (``--freeze none``) on the same data. Target >= 5x.

Usage: .venv/bin/python benchmarks/transfer.py [--model resnet18] [--size 32] [--per-class 20] [--epochs 8]
       [--pretrain-per-class 200] [--pretrain-epochs 3] [--timing-epochs 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

PRETRAIN_CLASSES = ("circle", "triangle", "star", "cross")
TARGET_CLASSES = ("ring", "bar")


def cli(*argv: str) -> list[dict]:
    """Run ``cvstudio train ... --json`` in this process; its JSON lines."""
    from cvstudio.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", *argv, "--json", "--device", "cpu"])
    if code != 0:
        raise SystemExit(f"cvstudio train {' '.join(argv)} failed ({code})")
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def write_folder(root: Path, images, labels, names, wanted, limit: int | None) -> None:
    for cls in wanted:
        folder = root / cls
        folder.mkdir(parents=True)
        idx = np.flatnonzero(labels == names.index(cls))[:limit]
        for i in idx:
            Image.fromarray(images[i].transpose(1, 2, 0)).save(folder / f"{i}.png")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--per-class", type=int, default=20, help="training images per class of the small folder")
    p.add_argument("--pretrain-per-class", type=int, default=200)
    p.add_argument("--pretrain-epochs", type=int, default=3)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--timing-epochs", type=int, default=2)
    args = p.parse_args(argv)

    from cvstudio.core.data.shapes import CLASS_NAMES, generate_shapes

    names = list(CLASS_NAMES)
    tr_x, tr_y, va_x, va_y = generate_shapes(seed=1, train_size=6000, val_size=1200, image_size=args.size)
    tr_x, tr_y, va_x, va_y = tr_x.numpy(), tr_y.numpy(), va_x.numpy(), va_y.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big, small = tmp / "big", tmp / "small"
        write_folder(big / "train", tr_x, tr_y, names, PRETRAIN_CLASSES, args.pretrain_per_class)
        write_folder(big / "test", va_x, va_y, names, PRETRAIN_CLASSES, 100)
        write_folder(small / "train", tr_x, tr_y, names, TARGET_CLASSES, args.per_class)
        write_folder(small / "test", va_x, va_y, names, TARGET_CLASSES, 100)
        common = ["--image-size", str(args.size), "--batch-size", "32", "--seed", "0", "--optimizer", "adam"]

        pre = tmp / "pre.safetensors"
        done = cli("--dataset", str(big), "--model", args.model, "--epochs", str(args.pretrain_epochs), "--lr", "1e-3", *common,
                   "--out", str(pre))[-1]
        print(f"pretrained {args.model} on {', '.join(PRETRAIN_CLASSES)}: val acc {done['val_acc']:.3f} "
              f"({done['seconds']:.0f} s)")

        small_args = ["--dataset", str(small), "--epochs", str(args.epochs), "--lr", "1e-3", *common]
        scratch = cli(*small_args, "--model", args.model)[-1]
        tuned = cli(*small_args, "--init-from", str(pre), "--backbone-lr", "1e-3")[-1]
        probe = cli(*small_args, "--init-from", str(pre), "--freeze", "backbone")[-1]
        print(f"small folder: {len(TARGET_CLASSES)} classes x {args.per_class} images, {args.epochs} epochs")
        print(f"  from scratch:               val acc {scratch['val_acc']:.3f}")
        print(f"  --init-from (fine-tuned):   val acc {tuned['val_acc']:.3f}  gap {tuned['val_acc'] - scratch['val_acc']:+.3f}")
        print(f"  --init-from --freeze backbone (linear probe): val acc {probe['val_acc']:.3f}")

        timing = ["--dataset", str(big), "--epochs", str(args.timing_epochs), "--lr", "1e-3", *common,
                  "--init-from", str(pre)]
        full = cli(*timing, "--freeze", "none")
        linear = cli(*timing, "--freeze", "backbone")

        def epoch_s(lines):  # the median epoch, the first (warm-up) excluded when there are several
            secs = [e["seconds"] for e in lines if e["event"] == "epoch"]
            return statistics.median(secs[1:] if len(secs) > 1 else secs)

        f, l = epoch_s(full), epoch_s(linear)
        print(f"epoch time on {len(PRETRAIN_CLASSES) * args.pretrain_per_class} images: full fine-tuning {f:.2f} s, "
              f"linear probe {l:.2f} s -> {f / l:.1f}x faster (target >= 5x)")
        # The probe computes the frozen backbone's features once, before its first epoch: the whole runs say what that costs.
        print(f"whole run of {args.timing_epochs} epochs: full fine-tuning {full[-1]['seconds']:.1f} s, "
              f"linear probe {linear[-1]['seconds']:.1f} s (features included) -> "
              f"{full[-1]['seconds'] / linear[-1]['seconds']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
