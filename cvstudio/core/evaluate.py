"""Where a model fails: predictions over a split, confusion matrix, per-class
metrics, the most confidently wrong images, and the learning-rate finder."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from cvstudio.core.data.batches import BatchLoader
from cvstudio.core.data.bundle import DatasetBundle, ImageSet
from cvstudio.core.errors import ConfigError
from cvstudio.core.events import Progress, emit
from cvstudio.core.models.activations import has_fast_tanh, use_library_tanh
from cvstudio.core.models.builder import prepare_for_device
from cvstudio.core.specs import TrainConfig
from cvstudio.core.control import RunControl
from cvstudio.core.training.devices import resolve_device
from cvstudio.core.training.loop import EVAL_BATCH_SIZE, make_loss, make_optimizer

OVERFITTING_GAP = 0.10  # train accuracy this far above validation accuracy earns a warning


@torch.inference_mode()
def predict_split(
    model: nn.Module,
    images: ImageSet,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    *,
    outputs_log_probs: bool = False,
    device: str = "cpu",
    callbacks: Iterable[Any] | None = None,
    control: RunControl | None = None,
) -> np.ndarray:
    """Class probabilities (N, K) float32 for every image of ``images``, in order.

    ``control`` (the core's stop token) is checked between batches: after a
    stop the probabilities of the images done so far (a prefix) are returned.
    """
    from cvstudio.core.memory import reuse_freed_memory

    reuse_freed_memory()  # batches of 512 images: without it every batch maps fresh memory
    dev = resolve_device(device)
    was_training = model.training
    model.eval().to(dev)
    came_swapped = has_fast_tanh(model)
    channels_last = prepare_for_device(model, dev)  # in place, as training leaves it
    loader = BatchLoader(images, EVAL_BATCH_SIZE, dev, mean, std, channels_last=channels_last)
    out = []
    done = 0
    try:
        for x, _ in loader:
            if control is not None and control.stop_requested:
                break
            scores = model(x)
            probs = scores.exp() if outputs_log_probs else scores.softmax(1)
            out.append(probs.float().cpu())
            done += x.shape[0]
            emit(callbacks, Progress("evaluate", done, len(images)))
    finally:
        if not came_swapped:  # handed back as given (a Classifier over the same model keeps its swap)
            use_library_tanh(model)
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[true, predicted], int64 (K, K)."""
    labels = np.asarray(labels, np.int64)
    preds = np.asarray(preds, np.int64)
    return np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    support: int  # images of this class
    precision: float  # of the images predicted as this class, the share that are (nan if none predicted)
    recall: float  # of the images of this class, the share found (= per-class accuracy)
    f1: float


def per_class_metrics(cm: np.ndarray, class_names: tuple[str, ...] | list[str]) -> list[ClassMetrics]:
    rows = []
    for k, name in enumerate(class_names):
        tp = float(cm[k, k])
        predicted = float(cm[:, k].sum())
        actual = float(cm[k, :].sum())
        precision = tp / predicted if predicted else math.nan
        recall = tp / actual if actual else math.nan
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else (math.nan if math.isnan(precision + recall) else 0.0)
        rows.append(ClassMetrics(name, int(actual), precision, recall, f1))
    return rows


def normalized_rows(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total: the share of each true class predicted as each class."""
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape, np.float64), where=totals > 0)


def top_losses(probs: np.ndarray, labels: np.ndarray, k: int | None = None, wrong_only: bool = True) -> np.ndarray:
    """Indices of the images with the highest loss (-log p(true class)), highest first.

    With ``wrong_only`` only misclassified images are listed: the most confidently wrong first.
    """
    labels = np.asarray(labels, np.int64)
    p_true = probs[np.arange(len(labels)), labels]
    losses = -np.log(np.clip(p_true, 1e-12, 1.0))
    order = np.argsort(-losses, kind="stable")
    if wrong_only:
        wrong = probs.argmax(1) != labels
        order = order[wrong[order]]
    return order if k is None else order[:k]


def overfitting_warning(train_acc: float | None, val_acc: float | None) -> str | None:
    """A plain-language note when the model does much better on the images it trained on."""
    if train_acc is None or val_acc is None:
        return None
    gap = train_acc - val_acc
    if gap <= OVERFITTING_GAP:
        return None
    return (
        f"Training accuracy ({train_acc:.1%}) is {gap:.1%} above validation accuracy ({val_acc:.1%}): "
        "the model is memorizing its training images rather than learning what generalizes (overfitting). "
        "Try more data or augmentation, dropout, weight decay, a smaller model, or early stopping."
    )


@dataclass(frozen=True)
class Evaluation:
    class_names: tuple[str, ...]
    labels: np.ndarray  # (N,) true labels
    probs: np.ndarray  # (N, K)
    confusion: np.ndarray  # (K, K) counts[true, predicted]
    classes: tuple[ClassMetrics, ...]

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(1)

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(1, self.confusion.sum()))

    def cell_indices(self, true: int, predicted: int) -> np.ndarray:
        """Images of class ``true`` predicted as ``predicted`` (a click on a matrix cell)."""
        return np.flatnonzero((self.labels == true) & (self.preds == predicted))


def evaluate_split(
    model: nn.Module,
    data: DatasetBundle,
    split: str = "val",
    *,
    outputs_log_probs: bool = False,
    device: str = "cpu",
    callbacks: Iterable[Any] | None = None,
    control: RunControl | None = None,
) -> Evaluation | None:
    """Predictions, confusion matrix and per-class metrics of one split; None when ``control`` stopped it first."""
    images = data.val if split == "val" else data.train
    probs = predict_split(model, images, data.mean, data.std, outputs_log_probs=outputs_log_probs, device=device,
                          callbacks=callbacks, control=control)
    if control is not None and control.stop_requested and len(probs) < len(images):
        return None
    labels = images.labels.numpy()
    cm = confusion_matrix(labels, probs.argmax(1), data.num_classes)
    return Evaluation(tuple(data.class_names), labels, probs, cm, tuple(per_class_metrics(cm, data.class_names)))


# --- learning-rate finder --------------------------------------------------------------------


@dataclass(frozen=True)
class LRFinderResult:
    lrs: np.ndarray  # learning rate of each step
    losses: np.ndarray  # smoothed training loss after each step
    suggestion: float | None  # lr at the steepest descent of the smoothed loss
    message: str


def find_lr(
    model: nn.Module,
    data: DatasetBundle,
    config: TrainConfig,
    *,
    loss: str = "cross_entropy",
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    steps: int = 100,
    callbacks: Iterable[Any] | None = None,
    control: RunControl | None = None,
    on_point: Callable[[float, float], Any] | None = None,
) -> LRFinderResult:
    """A short run with an exponentially growing learning rate (Smith 2015, fastai's lr_find).

    Works on a deep copy: ``model`` and its weights are never touched.
    ``on_point(lr, smoothed_loss)`` gets each point as it is measured (a window draws the curve as it grows).
    """
    if not 0 < start_lr < end_lr:
        raise ConfigError(f"the learning-rate range must satisfy 0 < start < end, got {start_lr:g}..{end_lr:g}")
    if steps < 10:
        raise ConfigError("the learning-rate finder needs at least 10 steps")
    control = control or RunControl()
    device = resolve_device(config.device)
    work = copy.deepcopy(model).to(device).train()
    channels_last = prepare_for_device(work, device)  # as training runs it
    optimizer = make_optimizer(work, dataclasses.replace(config, lr=start_lr))
    loss_fn = make_loss(loss)
    loader = BatchLoader(data.train, config.batch_size, device, data.mean, data.std, shuffle=True, seed=config.seed,
                         channels_last=channels_last)
    factor = (end_lr / start_lr) ** (1 / (steps - 1))
    lrs, smoothed = [], []
    avg, best, beta = 0.0, math.inf, 0.98  # exponential smoothing of the noisy per-batch loss

    def endless_batches():
        while True:
            yield from loader

    for step, (x, y) in enumerate(itertools.islice(endless_batches(), steps), start=1):
        if control.stop_requested:
            break
        lr = start_lr * factor ** (step - 1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch_loss = loss_fn(work(x), y)
        optimizer.zero_grad(set_to_none=True)
        batch_loss.backward()
        optimizer.step()
        value = batch_loss.item()  # one sync per step is fine for a short probe
        if not math.isfinite(value):
            break
        avg = beta * avg + (1 - beta) * value
        debiased = avg / (1 - beta**step)
        lrs.append(lr)
        smoothed.append(debiased)
        best = min(best, debiased)
        if on_point is not None:
            on_point(lr, debiased)
        emit(callbacks, Progress("lr_find", step, steps))
        if step > 10 and debiased > 4 * best:  # diverging: the useful range is behind us
            break
    del work
    lrs_a, losses_a = np.array(lrs), np.array(smoothed)
    suggestion = suggest_lr(lrs_a, losses_a)
    if suggestion is None:
        message = "the loss did not fall over this range; try a wider range or check the data"
    else:
        message = f"suggested learning rate {suggestion:.2g} (steepest descent of the loss)"
    return LRFinderResult(lrs_a, losses_a, suggestion, message)


def suggest_lr(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """The lr where the smoothed loss falls fastest per decade, ignoring the noisy ends."""
    if len(lrs) < 10:
        return None
    skip_start, skip_end = max(1, len(lrs) // 10), max(1, len(lrs) // 20)
    lr_seg = np.log10(lrs[skip_start:-skip_end])
    loss_seg = losses[skip_start:-skip_end]
    if len(lr_seg) < 3:
        return None
    slopes = np.gradient(loss_seg, lr_seg)
    i = int(np.argmin(slopes))
    if slopes[i] >= 0:
        return None
    return float(10 ** lr_seg[i])
