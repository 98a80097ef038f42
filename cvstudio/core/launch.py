"""Training in a child ``cvstudio train`` process, read back as the core's own events (Qt-free).

The window trains on all GPUs by starting torchrun (``core.distributed.launch_command``)
with ``cvstudio train --json --json-batches --spec FILE``. Rank 0 prints one JSON
object per line; :func:`parse_event_line` turns each back into the event the
in-process loop would have emitted (FitStarted, BatchesEnded, EpochEnded,
FitEnded), or a :class:`RunSummary` for the final ``done`` line. The lines come
from another process: every field is type- and range-checked, and a line that
does not fit is ignored rather than trusted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from cvstudio.core.errors import ConfigError
from cvstudio.core.events import BatchesEnded, EpochEnded, FitEnded, FitStarted
from cvstudio.core.specs import DataConfig, TrainConfig

ALL_GPUS = "cuda:all"  # TrainConfig.device of the window's "All N GPUs" (a torchrun child, one process per GPU)
ALL_GPUS_CHILD_DEVICE = "cuda"  # what each rank trains on (tests run the same path on the CPU with gloo)
MAX_LINE_CHARS = 4_000_000  # a batches line holds at most distributed.MAX_SYNC_STEPS losses
MAX_COUNT = 10**12
STATUSES = ("finished", "stopped", "early_stopped", "loss_reached", "diverged")


@dataclass(frozen=True)
class RunSummary:
    """The ``done`` line: how the run ended and where rank 0 saved the checkpoint."""

    status: str
    message: str
    checkpoint: str | None
    best_epoch: int | None
    metrics: dict[str, float]
    images_per_s: float
    seconds: float
    device: str
    params: int
    notes: tuple[str, ...]
    step_mode: str = "eager"  # FitResult.step_mode; "CUDA graph" where a GPU replayed the recorded step


class _Bad(ValueError):
    pass


def _int(d: dict, key: str, low: int = 0, high: int = MAX_COUNT, optional: bool = False) -> int | None:
    value = d.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _Bad(key)
    return value


def _float(d: dict, key: str, optional: bool = False, finite: bool = False) -> float | None:
    value = d.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Bad(key)
    value = float(value)
    if finite and not math.isfinite(value):
        raise _Bad(key)
    return value  # a diverged run's losses are NaN or infinite: the plots show them as such


def _text(d: dict, key: str, limit: int = 500, optional: bool = False) -> str | None:
    value = d.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _Bad(key)
    return value[:limit]


def parse_event_line(line: str) -> Any | None:
    """The core event (or RunSummary) a ``--json --json-batches`` line stands for; None for anything else."""
    line = line.strip()
    if not line.startswith("{") or len(line) > MAX_LINE_CHARS:
        return None
    try:
        d = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(d, dict):
        return None
    try:
        return _PARSERS.get(d.get("event"), lambda _d: None)(d)
    except _Bad:
        return None


def _fit_started(d: dict) -> FitStarted:
    return FitStarted(_int(d, "epochs", 1), _int(d, "batches_per_epoch", 1), _int(d, "train_size"),
                      _int(d, "val_size"), _text(d, "device", 40), _int(d, "params"))


def _batches(d: dict) -> BatchesEnded:
    losses = d.get("losses")
    if not isinstance(losses, list) or not 1 <= len(losses) <= 100_000:
        raise _Bad("losses")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in losses):
        raise _Bad("losses")
    steps = _int(d, "steps_per_epoch", 1)
    return BatchesEnded(_int(d, "epoch", 1), _int(d, "step", 1, steps), steps, _int(d, "global_step", 1),
                        np.asarray(losses, dtype=np.float64), _float(d, "images_per_s", finite=True),
                        _float(d, "eta_s", optional=True, finite=True))


def _epoch(d: dict) -> EpochEnded:
    return EpochEnded(_int(d, "epoch", 1), _float(d, "train_loss"), _float(d, "train_acc"), _float(d, "val_loss"),
                      _float(d, "val_acc"), _float(d, "lr"), _float(d, "seconds", finite=True),
                      _float(d, "images_per_s", finite=True), bool(d.get("improved", False)))


def _status(d: dict) -> str:
    status = d.get("status")
    if status not in STATUSES:
        raise _Bad("status")
    return status


def _fit_ended(d: dict) -> FitEnded:
    return FitEnded(_status(d), _text(d, "message"), _int(d, "epochs_completed"),
                    _int(d, "best_epoch", 1, optional=True), _float(d, "best_val_acc", optional=True))


def _done(d: dict) -> RunSummary:
    metrics = {k: _float(d, k) for k in ("train_acc", "val_acc", "val_loss") if d.get(k) is not None}
    notes = d.get("notes") if isinstance(d.get("notes"), list) else []
    return RunSummary(_status(d), _text(d, "message"), _text(d, "checkpoint", 4096, optional=True),
                      _int(d, "best_epoch", 1, optional=True), metrics, _float(d, "images_per_s", finite=True),
                      _float(d, "seconds", finite=True), _text(d, "device", 40), _int(d, "params"),
                      tuple(str(n)[:500] for n in notes[:20]), _text(d, "step_mode", 300, optional=True) or "eager")


_PARSERS = {"fit_started": _fit_started, "batches": _batches, "epoch": _epoch, "fit_ended": _fit_ended, "done": _done}


def all_gpus_train_args(spec_file: str, data: DataConfig, train: TrainConfig, out: str) -> list[str]:
    """``cvstudio train`` options for one rank of an all-GPUs run of the window's settings.

    Raises ConfigError naming what the options cannot express (core.train_command's problems).
    """
    from cvstudio.core.train_command import train_command

    command = train_command(data, None, train, model_override=["--spec", spec_file])
    if command.problems:
        raise ConfigError(f"training on all GPUs runs `cvstudio train`, which cannot reproduce these settings: "
                          f"{'; '.join(command.problems)}; choose a single device")
    args = [a for a in command.args]
    if "--device" in args:  # each rank gets its own GPU: the device is the kind, never an index
        i = args.index("--device")
        del args[i:i + 2]
    return ["train", *args, "--device", ALL_GPUS_CHILD_DEVICE, "--json", "--json-batches", "--out", str(out)]


def last_error_line(lines: Sequence[str]) -> str:
    """The line that says why a child failed: the launcher's own, else the last ``error`` line, else the last."""
    for marker in ("cvstudio: rank", "error"):
        for line in reversed(lines):
            if marker in line:
                return line.strip()
    return lines[-1].strip() if lines else "no output"


__all__ = ["ALL_GPUS", "ALL_GPUS_CHILD_DEVICE", "RunSummary", "all_gpus_train_args", "last_error_line", "parse_event_line"]
