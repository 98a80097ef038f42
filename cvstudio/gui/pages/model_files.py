"""The model builder's architecture files: save the network as JSON, load one, import a checkpoint's.

The reading and writing is the core's (``core.spec_files``: atomic write,
size-capped and validated read; ``core.checkpoints.read_meta``: the header
only, no tensor is read). Here are the menu, the file dialogs and the
one-line messages in the page's banner. A file that cannot be used changes
nothing; one that can becomes a single undoable edit of the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMenu, QToolButton, QWidget

from cvstudio.core.errors import UserError
from cvstudio.gui import settings as prefs
from cvstudio.gui.dialogs import ask_open_checkpoint, ask_save_path
from cvstudio.gui.widgets.banner import ERROR

if TYPE_CHECKING:
    from cvstudio.gui.pages.model import ModelPage

SPEC_FILTER = "CV Studio architectures (*.json);;All files (*)"


def make_file_button(page: ModelPage, parent: QWidget) -> QToolButton:
    """An "Architecture" button whose menu saves, loads and imports networks."""
    button = QToolButton(parent)
    button.setText("Architecture")
    button.setToolTip("Save this network as a JSON file, load one, or take the network of a checkpoint")
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QMenu(button)
    page.save_spec_action = menu.addAction("Save architecture…", lambda: save_architecture(page))
    page.save_spec_action.setToolTip("Write the layers and loss to a .json file (no weights)")
    page.open_spec_action = menu.addAction("Load architecture…", lambda: open_architecture(page))
    page.open_spec_action.setToolTip("Replace the layers with those of a saved .json architecture (undoable)")
    page.import_spec_action = menu.addAction("Import from checkpoint…", lambda: import_from_checkpoint(page))
    page.import_spec_action.setToolTip("Take the network of a .safetensors checkpoint, without its weights (undoable)")
    menu.setToolTipsVisible(True)
    button.setMenu(menu)
    return button


def save_architecture(page: ModelPage, path: str | Path | None = None) -> bool:
    from cvstudio.core.spec_files import save_spec

    spec = page.current_spec()
    if path is None:
        path = ask_save_path(page, "Save architecture", f"{spec.name}.json", SPEC_FILTER, ".json")
        if path is None:
            return False
    try:
        save_spec(spec, path)
    except UserError as exc:
        page.banner.show_message(str(exc), ERROR)
        return False
    page.state.status_message.emit(f"Saved the architecture {spec.name} to {path}")
    return True


def _ask_open(page: ModelPage) -> str | None:
    s = prefs.make_settings()
    path, _ = QFileDialog.getOpenFileName(page, "Load architecture", prefs.last_dir(s), SPEC_FILTER)
    if path:
        prefs.remember_dir(s, path)
    return path or None


def open_architecture(page: ModelPage, path: str | Path | None = None) -> bool:
    from cvstudio.core.spec_files import load_spec

    if path is None:
        path = _ask_open(page)
        if path is None:
            return False
    try:
        spec = load_spec(path)
    except UserError as exc:
        page.banner.show_message(f"Could not load the architecture: {exc}", ERROR)
        return False
    return page.load_architecture(spec, f"Load architecture {spec.name}")


def import_from_checkpoint(page: ModelPage, path: str | Path | None = None) -> bool:
    from cvstudio.core.checkpoints import read_meta

    if path is None:
        path = ask_open_checkpoint(page)
        if path is None:
            return False
    try:
        meta = read_meta(path)
    except UserError as exc:
        page.banner.show_message(f"Could not import the architecture: {exc}", ERROR)
        return False
    except OSError as exc:
        page.banner.show_message(f"Could not import the architecture: cannot read {Path(path).name}: "
                                 f"{exc.strerror or exc}", ERROR)
        return False
    return page.load_architecture(meta.model_spec, f"Import the network of {Path(path).name}")


__all__ = ["SPEC_FILTER", "import_from_checkpoint", "make_file_button", "open_architecture", "save_architecture"]
