"""Multi-process training on the CPU with gloo (issue 16): real torchrun jobs on 127.0.0.1.

Each test starts a few Python processes that import torch, so the data and
models are tiny and the runs 2 epochs long.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cvstudio.cli import main
from cvstudio.core import paths
from tests.cli.test_cli import _folder_dataset, _json_lines

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--image-size", "16", "--model", "convnet", "--epochs", "2", "--lr", "0.05", "--seed", "4",
         "--device", "cpu", "--json"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **extra)
    return env


def cvstudio(*args: str, **extra_env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cvstudio", *args], cwd=ROOT, env=child_env(**extra_env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_two_processes_give_one_processs_losses_and_one_checkpoint(tmp_path):
    data = _folder_dataset(tmp_path / "data")  # 48 training images: 3 global batches of 16, no padding
    two_out, one_out = tmp_path / "two", tmp_path / "one"
    two_out.mkdir(), one_out.mkdir()
    # 2 processes x batch 8, through `--nproc` (torchrun as a child) ...
    two = cvstudio(*TRAIN, "--dataset", str(data), "--batch-size", "8", "--nproc", "2",
                   "--out", str(two_out / "run.safetensors"))
    # ... and 1 process x batch 16 in a torch.distributed job of one, as torchrun would start it.
    one = cvstudio(*TRAIN, "--dataset", str(data), "--batch-size", "16", "--out", str(one_out / "run.safetensors"),
                   RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    code2, out2, err2 = finish(two)
    code1, out1, err1 = finish(one)
    assert code2 == 0, err2
    assert code1 == 0, err1
    assert "global batch 16 = 8 per process x 2" in err2

    lines2, lines1 = _json_lines(out2), _json_lines(out1)
    assert [l["event"] for l in lines2] == ["epoch", "epoch", "done"]  # rank 0 alone prints
    for a, b in zip(lines2[:2], lines1[:2]):
        for key in ("train_loss", "val_loss", "val_acc", "train_acc"):
            assert abs(a[key] - b[key]) <= 1e-4, (key, a[key], b[key])
    done = lines2[-1]
    assert done["world_size"] == 2 and done["global_batch_size"] == 16
    # Exactly one checkpoint, written atomically by rank 0 (no temp file left, nothing in the runs folder).
    assert sorted(p.name for p in two_out.iterdir()) == ["run.safetensors"]
    runs = paths.runs_dir()
    assert not runs.exists() or not list(runs.iterdir())
    image = next((data / "test" / "left").iterdir())
    assert main(["classify", done["checkpoint"], str(image)]) == 0


def test_two_nodes_with_a_localhost_rendezvous(tmp_path):
    """The cluster command of the README: one torchrun per node, the same master address and port."""
    data = _folder_dataset(tmp_path / "data")
    port = str(free_port())
    nodes = []
    for node in (0, 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node),
               "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", port,
               "-m", "cvstudio", *TRAIN, "--dataset", str(data), "--batch-size", "8",
               "--out", str(tmp_path / "run.safetensors")]
        nodes.append(subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    results = [finish(p) for p in nodes]
    assert [code for code, _, _ in results] == [0, 0], results[0][2] + results[1][2]
    dones = [l for _, out, _ in results for l in _json_lines(out) if l["event"] == "done"]
    assert len(dones) == 1 and dones[0]["world_size"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run.safetensors"]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process through /proc")
def test_killing_one_rank_ends_the_run_with_one_clear_message(tmp_path):
    data = _folder_dataset(tmp_path / "data")
    marker = uuid.uuid4().hex
    proc = cvstudio(*TRAIN, "--epochs", "2000", "--dataset", str(data), "--batch-size", "8", "--nproc", "2", "--out", str(tmp_path / "run.safetensors"),
                    CVSTUDIO_TEST_RUN=marker)
    try:
        line = proc.stdout.readline()  # rank 0's first epoch: both ranks are training
        assert json.loads(line)["event"] == "epoch"
        rank1 = _process_with_env({"CVSTUDIO_TEST_RUN": marker, "RANK": "1"})
        os.kill(rank1, signal.SIGKILL)
        code, _, err = finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code != 0
    assert "cvstudio: rank 1 of 2 failed: killed by SIGKILL; all ranks were stopped" in err
    assert not (tmp_path / "run.safetensors").exists()


def test_ctrl_c_stops_every_rank_and_keeps_the_checkpoint(tmp_path):
    data = _folder_dataset(tmp_path / "data")
    out = tmp_path / "run.safetensors"
    proc = cvstudio(*TRAIN, "--epochs", "2000", "--dataset", str(data), "--batch-size", "8", "--nproc", "2",
                    "--out", str(out))
    try:
        assert json.loads(proc.stdout.readline())["event"] == "epoch"
        proc.send_signal(signal.SIGINT)  # the launcher asks rank 0, which stops all ranks at one sync point
        code, rest, err = finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err
    done = _json_lines(rest)[-1]
    assert done["event"] == "done" and done["status"] == "stopped" and done["checkpoint"] == str(out)
    assert out.exists() and "stopping every rank" in err


def _process_with_env(wanted: dict[str, str], timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                raw = (entry / "environ").read_bytes()
            except OSError:
                continue
            env = dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
            if all(env.get(k.encode()) == v.encode() for k, v in wanted.items()):
                return int(entry.name)
        time.sleep(0.2)
    raise AssertionError(f"no process with {wanted}")
