"""Screenshots of the Classify page (offscreen): empty state, a batch of results, the saliency view.

    QT_QPA_PLATFORM=offscreen python docs/screenshots_classify.py [CHECKPOINT] [--out docs/screenshots]

CHECKPOINT should be a model trained on the built-in shapes dataset (e.g.
``cvstudio train --model convnet-width --epochs 8 --out shapes.safetensors``);
without one, the script trains such a model itself for a few epochs (a
minute or two on a laptop CPU). It then renders a folder of larger shape
pictures (plus two broken files) with the same generator, classifies it on
the page and grabs the window.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_images(folder: Path, per_class: int = 4, size: int = 128) -> list[Path]:
    import numpy as np
    from PIL import Image

    from cvstudio.core.data.shapes import CLASS_NAMES, generate_shapes

    folder.mkdir(parents=True, exist_ok=True)
    n = per_class * len(CLASS_NAMES)
    _, _, images, labels = generate_shapes(seed=11, train_size=0, val_size=n, image_size=size)
    out = []
    count: dict[str, int] = {}
    for img, label in zip(images, labels):
        name = CLASS_NAMES[int(label)]
        count[name] = count.get(name, 0) + 1
        ext = "jpg" if count[name] % 2 else "png"
        path = folder / f"{name}_{count[name]:02d}.{ext}"
        Image.fromarray(np.ascontiguousarray(img.permute(1, 2, 0).numpy())).save(path)
        out.append(path)
    data = (folder / "star_01.jpg").read_bytes()
    (folder / "camera_upload.jpg").write_bytes(data[: len(data) // 3])  # cut off while copying
    (folder / "notes.txt").write_text("shopping list")
    return out + [folder / "camera_upload.jpg", folder / "notes.txt"]


def train_shapes_model(path: Path, epochs: int = 6) -> Path:
    """A convnet-width trained on the built-in shapes (Adam, batch 64), saved as a checkpoint."""
    import torch

    from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
    from cvstudio.core.data.shapes import CLASS_NAMES, generate_shapes
    from cvstudio.core.data.stats import compute_stats
    from cvstudio.core.inference import normalize
    from cvstudio.core.models import build_model, get_preset

    torch.manual_seed(0)
    x_train, y_train, x_val, y_val = generate_shapes(seed=0)
    mean, std = compute_stats(x_train)
    spec = get_preset("convnet-width")
    model = build_model(spec, (3, 32, 32), len(CLASS_NAMES))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xn, vn = normalize(x_train, mean, std), normalize(x_val, mean, std)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xn))
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            loss_fn(model(xn[idx]), y_train[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(vn).argmax(1) == y_val).float().mean())
        print(f"epoch {epoch + 1}: val acc {acc:.3f}", flush=True)
    meta = CheckpointMeta(model_spec=spec, class_names=CLASS_NAMES, input_shape=(3, 32, 32), mean=mean, std=std,
                          dataset="Shapes (built-in)", metrics={"val_acc": acc})
    return save_checkpoint(path, model, meta)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", nargs="?")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QEventLoop, QTimer

    from cvstudio.gui.app import create_application

    app = create_application(sys.argv[:1])  # as the app makes it
    tmp = Path(tempfile.mkdtemp(prefix="cvstudio-shots-"))
    os.environ["CVSTUDIO_HOME"] = str(tmp / "home")
    import torch  # noqa: F401

    from cvstudio.gui.pages.classify import ClassifyPage
    from cvstudio.gui.state import AppState
    from cvstudio.gui.theme import apply_theme

    make_images(tmp / "photos")
    checkpoint = args.checkpoint or str(train_shapes_model(tmp / "shapes-convnet-width.safetensors"))

    def wait(signal, timeout_ms: int = 60_000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()
        signal.disconnect(loop.quit)

    def settle(page) -> None:
        while not page.is_idle():
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.01)
        for _ in range(5):
            app.processEvents()

    for look in ("light", "dark"):
        apply_theme(look, app)
        state = AppState()
        state.mark_torch_ready()
        page = ClassifyPage(state)
        page.setWindowTitle("CV Studio — Classify")
        page.resize(1320, 820)
        page.show()
        page.load_checkpoint(checkpoint)
        wait(page.model_loaded)
        settle(page)
        if look == "light":
            page.grab().save(str(out / "classify_empty.png"))
        page.classify([str(tmp / "photos")])
        settle(page)
        results = page.results_model.results()
        pick = next((r for r in results if r.ok and r.name.startswith("star") and r.prediction.label == "star"),
                    next(r for r in results if r.ok))
        page.show_result(pick.key)
        page.detail.set_saliency_enabled(True)
        settle(page)
        page.grab().save(str(out / f"classify_saliency_{look}.png"))
        if look == "light":
            page.set_view("table")
            page.show_result(next(r for r in results if r.ok and r.name.startswith("triangle")).key)
            page.detail.set_saliency_enabled(False)
            settle(page)
            page.grab().save(str(out / "classify_table.png"))
        page.shutdown()
        page.close()
        page.deleteLater()
        app.processEvents()
    print("\n".join(sorted(str(p) for p in out.glob("classify*.png"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
