"""Looking inside a network: kernels, feature maps and hand-made kernels, as numpy arrays.

The Inspect page only displays what these functions return; nothing here
knows about Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# --- learned kernels ----------------------------------------------------------------------


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every Conv2d in forward order, with its dotted name (e.g. 'conv1', 'res1.conv2')."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def has_conv(model: nn.Module) -> bool:
    return bool(conv_layers(model))


def kernel_weights(model: nn.Module, layer: str) -> np.ndarray:
    """The weights of conv ``layer``: float32 (out_channels, in_channels, kh, kw)."""
    modules = dict(model.named_modules())
    if layer not in modules or not isinstance(modules[layer], nn.Conv2d):
        raise KeyError(f"{layer!r} is not a convolution layer of this model")
    return modules[layer].weight.detach().to("cpu", torch.float32).numpy().copy()


KERNEL_VIEWS = ("rgb", "channels", "mean")  # how to show kernels: colour, one per input channel, averaged


def kernel_tiles(weights: np.ndarray, view: str) -> np.ndarray:
    """Arrange kernels for display.

    - "rgb" (3 input channels only): (out, kh, kw, 3), one colour tile per kernel
    - "channels": (out, in, kh, kw), a grey tile per input channel
    - "mean": (out, kh, kw), the kernel averaged over its input channels
    Values are the raw weights; show them with :func:`symmetric_limit`.
    """
    if view == "rgb":
        if weights.shape[1] != 3:
            raise ValueError(f"colour view needs 3 input channels, this layer has {weights.shape[1]}")
        return np.ascontiguousarray(weights.transpose(0, 2, 3, 1))
    if view == "channels":
        return weights
    if view == "mean":
        return weights.mean(axis=1)
    raise ValueError(f"unknown kernel view {view!r} (use {', '.join(KERNEL_VIEWS)})")


def symmetric_limit(values: np.ndarray) -> float:
    """The colour scale +-limit centred on zero, so positive and negative weights read alike."""
    finite = np.abs(values[np.isfinite(values)])
    limit = float(finite.max()) if finite.size else 0.0
    return limit if limit > 0 else 1.0


# --- feature maps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureMap:
    name: str  # module name, e.g. "conv1"
    kind: str  # module class, e.g. "Conv2d"
    shape: tuple[int, ...]  # per-sample output shape, e.g. (16, 32, 32) or (32,)
    values: np.ndarray  # float32, the output of the first sample, same shape


@torch.inference_mode()
def feature_maps(model: nn.Module, batch: torch.Tensor) -> list[FeatureMap]:
    """Outputs of every top-level module (a residual block counts as one), captured with hooks in one pass.

    ``batch`` is a normalized input (1, C, H, W); only the first sample is kept.
    """
    captured: list[FeatureMap] = []
    hooks = []

    def make_hook(name: str, module: nn.Module):
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                values = output[0].detach().to("cpu", torch.float32).numpy().copy()
                captured.append(FeatureMap(name, type(module).__name__, tuple(values.shape), values))

        return hook

    children = list(model.named_children()) or [("model", model)]
    for name, module in children:
        hooks.append(module.register_forward_hook(make_hook(name, module)))
    was_training = model.training
    model.eval()
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        model(batch.to(device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return captured


# --- the cheatsheet's hand-made kernels --------------------------------------------------------

PLAYGROUND_KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], np.float32),
    "box blur": np.full((3, 3), 1 / 9, np.float32),
    "vertical edge": np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], np.float32),
    "horizontal edge": np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], np.float32),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32),
    "sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),
    "sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32),
    "box blur 5x5": np.full((5, 5), 1 / 25, np.float32),
    "gaussian 5x5": (np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256).astype(np.float32),
    "identity 5x5": np.pad(np.ones((1, 1), np.float32), 2),
}


def playground_output_size(size: int, kernel: int, padding: int, stride: int, pool: bool) -> int:
    """The shape rule: floor((size + 2*padding - kernel) / stride) + 1, then halved by MaxPool2d(2)."""
    out = (size + 2 * padding - kernel) // stride + 1
    return out // 2 if pool else out


@torch.inference_mode()
def apply_kernel(image: np.ndarray, kernel: np.ndarray, padding: int = 1, stride: int = 1, pool: bool = False) -> np.ndarray:
    """Convolve an image with one hand-made kernel, as the cheatsheet does with nn.Conv2d.

    ``image`` is (C, H, W), uint8 or float; uint8 is scaled to 0..1. The kernel
    is applied to every input channel and summed (weight[0, c] = kernel, bias 0),
    exactly like ``conv.weight[:] = kernel`` on an ``nn.Conv2d(C, 1, k)``.
    Returns float32 (H', W').
    """
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"the kernel must be square, got shape {kernel.shape}")
    x = torch.from_numpy(np.ascontiguousarray(image))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.ndim == 2:
        x = x[None]
    c, h, w = x.shape
    k = kernel.shape[0]
    out_h = playground_output_size(h, k, padding, stride, False)
    out_w = playground_output_size(w, k, padding, stride, False)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"a {k}x{k} kernel with padding {padding} does not fit a {h}x{w} image")
    conv = nn.Conv2d(c, 1, kernel_size=k, padding=padding, stride=stride)
    conv.weight.copy_(torch.from_numpy(kernel).expand(1, c, k, k))
    conv.bias.zero_()
    y = conv(x[None])
    if pool:
        if min(y.shape[-2:]) < 2:
            raise ValueError("the output is too small to max-pool by 2")
        y = nn.MaxPool2d(2)(y)
    return y[0, 0].numpy().copy()
