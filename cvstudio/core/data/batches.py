"""Mini-batches sliced from a uint8 image tensor, converted and normalized as a whole.

This replaces the cheatsheet's per-item ``ToTensor``/``Normalize`` and
DataLoader collation: the images stay uint8 (a quarter of float32's memory),
on the training device when it is a GPU, and each batch is gathered, cast,
augmented and normalized with a handful of tensor operations.

On a CUDA GPU everything a step needs happens there, as in airbench: the
images sit on the device as uint8, the shuffle order, crop offsets and flips
are drawn by a generator on the device (a small tensor copied from the host
each step would wait for the GPU: one host sync per step), and the cast,
augmentation and normalization run as GPU kernels. On the CPU the generator
is a CPU one and every batch is what it always was.
"""

from __future__ import annotations

from typing import Iterator

import torch

from cvstudio.core.data.bundle import ImageSet

CROP_PADDING = 4  # pixels of zero padding before a random crop, as torchvision's RandomCrop(32, padding=4)


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
        self.images = self._place(data.images)
        self.labels = self._place(data.labels)
        # shuffle/augment randomness: on the GPU that holds the images, else on the CPU (resume saves its state)
        random_device = self.images.device if self.images.device.type == "cuda" else torch.device("cpu")
        self.generator = torch.Generator(device=random_device).manual_seed(seed)
        c = self.images.shape[1]
        if len(mean) != c or len(std) != c:
            raise ValueError(f"mean/std have {len(mean)}/{len(std)} values for {c}-channel images")
        std_t = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, c, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, c, 1, 1)
        # (x/255 - mean)/std == x*scale + shift
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -mean_t / std_t

    def _place(self, t: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cpu":
            return t
        try:
            return t.to(self.device)
        except torch.OutOfMemoryError:
            # Too big to keep on the GPU: stream batches from pinned host memory instead.
            return t.pin_memory() if torch.cuda.is_available() else t

    def __len__(self) -> int:
        n = int(self.labels.shape[0])
        return (n + self.batch_size - 1) // self.batch_size

    @property
    def num_images(self) -> int:
        return int(self.labels.shape[0])

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.num_images
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator, device=self.generator.device)
        else:
            order = None
        for start in range(0, n, self.batch_size):
            if order is None:
                x = self.images[start : start + self.batch_size]
                y = self.labels[start : start + self.batch_size]
            else:
                idx = order[start : start + self.batch_size]
                # (no-ops unless the images had to stay in pinned host memory for a GPU run)
                x = self.images.index_select(0, idx.to(self.images.device, non_blocking=True))
                y = self.labels.index_select(0, idx.to(self.labels.device, non_blocking=True))
            yield self.prepare(x), y.to(self.device, non_blocking=True)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B,C,H,W) -> normalized float32 on the device, augmented when training."""
        x = x.to(self.device, non_blocking=True)
        if self.augment == "flip-crop":
            x = random_crop(x, CROP_PADDING, self.generator)
            x = random_hflip(x, self.generator)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = x.float()
        return x.mul_(self.scale).add_(self.shift)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Pad every image with zeros and cut a randomly placed crop of the original size from each."""
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=generator.device).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=generator.device).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    flip = (torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)
