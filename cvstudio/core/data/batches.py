"""Mini-batches sliced from a uint8 image tensor, converted and normalized as a whole.

This replaces the cheatsheet's per-item ``ToTensor``/``Normalize`` and
DataLoader collation: the images stay uint8 (a quarter of float32's memory),
on the training device when it is a GPU, and each batch is gathered, cast,
augmented and normalized with a handful of tensor operations: without
augmentation a shuffled batch's images take two kernels (the gather, then
one fused cast-and-normalize), a GPU's images being kept channels-last already.

On a CUDA GPU everything a step needs happens there, as in airbench: the
images sit on the device as uint8, the shuffle order, crop offsets and flips
are drawn by a generator on the device (a small tensor copied from the host
each step would wait for the GPU: one host sync per step), and the cast,
augmentation and normalization run as GPU kernels; once the training step is
recorded as a CUDA graph, full batches are written straight into its inputs
(:meth:`BatchLoader.write_full_batches_into`). On the CPU the generator is a
CPU one and every batch is what it always was.
"""

from __future__ import annotations

from typing import Iterator

import torch

from cvstudio.core.data.augment import BatchAugmenter
from cvstudio.core.data.bundle import ImageSet



class BatchLoader:
    """Iterate ``(images, labels)`` batches of an ImageSet on ``device``.

    images come out float32, normalized with ``mean``/``std`` (0..1 units), in
    channels-last memory order when ``channels_last`` is set.
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        device: torch.device | str,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        *,
        shuffle: bool = False,
        augment: str = "none",
        seed: int = 0,
        channels_last: bool = False,
    ):
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.augment = augment
        self.channels_last = channels_last
        self.images = self._place(data.images, channels_last)
        self.labels = self._place(data.labels)
        # shuffle/augment randomness: on the GPU that holds the images, else on the CPU (resume saves its state)
        random_device = self.images.device if self.images.device.type == "cuda" else torch.device("cpu")
        self.generator = torch.Generator(device=random_device).manual_seed(seed)
        c = self.images.shape[1]
        self.augmenter = BatchAugmenter(augment, c, tuple(self.images.shape[2:]))
        if len(mean) != c or len(std) != c:
            raise ValueError(f"mean/std have {len(mean)}/{len(std)} values for {c}-channel images")
        std_t = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, c, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, c, 1, 1)
        # (x/255 - mean)/std == x*scale + shift
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -mean_t / std_t
        self._into: tuple[torch.Tensor, torch.Tensor] | None = None  # see write_full_batches_into

    def _place(self, t: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        if self.device.type == "cpu":
            return t  # shared with the run's other loaders: a channels-last copy would double the memory
        try:
            # The copy to the GPU is made anyway: made channels-last, batches need no reordering kernel
            layout = torch.channels_last if channels_last and t.dim() == 4 else torch.preserve_format
            return t.to(self.device, memory_format=layout)
        except torch.OutOfMemoryError:
            # Too big to keep on the GPU: stream batches from pinned host memory instead.
            return t.pin_memory() if torch.cuda.is_available() else t

    def __len__(self) -> int:
        return (self.epoch_size + self.batch_size - 1) // self.batch_size

    @property
    def epoch_size(self) -> int:
        """Images per epoch: all of them here; a rank's shard in core/distributed.py."""
        return self.num_images

    def epoch_order(self) -> torch.Tensor | None:
        """This epoch's order of the images (None: as stored); core/distributed.py shards it."""
        if not self.shuffle:
            return None
        return torch.randperm(self.num_images, generator=self.generator, device=self.generator.device)

    @property
    def num_images(self) -> int:
        return int(self.labels.shape[0])

    def write_full_batches_into(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """From now on a full batch is written into ``images`` and ``labels``, and these very tensors are
        yielded: the inputs of a recorded CUDA graph (core/training/graphs.py), which then need no copy
        per step. Each batch overwrites the one before, so the step must have used (or, on a GPU, queued
        its work on) the previous batch before asking for the next, as the training loop does."""
        if images.dtype != torch.float32 or {images.device.type, labels.device.type} != {self.device.type}:
            raise ValueError("full batches can be written only into float32 images and labels on the loader's device")
        self._into = (images, labels)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.epoch_order()
        n = self.epoch_size
        for start in range(0, n, self.batch_size):
            into = self._into
            if into is not None and (into[0].shape[0] != min(self.batch_size, n - start)
                                     or self.labels.device != into[1].device):
                into = None  # the epoch's last, smaller batch (or labels that stayed in host memory)
            if order is None:
                x = self.images[start : start + self.batch_size]
                y = self.labels[start : start + self.batch_size]
                if into is not None:
                    y = into[1].copy_(y)
            else:
                idx = order[start : start + self.batch_size]
                # (no-ops unless the images had to stay in pinned host memory for a GPU run)
                x = self._gather(idx.to(self.images.device, non_blocking=True))
                at = idx.to(self.labels.device, non_blocking=True)
                y = self.labels.index_select(0, at) if into is None else torch.index_select(self.labels, 0, at, out=into[1])
            if into is not None:
                yield self.prepare(x, out=into[0]), y
            else:
                yield self.prepare(x), y.to(self.device, non_blocking=True)

    def _gather(self, idx: torch.Tensor) -> torch.Tensor:
        """The images at ``idx``, in the stored memory order: ``index_select`` of channels-last images
        returns channels-first ones, so those are gathered through their (N, H, W, C) view."""
        nhwc = self.images.permute(0, 2, 3, 1) if self.images.dim() == 4 else None
        if nhwc is not None and nhwc.is_contiguous() and not self.images.is_contiguous():
            return nhwc.index_select(0, idx).permute(0, 3, 1, 2)
        return self.images.index_select(0, idx)

    def prepare(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (B,C,H,W) -> normalized float32 on the device, augmented when training (into ``out``)."""
        x = x.to(self.device, non_blocking=True)
        if self.augmenter.active:
            x = self.augmenter(x, self.generator)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)  # in uint8, a quarter of the bytes; kept if it is
        # the cast and (x/255 - mean)/std in one kernel (float32 out, in x's memory order) where it took three
        if out is not None:
            return torch.addcmul(self.shift, x, self.scale, out=out)
        return torch.addcmul(self.shift, x, self.scale)
