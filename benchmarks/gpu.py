"""CV Studio on one CUDA GPU: the cheatsheet's loop vs ours, and the time to a fixed CIFAR-10 test accuracy.

Prints, in one run on one device:

1. training images/s of the cheatsheet's loop (a list of per-item
   ToTensor+Normalize tensors, DataLoader at batch 64, ``.to(device)`` per
   batch) against ``core.training.fit`` at its defaults (uint8 images resident
   on the device, shuffle/crop/flip/normalize there, channels_last, float32
   with TF32, no host sync per step, the step recorded once as a CUDA graph),
   also with ``--amp``'s bf16 autocast and without the graph, same model and
   batch size, for the ``convnet`` and the ``resnet`` preset; then where a
   recorded step's time goes (``--profile``: its GPU kernels). Target: >= 10x
   for the convnet. Each run's last epoch is also shown alone: the first one
   carries the warm-up and recording of the CUDA graph, which the app's 10
   epochs spread thinner than these 2. Then the time the loader takes for a
   batch with each kind of augmentation. ``--compile`` also times ``torch.compile`` of our model.
2. the wall time from the start of training until the test accuracy first
   reaches ``--target-acc`` (default 94 %) on full CIFAR-10 with the airbench
   preset (airbench94's network; ``--preset resnet`` for the small ResNet;
   flip-crop augmentation, SGD + Nesterov, one-cycle schedule, label
   smoothing). For scale: airbench, the public record, reaches 94 % in 3.83 s
   on an A100 with that network and its tricks (a whitening stem, lookahead,
   test-time flips), which the preset leaves out.

Images for part 1 are random CIFAR-sized uint8 tensors (throughput does not
depend on their content). Part 2 needs CIFAR-10 in ``--data-dir`` (or
``--download``), or any other ``--accuracy-data`` source (a folder, shapes;
``random`` gives CIFAR-sized noise, for the time of an epoch alone).
``benchmarks/gpu_check.sh`` runs this script and the other GPU checks in one go.

    .venv/bin/python benchmarks/gpu.py [--device cuda] [--images 50000] [--epochs 2] [--compile]
    .venv/bin/python benchmarks/gpu.py --device cpu --images 512 --epochs 1 --accuracy-data shapes   (a dry run)
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path
from unittest import mock

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cvstudio.core.data.bundle import DatasetBundle, ImageSet  # noqa: E402
from cvstudio.core.errors import ConfigError  # noqa: E402
from cvstudio.core.models import get_preset  # noqa: E402
from cvstudio.core.specs import DataConfig, TrainConfig  # noqa: E402
from cvstudio.core.training import fit, new_model  # noqa: E402
from cvstudio.core.training.callbacks import TrainingCallback  # noqa: E402
from cvstudio.core.training.devices import describe_device, resolve_device  # noqa: E402
from cvstudio.core.training.graphs import GRAPHS_ENV  # noqa: E402
from train_speed import as_cheatsheet_list  # noqa: E402

CIFAR_MEAN, CIFAR_STD = (0.4915, 0.4823, 0.4468), (0.2470, 0.2435, 0.2616)  # the cheatsheet's numbers
CONVNET_TARGET = 10.0  # x the cheatsheet's loop on the same GPU
AIRBENCH_94_S = 3.83  # airbench's published time to 94 % on an A100


def random_cifar(n: int, classes: int = 10, seed: int = 0) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    return ImageSet(images, torch.randint(0, classes, (n,), generator=g))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cheatsheet_loop(model: nn.Module, listed, device: torch.device, epochs: int, batch_size: int, lr: float) -> float:
    """The cheatsheet's training loop on ``device``; images/s over all epochs."""
    from torch.utils.data import DataLoader

    model.to(device).train()
    loader = DataLoader(listed, batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    seen = 0
    synchronize(device)
    start = time.perf_counter()
    for _ in range(epochs):
        for imgs, labels in loader:
            imgs, labels = imgs.to(device), labels.to(device)
            loss = loss_fn(model(imgs), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += labels.shape[0]
        loss.item()  # the cheatsheet prints the loss once per epoch
    synchronize(device)
    return seen / (time.perf_counter() - start)


def ours(spec, bundle: DatasetBundle, device: torch.device, epochs: int, batch_size: int, lr: float,
         compiled: bool = False, graphs: bool = True, amp: bool = False) -> tuple[float, str, float]:
    """core.training.fit on ``device`` at its defaults (float32, TF32 matrix products; ``amp``: bf16 autocast, fp16
    + GradScaler where bf16 is missing): (training-loop images/s, how the steps ran, the last epoch's images/s:
    without the first epoch's warm-up and recording, as every epoch after the first of the app's 10)."""
    model = new_model(spec, bundle, 0)
    if compiled:
        model = torch.compile(model)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, device=str(device), amp=amp)
    with mock.patch.dict(os.environ, {GRAPHS_ENV: "1" if graphs else "0"}):
        result = fit(model, bundle, config)
    return result.images_per_s, result.step_mode, result.history[-1].images_per_s


def part_throughput(args, device: torch.device) -> dict[str, float]:
    print(f"1. training images/s, cheatsheet loop vs CV Studio ({args.images:,} random 32x32 images, "
          f"batch {args.batch_size}, {args.epochs} epochs, best of {args.trials} interleaved trials)")
    train, val = random_cifar(args.images), random_cifar(max(64, args.images // 10), seed=1)
    bundle = DatasetBundle(train, val, tuple(str(i) for i in range(10)), CIFAR_MEAN, CIFAR_STD, "random", "random")
    listed = as_cheatsheet_list(train.images, train.labels, CIFAR_MEAN, CIFAR_STD)
    ratios = {}
    for preset in ("convnet", "resnet"):
        spec = get_preset(preset)
        ours(spec, bundle, device, 1, args.batch_size, 1e-2)  # warm-up: kernels picked, allocator primed
        ref, mine, steady, bf16, eager, comp = [], [], [], [], [], []
        mode = ""
        for _ in range(args.trials):
            ref.append(cheatsheet_loop(new_model(spec, bundle, 0), listed, device, args.epochs, args.batch_size, 1e-2))
            ips, mode, last = ours(spec, bundle, device, args.epochs, args.batch_size, 1e-2)
            mine.append(ips)
            steady.append(last)
            if device.type == "cuda":
                bf16.append(ours(spec, bundle, device, args.epochs, args.batch_size, 1e-2, amp=True)[0])
                eager.append(ours(spec, bundle, device, args.epochs, args.batch_size, 1e-2, graphs=False)[0])
            if args.compile:
                comp.append(ours(spec, bundle, device, args.epochs, args.batch_size, 1e-2, compiled=True)[0])
        ratios[preset] = max(mine) / max(ref)
        line = (f"  {preset:8s} cheatsheet {max(ref):9,.0f} img/s  CV Studio {max(mine):9,.0f} img/s "
                f"(trials {min(mine):,.0f}..{max(mine):,.0f}; float32, steps: {mode})  => {ratios[preset]:.2f}x; "
                f"its last epoch alone {max(steady):,.0f} img/s ({max(steady) / max(ref):.2f}x)")
        if bf16:
            line += f"; with --amp (bf16) {max(bf16):,.0f} img/s ({max(bf16) / max(ref):.2f}x)"
        if eager:
            line += f"; float32 without the CUDA graph {max(eager):,.0f} img/s ({max(eager) / max(ref):.2f}x)"
        if comp:
            line += f"; compiled {max(comp):,.0f} img/s ({max(comp) / max(mine):.2f}x uncompiled, first trial compiles)"
        print(line)
        if device.type == "cuda":
            for label, amp, channels_last in (("float32", False, None), ("bf16", True, None),
                                              ("float32, channels-first", False, False)):
                try:
                    print(f"    {preset} {label}: {step_anatomy(spec, bundle, device, args.batch_size, amp, channels_last)}")
                except Exception as exc:  # noqa: BLE001 - a diagnostic: the ratios above stand without it
                    print(f"    {preset} {label}: step anatomy failed: {type(exc).__name__}: {exc}")
            if args.profile:
                try:
                    print(kernel_table(spec, bundle, device, args.batch_size))
                except Exception as exc:  # noqa: BLE001
                    print(f"    kernel table failed: {type(exc).__name__}: {exc}")
    print(f"  => convnet {ratios['convnet']:.2f}x the cheatsheet's loop (target on a GPU >= {CONVNET_TARGET:.0f}x)")
    print(f"  a training batch from the loader, by augmentation: {augment_times(bundle, device, args.batch_size)}\n")
    return ratios


def augment_times(bundle: DatasetBundle, device: torch.device, batch_size: int, batches: int = 50) -> str:
    """Microseconds per shuffled, augmented, normalized batch of ``BatchLoader`` (all of it on ``device``)."""
    from cvstudio.core.data.batches import BatchLoader

    parts = []
    for augment in ("none", "flip-crop", "resized-crop,flip", "crop,flip,rotate,color", "trivial"):
        loader = BatchLoader(bundle.train, batch_size, device, bundle.mean, bundle.std, shuffle=True, augment=augment,
                             channels_last=True)
        batches_of = itertools.chain.from_iterable(itertools.repeat(loader))  # epoch after epoch
        for _ in range(3):  # first calls: kernels loaded, allocator primed
            next(batches_of)
        synchronize(device)
        started = time.perf_counter()
        for _ in range(batches):
            next(batches_of)
        synchronize(device)
        parts.append(f"{augment} {(time.perf_counter() - started) / batches * 1e6:,.0f} us")
    return ", ".join(parts)


def _step_and_loader(spec, bundle: DatasetBundle, device: torch.device, batch_size: int, amp: bool,
                     channels_last: bool | None):
    """The training step and loader that ``fit`` makes, built by hand; ``channels_last`` None: as ``fit`` decides."""
    from cvstudio.core.data.batches import BatchLoader
    from cvstudio.core.models.builder import prepare_for_device
    from cvstudio.core.training.loop import _TrainStep, make_loss, make_optimizer

    model = new_model(spec, bundle, 0).to(device)
    chosen = prepare_for_device(model, device)
    if channels_last is not None and channels_last != chosen:
        model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        chosen = channels_last
    config = TrainConfig(batch_size=batch_size, lr=1e-2, device=str(device), amp=amp)
    step = _TrainStep(model, make_loss("cross_entropy"), make_optimizer(model, config), config, device)
    loader = BatchLoader(bundle.train, batch_size, device, bundle.mean, bundle.std, shuffle=True, channels_last=chosen)
    return step, loader


def kernel_table(spec, bundle: DatasetBundle, device: torch.device, batch_size: int, steps: int = 20) -> str:
    """The GPU kernels of ``steps`` usual steps at the defaults, by their own GPU time (the graph replays the same)."""
    from torch.profiler import ProfilerActivity, profile

    step, loader = _step_and_loader(spec, bundle, device, batch_size, False, None)
    batches = [b for _, b in zip(range(steps + 5), loader)]
    for x, y in batches[:5]:
        step(x, y)
    synchronize(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for x, y in batches[5:]:
            step(x, y)
        synchronize(device)
    averages = prof.key_averages()
    for key in ("self_device_time_total", "self_cuda_time_total"):
        try:
            return averages.table(sort_by=key, row_limit=14, max_name_column_width=60)
        except Exception:  # noqa: BLE001 - the column's name differs between PyTorch releases
            continue
    return averages.table(row_limit=14)


def step_anatomy(spec, bundle: DatasetBundle, device: torch.device, batch_size: int, amp: bool = False,
                 channels_last: bool | None = None, steps: int = 400) -> str:
    """Where a recorded step's time goes: the loop's wall time per step against the graph's GPU time alone."""
    from cvstudio.core.training.graphs import GraphedStep

    plain, loader = _step_and_loader(spec, bundle, device, batch_size, amp, channels_last)
    step = GraphedStep(plain, device, loader.write_full_batches_into)  # as fit() makes it

    def full_batches():
        while True:
            for x, y in loader:
                if x.shape[0] == batch_size:
                    yield x, y

    batches = full_batches()
    for _ in range(8):  # warm-up and recording
        step(*next(batches))
    if step.mode != "CUDA graph":
        return f"no CUDA graph ({step.mode})"

    def timed(body) -> float:
        synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            body()
        synchronize(device)
        return (time.perf_counter() - started) / steps * 1e6

    losses: list[torch.Tensor] = []

    def loop_step():  # as train_one_epoch: a batch, the step (which adds to the epoch's sums), its loss kept
        losses.append(step(*next(batches)))
        if len(losses) >= 100:
            losses.clear()

    loop_us = timed(loop_step)
    replay_us = timed(step._graph.replay)
    loader_us = timed(lambda: next(batches))
    return (f"per step at batch {batch_size}: loop {loop_us:.0f} us ({batch_size / loop_us * 1e6:,.0f} img/s), "
            f"graph replay alone {replay_us:.0f} us, a batch from the loader {loader_us:.0f} us")


class ReachAccuracy(TrainingCallback):
    """Stop the run at the first epoch end whose validation (test) accuracy reaches ``target``."""

    def __init__(self, target: float, device: torch.device):
        self.target, self.device = target, device
        self.started = 0.0
        self.reached_s: float | None = None
        self.best = 0.0

    def on_fit_start(self, state) -> None:
        synchronize(self.device)
        self.started = time.perf_counter()

    def on_validation_end(self, state, val_loss: float, val_acc: float) -> None:
        self.best = max(self.best, val_acc)
        if val_acc >= self.target and self.reached_s is None:
            self.reached_s = time.perf_counter() - self.started  # val_acc is a host float: the GPU is done
            state.stop("early_stopped", f"reached {val_acc:.2%} test accuracy at epoch {state.epoch}")


def part_accuracy(args, device: torch.device) -> float | None:
    from cvstudio.core.data import load_dataset

    if args.accuracy_data == "random":  # where CIFAR-10 cannot be had: the same sizes, for the epoch time alone
        data = DatasetBundle(random_cifar(50_000), random_cifar(10_000, seed=1), tuple(str(i) for i in range(10)),
                             CIFAR_MEAN, CIFAR_STD, "random CIFAR-sized images with random labels (timing only)",
                             "random")
    else:
        data = load_dataset(DataConfig(source=args.accuracy_data, data_dir=args.data_dir, download=args.download))
    spec = get_preset(args.preset, width=args.width, depth=args.depth)
    config = TrainConfig(
        epochs=args.max_epochs, batch_size=args.acc_batch_size, lr=args.lr, momentum=0.9, nesterov=True,
        weight_decay=5e-4, schedule="onecycle", label_smoothing=0.2, device=str(device), amp=device.type == "cuda",
    )
    print(f"2. time to {args.target_acc:.0%} test accuracy: {data.description} ({len(data.train):,} training, "
          f"{len(data.val):,} test images), {args.preset} width {args.width} depth {args.depth}, "
          f"batch {config.batch_size}, one-cycle lr {config.lr} over at most {config.epochs} epochs, flip-crop, label smoothing 0.2")
    model = new_model(spec, data, 0)
    if args.compile:
        model = torch.compile(model)
    rule = ReachAccuracy(args.target_acc, device)
    result = fit(model, data, config, augment="flip-crop", callbacks=[rule])
    if rule.reached_s is None:
        per_epoch = sum(e.seconds for e in result.history) / max(1, len(result.history))
        print(f"  not reached in {len(result.history)} epochs ({result.seconds:.1f} s); best test accuracy "
              f"{rule.best:.2%}; {per_epoch:.2f} s per epoch with evaluation, training loop "
              f"{result.images_per_s:,.0f} img/s, {result.step_mode}\n")
        return None
    scale = (f" -- airbench: 94 % in {AIRBENCH_94_S} s on an A100, we take {rule.reached_s / AIRBENCH_94_S:.1f}x that"
             if args.target_acc == 0.94 and args.accuracy_data == "cifar10" else "")
    print(f"  reached {args.target_acc:.0%} after {len(result.history)} epochs in {rule.reached_s:.1f} s "
          f"(evaluation included; {result.images_per_s:,.0f} img/s while training, {result.step_mode}){scale}\n")
    return rule.reached_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for a dry run of the script")
    parser.add_argument("--images", type=int, default=50_000, help="random training images for part 1")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed run in part 1")
    parser.add_argument("--batch-size", type=int, default=64, help="part 1, both loops (the cheatsheet's 64)")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of our model")
    parser.add_argument("--profile", action="store_true", help="part 1 on CUDA: also list each preset's GPU kernels")
    parser.add_argument("--skip-accuracy", action="store_true", help="part 1 only")
    parser.add_argument("--accuracy-data", default="cifar10",
                        help="source for part 2 (a name or a folder; 'random': CIFAR-sized noise, epoch times only)")
    parser.add_argument("--data-dir", help="where torchvision datasets live (default: the user data folder)")
    parser.add_argument("--download", action="store_true", help="allow downloading CIFAR-10 for part 2")
    parser.add_argument("--target-acc", type=float, default=0.94)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--acc-batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--preset", choices=("airbench", "resnet"), default="airbench", help="part 2's network")
    parser.add_argument("--width", type=int, default=64, help="part 2: the network's width (airbench's own)")
    parser.add_argument("--depth", type=int, default=3, help="part 2: the network's depth (both presets' own)")
    args = parser.parse_args(argv)
    if min(args.images, args.epochs, args.batch_size, args.trials, args.max_epochs, args.acc_batch_size) < 1:
        parser.error("--images, --epochs, --batch-size, --trials, --max-epochs and --acc-batch-size must be >= 1")
    if not 0.0 < args.target_acc <= 1.0:
        parser.error("--target-acc must be in (0, 1]")
    if not args.device.startswith("cuda") and args.device != "cpu":
        parser.error("--device must be cuda, cuda:N or cpu")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu.py: no CUDA device: PyTorch sees no CUDA GPU here (use --device cpu for a dry run)", file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device)
    except ConfigError as exc:
        print(f"gpu.py: {exc}", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}, device {describe_device(device)}"
          + (f", CUDA {torch.version.cuda}, bf16 {torch.cuda.is_bf16_supported()}" if device.type == "cuda" else "")
          + "\n")
    ratios = part_throughput(args, device)
    reached = None if args.skip_accuracy else part_accuracy(args, device)
    summary = [f"convnet {ratios['convnet']:.2f}x", f"resnet {ratios['resnet']:.2f}x"]
    if not args.skip_accuracy:
        summary.append(f"{args.target_acc:.0%} in {reached:.1f} s" if reached is not None
                       else f"{args.target_acc:.0%} not reached")
    print("summary: " + ", ".join(summary) + f" on {describe_device(device)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
