"""Command line: ``cvstudio [gui|train|classify|info|export|presets|datasets]``.

Exit status: 0 success, 2 bad arguments or bad input (one line naming what is
wrong), 1 anything else. Heavy imports (torch, Qt) happen inside the commands
so that ``--help`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import sys
import time
from typing import Any, Sequence

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

DATASET_HELP = "shapes (built-in, default) | cifar10 | cifar100 | mnist | fashion-mnist | svhn | a folder"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        """One line naming the problem and where help is, not the whole usage block (exit 2)."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number_type(name: str, cast, check, requirement: str):
    """An argparse type: parse with ``cast``, then ``check``; a failure says ``requirement``."""

    def parse(text: str):
        try:
            value = cast(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; {requirement}") from None
        if isinstance(value, float) and not math.isfinite(value) or not check(value):
            raise argparse.ArgumentTypeError(f"{requirement}, got {text}")
        return value

    parse.__name__ = name  # argparse names the type in its messages
    return parse


_positive_int = _number_type("positive_int", int, lambda v: v >= 1, "must be a whole number of at least 1")
_probability = _number_type("probability", float, lambda v: 0.0 <= v < 1.0, "must be in [0, 1)")
_positive_float = _number_type("positive_float", float, lambda v: v > 0, "must be a finite number above 0")
_non_negative_float = _number_type("non_negative_float", float, lambda v: v >= 0, "must be a finite number of at least 0")
_finite_float = _number_type("finite_float", float, lambda v: True, "must be a finite number")
_seed = _number_type("seed", int, lambda v: 0 <= v < 2**63, "must be a whole number in [0, 2^63)")
_fraction = _number_type("fraction", float, lambda v: 0.0 < v < 1.0, "must be between 0 and 1")
_image_side = _number_type("image_side", int, lambda v: 4 <= v <= 1024, "must be a whole number of pixels from 4 to 1024")
_DEVICE_FORM = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")


def _device(text: str) -> str:
    if not _DEVICE_FORM.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return text


def _augment(text: str) -> str:
    from cvstudio.core.errors import ConfigError
    from cvstudio.core.specs import parse_augment

    try:
        parse_augment(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    from cvstudio import __version__

    parser = _Parser(prog="cvstudio", description="CV Studio: train, inspect and use image classifiers.")
    parser.add_argument("--version", action="version", version=f"cvstudio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    gui = sub.add_parser("gui", help="open the main window (the default)")
    gui.add_argument("checkpoint", nargs="?", metavar="PROJECT_DIR|CKPT", help="a project folder or a checkpoint to open")

    t = sub.add_parser("train", help="train headless with the same core as the GUI")
    t.add_argument("--dataset", default="shapes", help=DATASET_HELP)
    t.add_argument("--data-dir", help="where torchvision datasets live (default: the user data folder)")
    t.add_argument("--download", action="store_true", help="allow downloading a torchvision dataset")
    t.add_argument("--classes", help="comma-separated class subset, in this order -> labels 0..k-1")
    t.add_argument("--val-fraction", type=_fraction, default=0.2, help="folders without a split: share held out")
    t.add_argument("--image-size", type=_image_side, help="folders: side of the square input in pixels (default 32)")
    t.add_argument("--model", help="a preset (see `cvstudio presets`) or a torchvision architecture "
                   "(default: the --init-from checkpoint's, else convnet)")
    t.add_argument("--spec", metavar="FILE", help="an architecture file saved by the model builder (.json): "
                   "train that network instead of --model")
    t.add_argument("--width", type=_positive_int, help="hidden units or first conv channels")
    t.add_argument("--depth", type=_positive_int, help="hidden layers, conv blocks or residual blocks")
    t.add_argument("--dropout", type=_probability, help="dropout probability added after pooling/hidden layers")
    t.add_argument("--batchnorm", action="store_true", help="add batch norm after convs and hidden linears")
    t.add_argument("--l1", type=_non_negative_float, default=0.0, help="L1 penalty weight")
    t.add_argument("--weight-decay", type=_non_negative_float, help="L2 penalty (default: the preset's)")
    t.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="sgd")
    t.add_argument("--lr", type=_positive_float, help="learning rate (default: the preset's)")
    t.add_argument("--momentum", type=_probability, help="SGD momentum (default: the preset's, 0.9 for most; 0 is the cheatsheet's plain SGD)")
    t.add_argument("--nesterov", action="store_true")
    t.add_argument("--batch-size", type=_positive_int, default=64)
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--stop-loss", type=_finite_float, help="stop once an epoch's training loss is below this")
    t.add_argument("--patience", type=_positive_int, help="early stopping: epochs without a better val accuracy")
    t.add_argument("--augment", type=_augment, default="none",
                   help="none | flip-crop | a comma list of flip, crop, resized-crop, rotate, color, trivial")
    t.add_argument("--device", type=_device, default="auto", help="auto | cpu | cuda | cuda:N | mps")
    t.add_argument("--out", help="checkpoint file (.safetensors; default: the runs folder)")
    t.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard event files into DIR")
    t.add_argument("--json", action="store_true", help="one JSON object per line: epochs, then a summary")
    t.add_argument("--json-batches", action="store_true",
                   help="with --json: also the start, each group of training steps (losses, about 10 a second) "
                   "and the end of training, for a program drawing the run live")
    t.add_argument("--nproc", type=_positive_int, metavar="N",
                   help="train with N processes through torchrun (one per GPU, or gloo on the CPU); "
                   "the global batch is N x --batch-size")
    _add_fine_tuning_arguments(t)
    t.add_argument("--project", metavar="DIR", help="record the run in this project folder (created if needed); "
                   "the checkpoint goes to DIR/runs/")

    c = sub.add_parser("classify", help="classify images or folders with a checkpoint")
    c.add_argument("checkpoint")
    c.add_argument("inputs", nargs="+", metavar="IMAGE|DIR")
    c.add_argument("--top-k", type=_positive_int, default=3)
    c.add_argument("--device", type=_device, default="cpu")
    c.add_argument("--json", action="store_true")

    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("checkpoint")
    i.add_argument("--json", action="store_true")

    e = sub.add_parser("export", help="export a checkpoint as PyTorch code, TorchScript or ONNX")
    e.add_argument("checkpoint")
    e.add_argument("--format", required=True, choices=("python", "torchscript", "onnx"))
    e.add_argument("--out", required=True)

    from cvstudio.cli_sweep import add_sweep_parser

    add_sweep_parser(sub)
    r = sub.add_parser("runs", help="list the runs of a project")
    r.add_argument("project", metavar="PROJECT_DIR")
    r.add_argument("--json", action="store_true", help="one JSON object per run")

    sub.add_parser("presets", help="list the model presets")
    sub.add_parser("datasets", help="list the dataset sources")

    # --- self-test of an installation (packaging/; cvstudio/selftest.py) ---
    parser.add_argument("--self-test", action="store_true", help="check this installation works (same as `selftest`)")
    st = sub.add_parser("selftest", help="check this installation: torch, torchvision ops, train, classify, window")
    st.add_argument("--quick", action="store_true", help="skip the export checks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from cvstudio.core.memory import one_heap_for_all_threads

    one_heap_for_all_threads()  # before Qt or torch start a thread (see core/memory.py)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["sweep"]:  # its options plus any train options, checked by the train parser itself
            from cvstudio.cli_sweep import parse_sweep

            args = parse_sweep(argv[1:])
        else:
            args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version and argument errors: return argparse's status
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # `train --nproc` relaunches the same command
    command = "selftest" if args.self_test else (args.command or "gui")
    handler = {
        "gui": cmd_gui,
        "train": cmd_train,
        "sweep": _cmd_sweep,
        "classify": cmd_classify,
        "info": cmd_info,
        "export": cmd_export,
        "runs": cmd_runs,
        "presets": cmd_presets,
        "datasets": cmd_datasets,
        "selftest": cmd_selftest,
    }[command]
    try:
        code = handler(args)
        if sys.stdout is not None:
            sys.stdout.flush()  # a reader that went away shows here rather than as a traceback at exit
        return code
    except KeyboardInterrupt:
        print("cvstudio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cvstudio info x | head`: the reader stopped reading; end quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit fails no more
        return EXIT_FAILURE
    except Exception as exc:
        from cvstudio.core.errors import UserError

        if isinstance(exc, UserError):
            if not _recorded_for_torchrun(str(exc)):
                print(f"cvstudio {command}: error{_rank_tag()}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if _recorded_for_torchrun(f"{type(exc).__name__}: {exc}"):
            return EXIT_FAILURE
        import traceback

        traceback.print_exc()
        print(f"cvstudio {command}: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _rank_tag() -> str:
    """" (rank R of N)" inside a torchrun job, else ""."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return f" (rank {os.environ['RANK']!s:.8} of {os.environ['WORLD_SIZE']!s:.8})"
    return ""


def _recorded_for_torchrun(message: str) -> bool:
    """Under torchrun, leave a failed rank's error for the launcher to report once (core/distributed.py)."""
    if "TORCHELASTIC_ERROR_FILE" not in os.environ or not _rank_tag():
        return False
    from cvstudio.core.distributed import record_failure

    return record_failure(message)


# --- gui ---------------------------------------------------------------------------------


def cmd_gui(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cvstudio.gui.app import run_app

    target = getattr(args, "checkpoint", None)
    if target is not None and (Path(target).is_dir() or Path(target).suffix.lower() != ".safetensors"):
        return run_app(project_dir=target)  # a folder, or a new project's folder
    return run_app(target)


# --- train -------------------------------------------------------------------------------


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _ConsoleReporter:
    """Prints download/decode progress and a line per epoch (or JSON lines)."""

    def __init__(self, epochs: int, as_json: bool, batches: bool = False):
        self.epochs = epochs
        self.as_json = as_json
        self.batches = as_json and batches  # --json-batches: the live events a parent process draws
        self.last_progress = 0.0

    def on_progress(self, event) -> None:
        now = time.monotonic()
        done = event.fraction is not None and event.fraction >= 1.0
        if now - self.last_progress < 0.5 and not done:
            return
        self.last_progress = now
        pct = f"{event.fraction:6.1%}" if event.fraction is not None else ""
        print(f"{event.stage}: {pct} {event.message}".rstrip(), file=sys.stderr, flush=True)

    def on_fit_started(self, event) -> None:
        if self.batches:
            print(json.dumps({"event": "fit_started", "epochs": event.epochs, "batches_per_epoch": event.batches_per_epoch,
                              "train_size": event.train_size, "val_size": event.val_size, "device": event.device,
                              "params": event.params}), flush=True)
        if not self.as_json:
            print(
                f"training on {event.device}: {event.train_size:,} train / {event.val_size:,} val images, "
                f"{event.params:,} parameters, {event.batches_per_epoch} steps per epoch",
                flush=True,
            )

    def on_batches_ended(self, e) -> None:
        """At the loop's loss syncs (about 10 a second): one line per group of steps."""
        if self.batches:
            print(json.dumps({"event": "batches", "epoch": e.epoch, "step": e.step, "steps_per_epoch": e.steps_per_epoch,
                              "global_step": e.global_step, "losses": [float(v) for v in e.losses],
                              "images_per_s": e.images_per_s, "eta_s": e.eta_s}), flush=True)

    def on_fit_ended(self, e) -> None:
        if self.batches:
            print(json.dumps({"event": "fit_ended", "status": e.status, "message": e.message,
                              "epochs_completed": e.epochs_completed, "best_epoch": e.best_epoch,
                              "best_val_acc": e.best_val_acc}), flush=True)

    def on_epoch_ended(self, e) -> None:
        if self.as_json:
            print(json.dumps({"event": "epoch", "epoch": e.epoch, "train_loss": e.train_loss, "train_acc": e.train_acc,
                              "val_loss": e.val_loss, "val_acc": e.val_acc, "images_per_s": e.images_per_s,
                              "seconds": e.seconds, "lr": e.lr, "improved": e.improved}), flush=True)
            return
        eta = e.seconds * (self.epochs - e.epoch)  # whole epochs, evaluation included
        print(
            f"epoch {e.epoch:>{len(str(self.epochs))}}/{self.epochs}  "
            f"train loss {e.train_loss:.4f} acc {e.train_acc:.3f}  val loss {e.val_loss:.4f} acc {e.val_acc:.3f}  "
            f"{e.images_per_s:,.0f} img/s  ETA {_fmt_duration(eta)}" + ("  *" if e.improved else ""),
            flush=True,
        )


def _freeze_mode(text: str) -> str:
    if text in ("none", "backbone") or (text.startswith("upto:") and len(text) > 5):
        return text
    raise argparse.ArgumentTypeError(f"must be none, backbone or upto:STAGE, got {text!r}")


def _add_fine_tuning_arguments(t: argparse.ArgumentParser) -> None:
    """`train` options of issue 13: torchvision backbones, starting weights, schedules, precision."""
    t.add_argument("--pretrained", action="store_true",
                   help="start a torchvision architecture from its pretrained ImageNet weights (torch hub cache)")
    t.add_argument("--weights-name", metavar="NAME", help="which pretrained weights (default: DEFAULT), e.g. IMAGENET1K_V2")
    t.add_argument("--download-weights", action="store_true", help="allow downloading the pretrained weights")
    t.add_argument("--weights", metavar="FILE", help="start from a .pth/.pt/.safetensors state_dict")
    t.add_argument("--init-from", metavar="CKPT", help="start from a CV Studio checkpoint (head replaced if classes differ)")
    t.add_argument("--freeze", type=_freeze_mode, default="none",
                   help="backbone (linear probe) | none (full fine-tuning) | upto:STAGE")
    t.add_argument("--backbone-lr", type=_positive_float,
                   help="learning rate of everything but the head (default: lr/10 when fine-tuning from weights)")
    t.add_argument("--schedule", choices=("none", "onecycle", "cosine", "step"), default="none",
                   help="learning-rate schedule")
    t.add_argument("--label-smoothing", type=_probability, default=0.0, help="in [0, 1)")
    t.add_argument("--amp", action="store_true", help="mixed precision: bf16 autocast (fp16 + GradScaler where bf16 is unsupported)")
    t.add_argument("--clip-grad", type=_positive_float, help="clip the gradients' L2 norm to this")
    t.add_argument("--resume", metavar="CKPT",
                   help="continue a stopped run from its checkpoint, with its own settings (only --out, --json, "
                   "--device, --data-dir and --tensorboard may be given with it)")


_RESUME_OPTIONS = ("resume", "out", "json", "device", "data_dir", "tensorboard", "project", "command", "self_test")


def _resume_settings(args: argparse.Namespace):
    """(ResumeRun, spec, data config, train config) of --resume CKPT; other options would change the run."""
    import dataclasses

    from cvstudio.core.runs import read_resume_run

    defaults = vars(build_parser().parse_args(["train"]))
    changed = [k for k, v in vars(args).items() if k not in _RESUME_OPTIONS and defaults.get(k, v) != v]
    if changed:
        names = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise _bad_input(f"--resume continues the run with its own settings; {names} cannot be changed")
    run = read_resume_run(args.resume)
    data_config = run.data_config
    if args.data_dir:
        data_config = dataclasses.replace(data_config, data_dir=args.data_dir)
    return run, run.spec, data_config, dataclasses.replace(run.train_config, device=args.device)


def _train_spec(args: argparse.Namespace):
    """The ModelSpec of --model (a preset or a torchvision architecture) or of the --init-from checkpoint."""
    from cvstudio.core.models import get_preset
    from cvstudio.core.models.torchvision_models import arch_spec
    from cvstudio.core.specs import ARCHITECTURES

    if args.spec is not None:
        return _spec_from_file(args)
    name = args.model
    if name is None and args.init_from:
        from cvstudio.core.checkpoints import read_meta

        return read_meta(args.init_from).model_spec
    name = name or "convnet"
    if name in ARCHITECTURES:
        knobs = [f"--{k}" for k in ("width", "depth", "dropout") if getattr(args, k) is not None]
        knobs += ["--batchnorm"] if args.batchnorm else []
        if knobs:
            raise _bad_input(f"{', '.join(knobs)} apply to presets only, not to the torchvision architecture {name}")
        return arch_spec(name, weights=args.weights_name)
    if args.pretrained:
        raise _bad_input(f"--pretrained needs a torchvision architecture ({', '.join(ARCHITECTURES)}), not {name!r}")
    return get_preset(name, width=args.width, depth=args.depth, dropout=args.dropout, batchnorm=args.batchnorm)


def _spec_from_file(args: argparse.Namespace):
    """--spec FILE: a hand-edited network; the options that would build another one are refused."""
    from cvstudio.core.spec_files import load_spec

    clashing = [f"--{k}" for k in ("model", "width", "depth", "dropout") if getattr(args, k) is not None]
    clashing += ["--batchnorm"] if args.batchnorm else []  # --pretrained stays: a torchvision spec can start from them
    if clashing:
        raise _bad_input(f"--spec gives the whole network; leave out {', '.join(clashing)}")
    return load_spec(args.spec)


def _csv(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def cmd_train(args: argparse.Namespace) -> int:
    """Alone, as one rank of a torchrun job (detected from its environment), or launching N ranks (--nproc)."""
    from cvstudio.core.distributed import Distributed, detect_env

    if args.json_batches and not args.json:
        raise _bad_input("--json-batches adds lines to --json's output; give --json too")
    env = detect_env()
    if env is None and args.nproc is not None:
        return _launch_ranks(args)
    if env is None:
        return _train(args, None)
    dist = Distributed.start(env, args.device)
    code = _train(args, dist)  # on an error the process ends as it is and torchrun stops the other ranks
    dist.barrier()  # leave together: tearing gloo down while a peer still uses it aborted a rank (SIGABRT)
    dist.close()
    return code


def _without_nproc(argv: Sequence[str]) -> list[str]:
    """The command line less ``--nproc N`` (also ``--nproc=N`` and argparse's abbreviations such as ``--np``)."""
    out: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        name, eq, _ = token.partition("=")
        if len(name) >= 4 and "--nproc".startswith(name):
            skip = not eq
            continue
        out.append(token)
    return out


def _launch_ranks(args: argparse.Namespace) -> int:
    """``cvstudio train --nproc N``: torchrun as a child; Ctrl-C stops all ranks cleanly, twice aborts them."""
    import shutil
    import subprocess

    from cvstudio.core.distributed import check_nproc, launch_command, new_stop_file

    check_nproc(args.nproc, args.device)
    if args.spec is not None:
        _spec_from_file(args)  # a bad file is one line here, not one per rank
    if args.out:
        check_writable_target(args.out, ".safetensors", "--out")
    stop_file, env = new_stop_file()
    command = launch_command(_without_nproc(args.argv), args.nproc)
    print(f"launching {args.nproc} processes with torchrun; global batch {args.nproc * args.batch_size} "
          f"= {args.batch_size} per process x {args.nproc}", file=sys.stderr, flush=True)
    interrupts = {"count": 0}
    proc = subprocess.Popen(command, env=env, start_new_session=os.name == "posix")

    def on_sigint(signum, frame):  # the child has its own session: the terminal's Ctrl-C reaches only us
        interrupts["count"] += 1
        if interrupts["count"] == 1:
            print("\nstopping every rank after this batch group (Ctrl-C again to abort)...", file=sys.stderr, flush=True)
            open(stop_file, "w").close()
        else:
            proc.terminate()  # torchrun ends its workers

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        code = proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(os.path.dirname(stop_file), ignore_errors=True)
    return code if code >= 0 else EXIT_FAILURE


def _train(args: argparse.Namespace, dist) -> int:  # noqa: ANN001 - a core.distributed.Distributed or None
    import os

    from cvstudio.core.data import load_dataset
    from cvstudio.core.models import PRESETS, PresetInfo, summarize
    from cvstudio.core.models.torchvision_models import default_input_size
    from cvstudio.core.runs import ModelInit, check_init, prepare_model, train_and_save
    from cvstudio.core.specs import DataConfig, TrainConfig
    from cvstudio.core.training import RunControl

    if args.download_weights and not args.pretrained:
        raise _bad_input("--download-weights only applies with --pretrained")
    if args.weights_name and not args.pretrained:
        raise _bad_input("--weights-name only applies with --pretrained")
    init = ModelInit(pretrained=args.pretrained, download=args.download_weights, weights_file=args.weights,
                     init_from=args.init_from, progress=not args.json)
    spec = _train_spec(args)
    check_init(spec, init)  # missing weights fail here, before the data is read
    image_size = args.image_size
    if image_size is None and spec.arch is not None and os.path.isdir(args.dataset):
        image_size = default_input_size(spec.arch, spec.weights)  # the size the architecture's weights were made for
    data_config = DataConfig(
        source=args.dataset,
        data_dir=args.data_dir,
        download=args.download,
        classes=_csv(args.classes),
        val_fraction=args.val_fraction,
        image_size=image_size,
        augment=args.augment,
        seed=args.seed,
    )
    preset = PRESETS.get(spec.name) or PresetInfo(spec.name, "", 0, 0, 1e-2)
    lr = args.lr if args.lr is not None else preset.lr
    backbone_lr = args.backbone_lr
    if backbone_lr is None and init.any and args.freeze == "none":
        backbone_lr = lr / 10  # full fine-tuning: move pretrained features less than the new head
    train_config = TrainConfig(
        optimizer=args.optimizer,
        lr=lr,
        momentum=(args.momentum if args.momentum is not None else preset.momentum) if args.optimizer == "sgd" else 0.0,
        nesterov=args.nesterov,
        weight_decay=args.weight_decay if args.weight_decay is not None else preset.weight_decay,
        l1=args.l1,
        batch_size=args.batch_size,
        epochs=args.epochs,
        seed=args.seed,
        stop_loss=args.stop_loss,
        patience=args.patience,
        device=args.device,
        schedule=args.schedule,
        label_smoothing=args.label_smoothing,
        amp=args.amp,
        clip_grad=args.clip_grad,
        freeze=args.freeze,
        backbone_lr=backbone_lr,
    )
    main_rank = dist is None or dist.is_main  # under torchrun only rank 0 prints and saves
    resume_run = None
    if args.resume:  # issue 13: a stopped run goes on with the settings its checkpoint holds
        if dist is not None:
            raise _bad_input("--resume cannot continue a run under torchrun; resume it in one process")
        resume_run, spec, data_config, train_config = _resume_settings(args)
    if args.out and main_rank:
        check_writable_target(args.out, ".safetensors", "--out")  # now, not after an hour of training
    project = _open_train_project(args, data_config, spec, train_config) if args.project and main_rank else None

    reporter = _ConsoleReporter(train_config.epochs, args.json, args.json_batches)
    reporters = [reporter] if main_rank else []
    # Rank 0 decodes and caches the data (and fetches weights) first; the others then read its cache.
    with dist.main_first() if dist is not None else contextlib.nullcontext():
        data = load_dataset(data_config, callbacks=reporters)
        summarize(spec, data.input_shape, data.num_classes)  # a spec that cannot work fails here, before training
        if resume_run is not None:
            from cvstudio.core.runs import resume_prepared

            prepared = resume_prepared(resume_run, data)
            print(f"note: resuming after epoch {resume_run.done_epochs} of {train_config.epochs}", file=sys.stderr, flush=True)
        else:
            prepared = prepare_model(spec, data, train_config.seed, init)
    for line in [f"warning: {w}" for w in data.warnings] + [f"note: {n}" for n in prepared.notes] if main_rank else []:
        print(line, file=sys.stderr, flush=True)
    spec = prepared.spec
    if dist is not None and main_rank:
        print(dist.describe(train_config.batch_size), file=sys.stderr, flush=True)
        if dist.device.type == "cpu" and _has_batchnorm(prepared.model):
            print("note: batch norm statistics stay per process on the CPU (PyTorch syncs them on GPUs only)",
                  file=sys.stderr, flush=True)

    control = RunControl()
    interrupts = {"count": 0}

    def on_sigint(signum, frame):  # first Ctrl-C stops cleanly and keeps the checkpoint; the second aborts
        if dist is not None and interrupts.get("at", -1e9) > time.monotonic() - 2.0:
            return  # torchrun relays the terminal's Ctrl-C to its workers: one keypress, two signals
        interrupts["at"] = time.monotonic()
        interrupts["count"] += 1
        if interrupts["count"] > 1:
            raise KeyboardInterrupt
        print("\nstopping after this batch (Ctrl-C again to abort)...", file=sys.stderr, flush=True)
        control.request_stop()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        out = args.out
        if project is not None:
            from cvstudio.core.runs import default_checkpoint_path

            out = default_checkpoint_path(spec, data, folder=project.runs_dir)
        outcome = train_and_save(spec, data, train_config, data_config, out=out, callbacks=reporters, control=control,
                                 tensorboard_dir=args.tensorboard if main_rank else None, prepared=prepared, dist=dist,
                                 resume=resume_run.state if resume_run else None)
    finally:
        signal.signal(signal.SIGINT, previous)
    if not main_rank:
        return EXIT_OK

    if outcome.unsaved:  # --out was writable at the start; keep the weights in the runs folder instead
        from cvstudio.core.checkpoints import save_checkpoint
        from cvstudio.core.errors import CheckpointError
        from cvstudio.core.runs import default_checkpoint_path

        print(f"warning: {outcome.save_error}", file=sys.stderr)
        fallback = default_checkpoint_path(spec, data)
        try:
            outcome.checkpoint = save_checkpoint(fallback, outcome.model, outcome.meta)
            print(f"warning: saved the checkpoint to {fallback} instead", file=sys.stderr)
        except CheckpointError as exc:
            print(f"cvstudio train: error: {exc}; the trained weights are lost", file=sys.stderr)

    r = outcome.result
    summary: dict[str, Any] = {
        "event": "done",
        "status": r.status,
        "message": r.message,
        "model": spec.name,
        "dataset": data.description,
        "classes": list(data.class_names),
        "train_acc": r.metrics.get("train_acc"),
        "val_acc": r.metrics.get("val_acc"),
        "val_loss": r.metrics.get("val_loss"),
        "epochs": len(r.history),
        "best_epoch": r.best_epoch,
        "params": r.params,
        "images_per_s": r.images_per_s,
        "seconds": r.seconds,
        "device": r.device,
        "step_mode": r.step_mode,
        "checkpoint": str(outcome.checkpoint) if outcome.checkpoint else None,
        "notes": outcome.notes,
        "world_size": dist.world_size if dist is not None else 1,
        "global_batch_size": train_config.batch_size * (dist.world_size if dist is not None else 1),
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"{r.status}: {r.message}")
        if r.metrics:
            print(
                f"train accuracy {r.metrics['train_acc']:.4f}, validation accuracy {r.metrics['val_acc']:.4f} "
                f"(best epoch {r.best_epoch}), {r.params:,} parameters, {r.images_per_s:,.0f} img/s on {r.device}"
                + (f" ({r.step_mode})" if r.device.startswith("cuda") else "")
            )
        print(f"checkpoint: {outcome.checkpoint}" if outcome.checkpoint else "no checkpoint saved: no usable weights")
    return EXIT_OK if outcome.checkpoint else EXIT_FAILURE


def _open_train_project(args: argparse.Namespace, data_config: Any, spec: Any, train_config: Any) -> Any:
    """The --project folder, ready to take the run's checkpoint; a new project starts from this run's settings."""
    from cvstudio.core.projects import open_for_runs

    if args.out:
        raise _bad_input("--out and --project both say where the checkpoint goes; give one of them")
    loaded = open_for_runs(args.project, data_config, spec, train_config)
    for problem in loaded.problems:
        print(f"warning: project: {problem}", file=sys.stderr)
    return loaded.project


def _has_batchnorm(model) -> bool:  # noqa: ANN001 - an nn.Module
    from torch import nn

    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def check_writable_target(path: str, suffix: str, option: str) -> None:
    """Refuse an output path that cannot be written, before any work is done (UserError)."""
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise _bad_input(f"{option} {path!r} is a folder; give a file name ending in {suffix}")
    if not target.name.endswith(suffix):
        raise _bad_input(f"{option} must name a {suffix} file, got {path!r}")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise _bad_input(f"{option}: the folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise _bad_input(f"{option}: cannot write to {path!r} (permission denied)")


def _cmd_sweep(args: argparse.Namespace) -> int:
    from cvstudio.cli_sweep import cmd_sweep

    return cmd_sweep(args)


def _bad_input(message: str) -> Exception:
    from cvstudio.core.errors import UserError

    return UserError(message)


# --- classify / info / export -------------------------------------------------------------


def cmd_classify(args: argparse.Namespace) -> int:
    from cvstudio.core.inference import Classifier, classify, expand_inputs

    classifier = Classifier.from_checkpoint(args.checkpoint, device=args.device)
    failed = 0

    def print_rows(rows) -> None:  # noqa: ANN001 - each batch's rows, printed as they come
        nonlocal failed
        for row in rows:
            p = row.prediction
            failed += p.error is not None
            if args.json:
                print(json.dumps(p.to_dict()), flush=True)
            elif p.error:
                print(f"{p.path}: error: {p.error}")
            else:
                others = ", ".join(f"{label} {prob:.3f}" for label, prob in p.top_k[1:])
                print(f"{p.path}: {p.label} ({p.prob:.3f})" + (f"  [{others}]" if others else ""))

    summary = classify(classifier, expand_inputs(args.inputs), None, print_rows, top_k=args.top_k, expand=False)
    if not summary.total:
        raise _bad_input("no images found in the given paths")
    return EXIT_BAD_INPUT if failed else EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from cvstudio.core.checkpoints import read_meta
    from cvstudio.core.models import summarize

    meta = read_meta(args.checkpoint)
    summary = summarize(meta.model_spec, meta.input_shape, len(meta.class_names))
    if args.json:
        d = meta.to_dict()
        d["params"] = summary.total_params
        print(json.dumps(d))
        return EXIT_OK
    c, h, w = meta.input_shape
    print(f"checkpoint: {args.checkpoint}")
    print(f"model:      {meta.model_spec.name}, {summary.total_params:,} parameters, input {c}x{h}x{w}")
    print(f"dataset:    {meta.dataset}")
    print(f"classes:    {', '.join(meta.class_names)}")
    print(f"mean/std:   {', '.join(f'{m:.4f}' for m in meta.mean)} / {', '.join(f'{s:.4f}' for s in meta.std)}")
    for key, value in meta.metrics.items():
        print(f"{key + ':':<11} {value:.4f}")
    print(f"run:        {meta.status}, {len(meta.history)} epochs, created {meta.created} by CV Studio {meta.app_version}")
    if meta.train_config:
        tc = meta.train_config
        print(f"training:   {tc.optimizer} lr {tc.lr:g}, batch {tc.batch_size}, weight decay {tc.weight_decay:g}, L1 {tc.l1:g}")
    print("layers:")
    for layer in summary.layers:
        shape = "x".join(str(s) for s in layer.out_shape)
        print(f"  {layer.name:<12} {layer.description:<28} -> {shape:<10} {layer.params:>10,}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from cvstudio.core.export import export_checkpoint

    report = export_checkpoint(args.checkpoint, args.format, args.out)
    print(report)
    return EXIT_OK


# --- listings ------------------------------------------------------------------------------


def cmd_runs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cvstudio.core.projects import PROJECT_FILE, list_runs, load_project

    folder = Path(args.project).expanduser()
    if not folder.is_dir():
        raise _bad_input(f"no project folder at {args.project}")
    if not (folder / PROJECT_FILE).exists() and not (folder / "runs").is_dir():
        raise _bad_input(f"{args.project} is not a project (no {PROJECT_FILE} or runs/ folder)")
    loaded = load_project(folder, create=False, lock=False)
    for problem in loaded.problems:
        print(f"warning: {problem}", file=sys.stderr)
    runs = list_runs(loaded.project)
    if args.json:
        for record in runs:
            print(json.dumps(record.to_json()), flush=True)
        return EXIT_OK
    if not runs:
        print(f"no runs in {loaded.project.runs_dir}")
        return EXIT_OK

    def pct(v: float | None) -> str:
        return "–" if v is None or v != v else f"{v:.3f}"

    print(f"{'created':<20} {'model':<16} {'val acc':>7} {'train':>6} {'epochs':>6} {'status':<14} id")
    for r in runs:
        print(f"{r.created[:19]:<20} {r.model[:16]:<16} {pct(r.val_acc):>7} {pct(r.train_acc):>6} {r.epochs:>6} "
              f"{r.status:<14} {r.id}" + (f"  ({r.error})" if r.error else ""))
    return EXIT_OK


def cmd_presets(args: argparse.Namespace) -> int:
    from cvstudio.core.models import PRESETS, get_preset, summarize

    for name, info in PRESETS.items():
        params = summarize(get_preset(name), (3, 32, 32), 2).total_params
        print(f"{name:<18} {params:>10,} params (3x32x32, 2 classes)  {info.description}")
    return EXIT_OK


def cmd_datasets(args: argparse.Namespace) -> int:
    from cvstudio.core.data import SOURCES

    for name, description in SOURCES.items():
        print(f"{name:<14} {description}")
    print(f"{'PATH':<14} a folder: PATH/train/<class>/*, PATH/test/<class>/* (or val/), or PATH/<class>/*")
    return EXIT_OK


# --- self-test ---------------------------------------------------------------------------


def cmd_selftest(args: argparse.Namespace) -> int:
    from cvstudio.selftest import run

    return run(["--quick"] if getattr(args, "quick", False) else [])


if __name__ == "__main__":
    sys.exit(main())
