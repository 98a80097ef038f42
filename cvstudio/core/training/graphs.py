"""GPU path (issue 12): the whole training step recorded once as a CUDA graph, then replayed batch after batch.

At the cheatsheet's batch of 64 a small network leaves a GPU idle: each
step is ~40 kernels of a few microseconds, and launching them from Python
costs more than running them. A CUDA graph launches the recorded forward,
backward and optimizer step in one call, as in PyTorch's "whole network
capture" recipe (https://pytorch.org/docs/stable/notes/cuda.html#cuda-graphs):

- the first full batches run as usual on a side stream (cuDNN picks its
  algorithms, the optimizer makes its state), then one step is recorded
  with its inputs in fixed buffers; each later full batch is copied into
  those buffers and the graph replayed. The epoch's last, smaller batch
  runs as usual, updating the same weights, gradients and optimizer state;
- the step adds its loss and correct count to the epoch's sums itself, so
  those additions are recorded too, and the loader writes each later full
  batch straight into the recorded inputs
  (``BatchLoader.write_full_batches_into``): between replays run only the
  batch's gather and normalization and the loss's copy kept for the plots;
- learning rates live in one-element tensors while recording, so that a
  schedule that moves them per step (cosine, one-cycle) or per epoch (step)
  reaches the replays: the fused optimizers read the rate from the device;
- SGD's momentum, which the one-cycle schedule moves every step, is a number
  the fused step bakes in when recorded; :class:`MomentumCarrier` makes the
  replays follow the schedule's momentum all the same (see there how);
- anything that cannot be recorded -- a model whose forward syncs with the
  host, say -- leaves the run on the usual step, with the reason in
  ``GraphedStep.mode``.

Not recorded (``graph_blocker`` says why): fp16 with a GradScaler (its
skipped steps are decisions on the host), the one-cycle schedule on Adam or
AdamW (it moves beta1, which also enters Adam's bias correction), SGD with
dampening, distributed runs (DDP's buckets), and ``CVSTUDIO_CUDA_GRAPHS=0``.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import torch

WARMUP_STEPS = 3  # full batches run as usual (on a side stream) before the step is recorded
GRAPHS_ENV = "CVSTUDIO_CUDA_GRAPHS"


def graph_blocker(device: torch.device, *, distributed: bool, scaled: bool, scheduler: Any) -> str | None:
    """Why this run's step is not recorded as a CUDA graph, or None when it can be."""
    if device.type != "cuda":
        return "not on a CUDA device"
    if os.environ.get(GRAPHS_ENV, "1").strip() == "0":
        return f"turned off ({GRAPHS_ENV}=0)"
    if distributed:
        return "distributed training"
    if scaled:
        return "fp16 with a gradient scaler"
    if moves_momentum(scheduler):
        optimizer = scheduler.optimizer
        if not isinstance(optimizer, torch.optim.SGD):
            return "the one-cycle schedule also moves Adam's beta1"
        if any(group["dampening"] for group in optimizer.param_groups):
            return "the one-cycle schedule moves the momentum of SGD with dampening"
    return None


def moves_momentum(scheduler: Any) -> bool:
    """True for a schedule that moves the optimizer's momentum (or Adam's beta1) as well as its learning rate."""
    return isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) and scheduler.cycle_momentum


class MomentumCarrier:
    """Makes a step recorded with SGD momentum ``m0`` act as if it had the momentum the schedule has set now.

    The fused SGD step keeps ``buf = m0 * buf + g`` and moves the weights by
    ``lr * buf`` (``lr * (g + m0 * buf)`` with Nesterov). Recorded around it,
    reading two device scalars the host refreshes when the momentum ``m``
    moves:

    - before: ``buf *= m / m0``, so that the step's ``m0 * buf`` is ``m * buf``
      and the buffer it leaves is the true one;
    - after, with Nesterov only: ``w += lr * (m0 - m) * buf``, which turns the
      step's ``m0 * buf`` term into ``m * buf``.

    The buffers always hold what SGD with the moving momentum would hold, so
    an unrecorded step (an epoch's last, smaller batch) may run in between.
    """

    def __init__(self, optimizer: torch.optim.SGD) -> None:
        self.groups: list[tuple[list[torch.Tensor], list[torch.Tensor], float, bool]] = []
        self.ratios: list[torch.Tensor] = []  # m / m0, per group
        self.corrections: list[torch.Tensor] = []  # lr * (m0 - m), per group (Nesterov)
        self._seen: list[tuple[float, float]] = []
        for group in optimizer.param_groups:
            pairs = [(p, optimizer.state[p]["momentum_buffer"]) for p in group["params"]
                     if optimizer.state.get(p, {}).get("momentum_buffer") is not None]
            recorded = float(group["momentum"])
            if recorded <= 0.0:
                raise ValueError("SGD without momentum when the step was recorded")
            params, buffers = [p for p, _ in pairs], [b for _, b in pairs]
            device = buffers[0].device if buffers else torch.device("cpu")
            self.groups.append((params, buffers, recorded, bool(group["nesterov"])))
            self.ratios.append(torch.ones((), dtype=torch.float32, device=device))
            self.corrections.append(torch.zeros((), dtype=torch.float32, device=device))
            self._seen.append((recorded, float(group["lr"])))

    def refresh(self, optimizer: torch.optim.SGD) -> None:
        """On the host, between steps: bring the device scalars to the groups' momentum and rate (no sync)."""
        for i, group in enumerate(optimizer.param_groups):
            momentum, lr = float(group["momentum"]), float(group["lr"])
            if (momentum, lr) == self._seen[i]:
                continue
            self._seen[i] = (momentum, lr)
            _, _, recorded, nesterov = self.groups[i]
            self.ratios[i].fill_(momentum / recorded)
            if nesterov:
                self.corrections[i].fill_(lr * (recorded - momentum))

    @torch.no_grad()
    def before_step(self) -> None:
        for (_, buffers, _, _), ratio in zip(self.groups, self.ratios):
            if buffers:
                torch._foreach_mul_(buffers, ratio)

    @torch.no_grad()
    def after_step(self) -> None:
        for (params, buffers, _, nesterov), correction in zip(self.groups, self.corrections):
            if nesterov and buffers:
                torch._foreach_add_(params, torch._foreach_mul(buffers, correction))


class GraphedStep:
    """A ``loop._TrainStep`` whose full batches replay one recorded CUDA graph; same calls, same results."""

    def __init__(self, step, device: torch.device,  # noqa: ANN001 - loop._TrainStep (imports the other way round)
                 feed: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> None:
        self.step = step
        self.feed = feed  # told the recorded inputs once, so that later batches arrive in them
        self.device = device
        self.model = step.model
        self.scaler = step.scaler
        self.mode = "eager (warming up for a CUDA graph)"
        self._graph: torch.cuda.CUDAGraph | None = None
        self._gave_up = False
        self._warm_steps = 0
        self._batch_shape: torch.Size | None = None
        self._side = torch.cuda.Stream(device=device)
        self._static: tuple[torch.Tensor, ...] = ()
        self._lr_tensors: list[torch.Tensor] = []
        self._lr_values: list[float] = []
        self._momentum: MomentumCarrier | None = None

    @property
    def loss_total(self) -> torch.Tensor:
        return self.step.loss_total  # the recorded step adds to it: one tensor, whatever step ran

    @property
    def correct_total(self) -> torch.Tensor:
        return self.step.correct_total

    def start_epoch(self) -> None:
        self.step.start_epoch()

    def end_epoch(self) -> None:
        self.step.end_epoch()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.cuda.device(self.device):  # streams and the recording belong to the training GPU
            return self._step(x, y)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._batch_shape is None:
            self._batch_shape = x.shape  # the first batch of an epoch is a full one
        full = x.shape == self._batch_shape
        if self._graph is not None:
            if not full:  # the epoch's last batch: into the recorded gradients (zeroed, not freed)
                result = self.step.run(x, y, set_to_none=False)
            else:
                result = self._replay(x, y)
            self.step.after_step()
            return result
        if not self._gave_up and full and self._warm_steps >= WARMUP_STEPS:
            try:
                self._record(x, y)
            except Exception as exc:  # noqa: BLE001 - any failure to record leaves the usual step
                self._give_up(exc)
            else:
                result = self._replay(x, y)
                self.step.after_step()
                return result
        if self._gave_up or not full:
            return self.step(x, y)
        self._warm_steps += 1
        current = torch.cuda.current_stream()
        self._side.wait_stream(current)
        with torch.cuda.stream(self._side):
            result = self.step.run(x, y)
        current.wait_stream(self._side)
        self.step.after_step()
        return result

    def _record(self, x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer = self.step.optimizer
        groups = optimizer.param_groups
        static_x, static_y = x.clone(), y.clone()  # clone keeps channels-last strides
        momentum = MomentumCarrier(optimizer) if moves_momentum(self.step.scheduler) else None
        self._lr_values = [float(g["lr"]) for g in groups]
        self._lr_tensors = [torch.tensor(v, dtype=torch.float32, device=x.device) for v in self._lr_values]
        capturable = [g.get("capturable") for g in groups]
        optimizer.zero_grad(set_to_none=True)  # the recorded backward makes the gradients it then rewrites
        graph = torch.cuda.CUDAGraph()
        try:
            for group, lr in zip(groups, self._lr_tensors):
                group["lr"] = lr
                if "capturable" in group:  # Adam's own check; its fused kernel keeps the step count on the GPU
                    group["capturable"] = True
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # other threads' GPU work may go on
                if momentum is not None:
                    momentum.before_step()
                loss = self.step.run(static_x, static_y, autocast_cache=False)
                if momentum is not None:
                    momentum.after_step()
        finally:
            for group, value, flag in zip(groups, self._lr_values, capturable):
                group["lr"] = value  # floats again for schedulers, checkpoints and the epoch events
                if flag is not None:
                    group["capturable"] = flag
        self._graph = graph
        self._static = (static_x, static_y, loss)
        self._momentum = momentum
        self.mode = "CUDA graph"
        if self.feed is not None:
            try:
                self.feed(static_x, static_y)
            except ValueError:  # inputs the loader cannot write into: they are copied into, step by step
                self.feed = None

    def _replay(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        static_x, static_y, loss = self._static
        for i, group in enumerate(self.step.optimizer.param_groups):
            if group["lr"] != self._lr_values[i]:  # a schedule moved it: one small copy to the device
                self._lr_values[i] = group["lr"]
                self._lr_tensors[i].fill_(group["lr"])
        if self._momentum is not None:
            self._momentum.refresh(self.step.optimizer)
        if x is not static_x:  # else the loader wrote the batch there (``feed``)
            static_x.copy_(x)
        if y is not static_y:
            static_y.copy_(y)
        self._graph.replay()
        return loss.clone()  # the next replay rewrites it; the epoch's sums were added to in the graph

    def _give_up(self, exc: Exception) -> None:
        self._gave_up = True
        self._graph, self._static, self._momentum = None, (), None
        self.step.optimizer.zero_grad(set_to_none=True)  # nothing recorded ran: drop its unwritten gradients
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        self.mode = f"eager (no CUDA graph: {type(exc).__name__}: {first_line})"


def maybe_graphed(step, device: torch.device, *, distributed: bool, scheduler: Any,  # noqa: ANN001, ANN201
                  feed: Callable[[torch.Tensor, torch.Tensor], None] | None = None):
    """``step`` wrapped in a :class:`GraphedStep` where the run allows one, else ``step`` as it is; ``feed``
    (e.g. ``BatchLoader.write_full_batches_into``) learns where the recorded step reads its inputs."""
    blocker = graph_blocker(device, distributed=distributed, scaled=step.scaler is not None, scheduler=scheduler)
    if blocker is not None:
        if device.type == "cuda":
            step.mode = f"eager ({blocker})"
        return step
    return GraphedStep(step, device, feed)
