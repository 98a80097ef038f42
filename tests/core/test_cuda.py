"""The CUDA path where a GPU is (``benchmarks/gpu_check.sh`` runs these on one); skipped on machines without.

- the step recorded as a CUDA graph trains like the usual step, schedules included (one-cycle's momentum too);
- a model that cannot be recorded falls back to the usual step and still trains;
- bf16 autocast, and fp16 with a gradient scaler where bf16 is missing, learn;
- augmented batches are made without a host sync, and TrivialAugment gives torchvision's pixels on the GPU;
- a checkpoint written from a GPU run loads and classifies on a machine without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from cvstudio.core.models import get_preset
from cvstudio.core.specs import TrainConfig
from cvstudio.core.training import fit, new_model
from tests.conftest import make_tiny_bundle, trivial_augment_by_torchvision

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ROOT = Path(__file__).resolve().parents[2]


def _bundle():
    return make_tiny_bundle(n_train=600, n_val=128, classes=4, size=32)  # 9 full batches of 64 and one of 24


def _train(monkeypatch, graphs: bool, preset: str = "convnet-batchnorm", model=None, **config):
    monkeypatch.setenv("CVSTUDIO_CUDA_GRAPHS", "1" if graphs else "0")
    bundle = _bundle()
    model = model if model is not None else new_model(get_preset(preset), bundle, 0)
    settings = dict(epochs=4, batch_size=64, lr=0.05, momentum=0.9, device="cuda")
    settings.update(config)
    return fit(model, bundle, TrainConfig(**settings))


def _assert_same_run(recorded, usual):
    assert len(recorded.history) == len(usual.history)
    for a, b in zip(recorded.history, usual.history):
        assert a.train_loss == pytest.approx(b.train_loss, rel=2e-3, abs=2e-4)
        assert a.val_loss == pytest.approx(b.val_loss, rel=2e-3, abs=2e-4)
        assert a.lr == pytest.approx(b.lr)


def test_the_recorded_step_trains_like_the_usual_one_with_a_per_step_schedule(monkeypatch):
    recorded = _train(monkeypatch, True, schedule="cosine", weight_decay=1e-3)
    usual = _train(monkeypatch, False, schedule="cosine", weight_decay=1e-3)
    assert recorded.step_mode == "CUDA graph"
    assert usual.step_mode.startswith("eager (turned off")
    _assert_same_run(recorded, usual)
    assert recorded.metrics["val_acc"] > 0.9


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
def test_one_cycle_sgd_moves_momentum_on_the_recorded_step_as_on_the_usual_one(monkeypatch, nesterov):
    options = dict(schedule="onecycle", nesterov=nesterov, weight_decay=5e-4, epochs=5)
    recorded = _train(monkeypatch, True, **options)
    usual = _train(monkeypatch, False, **options)
    assert recorded.step_mode == "CUDA graph"
    _assert_same_run(recorded, usual)
    assert recorded.metrics["val_acc"] > 0.9


def test_adam_with_a_per_epoch_schedule_l1_and_clipping_is_recorded_and_matches(monkeypatch):
    options = dict(optimizer="adam", lr=3e-3, momentum=0.0, schedule="step", l1=1e-5, clip_grad=1.0, epochs=6)
    recorded = _train(monkeypatch, True, **options)
    usual = _train(monkeypatch, False, **options)
    assert recorded.step_mode == "CUDA graph"
    assert recorded.history[-1].lr < recorded.history[0].lr  # the step schedule reached the replays
    _assert_same_run(recorded, usual)


def test_bf16_autocast_with_dropout_learns_on_the_recorded_step(monkeypatch):
    result = _train(monkeypatch, True, preset="convnet-dropout", amp=True, epochs=6)
    assert result.step_mode == "CUDA graph"
    assert result.metrics["val_acc"] > 0.9


def test_fp16_with_a_gradient_scaler_where_bf16_is_missing(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    result = _train(monkeypatch, True, amp=True, epochs=6)
    assert result.step_mode == "eager (fp16 with a gradient scaler)"
    assert result.metrics["val_acc"] > 0.9


class _SyncsWithTheHost(nn.Module):
    """A forward that reads a value on the host, which no CUDA graph can record."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 64), nn.ReLU(), nn.Linear(64, 4))

    def forward(self, x):
        if float(x.abs().amax()) < 0:  # never true; the read itself is what a recording refuses
            x = -x
        return self.net(x)


def test_a_model_that_cannot_be_recorded_trains_on_the_usual_step(monkeypatch):
    torch.manual_seed(0)
    recorded = _train(monkeypatch, True, model=_SyncsWithTheHost(), lr=0.01)
    assert recorded.step_mode.startswith("eager (no CUDA graph: ")
    torch.manual_seed(0)
    usual = _train(monkeypatch, False, model=_SyncsWithTheHost(), lr=0.01)
    _assert_same_run(recorded, usual)
    assert recorded.metrics["val_acc"] > 0.9


def _cli(args, env_extra=None, cwd=None):
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "cvstudio", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_augmented_batches_are_made_on_the_gpu_without_a_host_sync():
    """Every augmentation step draws on the GPU or sends host numbers through pinned memory: a batch never
    waits for the GPU to finish the steps queued before it."""
    from cvstudio.core.data.batches import BatchLoader

    bundle = _bundle()
    loader = BatchLoader(bundle.train, 64, "cuda", bundle.mean, bundle.std, shuffle=True, channels_last=True,
                         augment="resized-crop,crop,flip,rotate,color,trivial")
    batches = iter(loader)
    next(batches)  # the epoch's order, first allocations
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(6):
            x, y = next(batches)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert x.is_cuda and x.dtype == torch.float32 and y.is_cuda


def test_trivial_augment_on_the_gpu_gives_torchvision_s_pixels():
    from cvstudio.core.data.augment import random_trivial_augment

    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4)).cuda()
    torch.manual_seed(9)
    out = random_trivial_augment(x)
    for i, (image, name, m) in enumerate(trivial_augment_by_torchvision(x, seed=9)):
        assert torch.equal(out[i], image), (i, name, m)


def test_a_checkpoint_trained_on_the_gpu_classifies_on_a_machine_without_one(tmp_path):
    from PIL import Image

    ckpt = tmp_path / "gpu.safetensors"
    proc = _cli(["train", "--device", "cuda", "--amp", "--epochs", "1", "--out", str(ckpt), "--json"])
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["device"].startswith("cuda")
    image = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (220, 30, 30)).save(image)
    no_gpu = {"CUDA_VISIBLE_DEVICES": ""}
    proc = _cli(["classify", str(ckpt), str(image), "--json"], no_gpu)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])
