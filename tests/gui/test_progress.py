"""gui.widgets.progress: a bar painted with the next frame, a progress line that does not re-lay out the window."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QWidget

from cvstudio.gui.widgets.progress import ProgressBar, ProgressLabel


class EventCounter(QObject):
    def __init__(self, kind: QEvent.Type):
        super().__init__()
        self.kind = kind
        self.count = 0

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        if event.type() == self.kind:
            self.count += 1
        return False


def test_a_new_value_is_painted_with_the_next_frame_not_at_once(qtbot):
    window = QWidget()
    layout = QHBoxLayout(window)
    qt_bar, bar = QProgressBar(window), ProgressBar(window)
    for b in (qt_bar, bar):
        b.setRange(0, 1000)
        layout.addWidget(b)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)  # first paints and activation settle
    qt_paints, paints = EventCounter(QEvent.Type.Paint), EventCounter(QEvent.Type.Paint)
    qt_bar.installEventFilter(qt_paints)
    bar.installEventFilter(paints)

    qt_bar.setValue(500)
    assert qt_paints.count == 1  # Qt's own bar paints inside setValue: the cost this widget avoids

    for value in (100, 200, 300):
        bar.setValue(value)
    assert paints.count == 0 and bar.value() == 300
    qtbot.waitUntil(lambda: paints.count >= 1)
    qtbot.wait(20)
    assert paints.count == 1  # three values, one paint
    assert bar.text() == "30%" and bar.updatesEnabled()

    bar.setValue(300)  # the same value: nothing to paint
    qtbot.wait(20)
    assert paints.count == 1


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
    requests = EventCounter(QEvent.Type.LayoutRequest)
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
