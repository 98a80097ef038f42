"""Optional TensorBoard event logging of a run, for people who already use TensorBoard.

Off by default; needs the ``tensorboard`` package. Logs the per-step loss,
the per-epoch losses and accuracies, and the first conv layer's kernels as an
image at each epoch end.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cvstudio.core.errors import ConfigError


class TensorBoardLogger:
    """A fit() callback writing TensorBoard event files into ``log_dir``."""

    def __init__(self, log_dir: str | Path, model: nn.Module):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ConfigError("TensorBoard logging needs the 'tensorboard' package: pip install tensorboard") from exc
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.model = model
        self.first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)

    def on_batches_ended(self, e) -> None:
        first = e.global_step - len(e.losses) + 1
        for i, value in enumerate(e.losses):
            self.writer.add_scalar("loss/step", float(value), first + i)

    def on_epoch_ended(self, e) -> None:
        self.writer.add_scalars("loss", {"train": e.train_loss, "val": e.val_loss}, e.epoch)
        self.writer.add_scalars("accuracy", {"train": e.train_acc, "val": e.val_acc}, e.epoch)
        self.writer.add_scalar("images_per_s", e.images_per_s, e.epoch)
        if self.first_conv is not None:
            self.writer.add_images("kernels/first_conv", kernel_mosaic(self.first_conv.weight), e.epoch)
        self.writer.flush()

    def on_fit_ended(self, e) -> None:
        self.writer.close()

    def on_fit_failed(self, e) -> None:
        self.writer.close()


def kernel_mosaic(weight: torch.Tensor) -> torch.Tensor:
    """Kernels (out, in, k, k) as a batch of images scaled symmetrically to 0..1 (0.5 = zero weight)."""
    w = weight.detach().float().cpu()
    if w.shape[1] not in (1, 3):
        w = w.mean(dim=1, keepdim=True)
    limit = w.abs().max().clamp_min(1e-12)
    return (w / limit + 1) / 2
