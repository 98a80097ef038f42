"""A read-only view of generated Python source with Copy and Save as .py."""

from __future__ import annotations

import keyword
import os
import re
import textwrap
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QPalette, QSyntaxHighlighter, QTextCharFormat
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from cvstudio.gui.widgets.banner import ERROR, INFO, MessageBanner
from cvstudio.gui.widgets.labels import HintLabel


class PythonHighlighter(QSyntaxHighlighter):
    """Keywords, strings, numbers and comments; colours derived from the palette (light and dark)."""

    _KEYWORDS = re.compile(r"\b(" + "|".join(keyword.kwlist) + r")\b")
    _SINGLE_STRING = re.compile(r"\"(?!\"\")[^\"\n]*\"|'[^'\n]*'")
    _NUMBER = re.compile(r"\b\d+(\.\d+)?([eE][-+]?\d+)?\b")
    _COMMENT = re.compile(r"#[^\n]*")
    _NN = re.compile(r"\bnn\.\w+")

    def __init__(self, document, palette: QPalette):
        super().__init__(document)
        self.set_palette(palette)

    def set_palette(self, palette: QPalette) -> None:
        dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
        self._kw = QTextCharFormat()
        self._kw.setForeground(QColor("#c792ea") if dark else QColor("#7b30a8"))
        self._kw.setFontWeight(QFont.Weight.Bold)
        self._str = QTextCharFormat()
        self._str.setForeground(QColor("#a5d6a7") if dark else QColor("#2e7d32"))
        self._num = QTextCharFormat()
        self._num.setForeground(QColor("#f0b070") if dark else QColor("#a04f00"))
        self._nn = QTextCharFormat()
        self._nn.setForeground(QColor("#82aaff") if dark else QColor("#1f5fbf"))
        self._comment = QTextCharFormat()
        self._comment.setForeground(palette.color(QPalette.ColorRole.PlaceholderText))
        self._comment.setFontItalic(True)
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        # 1. string spans: triple-quoted ones may span lines (block state 1 = inside one), others may not
        spans: list[tuple[int, int]] = []
        pos = 0
        inside = self.previousBlockState() == 1
        start = 0
        while True:
            if inside:
                end = text.find('"""', pos)
                if end < 0:
                    spans.append((start, len(text)))
                    break
                spans.append((start, end + 3))
                pos, inside = end + 3, False
            else:
                triple = text.find('"""', pos)
                single = self._SINGLE_STRING.search(text, pos)
                if single is not None and (triple < 0 or single.start() < triple):
                    spans.append((single.start(), single.end()))
                    pos = single.end()
                elif triple >= 0:
                    start, pos, inside = triple, triple + 3, True
                else:
                    break
        self.setCurrentBlockState(1 if inside else 0)

        def in_string(i: int) -> bool:
            return any(a <= i < b for a, b in spans)

        # 2. code tokens outside strings, then the strings, then a comment outside strings
        for pattern, fmt in ((self._NUMBER, self._num), (self._NN, self._nn), (self._KEYWORDS, self._kw)):
            for m in pattern.finditer(text):
                if not in_string(m.start()):
                    self.setFormat(m.start(), m.end() - m.start(), fmt)
        for a, b in spans:
            self.setFormat(a, b - a, self._str)
        for m in self._COMMENT.finditer(text):
            if not in_string(m.start()):
                self.setFormat(m.start(), len(text) - m.start(), self._comment)
                break


class CodeView(QWidget):
    """Generated source, monospace and read-only; copy it or save it as a .py file."""

    saved = Signal(str)  # path written

    def __init__(self, parent: QWidget | None = None, default_name: str = "model.py"):
        super().__init__(parent)
        self._default_name = default_name
        self._code = ""
        self.caption = HintLabel("", self)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setToolTip("Copy the code to the clipboard")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.save_button = QPushButton("Save as .py…", self)
        self.save_button.setToolTip("Write the code to a Python file")
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.editor = QPlainTextEdit(self)
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(max(font.pointSizeF(), QGuiApplication.font().pointSizeF()))
        self.editor.setFont(font)
        self.editor.setTabStopDistance(4 * self.editor.fontMetrics().horizontalAdvance(" "))
        self._highlighter = PythonHighlighter(self.editor.document(), self.palette())
        self.banner = MessageBanner(self)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
        bar.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(bar)
        layout.addWidget(self.banner)
        layout.addWidget(self.editor, 1)
        self._set_available(False)

    # --- public API ---

    def code(self) -> str:
        """The current valid code, or "" when there is none."""
        return self._code

    def set_code(self, code: str, caption: str = "") -> None:
        self._code = code
        self.caption.setText(caption)
        if self.editor.toPlainText() != code:
            scroll = self.editor.verticalScrollBar().value()
            self.editor.setPlainText(code)
            self.editor.verticalScrollBar().setValue(scroll)
        self._set_available(True)

    def set_unavailable(self, reason: str) -> None:
        """No code can be generated (the model cannot be built); say why in the view."""
        self._code = ""
        self.caption.setText("")
        lines = textwrap.wrap(reason, width=88) or [""]
        self.editor.setPlainText("# No code: the model cannot be built.\n" + "".join(f"# {line}\n" for line in lines))
        self._set_available(False)

    def set_default_name(self, name: str) -> None:
        self._default_name = name

    # --- internals ---

    def _set_available(self, available: bool) -> None:
        self.copy_button.setEnabled(available)
        self.save_button.setEnabled(available)

    def changeEvent(self, event) -> None:
        if event.type() == event.Type.PaletteChange and hasattr(self, "_highlighter"):
            self._highlighter.set_palette(self.palette())
        super().changeEvent(event)

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self._code)
        self.banner.show_message("Copied the code to the clipboard.", INFO)

    def _on_save_button_clicked(self) -> None:
        from cvstudio.gui import settings as prefs

        s = prefs.make_settings()
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the model as Python", str(Path(prefs.last_dir(s, "code")) / self._default_name),
            "Python files (*.py)"
        )
        if path:
            prefs.remember_dir(s, path, "code")
            self.save_to(path)

    def save_to(self, path: str | os.PathLike) -> bool:
        """Write the code to ``path`` (".py" added when missing); a failure is shown in the view."""
        target = Path(path)
        if target.suffix != ".py":
            target = target.with_name(target.name + ".py")
        from cvstudio.core.atomic import replacing

        try:
            with replacing(target) as tmp:
                tmp.write_text(self._code, encoding="utf-8")
        except OSError as exc:
            self.banner.show_message(f"Could not save {target}: {exc.strerror or exc}", ERROR)
            return False
        self.banner.show_message(f"Saved {target}", INFO)
        self.saved.emit(str(target))
        return True


__all__ = ["CodeView", "PythonHighlighter"]

