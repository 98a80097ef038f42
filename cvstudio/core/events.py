"""Events the core reports while it works, and the callback protocol.

Long operations (downloading, decoding, training) take a list of callbacks and
call ``on_<event>(event)`` on each callback that defines it. The GUI's worker
turns these into throttled Qt signals; the command line prints them. Events
carry plain Python values and numpy arrays, never live tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

import numpy as np


@dataclass(frozen=True)
class Progress:
    """Some long step advanced: downloading, decoding, computing statistics."""

    stage: str  # e.g. "download", "decode", "stats"
    done: float  # units of work done (bytes, images, ...)
    total: float | None  # None when unknown
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


@dataclass(frozen=True)
class FitStarted:
    epochs: int
    batches_per_epoch: int
    train_size: int
    val_size: int
    device: str  # e.g. "cpu" or "cuda:0"
    params: int  # trainable parameters


@dataclass(frozen=True)
class BatchesEnded:
    """A group of training steps ended; losses are synced in groups, not per step."""

    epoch: int  # 1-based
    step: int  # steps done in this epoch (1-based, last step of the group)
    steps_per_epoch: int
    global_step: int  # steps since the run began
    losses: np.ndarray = field(repr=False)  # float64, one per step in the group
    images_per_s: float  # training throughput so far in this epoch
    eta_s: float | None  # seconds left in the whole run, estimated


@dataclass(frozen=True)
class EpochEnded:
    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's steps (penalties excluded)
    train_acc: float  # accuracy on the training images seen this epoch, in train mode
    val_loss: float
    val_acc: float
    lr: float
    seconds: float  # wall time of the epoch, evaluation included
    images_per_s: float  # training loop only
    improved: bool  # best validation accuracy so far


@dataclass(frozen=True)
class FitEnded:
    status: str  # "finished" | "stopped" | "early_stopped" | "loss_reached" | "diverged"
    message: str
    epochs_completed: int
    best_epoch: int | None
    best_val_acc: float | None


@dataclass(frozen=True)
class FitFailed:
    message: str
    traceback: str


class Callback(Protocol):
    """Any object with some of these methods; all are optional."""

    def on_progress(self, event: Progress) -> None: ...
    def on_fit_started(self, event: FitStarted) -> None: ...
    def on_batches_ended(self, event: BatchesEnded) -> None: ...
    def on_epoch_ended(self, event: EpochEnded) -> None: ...
    def on_fit_ended(self, event: FitEnded) -> None: ...
    def on_fit_failed(self, event: FitFailed) -> None: ...


_HOOK_FOR = {
    Progress: "on_progress",
    FitStarted: "on_fit_started",
    BatchesEnded: "on_batches_ended",
    EpochEnded: "on_epoch_ended",
    FitEnded: "on_fit_ended",
    FitFailed: "on_fit_failed",
}


def emit(callbacks: Iterable[Any] | None, event: Any) -> None:
    """Deliver ``event`` to every callback that handles its kind."""
    if not callbacks:
        return
    hook = _HOOK_FOR[type(event)]
    for cb in callbacks:
        method = getattr(cb, hook, None)
        if method is not None:
            method(event)
