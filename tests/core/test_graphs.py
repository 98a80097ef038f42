"""Which runs record their step as a CUDA graph (core/training/graphs.py), and the momentum a recorded step
follows; the recording itself: test_cuda.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cvstudio.core.training.graphs import MomentumCarrier, graph_blocker

CUDA = torch.device("cuda", 0)  # a device object needs no GPU; nothing here touches one


def _scheduler(kind: str, optimizer: str = "sgd", **options):
    params = nn.Linear(2, 2).parameters()
    if optimizer == "sgd":
        made = torch.optim.SGD(params, lr=0.1, momentum=0.9, **options)
    else:
        made = torch.optim.AdamW(params, lr=0.1)
    if kind == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(made, max_lr=0.1, total_steps=10)
    return torch.optim.lr_scheduler.CosineAnnealingLR(made, T_max=10)


def test_plain_and_scheduled_gpu_runs_are_recorded(monkeypatch):
    monkeypatch.delenv("CVSTUDIO_CUDA_GRAPHS", raising=False)
    assert graph_blocker(CUDA, distributed=False, scaled=False, scheduler=None) is None
    assert graph_blocker(CUDA, distributed=False, scaled=False, scheduler=_scheduler("cosine")) is None
    assert graph_blocker(CUDA, distributed=False, scaled=False, scheduler=_scheduler("onecycle")) is None
    nesterov = _scheduler("onecycle", nesterov=True)
    assert graph_blocker(CUDA, distributed=False, scaled=False, scheduler=nesterov) is None


def test_what_keeps_a_run_on_the_usual_step(monkeypatch):
    monkeypatch.delenv("CVSTUDIO_CUDA_GRAPHS", raising=False)
    assert graph_blocker(torch.device("cpu"), distributed=False, scaled=False, scheduler=None) == "not on a CUDA device"
    assert graph_blocker(CUDA, distributed=True, scaled=False, scheduler=None) == "distributed training"
    assert graph_blocker(CUDA, distributed=False, scaled=True, scheduler=None) == "fp16 with a gradient scaler"
    adam = _scheduler("onecycle", optimizer="adamw")
    assert graph_blocker(CUDA, distributed=False, scaled=False, scheduler=adam) == (
        "the one-cycle schedule also moves Adam's beta1")
    dampened = _scheduler("onecycle", dampening=0.1)
    assert "dampening" in graph_blocker(CUDA, distributed=False, scaled=False, scheduler=dampened)
    monkeypatch.setenv("CVSTUDIO_CUDA_GRAPHS", "0")
    assert graph_blocker(CUDA, distributed=False, scaled=False, scheduler=None) == "turned off (CVSTUDIO_CUDA_GRAPHS=0)"


def _one_cycle_sgd(nesterov: bool, fused: bool, steps: int):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    decayed, plain = [model[0].weight, model[2].weight], [model[0].bias, model[2].bias]
    groups = [{"params": decayed, "weight_decay": 5e-4}, {"params": plain, "weight_decay": 0.0}]
    optimizer = torch.optim.SGD(groups, lr=0.2, momentum=0.9, nesterov=nesterov, fused=fused)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[0.2, 0.2], total_steps=steps)
    return model, optimizer, schedule


def _train_one_cycle(nesterov: bool, fused: bool, carried: bool | None, steps: int = 40) -> list[torch.Tensor]:
    """SGD under one-cycle: as usual (``carried`` None), or from step 3 on as a recorded step runs it: the momentum
    fixed at its value then, with (True) or without (False) the carrier; every 9th step a usual one in between."""
    model, optimizer, schedule = _one_cycle_sgd(nesterov, fused, steps)
    batches = torch.Generator().manual_seed(1)
    carrier, recorded = None, []
    for step in range(steps):
        x, y = torch.randn(32, 8, generator=batches), torch.randint(0, 3, (32,), generator=batches)
        as_recorded = carried is not None and step >= 3 and step % 9 != 8
        if as_recorded and not recorded:
            recorded = [g["momentum"] for g in optimizer.param_groups]
            carrier = MomentumCarrier(optimizer) if carried else None
        moving = [g["momentum"] for g in optimizer.param_groups]
        if as_recorded:
            if carrier is not None:
                carrier.refresh(optimizer)
                carrier.before_step()
            for group, momentum in zip(optimizer.param_groups, recorded):
                group["momentum"] = momentum  # the number the recorded fused step holds
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if as_recorded and carrier is not None:
            carrier.after_step()
        for group, momentum in zip(optimizer.param_groups, moving):
            group["momentum"] = momentum
        schedule.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("fused", [False, True], ids=["foreach", "fused"])
def test_a_step_recorded_with_one_momentum_follows_the_one_cycle_schedule(nesterov, fused):
    usual = _train_one_cycle(nesterov, fused, carried=None)
    carried = _train_one_cycle(nesterov, fused, carried=True)
    fixed = _train_one_cycle(nesterov, fused, carried=False)
    for a, b in zip(carried, usual):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert max((a - b).abs().max().item() for a, b in zip(fixed, usual)) > 1e-3  # what the carrier corrects


def test_a_step_recorded_without_momentum_has_nothing_to_carry():
    _, optimizer, _ = _one_cycle_sgd(nesterov=False, fused=False, steps=10)
    for group in optimizer.param_groups:
        group["momentum"] = 0.0
    with pytest.raises(ValueError, match="without momentum"):
        MomentumCarrier(optimizer)
