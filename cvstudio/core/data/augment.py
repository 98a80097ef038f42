"""Training augmentation on whole uint8 batches, on the training device (``DataConfig.augment``).

``augment`` is a comma list of steps, applied in this order whatever the
order written: ``resized-crop`` (RandomResizedCrop back to the input size),
``crop`` (4 px zero padding, random crop), ``flip`` (horizontal),
``rotate`` (up to ±15°), ``color`` (brightness/contrast/saturation/hue
jitter; brightness/contrast for grayscale) and ``trivial``
(TrivialAugmentWide). ``none`` is the empty list and ``flip-crop`` the
cheatsheet's pair (``crop,flip``), drawn as before so old seeded runs repeat.

``crop`` and ``flip`` are vectorized over the batch with the loader's
generator. The others are torchvision.transforms.v2 transforms, which draw
one set of parameters per call, so they run once per image of the batch (on
the batch's device, no copy to the host) and draw from torch's global RNG,
which runs seed and resume state cover.
"""

from __future__ import annotations

from typing import Callable

import torch

from cvstudio.core.errors import ConfigError
from cvstudio.core.specs import AUGMENT_STEPS, parse_augment

CROP_PADDING = 4  # pixels of zero padding before a random crop, as torchvision's RandomCrop(32, padding=4)
ROTATE_DEGREES = 15.0
RESIZED_CROP_SCALE = (0.35, 1.0)  # share of the image area a resized crop keeps


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


def _per_image(steps: tuple[str, ...], channels: int, size: tuple[int, int]) -> Callable | None:
    from torchvision.transforms import v2

    transforms = []
    for step in steps:
        if step == "resized-crop":
            transforms.append(v2.RandomResizedCrop(size, scale=RESIZED_CROP_SCALE, antialias=True))
        elif step == "rotate":
            transforms.append(v2.RandomRotation(ROTATE_DEGREES))
        elif step == "color":
            transforms.append(v2.ColorJitter(0.4, 0.4, 0.4, 0.05) if channels == 3 else v2.ColorJitter(0.4, 0.4))
        elif step == "trivial":
            transforms.append(v2.TrivialAugmentWide())
    return v2.Compose(transforms) if transforms else None


class BatchAugmenter:
    """Applies an ``augment`` list to uint8 (B,C,H,W) batches."""

    def __init__(self, augment: str, channels: int, size: tuple[int, int]):
        self.steps = parse_augment(augment)
        self.before = [s for s in self.steps if s == "resized-crop"]
        self.vector = [s for s in self.steps if s in ("crop", "flip")]
        self.after = tuple(s for s in self.steps if s in ("rotate", "color", "trivial"))
        self._first = _per_image(tuple(self.before), channels, size) if self.before else None
        self._last = _per_image(self.after, channels, size) if self.after else None

    @property
    def active(self) -> bool:
        return bool(self.steps)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self._first is not None:
            x = torch.stack([self._first(img) for img in x])
        if "crop" in self.vector:
            x = random_crop(x, CROP_PADDING, generator)
        if "flip" in self.vector:
            x = random_hflip(x, generator)
        if self._last is not None:
            x = torch.stack([self._last(img) for img in x])
        return x


def augment_preview(image: torch.Tensor, augment: str, n: int = 4, seed: int = 0) -> torch.Tensor:
    """``n`` augmented versions of one uint8 (C,H,W) image, as (n,C,H,W) uint8 (the Data page's preview)."""
    if image.ndim != 3 or image.dtype != torch.uint8:
        raise ConfigError("augmentation preview needs one uint8 (channels, height, width) image")
    c, h, w = image.shape
    augmenter = BatchAugmenter(augment, c, (h, w))
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return augmenter(image.unsqueeze(0).expand(n, c, h, w).contiguous(), generator)


__all__ = ["AUGMENT_STEPS", "BatchAugmenter", "CROP_PADDING", "augment_preview", "parse_augment", "random_crop",
           "random_hflip"]
