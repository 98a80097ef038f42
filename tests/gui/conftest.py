import pytest

pytest.importorskip("PySide6")


@pytest.fixture(autouse=True)
def _no_leaked_threads(qtbot):
    """Fail a test that leaves a worker thread running (STYLE.md: never leak a QThread)."""
    yield
    from cvstudio.gui.workers import running_threads

    if running_threads():
        qtbot.waitUntil(lambda: not running_threads(), timeout=10_000)
    assert not running_threads(), f"test left threads running: {running_threads()}"
