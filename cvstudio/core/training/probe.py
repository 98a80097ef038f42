"""Linear probe with cached features: the frozen backbone runs once per image, then only the head trains.

With ``TrainConfig.freeze == "backbone"`` nothing before the head changes
during training, so what reaches the head is the same every epoch -- as long
as the images are the same, i.e. without augmentation. ``fit`` then computes
those head inputs once (the whole model in eval mode, a forward pre-hook on the
head) and trains the head alone on them: an epoch costs a few matrix
multiplies instead of a backbone forward pass per image.

The head inputs are what the frozen layers give in eval mode, which is also
how they behave during a probe (frozen BatchNorm stays in eval mode). The one
difference from running the backbone every epoch: a Dropout between the
backbone and the head (mobilenet_v3's classifier) is inactive.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import torch
from torch import nn

from cvstudio.core.events import Progress, emit
from cvstudio.core.models.weights import head_name

CACHE_PROBE_FEATURES = True  # tests switch it off to compare with the uncached probe


def can_cache_features(freeze: str, augmenting: bool, distributed: bool) -> bool:
    return CACHE_PROBE_FEATURES and freeze == "backbone" and not augmenting and not distributed


def head_module(model: nn.Module) -> nn.Module:
    name = head_name(model)
    if name is None:
        raise ValueError("the model has no final layer")
    return model.get_submodule(name)


@torch.no_grad()  # not inference_mode: the head's backward saves these inputs
def head_inputs(model: nn.Module, loader: Any, callbacks: Any = None, what: str = "images") -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` (eval mode) over ``loader``; returns what its head received, flattened, and the labels."""
    head = head_module(model)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _module, args: captured.append(args[0].detach()))
    was_training = model.training
    model.eval()
    labels: list[torch.Tensor] = []
    done, total = 0, loader.num_images
    try:
        for x, y in loader:
            model(x)
            labels.append(y)
            done += y.shape[0]
            emit(callbacks, Progress("features", done, total, f"computing the frozen backbone's features of the {what}"))
    finally:
        hook.remove()
        model.train(was_training)
    features = torch.cat([c.float() for c in captured]) if captured else torch.empty(0)
    return features.contiguous(), torch.cat(labels) if labels else torch.empty(0, dtype=torch.int64)


class FeatureLoader:
    """Batches of cached head inputs, shuffled like :class:`~cvstudio.core.data.batches.BatchLoader`."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool = False,
                 generator: torch.Generator | None = None):
        self.features, self.labels = features, labels
        self.device = features.device
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator if generator is not None else torch.Generator()

    @property
    def num_images(self) -> int:
        return int(self.labels.shape[0])

    def __len__(self) -> int:
        return (self.num_images + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = (torch.randperm(self.num_images, generator=self.generator, device=self.generator.device)
                 if self.shuffle else None)
        for start in range(0, self.num_images, self.batch_size):
            if order is None:
                yield self.features[start:start + self.batch_size], self.labels[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size].to(self.device)
                yield self.features.index_select(0, idx), self.labels.index_select(0, idx)


def feature_loaders(model: nn.Module, train_loader: Any, val_loader: Any, make_eval_loader: Callable[[Any], Any],
                    data: Any, callbacks: Any = None) -> tuple[FeatureLoader, FeatureLoader, FeatureLoader]:
    """(train, val, train-in-order) loaders of cached head inputs, drawing the train order from ``train_loader``'s generator."""
    train_x, train_y = head_inputs(model, make_eval_loader(data.train), callbacks, "training images")
    val_x, val_y = head_inputs(model, val_loader, callbacks, "validation images")
    train = FeatureLoader(train_x, train_y, train_loader.batch_size, shuffle=True, generator=train_loader.generator)
    val = FeatureLoader(val_x, val_y, val_loader.batch_size)
    train_eval = FeatureLoader(train_x, train_y, val_loader.batch_size)
    return train, val, train_eval


__all__ = ["CACHE_PROBE_FEATURES", "FeatureLoader", "can_cache_features", "feature_loaders", "head_inputs", "head_module"]
