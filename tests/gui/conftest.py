import threading
import time
import traceback
import weakref

import pytest

pytest.importorskip("PySide6")

LEAK_WAIT_S = 10.0  # a thread still running this long after its test has leaked


class ThreadWatch:
    """Records every thread started while it watches, with the stack that started it (napari's idea).

    QThreads of tasks are recorded by ``cvstudio.gui.tasks`` itself
    (``running_threads()``: thread -> origin); Python threads (a decode pool's)
    by wrapping ``threading.Thread.start`` while watching.
    """

    def __init__(self):
        self.before = set(threading.enumerate())
        self.origins: weakref.WeakKeyDictionary[threading.Thread, str] = weakref.WeakKeyDictionary()
        self._real_start = threading.Thread.start

    def watch(self, monkeypatch) -> None:
        origins, real_start = self.origins, self._real_start

        def start(thread, *args, **kwargs):
            origins[thread] = "".join(traceback.format_stack(limit=8)[:-1])
            return real_start(thread, *args, **kwargs)

        monkeypatch.setattr(threading.Thread, "start", start)

    def _python_threads(self):
        return [t for t in threading.enumerate() if t not in self.before and t.is_alive() and t in self.origins]

    def leaks(self, wait_s: float, wait=time.sleep) -> list[str]:
        """What is still running after up to ``wait_s`` seconds, each with where it was started."""
        from cvstudio.gui.tasks import running_threads

        deadline = time.monotonic() + wait_s
        while (running_threads() or self._python_threads()) and time.monotonic() < deadline:
            wait(0.02)
        problems = [f"QThread {thread.objectName()} started at:\n{origin}" for thread, origin in running_threads().items()]
        problems += [f"thread {t.name} started at:\n{self.origins.get(t, '?')}" for t in self._python_threads()]
        return problems


@pytest.fixture(autouse=True)
def _dangling_threads(qtbot, monkeypatch):
    """Fail a test that leaves a task's QThread or any thread it started (a decode pool's) running."""
    watch = ThreadWatch()
    watch.watch(monkeypatch)
    yield
    monkeypatch.undo()
    problems = watch.leaks(LEAK_WAIT_S, wait=lambda s: qtbot.wait(int(s * 1000)))
    assert not problems, "test left threads running:\n" + "\n".join(problems)
