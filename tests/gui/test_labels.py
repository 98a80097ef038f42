"""gui.widgets.labels: a progress line that does not re-lay out the window at every update."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QWidget

from cvstudio.gui.widgets.labels import ProgressLabel


class LayoutRequests(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_counter_updates_keep_the_size_and_the_layout_still(qtbot):
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.addWidget(QProgressBar(row), 1)
    label = ProgressLabel("1 of 1,000 images", row)
    layout.addWidget(label)
    qtbot.addWidget(row)
    row.show()
    qtbot.waitExposed(row)
    width = label.width()
    assert label.minimumWidth() == label.maximumWidth() == width  # fixed: a new text cannot move the layout
    assert label.fontMetrics().horizontalAdvance("1 of 1,000 images") < width

    qtbot.wait(20)  # the layout settles after showing
    requests = LayoutRequests()
    row.installEventFilter(requests)
    for n in (10, 100, 999, 1000):
        label.setText(f"{n:,} of 1,000 images")
        qtbot.wait(1)
    assert label.width() == width and label.text() == "1,000 of 1,000 images"
    assert requests.count == 0

    label.setText("1,000 of 1,000 images (+12 queued), 3 folders left")  # longer: it grows to fit
    qtbot.wait(1)
    assert label.width() > width
    assert label.fontMetrics().horizontalAdvance(label.text()) <= label.width()
    label.setText("Cancelling…")  # much shorter: it gives the room back
    qtbot.wait(1)
    assert label.width() < width
