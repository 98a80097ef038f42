"""Render every page of the main window to PNG, in the light and the dark theme.

The window is opened as a user would: the built-in dataset loads, the
convnet preset is set, and two short real training runs (different learning
rates) are made from the Train page so that its plots have something to
show. Images go to docs/screenshots/<page>-<theme>.png at 1280x800 and
<page>-<theme>-1024x700.png at the smallest supported size. Works offscreen:

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots.py [--epochs 4] [--sizes 1024x700,1280x800]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
SIZE = (1280, 800)  # the README's images; other sizes get their size in the file name
SIZES = "1024x700,1280x800"

sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each training run shown on the Train page")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--sizes", default=SIZES, help="comma-separated window sizes, WIDTHxHEIGHT")
    parser.add_argument("--pages", default="Data,Model,Train,Evaluate,Inspect,Classify",
                        help="comma-separated page titles to render (Train is shot after the runs)")
    args = parser.parse_args()
    try:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--sizes: expected WIDTHxHEIGHT,..., got {args.sizes!r}") from None
    os.environ["CVSTUDIO_HOME"] = tempfile.mkdtemp(prefix="cvstudio-shots-")  # a first start, nothing of the user's

    from PySide6.QtCore import QEventLoop, Qt
    from PySide6.QtTest import QTest

    from cvstudio.gui.app import create_application
    from cvstudio.gui.main_window import MainWindow
    from cvstudio.gui.theme import apply_theme

    app = create_application()
    apply_theme("light")

    def settle(seconds: float = 0.5) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    def wait_for(condition, timeout: float = 300.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit("timed out waiting for the window")
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    window = MainWindow()
    window.show()
    window.resize(*SIZE)
    wait_for(lambda: window.is_ready and window.startup.done)
    settle(2.0)  # the pages finish describing the dataset and the model
    titles = [e.title for e in window.page_entries]
    wanted = [t.strip() for t in args.pages.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in titles]
    if unknown:
        raise SystemExit(f"no such page: {', '.join(unknown)} (pages: {', '.join(titles)})")
    args.out.mkdir(parents=True, exist_ok=True)
    written = []

    def shoot(title: str, theme: str) -> None:
        window.show_page(titles.index(title))
        for size in sizes:
            window.resize(*size)
            settle(0.6)
            suffix = "" if size == SIZE else f"-{size[0]}x{size[1]}"
            path = args.out / f"{title.lower()}-{theme}{suffix}.png"
            if not window.grab().save(str(path)):
                raise SystemExit(f"could not write {path}")
            written.append(path)

    window.set_theme("light")
    for title in wanted:
        if title != "Train":
            shoot(title, "light")

    # two short real runs to compare on the Train page
    train = window.train_page
    window.show_page(titles.index("Train"))
    for lr in (0.05, 0.01):
        train.lr_spin.setValue(lr)
        train.epochs_spin.setValue(args.epochs)
        loop = QEventLoop()
        train.run_finished.connect(loop.quit)
        QTest.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
        loop.exec()
        train.run_finished.disconnect(loop.quit)
    settle(0.5)
    if "Train" in wanted:
        shoot("Train", "light")

    window.set_theme("dark")
    for title in wanted:
        shoot(title, "dark")
    window.set_theme("light")
    window.close()
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
