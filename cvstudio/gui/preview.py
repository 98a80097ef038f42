"""Open one page alone, for development (Orange's ``WidgetPreview`` idea).

``python -m cvstudio.gui.pages.data`` calls :func:`run_preview`, which does
what the main window does, in miniature: paint the page at once, then let
:class:`~cvstudio.gui.startup.StartupLoader` import torch and the core in a
worker, mark the state ready, choose the convnet preset and load the built-in
dataset. ``--dark`` / ``--light`` pick the palette (default: follow the system).
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from PySide6.QtWidgets import QApplication, QWidget

from cvstudio.gui.state import AppState
from cvstudio.gui.startup import StartupLoader
from cvstudio.gui.theme import apply_theme


def run_preview(make_page: Callable[[AppState], QWidget], title: str, size: tuple[int, int] = (1240, 780)) -> int:
    """Show ``make_page(state)`` in its own window until it is closed; returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv)
    apply_theme("dark" if "--dark" in sys.argv else "light" if "--light" in sys.argv else "system", app)
    state = AppState()
    state.status_message.connect(lambda text: print(text, file=sys.stderr))
    page = make_page(state)
    page.setWindowTitle(f"CV Studio — {title} (preview)")
    page.resize(*size)
    page.show()
    loader = StartupLoader(state)
    loader.failed.connect(lambda error: print(error.traceback, file=sys.stderr))
    loader.start()
    code = app.exec()
    if loader.task is not None:
        loader.task.wait()
    page.shutdown()  # cvstudio.gui.pages.base.Page: waits for the page's workers
    return code


def run_checkpoint_preview(
    page_class: Callable[[AppState], QWidget], title: str, argv: Sequence[str] | None = None
) -> int:
    """``python -m cvstudio.gui.pages.X [checkpoint]``: the page alone, opening the checkpoint through the app's
    one door (``AppState.open_checkpoint``, which applies it once torch is in)."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("--")]

    def make_page(state: AppState) -> QWidget:
        page = page_class(state)
        if args:
            state.open_checkpoint(args[0])
        return page

    return run_preview(make_page, title)
