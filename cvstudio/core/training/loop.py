"""The training loop: ``fit(model, data, config)``, shared by the GUI and the command line.

Like torchvision's reference script it is a few small functions
(``train_one_epoch``, ``evaluate``, ``final_metrics``); the stop rules and
best-weights tracking are callbacks in ``callbacks.py``, as in Lightning. Like airbench it keeps the data as
tensors on the device and never syncs with the host inside the step loop:
losses and correct counts accumulate on the device and are read back in
groups, about ten times a second, which is also the rate of BatchesEnded
events. On a CUDA GPU the step itself is recorded once as a CUDA graph and
replayed (``graphs.py``).
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import torch
from torch import nn

from cvstudio.core.data.batches import BatchLoader
from cvstudio.core.training.probe import can_cache_features, feature_loaders, head_module
from cvstudio.core.data.bundle import DatasetBundle
from cvstudio.core.errors import ConfigError, TrainingError
from cvstudio.core.events import BatchesEnded, EpochEnded, FitEnded, FitFailed, FitStarted, emit
from cvstudio.core.models.activations import has_fast_tanh, use_library_tanh
from cvstudio.core.models.builder import build_model, count_params, prepare_for_device
from cvstudio.core.models.weights import head_name
from cvstudio.core.specs import ModelSpec, TrainConfig
from cvstudio.core.control import RunControl
from cvstudio.core.training.callbacks import FitState, TrainingCallback, default_rules, notify
from cvstudio.core.training.devices import resolve_device, tune_for_training
from cvstudio.core.training.freeze import apply_freeze, keep_frozen_batchnorm_in_eval
from cvstudio.core.training.graphs import maybe_graphed
from cvstudio.core.training.resume import ResumePoint, restore_training_state

if TYPE_CHECKING:
    from cvstudio.core.distributed import Distributed

SYNC_INTERVAL_S = 0.1  # read losses back from the device (and report them) at most this often
EVAL_BATCH_SIZE = 512  # evaluation needs no gradients, so bigger batches are cheaper


@dataclass
class FitResult:
    status: str  # "finished" | "stopped" | "early_stopped" | "loss_reached" | "diverged"
    message: str
    history: list[EpochEnded] = field(default_factory=list)
    best_epoch: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # of the weights the model ends with
    images_per_s: float = 0.0  # training loop only, mean over completed epochs
    device: str = "cpu"
    params: int = 0
    seconds: float = 0.0
    step_mode: str = "eager"  # "CUDA graph" where the step was recorded once and replayed (core/training/graphs.py)
    # With fit(..., resumable=True): the state at the last epoch end (core/training/resume.py).
    resume_tensors: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    resume_meta: dict[str, Any] | None = field(default=None, repr=False)

    def history_dicts(self) -> list[dict[str, Any]]:
        return [
            {k: getattr(e, k) for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")}
            for e in self.history
        ]


def seed_everything(seed: int) -> None:
    """Same seed on the same device and PyTorch release -> the same weights and losses."""
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def new_model(spec: ModelSpec, data: DatasetBundle, seed: int) -> nn.Module:
    """Build ``spec`` for ``data`` with weights initialized from ``seed``."""
    seed_everything(seed)
    return build_model(spec, data.input_shape, data.num_classes)


class _SmoothedNLLLoss(nn.Module):
    """NLL on log-probabilities with label smoothing, as CrossEntropyLoss(label_smoothing=eps) does on scores."""

    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps

    def forward(self, log_probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        nll = nn.functional.nll_loss(log_probs, target)
        return (1 - self.eps) * nll - self.eps * log_probs.mean(dim=1).mean()


def make_loss(loss: str, label_smoothing: float = 0.0) -> nn.Module:
    if loss == "nll":
        return _SmoothedNLLLoss(label_smoothing) if label_smoothing > 0 else nn.NLLLoss()
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """Trainable parameters: one group, or the head at ``lr`` first and the backbone at ``backbone_lr``."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise ConfigError("no parameter is left to train: freeze less of the model")
    head = head_name(model) if config.backbone_lr is not None else None
    if head is None:
        return [{"params": [p for _, p in params], "lr": config.lr}]
    in_head = [p for n, p in params if n.startswith(head + ".")]
    backbone = [p for n, p in params if not n.startswith(head + ".")]
    groups = [{"params": in_head, "lr": config.lr}]
    if backbone:
        groups.append({"params": backbone, "lr": config.backbone_lr})
    return groups


def fused_on_cuda(groups: list[dict[str, Any]]) -> dict[str, bool]:
    """GPU path (issue 12): fused optimizer kernels when every parameter is on a CUDA device, else nothing.

    One kernel updates every parameter, and with fp16 + GradScaler the fused
    step reads the scaler's inf flag on the GPU instead of syncing with the host.
    """
    params = [p for g in groups for p in g["params"]]
    return {"fused": True} if params and all(p.is_cuda and p.is_floating_point() for p in params) else {}


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, config)
    fused = fused_on_cuda(groups)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay,
            **fused,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay, **fused)
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay, **fused)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    """(scheduler or None, True when it steps every batch rather than every epoch)."""
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        max_lr = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total), True
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
    if config.schedule == "step":  # x0.1 after each third of the run
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, config.epochs // 3), gamma=0.1), False
    return None, False


def amp_settings(device: torch.device, enabled: bool) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether a GradScaler is needed): bf16 where supported, else fp16 + scaler."""
    if not enabled:
        return None, False
    if device.type == "cpu":
        return torch.bfloat16, False
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, False
        return torch.float16, True
    raise ConfigError(f"mixed precision (--amp) works on the CPU and CUDA GPUs, not on {device.type}")


@torch.inference_mode()
def evaluate(model: nn.Module, loader: BatchLoader, loss_fn: nn.Module, dist: Distributed | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` (in eval mode) over ``loader`` (over every rank's share with ``dist``)."""
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=loader.device)
    correct = torch.zeros((), dtype=torch.int64, device=loader.device)
    for x, y in loader:
        out = model(x)
        total_loss += loss_fn(out, y).double() * y.shape[0]
        correct += (out.argmax(1) == y).sum()
    model.train(was_training)
    if dist is not None:  # --- distributed: sum over the ranks' shards
        loss_sum, correct_sum, count = dist.sum(total_loss, correct, loader.num_images)
        return loss_sum / max(1, count), correct_sum / max(1, count)
    n = max(1, loader.num_images)
    return float(total_loss) / n, int(correct) / n


def _head_is_last(model: nn.Module) -> bool:
    """The head's output is the model's output (no LogSoftmax or other layer after it)."""
    try:
        head = head_module(model)
    except ValueError:
        return False
    return list(model.modules())[-1] is head


def _l1_penalty(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([p.abs().sum() for p in params]).sum()


def fit(
    model: nn.Module,
    data: DatasetBundle,
    config: TrainConfig,
    *,
    loss: str = "cross_entropy",
    augment: str = "none",
    callbacks: Iterable[Any] | None = None,
    control: RunControl | None = None,
    resumable: bool = False,
    resume: tuple[Mapping[str, torch.Tensor], Mapping[str, Any]] | None = None,
    dist: Distributed | None = None,
) -> FitResult:
    """Train ``model`` in place on ``data`` and leave it holding the best weights seen.

    Each epoch is "train one epoch, evaluate, notify". "Best" is the highest
    validation accuracy at an epoch end. The stop rules (core/training/callbacks.py:
    early stopping, the loss threshold, the divergence guard, and any
    TrainingCallback among ``callbacks``) and the control's stop flag end the
    run cleanly with a status and message; other exceptions are reported to
    the callbacks as FitFailed and re-raised.

    ``resumable`` keeps the state at each epoch end in the result
    (``resume_tensors``/``resume_meta``); passing that pair as ``resume`` to
    a new ``fit`` with the same model spec, data and config continues the run
    exactly where it was (same losses on the CPU).

    ``dist`` (core/distributed.py, under torchrun) trains this rank's shard
    with DistributedDataParallel; every rank must call ``fit`` with the same
    arguments, and the caller's stop rules must decide alike on all ranks.
    """
    callbacks = list(callbacks or [])
    control = control or RunControl()
    came_swapped = has_fast_tanh(model)
    try:
        return _fit(model, data, config, loss, augment, callbacks, control, resumable, resume, dist)
    except torch.OutOfMemoryError as exc:
        err = TrainingError(
            f"the device ran out of memory at batch size {config.batch_size}: "
            "try a smaller batch size, a smaller model, or train on the CPU"
        )
        emit(callbacks, FitFailed(str(err), traceback.format_exc()))
        raise err from exc
    except Exception as exc:
        emit(callbacks, FitFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        raise
    finally:
        if not came_swapped:  # handed back as given: a model built here answers exactly as its checkpoint
            use_library_tanh(model)


def _fit(model, data, config, loss, augment, callbacks, control, resumable=False, resume=None, dist=None) -> FitResult:
    started = time.perf_counter()
    device = resolve_device(config.device) if dist is None else dist.device
    tune_for_training(device)  # the allocator; on CUDA also cuDNN autotuning and TF32
    model.to(device)
    channels_last = prepare_for_device(model, device)  # channels-last convolutions; the CPU's faster Tanh
    apply_freeze(model, config.freeze)
    model.train()
    train_model = model if dist is None else dist.wrap_model(model)  # DDP (+ SyncBatchNorm on GPUs)
    make_loader = BatchLoader if dist is None else dist.loader  # a rank's shard of each set

    loss_fn = make_loss(loss, config.label_smoothing)
    eval_loss_fn = make_loss(loss)  # validation loss without label smoothing, comparable across runs
    optimizer = make_optimizer(model, config)
    train_loader = make_loader(
        data.train, config.batch_size, device, data.mean, data.std,
        shuffle=True, augment=augment, seed=config.seed, channels_last=channels_last,
    )
    val_loader = make_loader(data.val, EVAL_BATCH_SIZE, device, data.mean, data.std, channels_last=channels_last)
    eval_model, probe_train_eval = model, None
    if can_cache_features(config.freeze, train_loader.augmenter.active, dist is not None) and _head_is_last(model):
        # --- linear probe (core/training/probe.py): the frozen backbone runs once per image, then the head alone trains
        def eval_loader(split):
            return BatchLoader(split, EVAL_BATCH_SIZE, device, data.mean, data.std, channels_last=channels_last)

        train_loader, val_loader, probe_train_eval = feature_loaders(model, train_loader, val_loader, eval_loader, data,
                                                                     callbacks)
        train_model = eval_model = head_module(model)
    steps = len(train_loader)
    params = count_params(model)
    scheduler, per_step = make_scheduler(optimizer, config, steps)
    step_fn = maybe_graphed(_TrainStep(train_model, loss_fn, optimizer, config, device, scheduler, per_step), device,
                            distributed=dist is not None, scheduler=scheduler,
                            feed=getattr(train_loader, "write_full_batches_into", None))
    trained = f"trained for {config.epochs} epoch{'' if config.epochs == 1 else 's'}"
    state = FitState(model, config, message=trained, optimizer=optimizer,
                     scheduler=scheduler, scaler=step_fn.scaler, generator=train_loader.generator)
    rules = default_rules(config)
    rules += [cb for cb in callbacks if isinstance(cb, TrainingCallback)]  # the caller's own stop rules
    if resumable or resume is not None:
        rules.append(ResumePoint(list(rules)))
    notify(rules, "on_fit_start", state)
    done_epochs = restore_training_state(state, rules, *resume) if resume is not None else 0
    emit(callbacks, FitStarted(config.epochs, steps, len(data.train), len(data.val), str(device), params))

    clock = _Clock(global_step=done_epochs * steps)
    for epoch in range(done_epochs + 1, config.epochs + 1):
        state.epoch = epoch
        lr = optimizer.param_groups[0]["lr"]  # the head's learning rate as the epoch starts
        if dist is not None:
            dist.start_epoch(train_loader, epoch)
        stats = train_one_epoch(step_fn, train_loader, state, rules, callbacks, control, clock, dist)
        if state.should_stop:  # stopped or diverged inside the epoch: its metrics are incomplete
            break
        step_fn.end_epoch()
        val_loss, val_acc = evaluate(eval_model, val_loader, eval_loss_fn, dist)
        notify(rules, "on_validation_end", state, val_loss, val_acc)
        if state.should_stop:
            break
        event = EpochEnded(
            epoch, stats.loss, stats.acc, val_loss, val_acc, lr,
            time.perf_counter() - stats.started - stats.paused_s, stats.images_per_s,
            all(val_acc > e.val_acc for e in state.history),
        )
        state.history.append(event)
        notify(rules, "on_epoch_end", state, event)
        emit(callbacks, event)
        if control.stop_requested if dist is None else dist.any_stop(control):
            state.stop("stopped", f"stopped by the user after epoch {epoch}")
        if state.should_stop:
            break

    if dist is not None:
        dist.unwrap_model(model)  # plain BatchNorm modules again, sharing the trained tensors
    notify(rules, "on_fit_end", state)  # puts the best weights back
    best_epoch = state.best_epoch
    model.eval()
    if state.status == "diverged" and best_epoch is None:
        metrics: dict[str, float] = {}  # it blew up before a single epoch ended: no usable weights
    else:
        metrics = final_metrics(model, data, eval_loss_fn, device, channels_last, state.history, best_epoch, dist,
                                probe=(eval_model, probe_train_eval, val_loader) if probe_train_eval is not None else None)
    result = FitResult(
        status=state.status,
        message=state.message,
        history=state.history,
        best_epoch=best_epoch,
        metrics=metrics,
        images_per_s=clock.images / clock.seconds if clock.seconds > 0 else 0.0,
        device=str(device),
        params=params,
        seconds=time.perf_counter() - started,
        step_mode=step_fn.mode,
    )
    if isinstance(rules[-1], ResumePoint):
        result.resume_tensors, result.resume_meta = rules[-1].tensors, rules[-1].meta
    best_acc = state.history[best_epoch - 1].val_acc if best_epoch else None
    emit(callbacks, FitEnded(state.status, state.message, len(state.history), best_epoch, best_acc))
    return result


@dataclass
class _Clock:
    """Training-loop time and images over the completed epochs (evaluation and pauses excluded)."""

    seconds: float = 0.0
    images: int = 0
    global_step: int = 0


@dataclass
class _EpochStats:
    loss: float  # mean training loss (penalties excluded)
    acc: float  # training accuracy, train mode
    images_per_s: float
    started: float  # perf_counter at the epoch's start
    paused_s: float


class _TrainStep:
    """One optimization step: forward (autocast with --amp), loss (+ L1), backward, clip, update, schedule."""

    mode = "eager"  # FitResult.step_mode; graphs.GraphedStep records this step's work as a CUDA graph

    def __init__(self, model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig,
                 device: torch.device, scheduler=None, per_step: bool = False):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.l1 = config.l1
        self.l1_params = self.params if config.l1 > 0 else []
        self.clip_grad = config.clip_grad
        self.device_type = device.type
        self.amp_dtype, scaled = amp_settings(device, config.amp)
        self.scaler = torch.amp.GradScaler(device.type) if scaled else None
        self.scheduler = scheduler
        self.per_step = per_step
        # The epoch's sums, on the device: added to inside the step, so that a recorded step (CUDA graph)
        # adds to them without kernels of its own between replays
        self.loss_total = torch.zeros((), dtype=torch.float64, device=device)  # batch loss x batch size
        self.correct_total = torch.zeros((), dtype=torch.int64, device=device)

    def start_epoch(self) -> None:
        """Zero the epoch's sums, in place: a recorded step adds to these very tensors."""
        self.loss_total.zero_()
        self.correct_total.zero_()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One step: the detached batch loss in float32, on the device; the epoch's sums take the batch."""
        loss = self.run(x, y)
        self.after_step()
        return loss

    def run(self, x: torch.Tensor, y: torch.Tensor, *, set_to_none: bool = True,
            autocast_cache: bool = True) -> torch.Tensor:
        """The step's tensor work, which a CUDA graph can record (core/training/graphs.py); no host sync."""
        with torch.autocast(self.device_type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None,
                            cache_enabled=autocast_cache):
            out = self.model(x)
            batch_loss = self.loss_fn(out.float(), y)
        total = batch_loss + self.l1 * _l1_penalty(self.l1_params) if self.l1_params else batch_loss
        self.optimizer.zero_grad(set_to_none=set_to_none)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            if self.clip_grad is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.params, self.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            total.backward()
            if self.clip_grad is not None:
                nn.utils.clip_grad_norm_(self.params, self.clip_grad)
            self.optimizer.step()
        loss = batch_loss.detach().float()
        self.loss_total.add_(loss, alpha=y.shape[0])  # in float64
        self.correct_total.add_((out.detach().argmax(1) == y).sum())
        return loss

    def after_step(self) -> None:
        """The host side of a step: a per-batch learning-rate schedule moves on."""
        if self.scheduler is not None and self.per_step:
            self.scheduler.step()

    def end_epoch(self) -> None:
        if self.scheduler is not None and not self.per_step:
            self.scheduler.step()


def train_one_epoch(step_fn, loader: BatchLoader, state: FitState, rules, callbacks, control: RunControl, clock: _Clock,
                    dist: Distributed | None = None) -> _EpochStats:
    """Run one epoch of steps, reporting synced loss groups; stops early when ``state.should_stop``."""
    epoch, steps = state.epoch, len(loader)
    step_fn.model.train()
    keep_frozen_batchnorm_in_eval(step_fn.model)
    epoch_start = time.perf_counter()
    paused_s = 0.0
    step_fn.start_epoch()
    pending: list[torch.Tensor] = []
    seen = 0
    last_sync = epoch_start
    for step, (x, y) in enumerate(loader, start=1):
        paused_s += control.wait_while_paused()
        if dist is None and control.stop_requested:  # distributed: seen at the sync points, by all ranks at once
            state.stop("stopped", f"stopped by the user during epoch {epoch}")
            break
        pending.append(step_fn(x, y))
        seen += y.shape[0]
        clock.global_step += 1
        state.step = step
        now = time.perf_counter()
        due = now - last_sync >= SYNC_INTERVAL_S or step == steps if dist is None else dist.sync_due(step, steps)
        if due:
            if dist is None:
                losses = torch.stack(pending).double().cpu().numpy()
            else:  # --- distributed: the same steps on every rank, losses averaged, a stop anywhere stops all
                losses, stop_asked = dist.sync_losses(pending, control)
                if stop_asked:
                    state.stop("stopped", f"stopped by the user during epoch {epoch}")
            pending.clear()
            notify(rules, "on_train_batches_end", state, losses)
            if state.should_stop:
                break
            last_sync = time.perf_counter()
            elapsed = last_sync - epoch_start - paused_s
            ips = seen / elapsed if elapsed > 0 else 0.0
            emit(callbacks, BatchesEnded(
                epoch, step, steps, clock.global_step, losses, ips,
                _eta(state.history, epoch, step, steps, elapsed, state.config.epochs),
            ))
    loss_sum, correct = step_fn.loss_total, step_fn.correct_total
    if dist is not None and not state.should_stop:  # --- distributed: the epoch's numbers over all shards
        loss_total, correct_total, seen_total = dist.sum(loss_sum, correct, seen)
        loss_sum, correct, seen = torch.tensor(loss_total, dtype=torch.float64), torch.tensor(int(correct_total)), int(seen_total)
    train_seconds = time.perf_counter() - epoch_start - paused_s
    if not state.should_stop:
        clock.seconds += train_seconds
        clock.images += seen
    return _EpochStats(
        float(loss_sum) / max(1, seen), int(correct) / max(1, seen),
        seen / train_seconds if train_seconds > 0 else 0.0, epoch_start, paused_s,
    )


def final_metrics(model, data, loss_fn, device, channels_last, history, best_epoch, dist=None, probe=None) -> dict[str, float]:
    """Accuracy on both splits in eval mode, as the cheatsheet measures it after training.

    ``probe`` is (head, train features, val features) of a cached linear probe: the same numbers, without the backbone.
    """
    if probe is not None:
        model, train_eval, val_eval = probe
    else:
        make_loader = BatchLoader if dist is None else dist.loader
        train_eval = make_loader(data.train, EVAL_BATCH_SIZE, device, data.mean, data.std, channels_last=channels_last)
        val_eval = make_loader(data.val, EVAL_BATCH_SIZE, device, data.mean, data.std, channels_last=channels_last)
    train_loss, train_acc = evaluate(model, train_eval, loss_fn, dist)
    if not math.isfinite(train_loss):  # diverged before any epoch ended: no usable weights
        return {}
    if best_epoch is not None:
        best = history[best_epoch - 1]
        val_loss, val_acc = best.val_loss, best.val_acc
    else:
        val_loss, val_acc = evaluate(model, val_eval, loss_fn, dist)
    return {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc}


def _eta(history: list[EpochEnded], epoch: int, step: int, steps: int, elapsed: float, epochs: int) -> float | None:
    """Seconds left: this epoch's pace for its remaining steps, the last full epoch's for the rest."""
    if step == 0 or elapsed <= 0:
        return None
    this_epoch_left = elapsed / step * (steps - step)
    per_epoch = history[-1].seconds if history else elapsed / step * steps
    return this_epoch_left + per_epoch * (epochs - epoch)
