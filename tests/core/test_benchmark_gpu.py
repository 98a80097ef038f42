"""benchmarks/gpu.py stays runnable where no GPU is: a dry run on the CPU with tiny sizes, and a clear refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CVSTUDIO_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=600)


def test_dry_run_on_cpu_prints_both_parts(tmp_path):
    rng = np.random.default_rng(0)
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (tmp_path / "two" / name).mkdir(parents=True)
        for i in range(20):
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "two" / name / f"{i}.png")
    proc = _run(["--device", "cpu", "--images", "128", "--epochs", "1", "--trials", "1",
                 "--accuracy-data", str(tmp_path / "two"), "--target-acc", "0.9", "--max-epochs", "8",
                 "--acc-batch-size", "8", "--width", "8", "--depth", "1", "--lr", "0.05"], tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "convnet  cheatsheet" in out and "resnet   cheatsheet" in out
    assert "time to 90% test accuracy" in out and "airbench width 8 depth 1" in out  # part 2's default network
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("summary: convnet ") and "resnet " in summary and "90%" in summary


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_without_a_gpu_it_refuses_in_one_line(tmp_path):
    proc = _run([], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gpu.py: no CUDA device: PyTorch sees no CUDA GPU here (use --device cpu for a dry run)"
    ]


def test_gpu_check_keeps_within_its_budget(tmp_path):
    """gpu_check.sh must end inside one device call: steps are cut to what is left of BUDGET_S, and those that
    would get under 20 s are skipped and named, rather than the call's limit killing the script unreported."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_python = bin_dir / "fakepy"  # each step "runs" for 3 s and shows the environment it got
    fake_python.write_text('#!/bin/bash\ncase "$1" in -c) exit 0;; esac\n'
                           'echo "ran $* graphs=${CVSTUDIO_CUDA_GRAPHS-unset} cuda=${CUDA_VISIBLE_DEVICES-unset}"\n'
                           'sleep 3\n')
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho stand-in GPU\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHON="fakepy", BUDGET_S="30",
               CVSTUDIO_HOME=str(tmp_path / "home"))
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(tmp_path / "out")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ran = [line for line in proc.stdout.splitlines() if line.startswith("ran ")]
    assert ran[0].startswith("ran benchmarks/gpu.py --skip-accuracy")  # the most telling step first
    info = next(line for line in ran if line.startswith("ran -m cvstudio info"))
    assert info.endswith("cuda=")  # the GPU-made checkpoint is read with CUDA hidden
    skipped = proc.stdout.split("=== not run, out of the 30 s budget:")[1].split("=== done")[0]
    assert "--nproc 1" in skipped and "--skip-accuracy --trials 3" not in skipped
    seconds_taken = int(proc.stdout.rsplit("=== done", 1)[1].split(", ")[1].split()[0])
    assert seconds_taken <= 30
