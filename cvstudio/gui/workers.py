"""Running core work off the GUI thread (superqt's worker recipe).

A worker QObject is moved to its own QThread; ``thread.started`` runs it,
its end quits the thread, and both are deleted later. Results, errors and
progress come back to the GUI thread through queued signals on a ``Task``
handle that lives in the GUI thread. Progress from the core is throttled at
the source (at most ``PROGRESS_INTERVAL_S`` apart). Stopping is cooperative:
the core checks a flag; threads are never terminated.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress signals a second

_running: set[QThread] = set()  # threads started here and not yet finished (tests check it is empty)
_alive: set[Task] = set()  # keep Python wrappers alive until their thread ends


def running_threads() -> set[QThread]:
    return set(_running)


@dataclass(frozen=True)
class TaskError:
    """An exception raised in a worker, carried to the GUI thread as plain values."""

    exception: BaseException
    message: str  # one line for a dialog
    traceback: str
    user_error: bool  # a UserError: bad input, not a bug


def task_error(exc: BaseException) -> TaskError:
    from cvstudio.core.errors import UserError

    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, UserError):
        return TaskError(exc, str(exc), tb, True)
    return TaskError(exc, f"{type(exc).__name__}: {exc}", tb, False)


class _ProgressBridge:
    """A core callback that forwards Progress events, throttled."""

    def __init__(self, signal: Signal):
        self._signal = signal
        self._last = 0.0

    def on_progress(self, event: Any) -> None:
        now = time.monotonic()
        final = event.fraction is not None and event.fraction >= 1.0
        if final or now - self._last >= PROGRESS_INTERVAL_S:
            self._last = now
            self._signal.emit(event)


class _FunctionWorker(QObject):
    succeeded = Signal(object)
    failed = Signal(object)  # TaskError
    progressed = Signal(object)  # core Progress event
    ended = Signal()

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, pass_callbacks: bool):
        super().__init__()
        self._fn, self._args, self._kwargs, self._pass_callbacks = fn, args, kwargs, pass_callbacks

    @Slot()
    def run(self) -> None:
        try:
            kwargs = dict(self._kwargs)
            if self._pass_callbacks:
                kwargs["callbacks"] = [_ProgressBridge(self.progressed)]
            result = self._fn(*self._args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI, not kill the thread
            self.failed.emit(task_error(exc))
        else:
            self.succeeded.emit(result)
        finally:
            self.ended.emit()


class Task(QObject):
    """GUI-thread handle of work running in a worker thread."""

    result = Signal(object)
    error = Signal(object)  # TaskError
    progress = Signal(object)  # Progress
    finished = Signal()  # after result or error, once the thread has ended

    def __init__(self, worker: QObject, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(f"cvstudio-{type(worker).__name__}")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        worker.ended.connect(self.thread.quit)
        self.thread.finished.connect(self._on_thread_finished)
        self._done = False

    def start(self) -> Task:
        _running.add(self.thread)
        _alive.add(self)
        self.thread.start()
        return self

    @property
    def done(self) -> bool:
        return self._done

    def wait(self, ms: int = 30_000) -> bool:
        """Block until the thread ends (for shutdown and tests only)."""
        return self.thread.wait(ms)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._done = True
        _running.discard(self.thread)
        self.worker.deleteLater()
        self.finished.emit()
        _alive.discard(self)


def start_task(
    fn: Callable[..., Any],
    *args: Any,
    pass_callbacks: bool = False,
    parent: QObject | None = None,
    **kwargs: Any,
) -> Task:
    """Run ``fn(*args, **kwargs)`` in a new thread; connect to the returned Task's signals.

    With ``pass_callbacks`` the function also gets ``callbacks=[...]`` whose
    Progress events arrive on ``Task.progress``. Connect before the event loop
    runs again: signals are queued, so none is missed.
    """
    worker = _FunctionWorker(fn, args, kwargs, pass_callbacks)
    task = Task(worker, parent)
    worker.succeeded.connect(task.result)
    worker.failed.connect(task.error)
    worker.progressed.connect(task.progress)
    return task.start()
