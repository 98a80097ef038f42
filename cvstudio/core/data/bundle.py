"""A loaded dataset: decoded uint8 images held in memory, plus what describes them."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ImageSet:
    """One split: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,) in 0..k-1.

    ``paths`` names the file of each image (absolute, same order) for image
    folders, so a mislabelled image found while evaluating can be opened or
    moved; None for built-in and torchvision sources, whose images have no file.
    """

    images: torch.Tensor
    labels: torch.Tensor
    paths: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.labels, minlength=num_classes).tolist()


@dataclass(frozen=True)
class DatasetBundle:
    """Train and validation splits of one dataset after class selection.

    ``mean``/``std`` are per-channel statistics of the training images scaled
    to 0..1 -- what ``transforms.Normalize`` would be given.
    """

    train: ImageSet
    val: ImageSet
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str  # e.g. "CIFAR-10: airplane, bird"
    source: str  # the DataConfig.source it came from
    warnings: tuple[str, ...] = ()  # e.g. files skipped because they could not be read

    @property
    def input_shape(self) -> tuple[int, int, int]:
        _, c, h, w = self.train.images.shape
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
