"""Undo and redo for the model builder, on Qt's QUndoStack.

Every edit of the Model page -- a layer added, removed, moved or duplicated,
a cell changed, a preset, width, depth, dropout or batch-norm knob, the loss,
an architecture loaded from a file or a checkpoint, the L1 and weight-decay
training settings -- becomes one command. A command holds the builder's
state before and after (``BuilderSnapshot``: frozen values, so a command is a
few tuples whatever the edit was) and restores one or the other. Typing in
one cell or one spin box merges into one command, as a text editor merges
keystrokes.

The page calls ``record`` after an edit has been applied; ``QUndoStack.push``
then calls ``redo`` at once, which the command skips the first time (the
edit is already on screen).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from PySide6.QtGui import QUndoCommand, QUndoStack

from cvstudio.core.specs import LayerSpec

MERGE_ID = 0x4D42  # "MB": commands of the model builder that may merge when their keys match
TRAIN_FIELDS = ("lr", "momentum", "weight_decay", "nesterov", "l1")  # training settings the page can change


@dataclass(frozen=True)
class BuilderSnapshot:
    """Everything the builder shows that an undo must bring back."""

    knobs: Any  # model.Knobs | None: what generated the layers
    generated: tuple[tuple[LayerSpec, ...], str] | None  # (layers, loss) the knobs made
    loss: str
    layers: tuple[LayerSpec, ...]
    custom_name: str  # the name of a network that came from no preset
    row: int  # the selected table row (-1: none)

    def same_network(self, other: BuilderSnapshot) -> bool:
        """Equal apart from the selection (moving the cursor is no edit)."""
        return dataclasses.replace(self, row=0) == dataclasses.replace(other, row=0)


def train_values(config: Any) -> dict[str, Any]:
    return {name: getattr(config, name) for name in TRAIN_FIELDS}


class BuilderCommand(QUndoCommand):
    """One edit: the snapshots on either side and, if it changed them, the training settings."""

    def __init__(self, history: BuilderHistory, text: str, before: BuilderSnapshot, after: BuilderSnapshot,
                 merge_key: Hashable | None, train_before: dict | None, train_after: dict | None):
        super().__init__(text)
        self._history = history
        self.before, self.after = before, after
        self.merge_key = merge_key
        self.train_before, self.train_after = train_before, train_after
        self._applied = True  # push() calls redo() right away: the edit is already shown

    def id(self) -> int:  # noqa: A003 - Qt's name
        return MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if not isinstance(other, BuilderCommand) or other.merge_key != self.merge_key:
            return False
        self.after = other.after
        if other.train_after is not None:
            self.train_before = self.train_before if self.train_before is not None else other.train_before
            self.train_after = other.train_after
        return True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self._history.apply(self.after, self.train_after)

    def undo(self) -> None:
        self._history.apply(self.before, self.train_before)


class BuilderHistory:
    """The undo stack of one builder page; ``snapshot``/``restore`` are the page's."""

    def __init__(self, stack: QUndoStack, snapshot: Callable[[], BuilderSnapshot],
                 restore: Callable[[BuilderSnapshot], None], train_config: Callable[[], Any],
                 set_train_values: Callable[[dict], None]):
        self.stack = stack
        self._snapshot, self._restore = snapshot, restore
        self._train_config, self._set_train_values = train_config, set_train_values
        self._last: BuilderSnapshot | None = None
        self.restoring = False

    def reset(self) -> None:
        """The current state is the starting point (no command for it)."""
        self._last = self._snapshot()

    def record(self, text: str, merge_key: Hashable | None = None, train_before: dict | None = None) -> bool:
        """Push the change since the last record or undo as one command; False when nothing changed."""
        if self.restoring:
            return False
        now = self._snapshot()
        if self._last is None:
            self._last = now
        train_after = train_values(self._train_config()) if train_before is not None else None
        train_changed = train_before is not None and train_before != train_after
        if now.same_network(self._last) and not train_changed:
            self._last = now
            return False
        before, self._last = self._last, now
        self.stack.push(BuilderCommand(self, text, before, now, merge_key,
                                       train_before if train_changed else None,
                                       train_after if train_changed else None))
        return True

    def apply(self, snapshot: BuilderSnapshot, train: dict | None) -> None:
        self.restoring = True
        try:
            self._restore(snapshot)
            if train is not None:
                self._set_train_values(train)
        finally:
            self.restoring = False
        self._last = self._snapshot()


__all__ = ["BuilderCommand", "BuilderHistory", "BuilderSnapshot", "MERGE_ID", "train_values"]
