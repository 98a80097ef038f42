import threading
import time
import traceback
import weakref

import pytest

pytest.importorskip("PySide6")

LEAK_WAIT_S = 10.0  # a thread still running this long after its test has leaked


@pytest.fixture(autouse=True)
def _dangling_threads(qtbot, monkeypatch):
    """Fail a test that leaves a task's QThread or any thread it started (a decode pool) running.

    napari's ``_dangling_qthreads`` idea: every thread started during the test
    is recorded with the stack that started it, and the failure names it.
    """
    from cvstudio.gui.tasks import running_threads

    before = set(threading.enumerate())
    origins: weakref.WeakKeyDictionary[threading.Thread, str] = weakref.WeakKeyDictionary()
    real_start = threading.Thread.start

    def start(self, *args, **kwargs):
        origins[self] = "".join(traceback.format_stack(limit=8)[:-1])
        return real_start(self, *args, **kwargs)

    monkeypatch.setattr(threading.Thread, "start", start)
    yield
    monkeypatch.undo()

    def leaked_python_threads():
        return [t for t in threading.enumerate() if t not in before and t.is_alive() and t in origins]

    deadline = time.monotonic() + LEAK_WAIT_S
    while (running_threads() or leaked_python_threads()) and time.monotonic() < deadline:
        qtbot.wait(20)
    problems = [f"QThread {thread.objectName()} started at:\n{origin}" for thread, origin in running_threads().items()]
    problems += [f"thread {t.name} started at:\n{origins.get(t, '?')}" for t in leaked_python_threads()]
    assert not problems, "test left threads running:\n" + "\n".join(problems)
