"""Which runs record their step as a CUDA graph (core/training/graphs.py); the recording itself: test_cuda.py."""

from __future__ import annotations

import torch
from torch import nn

from cvstudio.core.training.graphs import graph_blocker

CUDA = torch.device("cuda", 0)  # a device object needs no GPU; nothing here touches one


def _scheduler(kind: str):
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    if kind == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)


def test_plain_and_scheduled_gpu_runs_are_recorded(monkeypatch):
    monkeypatch.delenv("CVSTUDIO_CUDA_GRAPHS", raising=False)
    assert graph_blocker(CUDA, distributed=False, scaled=False, scheduler=None) is None
    assert graph_blocker(CUDA, distributed=False, scaled=False, scheduler=_scheduler("cosine")) is None


def test_what_keeps_a_run_on_the_usual_step(monkeypatch):
    monkeypatch.delenv("CVSTUDIO_CUDA_GRAPHS", raising=False)
    assert graph_blocker(torch.device("cpu"), distributed=False, scaled=False, scheduler=None) == "not on a CUDA device"
    assert graph_blocker(CUDA, distributed=True, scaled=False, scheduler=None) == "distributed training"
    assert graph_blocker(CUDA, distributed=False, scaled=True, scheduler=None) == "fp16 with a gradient scaler"
    assert "one-cycle" in graph_blocker(CUDA, distributed=False, scaled=False, scheduler=_scheduler("onecycle"))
    monkeypatch.setenv("CVSTUDIO_CUDA_GRAPHS", "0")
    assert graph_blocker(CUDA, distributed=False, scaled=False, scheduler=None) == "turned off (CVSTUDIO_CUDA_GRAPHS=0)"
