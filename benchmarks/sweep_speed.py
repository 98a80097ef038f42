"""A 4-trial sweep against the same 4 runs one after another (issue 16: target <= 0.75x the time).

Both sides run the real command line in child processes on the built-in
dataset with the convnet preset at its default settings:
  - sequential: ``cvstudio train --lr X ...`` four times, each with the default
    torch threads (all cores), as a user trying settings one by one would;
  - sweep: ``cvstudio sweep --set lr=...`` with its automatic parallelism
    (one single-threaded trial per core on the CPU).
The cached built-in dataset is warmed first so neither side pays for generating it.

Usage: .venv/bin/python benchmarks/sweep_speed.py [--epochs 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

LRS = ("0.005", "0.01", "0.02", "0.05")


def _cvstudio(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cvstudio", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"cvstudio {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    common = ["--dataset", "shapes", "--model", "convnet", "--epochs", str(args.epochs)]
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, CVSTUDIO_HOME=home)
        _cvstudio("train", *common, "--epochs", "1", "--out", os.path.join(home, "warm.safetensors"), env=env)
        ratios = []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            for lr in LRS:
                _cvstudio("train", *common, "--lr", lr, "--project", os.path.join(home, f"seq{repeat}"), env=env)
            sequential = time.perf_counter() - start

            start = time.perf_counter()
            proc = _cvstudio("sweep", *common, "--set", "lr=" + ",".join(LRS),
                             "--project", os.path.join(home, f"sweep{repeat}"), "--json", env=env)
            swept = time.perf_counter() - start
            done = json.loads(proc.stdout.strip().splitlines()[-1])
            assert len(done["trials"]) == len(LRS) and all(t["status"] == "finished" for t in done["trials"])
            ratios.append(swept / sequential)
            print(f"repeat {repeat + 1}: 4 runs one after another {sequential:6.1f} s, "
                  f"4-trial sweep {swept:6.1f} s -> {swept / sequential:.2f}x the time "
                  f"({os.cpu_count()} cores; target <= 0.75x)")
    print(f"sweep / sequential time: {min(ratios):.2f}-{max(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
