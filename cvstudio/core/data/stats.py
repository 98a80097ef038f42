"""Per-channel mean and standard deviation of a uint8 image tensor.

The statistics are those ``transforms.Normalize`` expects: of the images
scaled to 0..1, over all images and pixels of each channel. The standard
deviation is the *population* one (``torch.std(unbiased=False)``); with
millions of pixels per channel the difference to the unbiased one is far
below the printed precision.

They are computed exactly from a 256-bin histogram per channel, counted in
chunks, so no float copy of the dataset is ever made and the result does not
depend on summation order.
"""

from __future__ import annotations

import math

import torch

_CHUNK = 4096  # images per histogram pass


def channel_histograms(images: torch.Tensor) -> torch.Tensor:
    """Counts of each value 0..255 per channel: int64 (C, 256)."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"expected a uint8 (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}")
    channels = images.shape[1]
    hist = torch.zeros(channels, 256, dtype=torch.int64)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK]
        for c in range(channels):
            hist[c] += torch.bincount(chunk[:, c].reshape(-1), minlength=256)
    return hist


def stats_from_histograms(hist: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    values = torch.arange(256, dtype=torch.float64) / 255.0
    counts = hist.to(torch.float64)
    n = counts.sum(dim=1)
    if bool((n == 0).any()):
        raise ValueError("cannot compute statistics of an empty image set")
    mean = (counts * values).sum(dim=1) / n
    # second moment about the mean: exact in float64 for any realistic count
    var = (counts * (values[None, :] - mean[:, None]) ** 2).sum(dim=1) / n
    return (
        tuple(float(m) for m in mean),
        tuple(math.sqrt(max(float(v), 0.0)) for v in var),
    )


def compute_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of uint8 (N, C, H, W) images in 0..1 units.

    ``std`` is the population standard deviation (divides by the number of
    values, like ``torch.std(unbiased=False)``).
    """
    return stats_from_histograms(channel_histograms(images))
