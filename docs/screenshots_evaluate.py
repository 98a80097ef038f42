"""Render the Evaluate page and the learning-rate finder to PNG (light and dark).

A convnet is trained briefly on the built-in shapes (3 epochs, about 5 s on
two cores) so the confusion matrix is a real one; an MLP trained longer on
a small subset shows the overfitting warning. Images go to
docs/screenshots/evaluate*.png and lr_finder*.png. Works offscreen:

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots_evaluate.py
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
SIZE = (1280, 800)

sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--lr-steps", type=int, default=150, help="steps of the learning-rate sweep shown")
    args = parser.parse_args()
    os.environ["CVSTUDIO_HOME"] = tempfile.mkdtemp(prefix="cvstudio-shots-")

    from PySide6.QtCore import QEventLoop, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from cvstudio.gui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv)
    apply_theme("light", app)

    def settle(seconds: float = 0.4) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    def wait_for(condition, timeout: float = 600.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit("timed out")
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    from cvstudio.core.data import load_dataset
    from cvstudio.core.data.bundle import ImageSet
    from cvstudio.core.models import get_preset
    from cvstudio.core.runs import train_and_save
    from cvstudio.core.specs import DataConfig, TrainConfig
    from cvstudio.gui.pages.evaluate import EvaluatePage
    from cvstudio.gui.state import AppState
    from cvstudio.gui.widgets.lr_finder import LRFinderDialog

    data = load_dataset(DataConfig())
    config = TrainConfig(epochs=3, momentum=0.9)
    runs = Path(os.environ["CVSTUDIO_HOME"])
    convnet = train_and_save(get_preset("convnet"), data, config, DataConfig(), out=runs / "convnet-shapes.safetensors")
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(widget, name: str) -> None:
        path = args.out / name
        if not widget.grab().save(str(path)):
            raise SystemExit(f"could not write {path}")
        written.append(path)

    state = AppState()
    state.mark_torch_ready()
    state.set_dataset(data)
    state.set_spec(get_preset("convnet"))
    state.set_train_config(config)
    page = EvaluatePage(state)
    page.resize(*SIZE)
    page.show()
    state.set_model(convnet.model, convnet.meta, convnet.checkpoint)
    wait_for(lambda: page.idle and len(page.reports) == 2)
    settle()
    for theme in ("light", "dark"):
        apply_theme(theme, app)
        settle()
        page.gallery_tabs.setCurrentIndex(0)
        page.matrix.select_cell(None)
        settle()
        save(page, f"evaluate-{theme}.png")
    apply_theme("light", app)
    # a click on the largest mistake lists its images
    cm = page.evaluation.confusion.copy()
    for k in range(len(cm)):
        cm[k, k] = -1
    true, pred = divmod(int(cm.argmax()), len(cm))
    QTest.mouseClick(page.matrix, Qt.MouseButton.LeftButton, pos=page.matrix.cell_rect(true, pred).center())
    page.rates_button.click()
    settle()
    save(page, "evaluate_cell.png")
    page.counts_button.click()

    # overfitting: a wide MLP trained long on few images memorizes them
    few = dataclasses.replace(data, train=ImageSet(data.train.images[:600], data.train.labels[:600]))
    mlp = train_and_save(get_preset("mlp-wide"), few, TrainConfig(epochs=60, batch_size=32, momentum=0.9),
                         out=runs / "mlp-wide-shapes.safetensors")
    state.set_dataset(few)
    state.set_model(mlp.model, mlp.meta, mlp.checkpoint)
    wait_for(lambda: page.idle and len(page.reports) == 2)
    settle()
    save(page, "evaluate_overfitting.png")
    page.shutdown()
    page.close()

    # the learning-rate finder on the same convnet settings
    state.set_dataset(data)
    for theme in ("light", "dark"):
        apply_theme(theme, app)
        dialog = LRFinderDialog(state, autostart=False)
        dialog.steps_spin.setValue(args.lr_steps)
        dialog.show()
        dialog.run()
        wait_for(lambda: dialog.result is not None and not dialog.running)
        settle()
        save(dialog, f"lr_finder-{theme}.png")
        dialog.close()
    print("\n".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
