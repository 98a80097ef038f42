"""Screenshot of the Model page with a torchvision architecture chosen (README "Train on your own photos").

    QT_QPA_PLATFORM=offscreen python docs/screenshots_own_photos.py [--out docs/screenshots]

The page is shown as it is for a 5-class photo folder loaded at 224 px with
resnet18 and torchvision's IMAGENET1K_V1 weights chosen (not downloaded:
the page offers the download).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "screenshots"))
    args = p.parse_args(argv)
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    import cvstudio.core.models  # noqa: F401 - as the window does in the background
    from cvstudio.gui.pages.model import ModelPage
    from cvstudio.gui.state import AppState

    state = AppState()
    state.mark_torch_ready()
    state.set_dataset(SimpleNamespace(input_shape=(3, 224, 224), num_classes=5))
    page = ModelPage(state)
    page.resize(1400, 860)
    page.show()

    def wait_for(signal, timeout_ms=120_000):
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()

    combo = page.arch.arch_combo
    combo.setCurrentIndex(combo.findData("resnet18"))
    combo.activated.emit(combo.currentIndex())
    wait_for(page.arch.summarized)
    start = page.arch.start_combo
    start.setCurrentIndex(start.findData("pretrained:IMAGENET1K_V1"))
    start.activated.emit(start.currentIndex())
    wait_for(page.arch.summarized)
    app.processEvents()
    out = Path(args.out) / "own-photos.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.grab().save(str(out))
    print(out)
    page.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
