"""Logging and error reporting for the GUI: nothing unexpected may kill the app.

- :func:`setup_logging` writes to a rotating ``cvstudio.log`` in the user log
  folder (``core.paths.log_dir()``) and routes Qt's own warnings there too.
- :func:`install_exception_hooks` replaces ``sys.excepthook`` and
  ``threading.excepthook``: an uncaught exception in a slot, a timer or any
  thread is logged with its traceback and shown in a dialog whose "Show
  Details..." holds the traceback; the event loop keeps running.
- :func:`show_task_error` shows a worker's :class:`~cvstudio.gui.tasks.TaskError`:
  a user error (bad input) as its plain message, anything else as a message
  plus the traceback.

Dialogs are opened window-modal and non-blocking (``QMessageBox.open``) so an
error raised inside a slot never starts a nested event loop; at most a few are
open at a time, and the same message is not stacked twice.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, QtMsgType, Signal, Slot, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger("cvstudio")

LOG_FILE_NAME = "cvstudio.log"
LOG_MAX_BYTES = 2 * 1024 * 1024  # per file, before it rotates
LOG_BACKUPS = 3  # cvstudio.log.1 .. .3 are kept
MAX_OPEN_DIALOGS = 3  # an exception in a paint handler must not bury the window in dialogs

_open_dialogs: list[QMessageBox] = []
_log_path: Path | None = None


def log_path() -> Path | None:
    """The log file in use, once :func:`setup_logging` has run."""
    return _log_path


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Log to ``log_dir()/cvstudio.log`` (rotating) and stderr; returns the file or None if unwritable."""
    global _log_path
    from cvstudio.core import paths

    root = logging.getLogger()
    for handler in list(root.handlers):  # called again (tests, a second window): replace ours, not stack them
        if getattr(handler, "_cvstudio", False):
            root.removeHandler(handler)
            handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s")
    _log_path = None
    try:
        folder = paths.log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LOG_FILE_NAME
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8", delay=True
        )
        file_handler.setFormatter(fmt)
        file_handler._cvstudio = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
        _log_path = path
    except OSError as exc:  # a read-only home must not stop the app
        print(f"cvstudio: cannot write the log file: {exc}", file=sys.stderr)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(fmt)
    console._cvstudio = True  # type: ignore[attr-defined]
    root.addHandler(console)
    root.setLevel(level)
    qInstallMessageHandler(_qt_message_handler)
    return _log_path


_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def _qt_message_handler(mode: QtMsgType, context: Any, message: str) -> None:
    logging.getLogger("cvstudio.qt").log(_QT_LEVELS.get(mode, logging.WARNING), "%s", message)


# --- dialogs ----------------------------------------------------------------------------


def _dialog_parent(parent: QWidget | None) -> QWidget | None:
    if parent is not None:
        return parent
    app = QApplication.instance()
    return app.activeWindow() if app is not None else None  # type: ignore[union-attr]


def open_error_dialogs() -> list[QMessageBox]:
    """The error dialogs now open (tests look at them)."""
    return [box for box in _open_dialogs if box.isVisible()]


def show_error(
    parent: QWidget | None,
    title: str,
    message: str,
    details: str | None = None,
    *,
    icon: QMessageBox.Icon = QMessageBox.Icon.Critical,
    informative: str | None = None,
) -> QMessageBox | None:
    """Open a non-blocking error dialog; returns it, or None when it was not opened (duplicate or too many)."""
    app = QApplication.instance()
    if app is None or threading.current_thread() is not threading.main_thread():
        log.error("%s: %s", title, message)
        return None
    for box in list(_open_dialogs):
        if not box.isVisible():
            _open_dialogs.remove(box)
        elif box.text() == message:
            return None  # the same problem is already on screen
    if len(_open_dialogs) >= MAX_OPEN_DIALOGS:
        return None
    box = QMessageBox(_dialog_parent(parent))
    box.setObjectName("errorDialog")
    box.setIcon(icon)
    box.setWindowTitle(title)
    box.setText(message)
    if informative:
        box.setInformativeText(informative)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.finished.connect(lambda _result, b=box: _forget_dialog(b))
    _open_dialogs.append(box)
    box.open()
    return box


def _forget_dialog(box: QMessageBox) -> None:
    if box in _open_dialogs:
        _open_dialogs.remove(box)
    box.deleteLater()


def show_task_error(parent: QWidget | None, error: Any, title: str = "CV Studio") -> QMessageBox | None:
    """Show a worker's TaskError: plain message for user errors, message and traceback otherwise."""
    if error.user_error:
        log.info("%s: %s", title, error.message)
        return show_error(parent, title, _sentence(error.message), icon=QMessageBox.Icon.Warning)
    log.error("%s: %s\n%s", title, error.message, error.traceback)
    return show_error(
        parent,
        title,
        _sentence(error.message),
        error.traceback,
        informative=_bug_hint(),
    )


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "Something went wrong."
    return text[0].upper() + text[1:]


def _bug_hint() -> str:
    where = f" The log is in {_log_path}." if _log_path else ""
    return "This is a bug in CV Studio; the app keeps running." + where


# --- uncaught exceptions ----------------------------------------------------------------


class _ExceptionRelay(QObject):
    """Lives in the GUI thread; exceptions from any thread reach the dialog through a queued signal."""

    exception_caught = Signal(str, str)  # message, traceback

    @Slot(str, str)
    def _on_self_exception_caught(self, message: str, tb: str) -> None:
        show_error(None, "Unexpected error", message, tb, informative=_bug_hint())


_relay: _ExceptionRelay | None = None
_previous_hooks: tuple[Any, Any] | None = None


def _report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None, where: str) -> None:
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    log.error("uncaught exception in %s:\n%s", where, text)
    if _relay is not None:
        _relay.exception_caught.emit(_sentence(f"{exc_type.__name__}: {exc}"), text)


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        app = QApplication.instance()
        if app is not None:
            app.quit()
        return
    _report(exc_type, exc, tb, threading.current_thread().name)


def _threading_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    where = args.thread.name if args.thread is not None else "a thread"
    _report(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback, where)


def install_exception_hooks() -> None:
    """Log and show uncaught exceptions instead of printing them (call once the QApplication exists)."""
    global _relay, _previous_hooks
    if _relay is None:
        _relay = _ExceptionRelay()
        _relay.exception_caught.connect(_relay._on_self_exception_caught)
    if _previous_hooks is None:
        _previous_hooks = (sys.excepthook, threading.excepthook)
    sys.excepthook = _excepthook
    threading.excepthook = _threading_excepthook


def uninstall_exception_hooks() -> None:
    """Restore the hooks that were there before (tests)."""
    global _previous_hooks
    if _previous_hooks is not None:
        sys.excepthook, threading.excepthook = _previous_hooks
        _previous_hooks = None
