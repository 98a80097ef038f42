"""A first-run hint: one line that tells a newcomer what to do on a page, until they have done it once.

Whether it was used is a UI preference (QSettings ``hints/<name>``), so the
hint shows on a fresh install and never again after the first run, the first
classified image, and so on.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from cvstudio.gui import settings as prefs
from cvstudio.gui.widgets.labels import HintLabel


def hint_used(name: str) -> bool:
    return prefs.make_settings().value(f"hints/{name}", False, type=bool)


def mark_hint_used(name: str) -> None:
    prefs.make_settings().setValue(f"hints/{name}", True)


class FirstRunHint(HintLabel):
    """A HintLabel shown until :meth:`mark_used` is called once, in this session or any earlier one."""

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__("", parent)
        self.setObjectName(f"firstRunHint_{name}")
        self.name = name
        self._used = hint_used(name)
        self.setVisible(False)

    @property
    def used(self) -> bool:
        return self._used

    def show_hint(self, text: str) -> None:
        """Show ``text`` unless the hint was used already."""
        self.setText(text)
        self.setVisible(not self._used and bool(text))

    def mark_used(self) -> None:
        if not self._used:
            self._used = True
            mark_hint_used(self.name)
        self.hide()


__all__ = ["FirstRunHint", "hint_used", "mark_hint_used"]
