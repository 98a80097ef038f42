"""What a page shows while PyTorch is still importing in the background."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from cvstudio.gui.widgets.labels import HintLabel


class LoadingPlaceholder(QWidget):
    """A centred title, a line of explanation and a busy bar."""

    def __init__(self, title: str = "Loading PyTorch…", detail: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel(title, self)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = HintLabel(detail, self)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bar = QProgressBar(self)
        bar.setRange(0, 0)
        bar.setTextVisible(False)
        bar.setFixedWidth(240)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(self.title)
        layout.addWidget(self.detail)
        layout.addSpacing(8)
        layout.addWidget(bar, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)
