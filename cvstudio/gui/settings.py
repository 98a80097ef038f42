"""UI preferences in QSettings: window geometry, recent files, theme, last page.

Run settings never live here (they are dataclasses stored in checkpoints).
With CVSTUDIO_HOME set (tests, portable installs) the preferences are an INI
file in that folder, so nothing touches the user's real settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION = "CVStudio"
APPLICATION = "CV Studio"

GEOMETRY = "window/geometry"
LAST_PAGE = "window/last_page"
THEME = "view/theme"
RECENT_FILES = "files/recent"
RECENT_PROJECTS = "projects/recent"

# Each kind of file remembers its own folder, so opening a dataset class folder
# in Classify never makes File > Export propose to write into it.
DIR_KINDS = ("datasets", "checkpoints", "exports", "csv", "images", "plots", "code", "projects")

MAX_RECENT = 8


def make_settings() -> QSettings:
    home = os.environ.get("CVSTUDIO_HOME")
    if home:
        return QSettings(str(Path(home) / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]  # type: ignore[union-attr]


def recent_files(settings: QSettings) -> list[str]:
    return _as_list(settings.value(RECENT_FILES, []))


def add_recent_file(settings: QSettings, path: str | Path) -> list[str]:
    path = str(Path(path).resolve())
    files = [path] + [f for f in recent_files(settings) if f != path]
    files = files[:MAX_RECENT]
    settings.setValue(RECENT_FILES, files)
    return files


def remove_recent_file(settings: QSettings, path: str | Path) -> None:
    settings.setValue(RECENT_FILES, [f for f in recent_files(settings) if f != str(path)])


def clear_recent_files(settings: QSettings) -> None:
    settings.setValue(RECENT_FILES, [])


def _dir_key(kind: str) -> str:
    if kind not in DIR_KINDS:
        raise ValueError(f"unknown kind of file {kind!r}; expected one of {', '.join(DIR_KINDS)}")
    return f"folders/{kind}"


def last_dir(settings: QSettings, kind: str = "exports", default: str | Path | None = None) -> str:
    """The folder the last dialog for ``kind`` files used; else ``default``; else the home folder.

    Pass the kind (DIR_KINDS); the default only keeps callers written before kinds existed working.
    """
    folder = str(settings.value(_dir_key(kind), "") or "")
    if folder and Path(folder).is_dir():
        return folder
    if default is not None and Path(default).is_dir():
        return str(default)
    return str(Path.home())


def remember_dir(settings: QSettings, path: str | Path, kind: str = "exports") -> None:
    """Remember the folder holding file ``path`` for the next ``kind`` dialog."""
    settings.setValue(_dir_key(kind), str(Path(path).parent))


def remember_folder(settings: QSettings, folder: str | Path, kind: str) -> None:
    """Remember a chosen folder itself (folder dialogs) for the next ``kind`` dialog."""
    settings.setValue(_dir_key(kind), str(Path(folder)))


def recent_projects(settings: QSettings) -> list[str]:
    return _as_list(settings.value(RECENT_PROJECTS, []))


def add_recent_project(settings: QSettings, folder: str | Path) -> list[str]:
    folder = str(Path(folder).resolve())
    folders = ([folder] + [f for f in recent_projects(settings) if f != folder])[:MAX_RECENT]
    settings.setValue(RECENT_PROJECTS, folders)
    return folders


def remove_recent_project(settings: QSettings, folder: str | Path) -> None:
    settings.setValue(RECENT_PROJECTS, [f for f in recent_projects(settings) if f != str(folder)])
