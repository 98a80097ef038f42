"""The main window: a sidebar of pages, menus, a status bar, settings and shutdown.

Pages are listed once in :data:`PAGES` as ``(title, icon, factory)``; a
factory is ``"module:Class"`` (imported when the page is built) or a callable
taking the AppState. So the window can be painted before torch or pyqtgraph
are imported (DESIGN.md: first paint within 1 s), the pages are built right
after the first paint, while a worker imports torch.
"""

from __future__ import annotations

import gc
import importlib
import logging
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QEvent, QModelIndex, QObject, QRect, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
    QPainter,
    QPalette,
    QUndoGroup,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

import cvstudio
from cvstudio.gui import dialogs
from cvstudio.gui import settings as prefs
from cvstudio.gui.errors import log_path, show_task_error
from cvstudio.gui.project_menu import ProjectMenu
from cvstudio.gui.projects import ProjectController
from cvstudio.gui.startup import StartupLoader, TorchInfo
from cvstudio.gui.state import AppState
from cvstudio.gui.theme import THEME_LABELS, THEMES, apply_theme, mix
from cvstudio.gui.widgets.icons import app_icon, line_icon
from cvstudio.gui.widgets.labels import HintLabel, title_font
from cvstudio.gui.tasks import Task, TaskError

log = logging.getLogger(__name__)

DEFAULT_SIZE = QSize(1280, 800)
MIN_SIZE = QSize(1024, 640)
SIDEBAR_WIDTH = 148
CHECKPOINT_SUFFIXES = (".safetensors",)


@dataclass(frozen=True)
class PageEntry:
    title: str
    icon: str  # a name known to widgets.icons.line_icon
    factory: str | Callable[[AppState], QWidget]  # "package.module:Class" or a callable


PAGES: list[PageEntry] = [
    PageEntry("Data", "data", "cvstudio.gui.pages.data:DataPage"),
    PageEntry("Model", "model", "cvstudio.gui.pages.model:ModelPage"),
    PageEntry("Train", "train", "cvstudio.gui.pages.train:TrainPage"),
    PageEntry("Evaluate", "evaluate", "cvstudio.gui.pages.evaluate:EvaluatePage"),
    PageEntry("Inspect", "inspect", "cvstudio.gui.pages.inspect:InspectPage"),
    PageEntry("Classify", "classify", "cvstudio.gui.pages.classify:ClassifyPage"),
    PageEntry("Runs", "runs", "cvstudio.gui.pages.runs:RunsPage"),
    PageEntry("Sweeps", "runs", "cvstudio.gui.pages.sweeps:SweepsPage"),
]


def build_page(entry: PageEntry, state: AppState) -> QWidget:
    factory = entry.factory
    if isinstance(factory, str):
        module_name, _, class_name = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), class_name)
    return factory(state)  # type: ignore[operator]


class _PagePlaceholder(QWidget):
    """What a page shows until it is built right after the first paint."""

    def __init__(self, title: str):
        super().__init__()
        layout = QVBoxLayout(self)
        heading = QLabel(title)
        heading.setFont(title_font(heading.font()))
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = HintLabel("Starting CV Studio and loading PyTorch…")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(1)
        layout.addWidget(heading)
        layout.addWidget(hint)
        layout.addStretch(2)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:  # the Page contract: nothing runs here
        return True


class _SidebarDelegate(QStyledItemDelegate):
    """Draws a page entry: icon and title, the current page on a rounded highlight."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        pal = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        rect = option.rect.adjusted(2, 2, -2, -2)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        if selected:
            painter.setBrush(pal.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(rect, 6, 6)
        elif hovered:
            painter.setBrush(mix(pal.color(QPalette.ColorRole.Window), pal.color(QPalette.ColorRole.WindowText), 0.12))
            painter.drawRoundedRect(rect, 6, 6)
        icon: QIcon = index.data(Qt.ItemDataRole.DecorationRole)
        size = option.decorationSize
        icon_rect = QRect(rect.left() + 10, rect.center().y() - size.height() // 2 + 1, size.width(), size.height())
        if icon is not None:
            icon.paint(painter, icon_rect, Qt.AlignmentFlag.AlignCenter,
                       QIcon.Mode.Selected if selected else QIcon.Mode.Normal)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.WindowText
        painter.setPen(pal.color(role))
        painter.setFont(option.font)
        text_rect = rect.adjusted(icon_rect.width() + 20, 0, -6, 0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         index.data(Qt.ItemDataRole.DisplayRole))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(SIDEBAR_WIDTH - 16, 44)


class _Sidebar(QListWidget):
    """The page list on the left; transparent, drawn on a :class:`_SidebarPanel`.

    No style sheet and no explicit palette: both would freeze the colours of
    the theme the widget was created with.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setIconSize(QSize(24, 24))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setUniformItemSizes(True)
        self.setMouseTracking(True)
        self.setItemDelegate(_SidebarDelegate(self))
        self.viewport().setAutoFillBackground(False)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            for i in range(self.count()):
                item = self.item(i)
                item.setIcon(line_icon(item.data(Qt.ItemDataRole.UserRole), self.palette()))


class _SidebarPanel(QWidget):
    """Paints the sidebar's background a shade off the window colour, whatever the theme."""

    def __init__(self, sidebar: _Sidebar):
        super().__init__()
        self.setFixedWidth(SIDEBAR_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 10, 8, 10)
        layout.addWidget(sidebar)

    def paintEvent(self, event: Any) -> None:
        pal = self.palette()
        painter = QPainter(self)
        painter.fillRect(self.rect(), mix(pal.color(QPalette.ColorRole.Window), pal.color(QPalette.ColorRole.WindowText), 0.05))
        painter.setPen(mix(pal.color(QPalette.ColorRole.Window), pal.color(QPalette.ColorRole.WindowText), 0.14))
        painter.drawLine(self.width() - 1, 0, self.width() - 1, self.height())
        painter.end()


class _FirstPaintWatcher(QObject):
    """Reports once, right after the window's first paint has been processed."""

    painted = Signal()

    def __init__(self, window: QWidget):
        super().__init__(window)
        self._window = window
        self._seen = False
        self.painted_at: float | None = None  # time.time() once the first paint has been processed
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if not self._seen and obj is self._window and event.type() == QEvent.Type.Paint:
            self._seen = True
            self._window.removeEventFilter(self)
            QTimer.singleShot(0, self._on_paint_done)  # after the paint and the flush to the screen
        return False

    def _on_paint_done(self) -> None:
        self.painted_at = time.time()
        self.painted.emit()


class MainWindow(QMainWindow):
    became_ready = Signal()  # torch loaded, a dataset and a model spec set: Train can start
    checkpoint_opened = Signal(object)  # Path of a checkpoint now loaded as the current model

    def __init__(
        self,
        state: AppState | None = None,
        settings: QSettings | None = None,
        *,
        checkpoint_path: str | None = None,
        load_data: bool = True,
        pages: list[PageEntry] | None = None,
        project_dir: str | Path | None = None,
    ):
        super().__init__()
        self.state = state or AppState(self)
        self.settings = settings or prefs.make_settings()
        self.page_entries = list(pages if pages is not None else PAGES)
        self.pages: dict[str, QWidget] = {}
        self.startup = StartupLoader(self.state, self, load_data=load_data)
        self._pending_checkpoint: str | None = checkpoint_path
        self._open_tasks: list[Task] = []
        self._pages_built = False
        self._ready_emitted = False
        self._quit_after_stop = False
        self._device_text = "Device: loading PyTorch…"
        self.torch_info: TorchInfo | None = None
        self.experiments_panel: Any = None  # Help > Experiments, made when first opened

        self.setWindowTitle("CV Studio")
        self.setWindowIcon(app_icon())
        self.setMinimumSize(MIN_SIZE)
        self.setAcceptDrops(True)
        self._build_central()
        self._build_status_bar()
        self._build_menus()
        self._restore_settings()
        self.projects = ProjectController(self.state, self)
        self.projects.current_page = lambda: self.page_entries[self.stack.currentIndex()].title
        self.project_menu = ProjectMenu(self, self._file_menu, self._project_items_before)
        self.project_menu.open_start_project(project_dir)

        self.state.status_message.connect(self._on_state_status_message)
        self.state.training_changed.connect(self._on_state_training_changed)
        self.state.model_changed.connect(self._on_state_model_changed)
        self.state.checkpoint_opened.connect(self._on_state_checkpoint_opened)
        self.state.torch_ready.connect(self._on_state_torch_ready)
        self.state.dataset_changed.connect(self._on_state_inputs_changed)
        self.state.spec_changed.connect(self._on_state_inputs_changed)
        self.startup.torch_loaded.connect(self._on_startup_torch_loaded)
        self.startup.failed.connect(self._on_startup_failed)
        self.startup.finished.connect(self._on_startup_finished)
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self._on_style_hints_color_scheme_changed)
        self._first_paint = _FirstPaintWatcher(self)
        self._first_paint.painted.connect(self._on_first_paint)
        self._set_busy(True, "Starting…")

    # --- building ----------------------------------------------------------------------

    def _build_central(self) -> None:
        self.sidebar = _Sidebar()
        self.stack = QStackedWidget()
        for entry in self.page_entries:
            item = QListWidgetItem(line_icon(entry.icon, self.palette()), entry.title)
            item.setData(Qt.ItemDataRole.UserRole, entry.icon)
            self.sidebar.addItem(item)
            self.stack.addWidget(_PagePlaceholder(entry.title))
        self.sidebar.currentRowChanged.connect(self._on_sidebar_current_row_changed)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(_SidebarPanel(self.sidebar))
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(True)
        self.activity_label = QLabel()
        self.activity_label.setTextFormat(Qt.TextFormat.PlainText)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedSize(90, 12)
        self.busy_bar.setTextVisible(False)
        self.device_label = QLabel(self._device_text)
        self.device_label.setToolTip("The device 'Automatic' trains on")
        bar.addWidget(self.busy_bar)
        bar.addWidget(self.activity_label, 1)
        bar.addPermanentWidget(self.device_label)

    def _build_menus(self) -> None:
        style = self.style()
        menu = self.menuBar()

        file_menu = menu.addMenu("&File")
        self.open_action = QAction(style.standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton), "&Open checkpoint…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self._on_open_action_triggered)
        self.save_as_action = QAction(
            style.standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton), "&Save checkpoint as…", self
        )
        self.save_as_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.save_as_action.setEnabled(False)
        self.save_as_action.setToolTip("Save a copy of the current model's checkpoint")
        self.save_as_action.triggered.connect(self._on_save_as_action_triggered)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._on_recent_menu_about_to_show)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        file_menu.insertAction(self.recent_menu.menuAction(), self.open_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addSeparator()
        self._file_menu = file_menu
        self._project_items_before = file_menu.addSeparator()  # gui/project_menu.py inserts the project items here
        self.export_menu = file_menu.addMenu("&Export model")
        self.export_menu.setToolTip("Export the current model; each export is checked against the model before it is kept")
        for label, fmt in (("PyTorch code (.py)…", "python"), ("TorchScript (.pt)…", "torchscript"), ("ONNX (.onnx)…", "onnx")):
            action = self.export_menu.addAction(label)
            action.triggered.connect(lambda _checked=False, f=fmt: self._on_export_action_triggered(f))
        self.export_menu.setEnabled(False)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self._on_recent_menu_about_to_show()

        # Edit: undo/redo of the page on screen (pages with an ``undo_stack`` join this group as they are built)
        edit_menu = menu.addMenu("&Edit")
        self.undo_group = QUndoGroup(self)
        self.undo_action = self.undo_group.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.undo_group.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)

        view_menu = menu.addMenu("&View")
        self.page_actions: list[QAction] = []
        group = QActionGroup(self)
        for i, entry in enumerate(self.page_entries):
            action = QAction(line_icon(entry.icon, self.palette()), entry.title, self, checkable=True)
            if i < 9:
                action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _checked=False, row=i: self.show_page(row))
            group.addAction(action)
            view_menu.addAction(action)
            self.page_actions.append(action)
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_actions: dict[str, QAction] = {}
        theme_group = QActionGroup(self)
        for name in THEMES:
            action = QAction(THEME_LABELS[name], self, checkable=True)
            action.triggered.connect(lambda _checked=False, n=name: self.set_theme(n))
            theme_group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[name] = action

        help_menu = menu.addMenu("&Help")
        # the cheatsheet's experiments: Help > Experiments > one of them sets it up (three clicks from start-up)
        self.experiments_action = QAction("&Experiments…", self)
        self.experiments_action.setToolTip("The cheatsheet's experiments, each set up with one click")
        self.experiments_action.triggered.connect(lambda _checked=False: self.show_experiments())
        help_menu.addAction(self.experiments_action)
        self.experiments_menu = help_menu.addMenu("Set up an e&xperiment")
        from cvstudio.core.experiments import EXPERIMENTS

        for number, experiment in enumerate(EXPERIMENTS, start=1):
            action = self.experiments_menu.addAction(f"{number}. {experiment.title}")
            action.triggered.connect(lambda _checked=False, key=experiment.key: self.show_experiments(key, set_up=True))
        help_menu.addSeparator()
        shortcuts = QAction("&Keyboard shortcuts", self)
        shortcuts.setShortcut(QKeySequence("F1"))
        shortcuts.triggered.connect(self.show_shortcuts)
        about = QAction(app_icon(), "&About CV Studio", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self.show_about)
        help_menu.addAction(shortcuts)
        help_menu.addSeparator()
        help_menu.addAction(about)

    def show_experiments(self, key: str | None = None, set_up: bool = False) -> Any:
        """Open the experiments panel (one per window), on ``key``; with ``set_up`` set that experiment up."""
        from cvstudio.gui.experiments_panel import ExperimentsPanel

        if self.experiments_panel is None:
            self.experiments_panel = ExperimentsPanel(self.state, self._load_experiment_data,
                                                      self._show_experiment_page, self)
        panel = self.experiments_panel
        panel.show()
        panel.raise_()
        if key is not None:
            panel.select(key)
            if set_up:
                panel.set_up()
        return panel

    def _load_experiment_data(self, config: Any) -> bool:
        data = self.page("Data")
        if data is None or not hasattr(data, "load"):
            return False
        return bool(data.load(config))

    def _show_experiment_page(self, title: str, focus: str) -> None:
        if title in [e.title for e in self.page_entries]:
            self.show_page(self._page_index(title))
        page = self.page(title)
        if focus == "playground" and page is not None and hasattr(page, "tabs") and hasattr(page, "playground"):
            page.tabs.setCurrentWidget(page.playground)

    def _restore_settings(self) -> None:
        geometry = self.settings.value(prefs.GEOMETRY)
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(DEFAULT_SIZE)
            screen = QApplication.primaryScreen()
            if screen is not None:
                area = screen.availableGeometry()
                size = DEFAULT_SIZE.boundedTo(area.size())
                self.resize(size)
                self.move(area.center() - self.rect().center())
        theme = str(self.settings.value(prefs.THEME, "system"))
        self.theme = theme if theme in THEMES else "system"
        self.theme_actions[self.theme].setChecked(True)
        last = str(self.settings.value(prefs.LAST_PAGE, self.page_entries[0].title))
        titles = [e.title for e in self.page_entries]
        self.show_page(titles.index(last) if last in titles else 0)

    def save_settings(self) -> None:
        self.settings.setValue(prefs.GEOMETRY, self.saveGeometry())
        self.settings.setValue(prefs.THEME, self.theme)
        self.settings.setValue(prefs.LAST_PAGE, self.page_entries[self.stack.currentIndex()].title)
        self.settings.sync()

    # --- start-up -----------------------------------------------------------------------

    def _on_first_paint(self) -> None:
        self.start()

    def start(self) -> None:
        """Build the pages and start importing torch (done once, after the first paint)."""
        if self._pages_built:
            return
        self._pages_built = True
        self.startup.start()  # a worker imports torch while the pages are built here
        self.build_pages()
        if self._pending_checkpoint:
            path, self._pending_checkpoint = self._pending_checkpoint, None
            self.open_checkpoint(path)

    def build_pages(self) -> None:
        current = self.stack.currentIndex()
        order = [current] + [i for i in range(len(self.page_entries)) if i != current]
        for i in order:  # the page on screen first
            entry = self.page_entries[i]
            if entry.title in self.pages:
                continue
            try:
                page = build_page(entry, self.state)
            except Exception as exc:  # noqa: BLE001 - a broken page must not take the window down
                log.exception("could not build the %s page", entry.title)
                page = _PagePlaceholder(entry.title)
                page.findChild(HintLabel).setText(f"This page could not be opened: {type(exc).__name__}: {exc}")
            self.pages[entry.title] = page
            if entry.title == "Train" and hasattr(page, "run_finished"):
                self.projects.attach_train_page(page)
            attach_projects = getattr(page, "attach_projects", None)
            if attach_projects is not None:
                attach_projects(self.projects)
            if hasattr(page, "runs_added"):  # a sweep's trials are runs of the project: list them
                page.runs_added.connect(lambda: getattr(self.pages.get("Runs"), "refresh", lambda: None)())
            undo_stack = getattr(page, "undo_stack", None)
            if undo_stack is not None:
                self.undo_group.addStack(undo_stack)
            data_page_requested = getattr(page, "data_page_requested", None)
            if data_page_requested is not None:
                data_page_requested.connect(lambda: self.show_page(self._page_index("Data")))
            old = self.stack.widget(i)
            self.stack.insertWidget(i, page)
            self.stack.removeWidget(old)
            old.deleteLater()
        self.stack.setCurrentIndex(current)

    def page(self, title: str) -> QWidget | None:
        return self.pages.get(title)

    def _page_index(self, title: str) -> int:
        return next(i for i, entry in enumerate(self.page_entries) if entry.title == title)

    @property
    def train_page(self) -> Any:
        return self.pages.get("Train")

    @property
    def is_ready(self) -> bool:
        s = self.state
        return s.torch_loaded and s.dataset is not None and s.spec is not None

    def _on_state_inputs_changed(self, *_: Any) -> None:
        if not self._ready_emitted and self.is_ready:
            self._ready_emitted = True
            self.became_ready.emit()

    def _on_startup_torch_loaded(self, info: TorchInfo) -> None:
        self.torch_info = info
        self._device_text = f"Device: {info.device_label}"
        self.device_label.setText(self._device_text)
        self.device_label.setToolTip(f"'Automatic' trains on {info.device} · PyTorch {info.torch_version}"
                                     + (f" · CUDA {info.cuda_version}" if info.cuda_version else " · CPU build"))

    def _on_startup_failed(self, error: TaskError) -> None:
        show_task_error(self, error, "Starting CV Studio")

    def _on_startup_finished(self) -> None:
        gc.freeze()  # torch, the core and the pages live until exit: later full collections skip them (faster)
        self._set_busy(bool(self._open_tasks))
        self._on_state_inputs_changed()

    def _on_state_torch_ready(self) -> None:
        self._on_state_inputs_changed()

    # --- pages and theme ------------------------------------------------------------------

    def show_page(self, index: int) -> None:
        if 0 <= index < self.stack.count():
            self.sidebar.setCurrentRow(index)

    def _on_sidebar_current_row_changed(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        self.page_actions[row].setChecked(True)
        if hasattr(self, "projects"):
            self.projects.schedule_save()  # the page on screen is a UI choice the project keeps

    def set_theme(self, name: str) -> None:
        self.theme = name if name in THEMES else "system"
        apply_theme(self.theme)
        self.theme_actions[self.theme].setChecked(True)
        self.settings.setValue(prefs.THEME, self.theme)

    def _on_style_hints_color_scheme_changed(self, _scheme: Any) -> None:
        if self.theme == "system":  # the desktop switched between light and dark
            apply_theme("system")

    # --- status bar ---------------------------------------------------------------------

    def _on_state_status_message(self, text: str) -> None:
        self.activity_label.setText(text)

    def _set_busy(self, busy: bool, text: str | None = None) -> None:
        self.busy_bar.setVisible(busy)
        if text is not None:
            self.activity_label.setText(text)

    # --- checkpoints --------------------------------------------------------------------

    def _on_open_action_triggered(self) -> None:
        path = dialogs.ask_open_checkpoint(self)
        if path:
            self.open_checkpoint(path)

    def open_checkpoint(self, path: str | Path) -> Task:
        """Open a checkpoint through the app's one door (``AppState.open_checkpoint``); it becomes the current model."""
        path = str(path)
        task = self.state.open_checkpoint(path, on_error=lambda err, p=path: self._on_open_task_error(p, err))
        self._open_tasks.append(task)
        self._set_busy(True, f"Opening {Path(path).name}…")
        task.finished.connect(lambda t=task: self._on_open_task_finished(t))
        return task

    def _on_state_checkpoint_opened(self, path: Path) -> None:
        self.checkpoint_opened.emit(path)

    def _on_open_task_error(self, path: str, error: TaskError) -> None:
        if error.user_error and not Path(path).exists():
            prefs.remove_recent_file(self.settings, path)
        show_task_error(self, error, "Open checkpoint")

    def _on_open_task_finished(self, task: Task) -> None:
        if task in self._open_tasks:
            self._open_tasks.remove(task)
        self._set_busy(bool(self._open_tasks) or not self.startup.done)

    def _on_state_model_changed(self) -> None:
        path = self.state.checkpoint_path
        self.save_as_action.setEnabled(path is not None)
        self.export_menu.setEnabled(self.state.model is not None)
        if path is not None:
            prefs.add_recent_file(self.settings, path)

    def _on_save_as_action_triggered(self) -> None:
        if self.state.checkpoint_path is not None:
            dialogs.save_checkpoint_as(
                self,
                self.state.checkpoint_path,
                lambda dst: (prefs.add_recent_file(self.settings, dst),
                             self.state.status_message.emit(f"Checkpoint saved to {dst}")),
            )

    def _on_export_action_triggered(self, fmt: str) -> None:
        from cvstudio.gui.export_dialog import export_current_model

        export_current_model(self, self.state, fmt)

    def _on_recent_menu_about_to_show(self) -> None:
        self.recent_menu.clear()
        files = prefs.recent_files(self.settings)
        for i, path in enumerate(files):
            action = self.recent_menu.addAction(f"&{i + 1}  {Path(path).name}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_checkpoint(p))
        if files:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear recent files")
            clear.triggered.connect(lambda: prefs.clear_recent_files(self.settings))
        else:
            empty = self.recent_menu.addAction("No recent checkpoints")
            empty.setEnabled(False)

    # --- drag and drop ------------------------------------------------------------------

    @staticmethod
    def _dropped_checkpoint(event: QDragEnterEvent | QDropEvent) -> str | None:
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile() and url.toLocalFile().lower().endswith(CHECKPOINT_SUFFIXES):
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_checkpoint(event):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_checkpoint(event)
        if path:
            event.acceptProposedAction()
            self.open_checkpoint(path)
        else:
            super().dropEvent(event)

    # --- help ---------------------------------------------------------------------------

    def about_text(self) -> str:
        torch = sys.modules.get("torch")
        if torch is None:
            torch_line = "PyTorch: still loading"
            cuda_line = "CUDA: –"
        else:
            torch_line = f"PyTorch {torch.__version__}"
            if torch.version.cuda is None:
                cuda_line = "CUDA: not in this PyTorch build (CPU only)"
            elif torch.cuda.is_available():
                names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
                cuda_line = f"CUDA {torch.version.cuda}: {names}"
            else:
                cuda_line = f"CUDA {torch.version.cuda} build, no GPU visible"
        import PySide6
        from PySide6.QtCore import qVersion

        pg = sys.modules.get("pyqtgraph")
        lines = [
            torch_line,
            cuda_line,
            f"Qt {qVersion()} · PySide6 {PySide6.__version__}" + (f" · pyqtgraph {pg.__version__}" if pg else ""),
            f"Python {platform.python_version()} on {platform.system()} {platform.machine()}",
        ]
        logs = log_path()
        if logs is not None:
            lines.append(f"Log file: {logs}")
        return (
            f"<h3>CV Studio {cvstudio.__version__}</h3>"
            "<p>A desktop workbench for computer vision with PyTorch: from a folder of images to a trained, "
            "inspected image classifier, offline.</p><p>" + "<br>".join(lines) + "</p>"
        )

    def show_about(self) -> None:
        QMessageBox.about(self, "About CV Studio", self.about_text())

    def shortcuts_text(self) -> str:
        rows = [("Ctrl+O", "Open a checkpoint"), ("Ctrl+Shift+S", "Save the current checkpoint as…"),
                ("Ctrl+Q", "Quit"), ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo (Model and Evaluate pages)")]
        rows += [(f"Ctrl+{i + 1}", f"Go to the {e.title} page") for i, e in enumerate(self.page_entries[:9])]
        rows += [("F5", "Train (on the Train page)"), ("F6 / F7", "Pause / resume the run"),
                 ("Shift+F5", "Stop the run (its checkpoint is kept)"), ("F1", "This list")]
        body = "".join(f"<tr><td style='padding-right:18px'><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
        return f"<table>{body}</table><p>Drop a .safetensors checkpoint onto the window to open it.</p>"

    def show_shortcuts(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setIcon(QMessageBox.Icon.NoIcon)
        box.setText(self.shortcuts_text())
        box.setTextFormat(Qt.TextFormat.RichText)
        box.open()

    # --- closing ------------------------------------------------------------------------

    def _on_state_training_changed(self, running: bool) -> None:
        if not running and self._quit_after_stop:
            train = self.train_page
            if train is not None and train.has_unsaved_run:
                # The checkpoint could not be written: stay open so the weights can be saved elsewhere.
                self._quit_after_stop = False
                self.centralWidget().setEnabled(True)
                self.menuBar().setEnabled(True)
                self._set_busy(False, "Not quitting: the run's checkpoint could not be saved")
                return
            QTimer.singleShot(0, self.close)

    def confirm_stop_training(self) -> bool:
        """Ask whether to stop the running training and quit; True for "Stop and quit"."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Training in progress")
        box.setText("A training run is in progress.")
        box.setInformativeText("Stop it and quit? The best weights so far are saved to the runs folder first.")
        stop = box.addButton("Stop and quit", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.exec()
        return box.clickedButton() is stop

    def confirm_quit_with_unsaved_run(self) -> bool:
        """True when the user chooses to quit although the last run's weights are not saved."""
        return dialogs.confirm_discard(
            self, "The last run's checkpoint could not be saved and its weights exist only in memory.\n"
            "Quit anyway and lose them? (Train > Save checkpoint as… keeps them.)",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._quit_after_stop and self.state.training:
            event.ignore()  # already stopping; the window closes when the checkpoint is written
            return
        train = self.train_page
        if self.state.training and train is not None and getattr(train, "running", False):
            if not self.confirm_stop_training():
                event.ignore()
                return
            self._quit_after_stop = True
            train.stop_training()
            self.centralWidget().setEnabled(False)
            self.menuBar().setEnabled(False)
            self._set_busy(True, "Stopping the run and saving its checkpoint…")
            event.ignore()
            return
        if train is not None and train.has_unsaved_run and not self.confirm_quit_with_unsaved_run():
            event.ignore()
            return
        self.save_settings()
        self.projects.shutdown()
        event.accept()
        self.hide()
        for page in self.pages.values():  # every page lets its workers (e.g. a dataset loading) end
            page.shutdown()
