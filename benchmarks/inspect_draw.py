"""How long the GUI thread takes to draw the Inspect page's grids (issue 4: under 100 ms).

Measures, offscreen, from numpy arrays to pixels on screen (the grid's view
repainted synchronously):

- a 64-kernel grid: a first layer Conv2d(3, 64, 3) in colour, a Conv2d(32, 64, 3)
  per input channel (2,048 tiles) and averaged;
- a 16-channel feature-map grid (16x32x32) and a 64-channel one;
- the same through the page (layer switch in the Kernels tab with its
  detail panel, layer switch in the Feature maps tab).

Each case alternates between two different arrays so every draw is real.

    QT_QPA_PLATFORM=offscreen python benchmarks/inspect_draw.py [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

BUDGET_MS = 100.0


def time_draws(draw, paint, repeat: int) -> list[float]:
    app = QApplication.instance()
    draw(0)  # warm-up: first colour table, first QImage
    paint()
    app.processEvents()
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        draw(i % 2)
        app.processEvents()
        paint()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    app = QApplication.instance() or QApplication(sys.argv)
    import torch

    from cvstudio.core.checkpoints import CheckpointMeta
    from cvstudio.core.models import build_model, get_preset
    from cvstudio.gui.pages.inspect import InspectPage
    from cvstudio.gui.state import AppState
    from cvstudio.gui.theme import apply_theme
    from cvstudio.gui.widgets.feature_grid import FeatureGrid
    from cvstudio.gui.widgets.kernel_grid import KernelGrid

    apply_theme("light", app)
    rng = np.random.default_rng(0)

    def pair(*shape):
        return [rng.normal(size=shape).astype(np.float32) for _ in range(2)]

    results = {}

    grid = KernelGrid()
    grid.resize(700, 620)
    grid.show()
    paint = grid.graphics.viewport().repaint
    for label, arrays, view in (
        ("kernels 64 x 3x3x3, colour", pair(64, 3, 3, 3), "rgb"),
        ("kernels 64 x 32x3x3, per input channel (2,048 tiles)", pair(64, 32, 3, 3), "channels"),
        ("kernels 64 x 32x3x3, averaged", pair(64, 32, 3, 3), "mean"),
    ):
        results[label] = time_draws(lambda i, a=arrays, v=view: grid.show_kernels("conv", a[i], v), paint, args.repeat)

    fgrid = FeatureGrid()
    fgrid.resize(700, 620)
    fgrid.show()
    paint = fgrid.graphics.viewport().repaint
    for label, arrays in (
        ("feature maps 16 x 32x32", pair(16, 32, 32)),
        ("feature maps 64 x 32x32", pair(64, 32, 32)),
    ):
        results[label] = time_draws(lambda i, a=arrays: fgrid.show_map("conv1", "Conv2d", a[i]), paint, args.repeat)

    # the whole page: a convnet of width 64 (conv1 64x3x3x3, conv2 32x64x3x3), switching layers
    state = AppState()
    page = InspectPage(state)
    page.resize(1240, 780)
    page.show()
    state.mark_torch_ready()
    spec = get_preset("convnet-width", width=64)
    torch.manual_seed(0)
    model = build_model(spec, (3, 32, 32), 2).eval()
    meta = CheckpointMeta(model_spec=spec, class_names=("a", "b"), input_shape=(3, 32, 32), mean=(0.5,) * 3,
                          std=(0.25,) * 3, dataset="benchmark")
    state.set_model(model, meta, None)
    import tempfile

    from PIL import Image

    image_file = Path(tempfile.mkdtemp()) / "random.png"
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image_file)
    page.open_image_file(image_file)
    deadline = time.monotonic() + 30
    while (not page.idle or page.features.inspection is None) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    page.tabs.setCurrentWidget(page.kernels)
    app.processEvents()
    layers = ["conv1", "conv2"]
    results["page: Kernels tab, switch conv1 (64 colour kernels) <-> conv2 (32 x 64x3x3)"] = time_draws(
        lambda i: page.kernels.set_layer(layers[i]), page.repaint, args.repeat)
    page.tabs.setCurrentWidget(page.features)
    app.processEvents()
    results["page: Feature maps tab, switch conv1 (64x32x32) <-> conv2 (32x16x16)"] = time_draws(
        lambda i: page.features.set_layer(layers[i]), page.repaint, args.repeat)
    while not page.idle:
        app.processEvents()

    worst = 0.0
    summary = {}
    for label, times in results.items():
        med, p95, top = statistics.median(times), float(np.percentile(times, 95)), max(times)
        worst = max(worst, top)
        summary[label] = {"median_ms": round(med, 2), "p95_ms": round(p95, 2), "max_ms": round(top, 2)}
    ok = worst < BUDGET_MS
    if args.json:
        print(json.dumps({"budget_ms": BUDGET_MS, "ok": ok, "repeat": args.repeat, "cases": summary}))
    else:
        print(f"GUI-thread draw time, {args.repeat} draws each (budget {BUDGET_MS:.0f} ms per draw)")
        width = max(len(k) for k in summary)
        print(f"{'case':<{width}}  {'median':>8}  {'p95':>8}  {'max':>8}")
        for label, s in summary.items():
            print(f"{label:<{width}}  {s['median_ms']:>6.1f}ms  {s['p95_ms']:>6.1f}ms  {s['max_ms']:>6.1f}ms")
        print("OK: every draw under budget" if ok else f"SLOW: worst draw {worst:.1f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
