"""How long the GUI thread stalls when a run or a sweep's trial ends (issue 12: stalls under 50 ms).

The page lists the runs again each time a run ends, which in a sweep is every
few seconds, so a project of hundreds of runs must not freeze the window each
time. Measured offscreen, with made-up run records (no checkpoints read: that
happens on a worker), for projects of 100 to 3,000 runs:

- a refresh (a run ended): the table takes the new list, sorted by date as
  shown, then paints;
- the first listing of a project, which also fits the columns to their contents;
- a header click (sorting by validation accuracy, then by date again).

Then the Sweeps page's parallel-coordinates plot, redrawn with every finished
trial at each trial's end, for sweeps of 12 to 500 trials over four settings.

    QT_QPA_PLATFORM=offscreen python benchmarks/runs_and_sweeps.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STALL_TARGET_MS = 50.0
SIZES = (100, 300, 1000, 3000)
SWEEP_SIZES = (12, 60, 180, 500)
SWEEP_GRID = [("lr", ["0.001", "0.003", "0.01", "0.03", "0.1"]), ("width", ["8", "16", "32", "64"]),
              ("batch_size", ["32", "64", "128"]), ("dropout", ["0", "0.25", "0.5"])]


def make_records(n: int) -> list:
    from cvstudio.core.projects import RunRecord

    return [RunRecord(id=f"2026-11-28-{i:05d}-convnet", checkpoint=Path(f"/p/runs/{i}.safetensors"), model="convnet",
                      dataset="shapes (star, circle, square)", optimizer=("sgd", "adam")[i % 2], lr=0.001 * (1 + i % 30),
                      batch_size=64, val_acc=(i * 37 % 1000) / 1000, train_acc=(i * 53 % 1000) / 1000, epochs=10,
                      seconds=30.0 + i % 300, images_per_s=15_000.0 + i % 5_000, status="done",
                      created=f"2026-11-{1 + i // 1440 % 28:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00",
                      notes=f"trial {i}\nsecond line", tags=("sweep", f"lr{i % 30}")) for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ["CVSTUDIO_HOME"] = tempfile.mkdtemp(prefix="cvstudio-bench-")

    from cvstudio.gui.app import create_application
    from PySide6.QtCore import Qt

    from cvstudio.gui.pages.runs import COLUMNS, RunsPage
    from cvstudio.gui.state import AppState
    from cvstudio.gui.theme import apply_theme

    app = create_application()
    apply_theme("light")
    page = RunsPage(AppState())
    page.resize(1400, 700)
    page.show()
    app.processEvents()

    def timed(records: list, first: bool) -> float:
        if first:
            page.model.set_records([])
            app.processEvents()
        start = time.perf_counter()
        page._on_runs_listed(records)
        page.table.viewport().repaint()  # the paint it brings, now rather than at the next frame
        app.processEvents()
        return (time.perf_counter() - start) * 1e3

    worst = 0.0
    for n in SIZES:
        before, after = make_records(n - 1), make_records(n)
        timed(before, first=True)  # warm-up
        refresh = statistics.median(timed(after if i % 2 == 0 else before, first=False) for i in range(args.repeat))
        first = statistics.median(timed(after, first=True) for _ in range(args.repeat))
        clicks = []
        for i in range(args.repeat):
            column, order = (("Best val acc", Qt.SortOrder.DescendingOrder), ("Date", Qt.SortOrder.DescendingOrder))[i % 2]
            start = time.perf_counter()
            page.table.sortByColumn(COLUMNS.index(column), order)
            page.table.viewport().repaint()
            app.processEvents()
            clicks.append((time.perf_counter() - start) * 1e3)
        click = statistics.median(clicks)
        print(f"{n:5,} runs: a refresh (a run ended) {refresh:6.1f} ms; the first listing (columns fitted) {first:6.1f} ms;"
              f" a header click {click:6.1f} ms (median of {args.repeat})")
        if n <= 1000:
            worst = max(worst, refresh, click)
    verdict = "met" if worst < STALL_TARGET_MS else "MISSED"
    print(f"target: a refresh or a header click, up to 1,000 runs, under {STALL_TARGET_MS:.0f} ms: {verdict} "
          f"(worst {worst:.1f} ms)")
    sweep_worst = sweep_plot(app, args.repeat)
    sweep_verdict = "met" if sweep_worst < STALL_TARGET_MS else "MISSED"
    print(f"target: the plot of up to 500 trials under {STALL_TARGET_MS:.0f} ms: {sweep_verdict} "
          f"(worst {sweep_worst:.1f} ms)")
    return 0 if worst < STALL_TARGET_MS and sweep_worst < STALL_TARGET_MS else 1


def sweep_plot(app, repeat: int) -> float:
    """The parallel-coordinates plot given every finished trial and painted, as at a trial's end; the worst median."""
    import random

    from cvstudio.gui.widgets.parallel_coords import ParallelCoordinatesPlot

    plot = ParallelCoordinatesPlot()
    plot.resize(900, 400)
    plot.show()
    plot.set_axes(SWEEP_GRID)
    rnd = random.Random(0)
    worst = 0.0
    for n in SWEEP_SIZES:
        trials = [({name: rnd.choice(values) for name, values in SWEEP_GRID}, rnd.random()) for _ in range(n)]
        times = []
        for i in range(repeat + 1):  # the first is a warm-up
            start = time.perf_counter()
            plot.set_trials(trials[: n - i % 2])  # a trial more or less each time: every redraw is real
            plot.repaint()
            app.processEvents()
            times.append((time.perf_counter() - start) * 1e3)
        median = statistics.median(times[1:])
        worst = max(worst, median)
        print(f"{n:5,} trials: the sweep plot redrawn at a trial's end {median:6.1f} ms (median of {repeat})")
    return worst


if __name__ == "__main__":
    sys.exit(main())
