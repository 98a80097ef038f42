"""The stop rules and best-weights tracking of ``fit``, as callbacks.

Like Lightning's callbacks, each is a small object with hooks named after the
moment they run; they see the loop's :class:`FitState` (model, history,
config) and end a run by calling ``state.stop(status, message)``, which sets
``state.should_stop``. The loop (core/training/loop.py) calls them before it
reports an event to the outside callbacks, so an outside callback that edits
the model cannot spoil the saved best weights.

Hooks (all optional):

- ``on_fit_start(state)``
- ``on_train_batches_end(state, losses)``: a synced group of per-step
  training losses (float64 numpy array), about ten times a second;
- ``on_validation_end(state, val_loss, val_acc)``: before the epoch's event is made;
- ``on_epoch_end(state, event)``: with the finished epoch's :class:`EpochEnded`;
- ``on_fit_end(state)``: always, after the last epoch or a stop.

A run ends with the status of the first rule that stopped it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from cvstudio.core.events import EpochEnded
from cvstudio.core.specs import TrainConfig

# The loss "explodes" (issue 10) when a step's loss reaches this many times the
# run's first step loss, or exceeds the absolute ceiling -- even while finite.
EXPLOSION_FACTOR = 1e4
EXPLOSION_CEILING = 1e6


@dataclass
class FitState:
    """What the stop rules may look at, and the one way they end a run."""

    model: nn.Module
    config: TrainConfig
    epoch: int = 0  # 1-based epoch in progress or just ended
    step: int = 0  # step within the epoch, 1-based
    history: list[EpochEnded] = field(default_factory=list)
    should_stop: bool = False
    status: str = "finished"  # see FitResult.status
    message: str = ""
    # What a resume state holds besides the model (core/training/resume.py); set by the loop.
    optimizer: Any = None  # torch.optim.Optimizer
    scheduler: Any = None  # LR scheduler or None
    scaler: Any = None  # torch.amp.GradScaler or None
    generator: Any = None  # the training loader's torch.Generator (shuffle, augmentation)

    def stop(self, status: str, message: str) -> None:
        """End the run after the current step group or epoch; the first stop wins."""
        if not self.should_stop:
            self.should_stop, self.status, self.message = True, status, message

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the highest validation accuracy (the earliest on ties)."""
        best = None
        for e in self.history:
            if e.improved:
                best = e.epoch
        return best


class TrainingCallback:
    """Base class with every hook as a no-op."""

    def on_fit_start(self, state: FitState) -> None: ...
    def on_train_batches_end(self, state: FitState, losses: np.ndarray) -> None: ...
    def on_validation_end(self, state: FitState, val_loss: float, val_acc: float) -> None: ...
    def on_epoch_end(self, state: FitState, event: EpochEnded) -> None: ...
    def on_fit_end(self, state: FitState) -> None: ...


DIVERGED_HINT = "try a lower learning rate. The best weights so far were kept."


class DivergenceGuard(TrainingCallback):
    """Stop as "diverged" when a loss is NaN/Inf or explodes (issue 10)."""

    def __init__(self, factor: float = EXPLOSION_FACTOR, ceiling: float = EXPLOSION_CEILING):
        self.factor = factor
        self.ceiling = ceiling
        self.first_loss: float | None = None

    def on_fit_start(self, state: FitState) -> None:
        self.first_loss = None

    def on_train_batches_end(self, state: FitState, losses: np.ndarray) -> None:
        bad = ~np.isfinite(losses)
        if bad.any():
            state.stop("diverged", f"the loss became {losses[bad][0]} at epoch {state.epoch}, step {self._step(state, losses, bad)}; {DIVERGED_HINT}")
            return
        if self.first_loss is None and len(losses):
            self.first_loss = float(losses[0])
        limit = self.ceiling
        if self.first_loss is not None and self.first_loss > 0:
            limit = min(limit, self.factor * self.first_loss)
        exploded = losses > limit
        if exploded.any():
            value = float(losses[exploded][0])
            first = f"{self.first_loss:.4g}" if self.first_loss is not None else "?"
            state.stop(
                "diverged",
                f"the loss exploded to {value:.4g} (the first step's was {first}) at epoch {state.epoch}, "
                f"step {self._step(state, losses, exploded)}; {DIVERGED_HINT}",
            )

    def on_validation_end(self, state: FitState, val_loss: float, val_acc: float) -> None:
        if not math.isfinite(val_loss):
            state.stop("diverged", f"the validation loss became {val_loss} at epoch {state.epoch}; {DIVERGED_HINT}")

    @staticmethod
    def _step(state: FitState, losses: np.ndarray, mask: np.ndarray) -> int:
        """The step (within the epoch) of the first flagged loss in a group ending at ``state.step``."""
        return state.step - len(losses) + 1 + int(np.argmax(mask))


class BestWeights(TrainingCallback):
    """Keep a CPU copy of the weights of the best epoch and put them back at the end."""

    def __init__(self) -> None:
        self.state_dict: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, state: FitState, event: EpochEnded) -> None:
        if event.improved:
            self.state_dict = {k: v.detach().to("cpu", copy=True) for k, v in state.model.state_dict().items()}

    def on_fit_end(self, state: FitState) -> None:
        if self.state_dict is not None:
            state.model.load_state_dict(self.state_dict)


class StopAtLoss(TrainingCallback):
    """The cheatsheet's loss threshold: stop once an epoch's mean training loss is below ``threshold``."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def on_epoch_end(self, state: FitState, event: EpochEnded) -> None:
        if event.train_loss < self.threshold:
            state.stop(
                "loss_reached",
                f"training loss {event.train_loss:.4g} fell below {self.threshold:g} at epoch {event.epoch}",
            )


class EarlyStopping(TrainingCallback):
    """Stop after ``patience`` epochs without a better validation accuracy."""

    def __init__(self, patience: int):
        self.patience = patience

    def on_epoch_end(self, state: FitState, event: EpochEnded) -> None:
        best = state.best_epoch
        if best is not None and event.epoch - best >= self.patience:
            state.stop(
                "early_stopped",
                f"validation accuracy did not improve for {self.patience} epochs; stopped at epoch {event.epoch}",
            )


def default_rules(config: TrainConfig) -> list[TrainingCallback]:
    """The rules every run has, in priority order: best weights, divergence, loss threshold, patience."""
    rules: list[TrainingCallback] = [BestWeights(), DivergenceGuard()]
    if config.stop_loss is not None:
        rules.append(StopAtLoss(config.stop_loss))
    if config.patience is not None:
        rules.append(EarlyStopping(config.patience))
    return rules


def notify(rules: list[Any], hook: str, *args: Any) -> None:
    for rule in rules:
        getattr(rule, hook)(*args)


__all__ = [
    "BestWeights",
    "DivergenceGuard",
    "EXPLOSION_CEILING",
    "EXPLOSION_FACTOR",
    "EarlyStopping",
    "FitState",
    "StopAtLoss",
    "TrainingCallback",
    "default_rules",
    "notify",
]
