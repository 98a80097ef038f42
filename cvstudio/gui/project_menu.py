"""The window's project items: File > New / Open / Open recent / Save project as, and what opening says.

:class:`ProjectMenu` adds the items to the File menu, opens the start-up
project (the one named on the command line, else the last one, else the
default project in the user data folder), shows a project's problems one line
each, and asks whether to load a just-opened checkpoint's dataset. The
project itself lives in :class:`cvstudio.gui.projects.ProjectController`
(``window.projects``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from cvstudio.gui import settings as prefs
from cvstudio.gui.errors import show_error

log = logging.getLogger(__name__)


class ProjectMenu(QObject):
    def __init__(self, window: Any, file_menu: QMenu, before: QAction):
        super().__init__(window)
        self.window = window
        self.projects = window.projects
        self._start_problems: list[str] = []

        self.new_action = QAction("&New project…", window)
        self.new_action.setToolTip("Start a project in a folder from the current settings")
        self.new_action.triggered.connect(self._on_new_action_triggered)
        self.open_action = QAction("Open &project…", window)
        self.open_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_action.triggered.connect(self._on_open_action_triggered)
        self.recent_menu = QMenu("Open recent pro&ject", window)
        self.recent_menu.aboutToShow.connect(self._on_recent_menu_about_to_show)
        self.save_as_action = QAction("Save project &as…", window)
        self.save_as_action.setToolTip("Copy the project (settings, runs, exports) to another folder and go on there")
        self.save_as_action.triggered.connect(self._on_save_as_action_triggered)
        file_menu.insertAction(before, self.new_action)
        file_menu.insertAction(before, self.open_action)
        file_menu.insertMenu(before, self.recent_menu)
        file_menu.insertAction(before, self.save_as_action)
        self._on_recent_menu_about_to_show()

        self.projects.project_opened.connect(self._on_projects_project_opened)
        self.projects.save_failed.connect(self._on_projects_save_failed)
        window.state.checkpoint_data_offered.connect(self._on_state_checkpoint_data_offered)
        window.state.data_load_failed.connect(self._on_state_data_load_failed)

    @property
    def settings(self) -> Any:
        return self.window.settings

    def open_start_project(self, folder: str | Path | None) -> None:
        """The project named on the command line, else the last one, else the default project."""
        from cvstudio.core.projects import default_project_dir

        if folder is None:
            recent = [p for p in prefs.recent_projects(self.settings) if Path(p).is_dir()]
            folder = recent[0] if recent else default_project_dir()
        try:
            self.projects.open(folder)
        except Exception as exc:  # noqa: BLE001 - a broken project must not keep the window from opening
            log.warning("could not open the project %s: %s", folder, exc)
            self._start_problems = [f"could not open the project {folder}: {exc}; the default project is open"]
            try:
                self.projects.open(default_project_dir())
            except Exception as again:  # noqa: BLE001 - work on without a project
                log.warning("could not open the default project: %s", again)
                self.window.state.status_message.emit(f"No project: {again}; runs are saved to the runs folder")

    def open_project(self, folder: str | Path) -> bool:
        if self.window.state.training:
            show_error(self.window, "Open project", "A run is training; open the project once it has ended.")
            return False
        try:
            self.projects.open(folder)
        except Exception as exc:  # noqa: BLE001 - e.g. a file, or a folder that cannot be made
            show_error(self.window, "Open project", f"Could not open {folder}: {exc}")
            prefs.remove_recent_project(self.settings, folder)
            return False
        return True

    def _on_projects_project_opened(self, loaded: Any) -> None:
        window, project = self.window, loaded.project
        prefs.add_recent_project(self.settings, project.folder)
        suffix = " (read-only)" if loaded.read_only else ""
        window.setWindowTitle(f"{project.folder.name} — CV Studio{suffix}")
        titles = [e.title for e in window.page_entries]
        if project.page in titles:
            window.show_page(titles.index(project.page))
        problems, self._start_problems = self._start_problems + list(loaded.problems), []
        if project.keep_backup:
            problems.append("the original project.json is copied to project.json.bak before it is replaced")
        if not problems:
            window.state.status_message.emit(f"Project {project.folder}{suffix}")
            return
        window.state.status_message.emit(f"Project {project.folder.name}: {problems[0]}")
        box = QMessageBox(QMessageBox.Icon.Warning, "Project opened with problems", "", QMessageBox.StandardButton.Ok,
                          window)
        box.setTextFormat(Qt.TextFormat.PlainText)  # paths and names come from a file: never markup
        box.setText(f"{project.folder} opened with what could be read:\n\n" + "\n".join(f"• {p}" for p in problems))
        box.setObjectName("project_problems")
        QTimer.singleShot(0, box.open)  # once the window shows; not modal: the list stays visible while working

    def _on_projects_save_failed(self, message: str) -> None:
        self.window.state.status_message.emit(f"Project not saved: {message}")

    def _ask_folder(self, title: str) -> str | None:
        folder = self.projects.folder
        start = str(folder.parent) if folder is not None else prefs.last_dir(self.settings, "projects")
        chosen = QFileDialog.getExistingDirectory(self.window, title, start) or None
        if chosen:
            prefs.remember_dir(self.settings, chosen, "projects")  # its parent: where projects live
        return chosen

    def _on_new_action_triggered(self) -> None:
        folder = self._ask_folder("New project: choose an empty folder")
        if folder:
            try:
                self.projects.new(folder)
            except Exception as exc:  # noqa: BLE001 - a folder that cannot be made or written
                show_error(self.window, "New project", f"Could not make a project in {folder}: {exc}")

    def _on_open_action_triggered(self) -> None:
        folder = self._ask_folder("Open project")
        if folder:
            self.open_project(folder)

    def _on_save_as_action_triggered(self) -> None:
        folder = self._ask_folder("Save project as: choose an empty folder")
        if folder:
            self.projects.save_as(folder, on_error=lambda message: show_error(self.window, "Save project as", message))

    def _on_recent_menu_about_to_show(self) -> None:
        self.recent_menu.clear()
        for i, path in enumerate(prefs.recent_projects(self.settings)):
            action = self.recent_menu.addAction(f"&{i + 1}  {Path(path).name}")
            action.setToolTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_project(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    def _on_state_checkpoint_data_offered(self, config: Any) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Load its dataset?", "", QMessageBox.StandardButton.NoButton,
                          self.window)
        source = config.source + (f" ({', '.join(config.classes)})" if config.classes else "")
        box.setTextFormat(Qt.TextFormat.PlainText)  # the source and class names come from the checkpoint
        box.setText("The checkpoint was trained on other data than the loaded dataset.\n\n"
                    f"Its data: {source}. Load it, so Evaluate and Inspect use the images it was made for?")
        load = box.addButton("Load its dataset", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep the current data", QMessageBox.ButtonRole.RejectRole)
        box.setObjectName("load_checkpoint_data")
        state = self.window.state
        box.buttonClicked.connect(lambda button: state.load_data_config(config) if button is load else None)
        box.open()

    def _on_state_data_load_failed(self, message: str) -> None:
        show_error(self.window, "Load dataset", f"The dataset could not be loaded: {message}. The previous data stays.")
