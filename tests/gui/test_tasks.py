import time

from cvstudio.core.errors import DataError
from cvstudio.core.events import Progress, emit
from cvstudio.gui.tasks import start_task


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


def _count_until_stopped(n, control=None, on_partial=None, callbacks=None):
    """A core-style job: partial rows, progress, and the RunControl checked between steps."""
    import time

    done = 0
    for i in range(n):
        if control.stop_requested:
            break
        on_partial([i])
        emit(callbacks, Progress("count", i + 1, n))
        done += 1
        time.sleep(0.002)
    return done


def test_partial_results_arrive_in_order_before_the_result(qtbot):
    from cvstudio.gui.tasks import TaskGroup

    group = TaskGroup()
    seen, results = [], []
    group.start(_count_until_stopped, 50, pass_control=True, pass_partial=True, pass_callbacks=True,
                on_partial=seen.extend, on_result=lambda n: results.append((n, list(seen))))
    qtbot.waitUntil(lambda: group.idle, timeout=5000)
    assert results == [(50, list(range(50)))]  # every partial row was delivered before the result


def test_cancel_stops_through_the_run_control(qtbot):
    from cvstudio.gui.tasks import TaskGroup

    group = TaskGroup()
    results = []
    group.start(_count_until_stopped, 100_000, pass_control=True, pass_partial=True,
                on_partial=lambda _rows: group.cancel(), on_result=results.append)
    qtbot.waitUntil(lambda: group.idle, timeout=5000)
    assert results and results[0] < 100_000


def test_latest_wins_for_a_key(qtbot):
    from cvstudio.gui.tasks import TaskGroup

    group = TaskGroup()
    results, finished = [], []
    for n in (100_000, 200_000, 3):  # the second request is replaced by the third before it starts
        group.start(_count_until_stopped, n, key="job", pass_control=True, pass_partial=True,
                    on_result=results.append, on_finished=lambda: finished.append(1))
    assert group.busy("job")
    qtbot.waitUntil(lambda: group.idle, timeout=10_000)
    assert results == [3]  # the superseded task's result was dropped
    assert len(finished) == 2  # the first task and the last one ran; the middle request never did


def test_shutdown_waits_and_drops_later_handlers(qtbot):
    from cvstudio.gui.tasks import TaskGroup

    group = TaskGroup()
    results = []
    task = group.start(_count_until_stopped, 100_000, pass_control=True, pass_partial=True, on_result=results.append)
    assert group.shutdown(timeout_ms=5000) and task.done or task.wait(0)
    qtbot.waitUntil(lambda: group.idle, timeout=5000)
    assert results == [] and group.start(_work, 1) is None


def test_handlers_stop_when_the_owner_is_deleted(qtbot):
    from PySide6.QtWidgets import QWidget

    from cvstudio.gui.tasks import TaskGroup

    owner = QWidget()
    group = TaskGroup(owner)
    results = []
    task = group.start(_count_until_stopped, 200, pass_control=True, pass_partial=True, on_result=results.append)
    owner.deleteLater()
    qtbot.waitUntil(lambda: task.done, timeout=10_000)
    assert results == []


def test_the_leak_fixture_names_where_a_thread_was_started(monkeypatch):
    import threading

    from tests.gui.conftest import ThreadWatch

    watch = ThreadWatch()
    watch.watch(monkeypatch)
    release = threading.Event()
    pool_thread = threading.Thread(target=release.wait, name="left-behind")
    pool_thread.start()  # this line must be named in the report
    try:
        (problem,) = watch.leaks(0.05)
        assert "left-behind" in problem and "test_tasks.py" in problem and "pool_thread.start()" in problem
    finally:
        release.set()
        pool_thread.join()
    assert watch.leaks(1.0) == []


def _burst_then_quiet(on_partial, control):
    on_partial(["first"])
    on_partial(["held back"])  # within the coalescing interval: sent by the timer, not at the end
    while not control.stop_requested:
        time.sleep(0.01)
    return "done"


def test_a_result_held_back_by_coalescing_arrives_while_the_worker_is_quiet(qtbot):
    seen = []
    task = start_task(_burst_then_quiet, pass_partial=True, pass_control=True)
    task.partial.connect(seen.extend)
    qtbot.waitUntil(lambda: seen == ["first", "held back"], timeout=2000)
    assert not task.done  # it came from the timer, while the function still ran
    task.control.request_stop()
    qtbot.waitUntil(lambda: task.done, timeout=5000)


def test_update_interval_spaces_partial_results_and_loses_none(qtbot):
    from cvstudio.gui.tasks import TaskGroup

    group = TaskGroup()
    deliveries, seen, took = [], [], []

    def job(control=None, on_partial=None, callbacks=None):
        start = time.monotonic()
        for i in range(60):
            on_partial([i])
            time.sleep(0.005)
        took.append(time.monotonic() - start)

    group.start(job, pass_control=True, pass_partial=True, update_interval_s=0.15,
                on_partial=lambda items: (deliveries.append(len(items)), seen.extend(items)))
    qtbot.waitUntil(lambda: group.idle, timeout=10_000)
    assert seen == list(range(60))
    # the first rows at once, then at most one delivery per interval, and the rest when the job returns
    assert len(deliveries) <= 2 + took[0] / 0.15
