"""Training off the GUI thread: a QThread worker around ``core.runs.train_and_save``.

Built on :mod:`cvstudio.gui.tasks` (the one task contract): a ``TrainingTask``
is a ``Task`` with training's own throttled signals and pause / resume / stop
through the task's ``RunControl``. Nothing here trains: the core does.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from cvstudio.gui.tasks import Task, task_error

# --- training ----------------------------------------------------------------------------

# batches_ended and epochs_ended each at most 5 a second. Every signal wakes the GUI thread, which
# then takes the GIL from the training thread; 5 updates a second look live and cost little.
TRAINING_UPDATE_INTERVAL_S = 0.2


def merge_batches(groups: list[Any]) -> Any:
    """Several BatchesEnded into one: the last group's position and speed, all the losses in order."""
    if len(groups) == 1:
        return groups[0]
    import dataclasses

    import numpy as np

    return dataclasses.replace(groups[-1], losses=np.concatenate([g.losses for g in groups]))


class _TrainingBridge:
    """A core fit callback (runs in the worker thread) that turns events into throttled Qt signals.

    The core already groups batch losses about ten times a second; the bridge
    coalesces those groups, and bursts of epochs (tiny datasets end many a
    second), into at most one batches_ended and one epochs_ended signal per
    TRAINING_UPDATE_INTERVAL_S. Everything pending is flushed before the
    run's end is reported.
    """

    def __init__(self, worker: TrainingWorker):
        self._worker = worker
        self._batches: list[Any] = []
        self._epochs: list[Any] = []
        self._last = 0.0

    def on_fit_started(self, event: Any) -> None:
        self._worker.fit_started.emit(event)

    def on_batches_ended(self, event: Any) -> None:
        self._batches.append(event)
        self._flush(force=False)

    def on_epoch_ended(self, event: Any) -> None:
        self._epochs.append(event)
        self._flush(force=False)

    def on_fit_ended(self, event: Any) -> None:
        self._flush(force=True)
        self._worker.fit_ended.emit(event)

    def on_fit_failed(self, event: Any) -> None:
        self._flush(force=True)  # the exception itself reaches the GUI through `failed`

    def _flush(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last < TRAINING_UPDATE_INTERVAL_S:
            return
        self._last = now
        if self._batches:
            self._worker.batches_ended.emit(merge_batches(self._batches))
            self._batches = []
        if self._epochs:
            self._worker.epochs_ended.emit(tuple(self._epochs))
            self._epochs = []


# Kernels are copied during an epoch at most this often: live enough to watch them form, and a copy of
# even a ResNet's convolutions every few seconds costs the training thread well under 1 %.
KERNEL_INTERVAL_S = 2.0


class _KernelSnapshots:
    """Copies the conv kernels (in the training thread, between steps) for the Inspect page.

    Every KERNEL_INTERVAL_S during an epoch, and at each epoch end. Emits
    ``(epoch, kernels, "during" | "after")``: numpy copies, safe for the GUI thread.
    """

    def __init__(self, worker: TrainingWorker, model: Any, interval_s: float | None = None):
        self._worker, self._model = worker, model
        self._interval_s = KERNEL_INTERVAL_S if interval_s is None else interval_s
        self._last = time.monotonic()
        self._none = False  # the model has no convolutions: nothing to copy, ever

    def _emit(self, epoch: int, when: str) -> None:
        from cvstudio.core.inspect import conv_kernels

        self._last = time.monotonic()
        kernels = conv_kernels(self._model)
        if kernels:
            self._worker.kernels_updated.emit((epoch, kernels, when))
        else:
            self._none = True

    def on_batches_ended(self, event: Any) -> None:
        if not self._none and time.monotonic() - self._last >= self._interval_s and event.step < event.steps_per_epoch:
            self._emit(event.epoch, "during")

    def on_epoch_ended(self, event: Any) -> None:
        if not self._none:
            self._emit(event.epoch, "after")


class TrainingWorker(QObject):
    """Runs ``core.runs.train_and_save`` in its thread; the GUI adds no training logic."""

    kernels_updated = Signal(object)  # (epoch, {conv layer: float32 weights}, "during"|"after"): every few s
    fit_started = Signal(object)  # core FitStarted
    batches_ended = Signal(object)  # core BatchesEnded (possibly several groups merged)
    epochs_ended = Signal(object)  # tuple[EpochEnded, ...], in order
    fit_ended = Signal(object)  # core FitEnded
    succeeded = Signal(object)  # core.runs.RunOutcome (its model is on the CPU, no longer touched here)
    failed = Signal(object)  # TaskError
    ended = Signal()

    def __init__(self, spec: Any, data: Any, train_config: Any, data_config: Any, control: Any, out: Any = None,
                 init: Any = None, resume_from: str | None = None):
        super().__init__()
        self._spec, self._data, self._train_config, self._data_config = spec, data, train_config, data_config
        self._control, self._out = control, out
        self._init, self._resume_from = init, resume_from  # core.runs.ModelInit; a stopped run's checkpoint

    @Slot()
    def run(self) -> None:
        try:
            from cvstudio.core.runs import train_and_save

            prepared = resume = None
            if self._resume_from is not None:  # the run's own settings and data, and its state at its last epoch end
                from cvstudio.core.data import load_dataset
                from cvstudio.core.runs import read_resume_run, resume_prepared

                run = read_resume_run(self._resume_from)
                prepared = resume_prepared(run, load_dataset(run.data_config, control=self._control))
                self._spec, self._data, self._train_config, self._data_config = (
                    run.spec, prepared.data, run.train_config, run.data_config)
                resume = run.state
            outcome = train_and_save(
                self._spec,
                self._data,
                self._train_config,
                self._data_config,
                out=self._out,
                callbacks=[_TrainingBridge(self)],
                control=self._control,
                model_callbacks=[lambda model: _KernelSnapshots(self, model)],
                init=self._init,
                prepared=prepared,
                resume=resume,
            )
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI, not kill the thread
            self.failed.emit(task_error(exc))
        else:
            self.succeeded.emit(outcome)
        finally:
            self._data = None  # the dataset belongs to the app state, not to a finished worker
            self.ended.emit()


class TrainingTask(Task):
    """GUI-thread handle of a training run: progress signals plus pause / resume / stop."""

    fit_started = Signal(object)
    batches_ended = Signal(object)
    epochs_ended = Signal(object)
    fit_ended = Signal(object)
    kernels_updated = Signal(object)

    def __init__(self, worker: TrainingWorker, control: Any):
        super().__init__(worker, control)
        worker.kernels_updated.connect(self.kernels_updated)
        worker.fit_started.connect(self.fit_started)
        worker.batches_ended.connect(self.batches_ended)
        worker.epochs_ended.connect(self.epochs_ended)
        worker.fit_ended.connect(self.fit_ended)
        worker.succeeded.connect(self.result)
        worker.failed.connect(self.error)

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        """Ask the loop to stop; it does before its next batch and still saves the best weights."""
        self.control.request_stop()

    @property
    def paused(self) -> bool:
        return self.control.paused

    @property
    def stop_requested(self) -> bool:
        return self.control.stop_requested


def start_training(
    spec: Any,
    data: Any,
    train_config: Any,
    data_config: Any = None,
    *,
    out: Any = None,
    init: Any = None,
    resume_from: str | None = None,
) -> TrainingTask:
    """Train ``spec`` on ``data`` in a new thread; the checkpoint goes to ``out`` or the runs folder.

    Needs torch imported already (the RunControl comes from the core).
    """
    from cvstudio.core.control import RunControl
    from cvstudio.core.threads import release_openmp_pool_here

    # This (GUI) thread's idle OpenMP workers would make the training thread's team sleep at every
    # layer instead of spinning (0.63-0.75x the headless images/s at two threads; see core.threads).
    release_openmp_pool_here()
    control = RunControl()
    worker = TrainingWorker(spec, data, train_config, data_config, control, out, init, resume_from)
    return TrainingTask(worker, control).start()  # type: ignore[return-value]
