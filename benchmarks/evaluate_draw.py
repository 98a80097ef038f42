"""How long the GUI thread takes to paint the Evaluate page's confusion matrix (stalls under 50 ms).

The matrix is painted again at every hover over a new cell, every selection and
resize, so a paint must stay well under a frame's budget whatever the number of
classes (CIFAR-100 has 100, a folder of photos may have hundreds). Measured
offscreen for 10, 100 and 1,000 classes: the first paint after new results (the
cells' colours computed) and later paints (median).

    QT_QPA_PLATFORM=offscreen python benchmarks/evaluate_draw.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STALL_TARGET_MS = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    import numpy as np

    from cvstudio.gui.app import create_application
    from cvstudio.gui.theme import apply_theme
    from cvstudio.gui.widgets.confusion_matrix import ConfusionMatrixView

    app = create_application()
    apply_theme("light")
    view = ConfusionMatrixView()
    view.resize(900, 800)
    view.show()
    app.processEvents()
    worst = 0.0
    for k in (10, 100, 1000):
        rng = np.random.default_rng(k)
        counts = rng.integers(0, 20, (k, k)) * (rng.random((k, k)) < 0.3)
        counts[np.arange(k), np.arange(k)] = rng.integers(50, 100, k)
        view.set_matrix(counts, counts / counts.sum(1, keepdims=True), [f"class {i}" for i in range(k)])
        start = time.perf_counter()
        view.repaint()
        first = (time.perf_counter() - start) * 1e3
        later = []
        for i in range(args.repeat):
            view.select_cell(i % k, (i * 7) % k)  # what a click does; a hover repaints the same way
            start = time.perf_counter()
            view.repaint()
            later.append((time.perf_counter() - start) * 1e3)
        median = statistics.median(later)
        if k <= 100:
            worst = max(worst, median, first)
        print(f"{k:5,} classes: first paint {first:7.1f} ms, later paints {median:6.1f} ms (median of {args.repeat})")
    verdict = "met" if worst < STALL_TARGET_MS else "MISSED"
    print(f"target: every paint of up to 100 classes under {STALL_TARGET_MS:.0f} ms: {verdict} (worst {worst:.1f} ms)")
    return 0 if worst < STALL_TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
