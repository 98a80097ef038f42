import pytest

from cvstudio.core.errors import DataError
from cvstudio.core.events import Progress, emit
from cvstudio.gui.workers import start_task


def _work(n, callbacks=None):
    for i in range(n):
        emit(callbacks, Progress("count", i + 1, n))
    return n * 2


def _fails():
    raise DataError("no images in /nowhere")


def test_task_returns_result_and_progress(qtbot):
    seen = []
    task = start_task(_work, 5, pass_callbacks=True)
    task.progress.connect(seen.append)
    with qtbot.waitSignal(task.result, timeout=5000) as blocker:
        pass
    assert blocker.args == [10]
    qtbot.waitUntil(lambda: task.done, timeout=5000)
    assert seen and seen[-1].fraction == 1.0  # the final event is never throttled away


def test_task_reports_user_error(qtbot):
    task = start_task(_fails)
    with qtbot.waitSignal(task.error, timeout=5000) as blocker:
        pass
    err = blocker.args[0]
    assert err.user_error and err.message == "no images in /nowhere"
    assert "DataError" in err.traceback
    qtbot.waitUntil(lambda: task.done, timeout=5000)
