"""Fixing mistakes where the Evaluate page finds them: view an image large, show its file, relabel it.

Double-clicking a card of the Evaluate galleries opens the image large with
its file path (``ImageViewer``); a card's context menu and the viewer offer
"Show in folder" and, for folder datasets, "Move to class…", which moves the
file into another class folder through ``core.data.relabel`` (never
overwriting). Each move is a command on the page's QUndoStack, so the Edit
menu undoes it. The dataset in memory keeps its old labels until it is
loaded again; the cache then decodes only the two classes that changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QPoint, QUrl
from PySide6.QtGui import QDesktopServices, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QInputDialog, QMenu

from cvstudio.core.errors import UserError
from cvstudio.gui.widgets.banner import ERROR, INFO
from cvstudio.gui.widgets.confusion_matrix import percent
from cvstudio.gui.widgets.image_viewer import ImageViewer
from cvstudio.gui.widgets.prediction_gallery import PredictionGallery

if TYPE_CHECKING:
    from cvstudio.gui.pages.evaluate import EvaluatePage

RELOAD_HINT = "The loaded dataset keeps the old label until it is loaded again on the Data page."


class MoveCommand(QUndoCommand):
    """A file moved to another class folder (already done when pushed)."""

    def __init__(self, fixes: MistakeFixes, move: Any):
        super().__init__(f"Move {Path(move.source).name} to class {move.to_class}")
        self._fixes = fixes
        self.move = move  # core.data.relabel.Move
        self._done = True  # push() calls redo() at once: the file is already moved

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        from cvstudio.core.data.relabel import Move, undo_move

        m = self.move
        self._run(lambda: undo_move(Move(m.destination, m.source, m.to_class, m.from_class)), m, moved=True)

    def undo(self) -> None:
        from cvstudio.core.data.relabel import undo_move

        self._run(lambda: undo_move(self.move), self.move, moved=False)

    def _run(self, action, move: Any, moved: bool) -> None:
        try:
            action()
        except UserError as exc:
            self.setObsolete(True)  # the file changed meanwhile: this step cannot be replayed
            self._fixes.report(str(exc), ERROR)
            return
        self._fixes.moved_changed(move, moved)


class MistakeFixes(QObject):
    """The Evaluate page's viewer, "Show in folder" and "Move to class…", with their undo stack."""

    def __init__(self, page: EvaluatePage, galleries: list[PredictionGallery]):
        super().__init__(page)
        self.page = page
        self.undo_stack = QUndoStack(self)
        self.galleries = galleries
        self.moved: dict[str, str] = {}  # original path -> note, shared with the galleries' tooltips
        self.viewer: ImageViewer | None = None
        for gallery in galleries:
            gallery.model.moved = self.moved
            gallery.item_activated.connect(lambda index, g=gallery: self.open_viewer(g, index))
            gallery.context_menu_requested.connect(lambda index, pos, g=gallery: self._show_menu(g, index, pos))

    # ------------------------------------------------------------------ what a card is

    def path_of(self, gallery: PredictionGallery, index: int) -> str | None:
        source = gallery.model.source
        if source is None or source.paths is None or not 0 <= index < len(source.paths):
            return None
        return source.paths[index]

    def current_path(self, path: str) -> str:
        """Where the file of ``path`` is now (it may have been moved from the page)."""
        for command in (self.undo_stack.command(i) for i in range(self.undo_stack.index())):
            if isinstance(command, MoveCommand) and not command.isObsolete() and command.move.source == path:
                path = command.move.destination
        return path

    def dataset_root(self) -> str | None:
        data = self.page.state.dataset
        source = getattr(data, "source", None)
        return source if isinstance(source, str) and os.path.isdir(source) else None

    # ------------------------------------------------------------------ actions

    def open_viewer(self, gallery: PredictionGallery, index: int) -> ImageViewer:
        source = gallery.model.source
        path = self.path_of(gallery, index)
        current = self.current_path(path) if path else None
        names = source.class_names
        true, predicted = int(source.labels[index]), int(source.probs[index].argmax())
        caption = (f"True class: {names[true]} · predicted: {names[predicted]} "
                   f"({percent(float(source.probs[index][predicted]))})")
        if self.viewer is None:
            self.viewer = ImageViewer(self.page)
            self.viewer.show_in_folder_requested.connect(self.show_in_folder)
            self.viewer.move_requested.connect(self.ask_move)
        title = f"{source.split_title} image {index + 1:,} of {len(source.labels):,}"
        self.viewer.show_image(source.images[index], caption, current, title, movable=self.dataset_root() is not None)
        if path and path in self.moved:
            self.viewer.set_path(current, self.moved[path])
        return self.viewer

    def show_in_folder(self, path: str) -> bool:
        folder = Path(path).parent
        if not folder.is_dir():
            self.report(f"The folder {folder} is no longer there.", ERROR)
            return False
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.report(f"Could not open a file manager for {folder}.", ERROR)
            return False
        return True

    def ask_move(self, path: str) -> bool:
        """Ask which class folder to move ``path`` into, then move it."""
        from cvstudio.core.data.relabel import class_folders

        try:
            classes = [c for c in class_folders(path) if c != Path(path).parent.name]
        except UserError as exc:
            self.report(str(exc), ERROR)
            return False
        if not classes:
            self.report(f"There is no other class folder beside {Path(path).parent}.", ERROR)
            return False
        choice, ok = QInputDialog.getItem(self.page, "Move to class",
                                          f"Move {Path(path).name} from {Path(path).parent.name} to:", classes, 0,
                                          False)
        return bool(ok and choice) and self.move_to_class(path, choice)

    def move_to_class(self, path: str, class_name: str) -> bool:
        """Move the file into the class folder ``class_name`` (an undoable command); False with a message if not."""
        from cvstudio.core.data.relabel import move_to_class

        try:
            move = move_to_class(path, class_name, self.dataset_root())
        except UserError as exc:
            self.report(str(exc), ERROR)
            return False
        self.undo_stack.push(MoveCommand(self, move))
        self.moved_changed(move, True)
        return True

    # ------------------------------------------------------------------ feedback

    def moved_changed(self, move: Any, moved: bool) -> None:
        """``move`` was done (or redone) when ``moved``, else undone: update tooltips, the viewer and the banner."""
        if moved:
            self.moved[move.source] = f"Moved to class {move.to_class}: {move.destination}"
            self.report(f"Moved {Path(move.source).name} to class {move.to_class}. {RELOAD_HINT}", INFO)
        else:
            self.moved.pop(move.source, None)
            self.report(f"Moved {Path(move.source).name} back to class {move.from_class}.", INFO)
        if self.viewer is not None and self.viewer.path in (move.source, move.destination):
            self.viewer.set_path(move.destination if moved else move.source, self.moved.get(move.source, ""))
        for gallery in self.galleries:
            gallery.view.viewport().update()

    def report(self, text: str, level: str) -> None:
        self.page.banner.show_message(text, level)

    def _show_menu(self, gallery: PredictionGallery, index: int, pos: QPoint) -> None:
        menu = QMenu(self.page)
        menu.addAction("Open large", lambda: self.open_viewer(gallery, index))
        path = self.path_of(gallery, index)
        if path:
            current = self.current_path(path)
            menu.addAction("Show in folder", lambda: self.show_in_folder(current))
            if self.dataset_root() is not None:
                menu.addAction("Move to class…", lambda: self.ask_move(current))
        menu.popup(pos)


__all__ = ["MistakeFixes", "MoveCommand"]
