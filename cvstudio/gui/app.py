"""Starting the GUI: ``cvstudio`` / ``cvstudio gui [CHECKPOINT]`` call :func:`run_app`.

Nothing here (or in what the window imports before it is shown) imports
torch, torchvision or pyqtgraph: the window is painted first, then pages are
built and torch is imported in a worker (see main_window and startup).

Benchmark hooks (benchmarks/gui_launch.py): with CVSTUDIO_BENCH_FIRST_PAINT=1
the app prints ``first_paint_s=<seconds>`` after its first paint and quits;
with CVSTUDIO_BENCH_READY=1 it prints ``first_paint_s=`` and then ``ready_s=``
(torch loaded, dataset and model set) and quits. Seconds count from
CVSTUDIO_LAUNCH_T0 (a ``time.time()`` set by the launching process), or from
the import of this module when that is unset.
"""

from __future__ import annotations

import logging
import os
import sys
import time

_IMPORTED_AT = time.time()

log = logging.getLogger(__name__)


def _launch_t0() -> float:
    try:
        return float(os.environ["CVSTUDIO_LAUNCH_T0"])
    except (KeyError, ValueError):
        return _IMPORTED_AT


def _bench_print(name: str, at: float | None = None) -> None:
    print(f"{name}={(at or time.time()) - _launch_t0():.3f}", flush=True)


def prefer_wayland(env: dict[str, str] | os._Environ = os.environ) -> None:
    """On a Wayland session use Qt's wayland plugin, falling back to X11 (XWayland) when it cannot load.

    An explicit QT_QPA_PLATFORM (offscreen tests, a user's choice) is left alone.
    """
    if env.get("WAYLAND_DISPLAY") and not env.get("QT_QPA_PLATFORM"):
        env["QT_QPA_PLATFORM"] = "wayland;xcb"


def paint_on_the_gui_thread_only(env: dict[str, str] | os._Environ = os.environ) -> None:
    """Keep Qt from sharing large fills and image conversions with its own pool of GUI threads.

    The window's CPUs belong to training and classification, which keep them
    busy; a paint handed to Qt's pool then waits for a pool thread that must
    first take a core from a worker. Classifying 1,000 small images from the
    Classify page woke those threads 150-470 times and preempted the GUI
    thread 85-450 times; without the pool, none and 3-12 times, and the page
    took ~5 % less time (``benchmarks/classify_speed.py``). Qt reads the
    variable once, when it first needs the pool: set it before the
    application paints. A value already set (even empty) is left alone.
    """
    env.setdefault("QT_NO_GUI_THREADPOOL", "1")


def create_application(argv: list[str] | None = None):  # noqa: ANN201 - QApplication
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        prefer_wayland()
        paint_on_the_gui_thread_only()

    import cvstudio
    from cvstudio.gui import settings as prefs

    QApplication.setOrganizationName(prefs.ORGANIZATION)
    QApplication.setApplicationName(prefs.APPLICATION)
    QApplication.setApplicationVersion(cvstudio.__version__)
    QApplication.setDesktopFileName("cvstudio")
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    return app


def _close_on_interrupt(window) -> None:  # noqa: ANN001
    """Ctrl+C in the terminal closes the window the normal way (asking first if a run is training)."""
    import signal

    from PySide6.QtCore import QTimer

    def on_sigint(_signum, _frame):  # noqa: ANN001
        QTimer.singleShot(0, window.close)

    try:
        signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        return
    # Python runs signal handlers only between bytecodes; a slow no-op timer lets it in while Qt waits.
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def run_app(checkpoint_path: str | None = None, project_dir: str | None = None) -> int:
    """Open the main window (optionally with a checkpoint or a project folder) and run until it is closed."""
    app = create_application()

    from cvstudio.gui import settings as prefs
    from cvstudio.gui.errors import install_exception_hooks, setup_logging
    from cvstudio.gui.main_window import MainWindow
    from cvstudio.gui.theme import apply_theme

    setup_logging()
    install_exception_hooks()
    settings = prefs.make_settings()
    apply_theme(str(settings.value(prefs.THEME, "system")))
    window = MainWindow(settings=settings, checkpoint_path=checkpoint_path, project_dir=project_dir)

    bench_paint = os.environ.get("CVSTUDIO_BENCH_FIRST_PAINT") == "1"
    bench_ready = os.environ.get("CVSTUDIO_BENCH_READY") == "1"
    if bench_paint or bench_ready:
        watcher = window._first_paint
        watcher.painted.connect(lambda: _bench_print("first_paint_s", watcher.painted_at))
        if bench_paint:
            # quit before the pages and torch are loaded: only the first paint is measured
            window._first_paint.painted.disconnect(window._on_first_paint)
            window._first_paint.painted.connect(app.quit)
        else:
            window.became_ready.connect(lambda: (_bench_print("ready_s"), window.close()))

    _close_on_interrupt(window)
    window.show()
    log.info("CV Studio started")
    code = app.exec()
    _wait_for_workers(app)
    return code


def _wait_for_workers(app) -> None:  # noqa: ANN001
    """A loading worker cannot be cancelled: let every one end (and its finish be handled) before exit."""
    from cvstudio.gui.tasks import running_threads

    while running_threads():
        for thread in list(running_threads()):
            thread.wait(50)
        app.processEvents()
