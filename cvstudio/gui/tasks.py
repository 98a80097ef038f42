"""The one way the GUI runs work off the GUI thread (superqt's worker recipe, Orange's ConcurrentMixin).

A function runs in a worker QObject moved to its own QThread; ``thread.started``
runs it, its end quits the thread, and both are deleted later. What it
produces comes back to the GUI thread through queued signals on a ``Task``
handle that lives in the GUI thread:

- ``result`` / ``error`` (a :class:`TaskError`), then ``finished`` once the thread has ended;
- ``progress``: core ``Progress`` events, throttled at the source (``PROGRESS_INTERVAL_S``);
- ``partial``: lists of partial results (rows of a classify job), coalesced at most
  every ``PARTIAL_INTERVAL_S`` and flushed before ``result``.

Stopping is cooperative: every task holds a ``cvstudio.core.control.RunControl``
(the core's one stop token); ``Task.cancel()`` requests the stop, the core
checks it between batches. Threads are never terminated.

A page owns a :class:`TaskGroup`: it starts tasks with ``on_*`` handlers that
run on the GUI thread only while the page exists, replaces the running task of
a key with the latest request (latest wins), cancels, and ``shutdown(timeout_ms)``
waits for everything when the page or the window closes.

The function receives, when asked, ``control=`` (the RunControl),
``callbacks=`` (core callbacks whose Progress events reach ``progress``) and
``on_partial=`` (a callable taking a list of results).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

import shiboken6
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from cvstudio.core.control import RunControl

PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress signals a second
PARTIAL_INTERVAL_S = 0.05  # partial results are coalesced into at most ~20 signals a second

_running: dict[QThread, str] = {}  # threads started here and not yet finished -> where they were started
_alive: set[Task] = set()  # keep Python wrappers alive until their thread ends

log = logging.getLogger(__name__)


def running_threads() -> dict[QThread, str]:
    """Threads of tasks still running, each with the stack that started it (the leak fixture reads it)."""
    return dict(_running)


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


def _is_cancellation(error: TaskError) -> bool:
    """The work stopped because it was asked to (core Cancelled): not a bug to log."""
    from cvstudio.core.errors import Cancelled

    return isinstance(error.exception, Cancelled)


class _ProgressBridge:
    """A core callback that forwards Progress events, throttled."""

    def __init__(self, signal: Signal, interval_s: float = PROGRESS_INTERVAL_S):
        self._signal = signal
        self._interval = interval_s
        self._last = 0.0

    def on_progress(self, event: Any) -> None:
        now = time.monotonic()
        final = event.fraction is not None and event.fraction >= 1.0
        if final or now - self._last >= self._interval:
            self._last = now
            self._signal.emit(event)


class _PartialSink:
    """``on_partial(items)`` for the worker function: coalesces lists, emits them at most every interval.

    Items held back are sent by a timer when the interval has passed, so a
    worker that goes quiet after a burst (a sweep trial that takes an hour)
    does not keep its last result to itself until the next one.
    """

    def __init__(self, signal: Signal, interval_s: float = PARTIAL_INTERVAL_S):
        self._signal = signal
        self._interval = interval_s
        self._items: list[Any] = []
        self._last = 0.0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __call__(self, items: Sequence[Any]) -> None:
        with self._lock:
            self._items.extend(items)
            now = time.monotonic()
            if self._last == 0.0 or now - self._last >= self._interval:  # the first rows go out at once
                self._emit(now)
            elif self._timer is None:
                self._timer = threading.Timer(self._interval - (now - self._last), self._on_timer)
                self._timer.daemon = True
                self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            self._emit(time.monotonic())

    def flush(self, now: float | None = None) -> None:
        """Send what is held back now (the worker function returned); no timer outlives the task."""
        with self._lock:
            timer, self._timer = self._timer, None
            self._emit(time.monotonic() if now is None else now)
        if timer is not None:
            timer.cancel()
            if timer is not threading.current_thread():
                timer.join()

    def _emit(self, now: float) -> None:
        if self._items:
            self._last = now
            items, self._items = self._items, []
            self._signal.emit(items)


class _FunctionWorker(QObject):
    succeeded = Signal(object)
    failed = Signal(object)  # TaskError
    progressed = Signal(object)  # core Progress event
    partial = Signal(object)  # list of partial results
    ended = Signal()

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, control: RunControl,
                 pass_control: bool, pass_callbacks: bool, pass_partial: bool, interval_s: float | None = None):
        super().__init__()
        self._fn, self._args, self._kwargs, self._control = fn, args, kwargs, control
        self._pass = (pass_control, pass_callbacks, pass_partial)
        self._interval = interval_s

    @Slot()
    def run(self) -> None:
        interval = self._interval
        sink = _PartialSink(self.partial) if interval is None else _PartialSink(self.partial, interval)
        try:
            kwargs = dict(self._kwargs)
            pass_control, pass_callbacks, pass_partial = self._pass
            if pass_control:
                kwargs["control"] = self._control
            if pass_callbacks:
                kwargs["callbacks"] = [_ProgressBridge(self.progressed) if interval is None
                                       else _ProgressBridge(self.progressed, interval)]
            if pass_partial:
                kwargs["on_partial"] = sink
            result = self._fn(*self._args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI, not kill the thread
            sink.flush()
            self.failed.emit(task_error(exc))
        else:
            sink.flush()
            self.succeeded.emit(result)
        finally:
            self._args = self._kwargs = None  # inputs belong to the page, not to a finished worker
            self.ended.emit()


def _origin() -> str:
    """Where a task was started: the last frames outside this module (named by the leak fixture)."""
    frames = [f for f in traceback.extract_stack()[:-2] if not f.filename.endswith("tasks.py")]
    return "".join(traceback.format_list(frames[-4:]))


class Task(QObject):
    """GUI-thread handle of work running in a worker thread.

    A Task never has a Qt parent: it lives until its thread has finished (the
    module keeps it alive), so closing the page that started it can never
    delete a Task whose thread is still running. Receivers that may be deleted
    first are disconnected by Qt automatically.
    """

    result = Signal(object)
    error = Signal(object)  # TaskError
    progress = Signal(object)  # Progress
    partial = Signal(object)  # list of partial results, in order
    finished = Signal()  # after result or error, once the thread has ended

    def __init__(self, worker: QObject, control: RunControl | None = None):
        super().__init__()
        self.worker = worker
        self.control = control if control is not None else RunControl()
        self.thread = QThread()
        self.thread.setObjectName(f"cvstudio-{type(worker).__name__}")
        self.origin = ""
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        # Direct: QThread.quit is thread-safe, and the thread must end even when the GUI thread is
        # blocked in Task.wait() or its event loop has already returned (shutdown).
        worker.ended.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.thread.finished.connect(self._on_thread_finished)
        self._done = False

    def start(self) -> Task:
        self.origin = _origin()
        _running[self.thread] = self.origin
        _alive.add(self)
        self.thread.start()
        return self

    @property
    def done(self) -> bool:
        return self._done

    def cancel(self) -> None:
        """Ask the work to stop at its next check (between batches); results so far still arrive."""
        self.control.request_stop()

    @property
    def cancelled(self) -> bool:
        return self.control.stop_requested

    def wait(self, ms: int = 30_000) -> bool:
        """Block until the thread ends (for shutdown and tests only)."""
        return self.thread.wait(ms)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._done = True
        _running.pop(self.thread, None)
        self.worker.deleteLater()
        self.finished.emit()
        _alive.discard(self)


def start_task(
    fn: Callable[..., Any],
    *args: Any,
    pass_control: bool = False,
    pass_callbacks: bool = False,
    pass_partial: bool = False,
    update_interval_s: float | None = None,
    **kwargs: Any,
) -> Task:
    """Run ``fn(*args, **kwargs)`` in a new thread; connect to the returned Task's signals.

    ``pass_control`` adds ``control=`` (the Task's RunControl), ``pass_callbacks``
    adds ``callbacks=[...]`` whose Progress events arrive on ``Task.progress``,
    ``pass_partial`` adds ``on_partial=`` whose lists arrive on ``Task.partial``;
    ``update_interval_s`` replaces the default spacing of both (what each update costs the GUI thread decides it).
    Connect before the event loop runs again: signals are queued, none is missed.
    Pages use :class:`TaskGroup` rather than this.
    """
    control = RunControl()
    worker = _FunctionWorker(fn, args, kwargs, control, pass_control, pass_callbacks, pass_partial, update_interval_s)
    task = Task(worker, control)
    worker.succeeded.connect(task.result)
    worker.failed.connect(task.error)
    worker.progressed.connect(task.progress)
    worker.partial.connect(task.partial)
    return task.start()


Handler = Callable[..., Any] | None


@dataclass
class _Request:
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    handlers: dict[str, Handler]


class TaskGroup(QObject):
    """The tasks of one page: start with handlers, latest-wins keys, cancel, shutdown (Orange's ConcurrentMixin).

    ``start(fn, *args, key=..., on_result=..., on_error=..., on_progress=...,
    on_partial=..., on_finished=...)``. Handlers run on the GUI thread, and only
    while the group (a child of its page) exists and has not been shut down.
    With a ``key``, a request made while that key's task runs replaces any
    request waiting for it and asks the running one to stop; the results of a
    superseded task are dropped (its ``on_finished`` still runs). Errors that are
    not the user's (bugs) are logged with their traceback.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._tasks: set[Task] = set()
        self._keyed: dict[Hashable, Task] = {}
        self._pending: dict[Hashable, _Request] = {}
        self._shut_down = False

    # --- queries
    @property
    def idle(self) -> bool:
        return not self._tasks and not self._pending

    def running(self, key: Hashable) -> Task | None:
        """The task of ``key`` while it runs (None when idle)."""
        return self._keyed.get(key)

    def busy(self, key: Hashable) -> bool:
        return key in self._keyed or key in self._pending

    @property
    def shut_down(self) -> bool:
        return self._shut_down

    # --- starting
    def start(
        self,
        fn: Callable[..., Any],
        *args: Any,
        key: Hashable | None = None,
        on_result: Handler = None,
        on_error: Handler = None,
        on_progress: Handler = None,
        on_partial: Handler = None,
        on_finished: Handler = None,
        **kwargs: Any,
    ) -> Task | None:
        """Start ``fn`` now, or (a key whose task runs) once that one has stopped; None when it waits or after shutdown."""
        if self._shut_down:
            return None
        request = _Request(fn, args, kwargs, {"result": on_result, "error": on_error, "progress": on_progress,
                                              "partial": on_partial, "finished": on_finished})
        if key is not None and key in self._keyed:
            self._pending[key] = request  # replaces an older waiting request: latest wins
            self._keyed[key].cancel()
            return None
        return self._launch(key, request)

    def _launch(self, key: Hashable | None, request: _Request) -> Task:
        task = start_task(request.fn, *request.args, **request.kwargs)
        self._tasks.add(task)
        if key is not None:
            self._keyed[key] = task
        h = request.handlers
        task.result.connect(lambda value, t=task, k=key: self._deliver(t, k, h["result"], value))
        task.error.connect(lambda error, t=task, k=key: self._on_error(t, k, h["error"], error))
        task.progress.connect(lambda event, t=task, k=key: self._deliver(t, k, h["progress"], event))
        task.partial.connect(lambda items, t=task, k=key: self._deliver(t, k, h["partial"], items))
        task.finished.connect(lambda t=task, k=key: self._on_finished(t, k, h["finished"]))
        return task

    def _alive(self) -> bool:
        return shiboken6.isValid(self) and not self._shut_down

    def _current(self, task: Task, key: Hashable | None) -> bool:
        return key is None or key not in self._pending  # a superseded task's results are dropped

    def _deliver(self, task: Task, key: Hashable | None, handler: Handler, value: Any) -> None:
        if handler is not None and self._alive() and self._current(task, key):
            handler(value)

    def _on_error(self, task: Task, key: Hashable | None, handler: Handler, error: TaskError) -> None:
        if not error.user_error and not _is_cancellation(error):
            log.error("%s\n%s", error.message, error.traceback)
        self._deliver(task, key, handler, error)

    def _on_finished(self, task: Task, key: Hashable | None, handler: Handler) -> None:
        self._tasks.discard(task)
        if key is not None and self._keyed.get(key) is task:
            del self._keyed[key]
        if handler is not None and self._alive():
            handler()
        if key is not None and key in self._pending and self._alive():
            self._launch(key, self._pending.pop(key))

    # --- stopping
    def cancel(self, key: Hashable | None = None) -> None:
        """Ask the task of ``key`` (or every task) to stop, and drop requests waiting for it."""
        if key is None:
            self._pending.clear()
            for task in self._tasks:
                task.cancel()
        else:
            self._pending.pop(key, None)
            if key in self._keyed:
                self._keyed[key].cancel()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything, drop later handlers, wait for the threads; True when all have ended."""
        self._shut_down = True
        self.cancel()
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for task in list(self._tasks):
            ok = task.wait(max(0, int(1000 * (deadline - time.monotonic())))) and ok
        return ok


__all__ = ["Task", "TaskError", "TaskGroup", "running_threads", "start_task", "task_error"]
