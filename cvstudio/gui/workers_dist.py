"""Training on all GPUs from the window: torchrun as a child process, its rank 0 read back as core events.

The Train page's "All N GPUs" device runs the window's settings as
``cvstudio train --json --json-batches --spec FILE`` under torchrun
(``core.distributed.launch_command``, one process per GPU). The worker thread
reads rank 0's JSON lines (``core.launch.parse_event_line``) and emits the
same signals as :class:`~cvstudio.gui.workers.TrainingWorker`, throttled by
the same bridge, so the page's plots, progress, ETA and result banner need
nothing new; at the end it loads the checkpoint rank 0 saved into the
``RunOutcome`` the page expects.

Stop creates the run's stop file (every rank stops at the same step and rank 0
still saves the best weights). Pause is not offered: a paused rank would hold
its peers inside a collective until the process group times out.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from cvstudio.core.launch import ALL_GPUS  # the page's device value for this worker
from cvstudio.gui.tasks import task_error
from cvstudio.gui.workers import TrainingTask, _TrainingBridge

PAUSE_UNAVAILABLE = ("Pause is not available when training on all GPUs: a paused process would hold the others "
                     "waiting until the run times out. Stop ends every process and saves the best weights.")
STDERR_LINES_KEPT = 40
KILL_AFTER_MS = 10_000  # at shutdown: how long the ranks get to stop by themselves before they are ended


class AllGpusTrainingWorker(QObject):
    """Runs torchrun in a child process and turns rank 0's output into TrainingWorker's signals."""

    kernels_updated = Signal(object)  # never emitted: the weights live in other processes until the end
    fit_started = Signal(object)
    batches_ended = Signal(object)
    epochs_ended = Signal(object)
    fit_ended = Signal(object)
    succeeded = Signal(object)  # core.runs.RunOutcome
    failed = Signal(object)  # TaskError
    ended = Signal()

    def __init__(self, spec: Any, train_config: Any, data_config: Any, out: Any, nproc: int):
        super().__init__()
        from cvstudio.core.distributed import new_stop_file

        self._spec, self._train_config, self._data_config = spec, train_config, data_config
        self._out, self._nproc = str(out), int(nproc)
        self.stop_file, self._env = new_stop_file()
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def end_processes(self) -> None:
        """End the child (torchrun ends its ranks): the last resort when they do not stop in time."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()

    @Slot()
    def run(self) -> None:
        try:
            outcome = self._train()
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI, not kill the thread
            self.failed.emit(task_error(exc))
        else:
            self.succeeded.emit(outcome)
        finally:
            shutil.rmtree(os.path.dirname(self.stop_file), ignore_errors=True)
            self.ended.emit()

    def _train(self) -> Any:
        from cvstudio.core.distributed import launch_command
        from cvstudio.core.errors import UserError
        from cvstudio.core.launch import RunSummary, all_gpus_train_args, last_error_line, parse_event_line
        from cvstudio.core.spec_files import save_spec

        Path(self._out).parent.mkdir(parents=True, exist_ok=True)  # the runs folder, as train_and_save makes it
        spec_file = os.path.join(os.path.dirname(self.stop_file), "model.json")
        save_spec(self._spec, spec_file)
        command = launch_command(all_gpus_train_args(spec_file, self._data_config, self._train_config, self._out),
                                 self._nproc)
        env = dict(self._env)
        package_root = str(Path(__file__).resolve().parents[2])  # the ranks import this same cvstudio
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        with self._lock:
            self._proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
                                          bufsize=1, start_new_session=os.name == "posix")
        proc = self._proc
        errors: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        reader = threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True, name="cvstudio-ranks-stderr")
        reader.start()
        bridge, history, summary = _TrainingBridge(self), [], None
        try:
            for line in proc.stdout:
                event = parse_event_line(line)
                if isinstance(event, RunSummary):
                    summary = event
                elif event is not None:
                    hook = type(event).__name__
                    if hook == "EpochEnded":
                        history.append(event)
                    getattr(bridge, _HOOKS[hook])(event)
            code = proc.wait()
        finally:
            self.end_processes()
            proc.wait()
            reader.join(timeout=5)
        bridge.on_fit_failed(None)  # flush what is pending
        if code != 0 or summary is None:
            why = last_error_line(list(errors)).removeprefix("cvstudio: ")
            raise UserError(f"the run on {self._nproc} processes (one per GPU) ended: {why}")
        return _outcome(summary, history)


_HOOKS = {"FitStarted": "on_fit_started", "BatchesEnded": "on_batches_ended", "EpochEnded": "on_epoch_ended",
          "FitEnded": "on_fit_ended"}


def _outcome(summary: Any, history: list[Any]) -> Any:
    """The RunOutcome of an in-process run, from the done line and the checkpoint rank 0 saved."""
    from cvstudio.core.checkpoints import load_checkpoint
    from cvstudio.core.runs import RunOutcome
    from cvstudio.core.training.loop import FitResult

    result = FitResult(summary.status, summary.message, history, summary.best_epoch, summary.metrics,
                       summary.images_per_s, summary.device, summary.params, summary.seconds,
                       step_mode=summary.step_mode)
    if summary.checkpoint is None:
        return RunOutcome(result, None, None, None, list(summary.notes))
    loaded = load_checkpoint(summary.checkpoint)
    return RunOutcome(result, loaded.model, loaded.path, loaded.meta, list(summary.notes))


class AllGpusTrainingTask(TrainingTask):
    """TrainingTask's handle for a run on all GPUs: Stop reaches every rank; pausing is not offered."""

    pause_unavailable = PAUSE_UNAVAILABLE

    def __init__(self, worker: AllGpusTrainingWorker, control: Any):
        super().__init__(worker, control)  # type: ignore[arg-type]
        self._stop_file = worker.stop_file  # kept here: the worker is deleted once its thread ends
        self._end_processes = worker.end_processes  # plain Python: safe after the worker's Qt side is gone

    def pause(self) -> None:  # the page disables Pause (pause_unavailable); nothing can pause the ranks
        return None

    def stop(self) -> None:
        self.control.request_stop()
        try:
            Path(self._stop_file).touch()  # every rank stops at its next loss sync; rank 0 saves the best weights
        except OSError:  # the run has just ended and removed its folder
            pass

    def wait(self, ms: int = 30_000) -> bool:
        """Shutdown: the ranks get a while to stop and save; then they are ended."""
        if super().wait(min(ms, KILL_AFTER_MS)):
            return True
        self._end_processes()
        return super().wait(max(0, ms - KILL_AFTER_MS) or 5_000)


def start_all_gpus_training(spec: Any, data: Any, train_config: Any, data_config: Any = None, *,
                            out: Any = None) -> AllGpusTrainingTask:
    """``workers.start_training``'s signature: the run goes to torchrun, one process per GPU."""
    from cvstudio.core.control import RunControl
    from cvstudio.core.training.devices import gpu_count

    control = RunControl()
    worker = AllGpusTrainingWorker(spec, train_config, data_config, out, gpu_count())
    return AllGpusTrainingTask(worker, control).start()  # type: ignore[return-value]


__all__ = ["ALL_GPUS", "AllGpusTrainingTask", "AllGpusTrainingWorker", "PAUSE_UNAVAILABLE", "start_all_gpus_training"]
