"""Looking inside a network: kernels, feature maps and hand-made kernels, as numpy arrays.

The Inspect page only displays what these functions return; nothing here
knows about Qt.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from cvstudio.core.models.torchvision_models import STAGES_ATTR

# --- learned kernels ----------------------------------------------------------------------


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every Conv2d in forward order, with its dotted name (e.g. 'conv1', 'res1.conv2')."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


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
    """Outputs of every top-level module (a residual block, a torchvision stage count as one), in one pass.

    ``batch`` is a normalized input (1, C, H, W); only the first sample is kept.
    """
    captured: list[FeatureMap] = []
    hooks = []
    owner = threading.get_ident()  # another page may run the same model meanwhile: ignore its passes

    def make_hook(name: str, module: nn.Module):
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor) and threading.get_ident() == owner:
                values = output[0].detach().to("cpu", torch.float32).numpy().copy()
                captured.append(FeatureMap(name, type(module).__name__, tuple(values.shape), values))

        return hook

    children = list(model.named_children()) or [("model", model)]
    stages = getattr(model, STAGES_ATTR, None)  # a torchvision architecture: its stages (features.0 … features.12)
    if stages:
        children = [(name, model.get_submodule(name)) for name in stages]
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


# --- everything the Inspect page shows, as plain arrays ------------------------------------------


def conv_kernels(model: nn.Module) -> dict[str, np.ndarray]:
    """The weights of every conv layer in forward order: {name: float32 (out, in, kh, kw)}.

    A copy, so it is safe to hand to another thread (e.g. at the end of a training epoch).
    """
    return {name: kernel_weights(model, name) for name, _ in conv_layers(model)}


@dataclass(frozen=True)
class Mosaic:
    """Many small maps packed into one array, so a viewer draws one image instead of many widgets.

    ``image`` is float32 (H, W), or (H, W, 3) for colour tiles, with NaN in the
    gaps between tiles (viewers draw NaN transparent). Tile ``i`` sits in grid
    row ``i // columns``, column ``i % columns``.
    """

    image: np.ndarray
    count: int  # number of tiles
    rows: int
    columns: int
    tile_shape: tuple[int, int]  # (height, width) of one tile
    gap: int  # pixels between tiles

    def tile_origin(self, index: int) -> tuple[int, int]:
        """(top, left) pixel of tile ``index``."""
        r, c = divmod(index, self.columns)
        return r * (self.tile_shape[0] + self.gap), c * (self.tile_shape[1] + self.gap)

    def locate(self, x: float, y: float) -> tuple[int, int, int] | None:
        """(tile index, row, column inside the tile) at image point (x right, y down); None over a gap or outside."""
        if not (math.isfinite(x) and math.isfinite(y)) or x < 0 or y < 0:
            return None
        th, tw = self.tile_shape
        r, ty = divmod(int(y), th + self.gap)
        c, tx = divmod(int(x), tw + self.gap)
        if r >= self.rows or c >= self.columns or ty >= th or tx >= tw:
            return None
        index = r * self.columns + c
        return (index, ty, tx) if index < self.count else None


def grid_columns(count: int) -> int:
    """Columns for ``count`` tiles: near-square, preferring a grid with no empty cell (8 -> 4x2, 16 -> 4x4)."""
    if count <= 0:
        return 1
    square = math.ceil(math.sqrt(count))
    for columns in range(square, 2 * square):
        if count % columns == 0:
            return columns
    return square


def default_gap(tile_shape: tuple[int, int]) -> int:
    """Gap between tiles: 1 pixel for kernels and small maps, more for larger maps."""
    return max(1, min(tile_shape) // 12)


def tile_mosaic(tiles: np.ndarray, columns: int | None = None, gap: int | None = None, rgb: bool = False) -> Mosaic:
    """Pack ``tiles`` (N, h, w), or (N, h, w, 3) with ``rgb``, into one :class:`Mosaic` (vectorized)."""
    tiles = np.asarray(tiles, np.float32)
    if tiles.ndim != (4 if rgb else 3) or (rgb and tiles.shape[-1] != 3):
        want = "(N, h, w, 3)" if rgb else "(N, h, w)"
        raise ValueError(f"tiles must be {want}, got shape {tiles.shape}")
    n, th, tw = tiles.shape[:3]
    columns = max(1, min(columns or grid_columns(n), max(n, 1)))
    rows = max(1, math.ceil(n / columns))
    gap = default_gap((th, tw)) if gap is None else int(gap)
    extra = tiles.shape[3:]
    cells = np.full((rows * columns, th + gap, tw + gap, *extra), np.nan, np.float32)
    cells[:n, :th, :tw] = tiles
    order = (0, 2, 1, 3, 4) if rgb else (0, 2, 1, 3)
    image = cells.reshape(rows, columns, th + gap, tw + gap, *extra).transpose(order)
    image = image.reshape(rows * (th + gap), columns * (tw + gap), *extra)[: rows * (th + gap) - gap, : columns * (tw + gap) - gap]
    return Mosaic(np.ascontiguousarray(image), n, rows, columns, (th, tw), gap)


def relative_tiles(tiles: np.ndarray) -> np.ndarray:
    """Each tile divided by its own largest magnitude, so weak channels show their pattern too."""
    tiles = np.asarray(tiles, np.float32)
    axes = tuple(range(1, tiles.ndim))
    peak = np.nanmax(np.abs(tiles), axis=axes, keepdims=True) if tiles.size else np.ones((0,) + (1,) * (tiles.ndim - 1))
    peak = np.where(np.isfinite(peak) & (peak > 0), peak, 1.0)
    return tiles / peak


@dataclass(frozen=True)
class MapDisplay:
    """A mosaic with the colour scale to draw it with."""

    mosaic: Mosaic
    levels: tuple[float, float]  # value range of the colour map: (-limit, limit) when diverging, else (0, max)
    diverging: bool  # signed values: use a colour map centred on zero
    relative: bool  # each tile scaled to its own maximum (the levels are then +-1 or 0..1)
    rgb: bool = False  # colour tiles (first-layer kernels): each channel scaled to the levels


def kernel_display(weights: np.ndarray, view: str, relative: bool = False) -> MapDisplay:
    """Kernels of one conv layer, (out, in, kh, kw), as a mosaic with a shared symmetric scale.

    - "rgb": one colour tile per kernel (3 input channels only)
    - "channels": one row per kernel, one grey tile per input channel (tile index = kernel * in + channel)
    - "mean": one tile per kernel, averaged over its input channels
    """
    tiles = kernel_tiles(np.asarray(weights, np.float32), view)
    columns = None
    if view == "channels":
        out, cin = tiles.shape[:2]
        tiles = tiles.reshape(out * cin, *tiles.shape[2:])
        columns = cin
    if relative:
        tiles = relative_tiles(tiles)
    limit = 1.0 if relative else symmetric_limit(tiles)
    mosaic = tile_mosaic(tiles, columns=columns, rgb=view == "rgb")
    return MapDisplay(mosaic, (-limit, limit), True, relative, rgb=view == "rgb")


VECTOR_COLUMNS = 32  # a layer output that is a vector (Linear, Flatten) is shown in rows of this many units


def vector_shape(length: int) -> tuple[int, int]:
    """(rows, columns) of the tile showing a vector of ``length`` units, row by row."""
    columns = max(1, min(length, VECTOR_COLUMNS))
    return max(1, math.ceil(length / columns)), columns


def feature_display(values: np.ndarray, relative: bool = False) -> MapDisplay:
    """One layer's output for one image: channels (C, H, W) as a grid of maps, anything else as one vector tile.

    Signed outputs get a symmetric diverging scale shared by all channels;
    non-negative ones (after ReLU, pooling of ReLU, ...) a 0..max scale.
    """
    values = np.asarray(values, np.float32)
    if values.ndim == 3:
        tiles = values
    else:
        flat = values.ravel()
        rows, columns = vector_shape(flat.size)
        tile = np.full(rows * columns, np.nan, np.float32)
        tile[: flat.size] = flat
        tiles = tile.reshape(1, rows, columns)
    finite = values[np.isfinite(values)]
    diverging = bool(finite.size and finite.min() < 0)
    if relative:
        tiles = relative_tiles(tiles)
        levels = (-1.0, 1.0) if diverging else (0.0, 1.0)
    elif diverging:
        limit = symmetric_limit(values)
        levels = (-limit, limit)
    else:
        top = float(finite.max()) if finite.size else 0.0
        levels = (0.0, top if top > 0 else 1.0)
    return MapDisplay(tile_mosaic(tiles), levels, diverging, relative)


# --- one image through the model ------------------------------------------------------------


def fit_image(image: np.ndarray, input_shape: tuple[int, int, int]) -> np.ndarray:
    """A uint8 (C, H, W) image resized / converted to ``input_shape``, as the model's input (a copy)."""
    image = np.asarray(image)
    if tuple(image.shape) == tuple(input_shape) and image.dtype == np.uint8:
        return image.copy()
    from PIL import Image

    from cvstudio.core.inference import load_image

    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected a (C, H, W) image with 1 or 3 channels, got shape {image.shape}")
    pixels = np.ascontiguousarray(image.astype(np.uint8).transpose(1, 2, 0))
    pil = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels, "L" if pixels.shape[2] == 1 else "RGB")
    return load_image(pil, input_shape).numpy().copy()


@dataclass(frozen=True)
class ImageInspection:
    """What one image looks like inside a model."""

    image: np.ndarray  # uint8 (C, H, W): the normalized input denormalized again -- what the model sees
    input: FeatureMap  # the normalized input itself, named "input"
    maps: list[FeatureMap]  # the output of every top-level layer, in order
    probabilities: np.ndarray | None  # softmax of the last output, when it is one score per class


def inspect_image(model: nn.Module, image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> ImageInspection:
    """Normalize a uint8 (C, H, W) image like the training data and capture every layer's output in one pass."""
    from cvstudio.core.inference import normalize

    pixels = torch.from_numpy(np.ascontiguousarray(np.asarray(image, np.uint8)))
    x = normalize(pixels[None], mean, std)
    maps = feature_maps(model, x)
    m = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    shown = (x[0] * s + m).clamp_(0, 1).mul_(255).round_().to(torch.uint8).numpy().copy()
    values = x[0].numpy().copy()
    probabilities = None
    if maps and maps[-1].values.ndim == 1 and maps[-1].values.size >= 2:
        probabilities = torch.softmax(torch.from_numpy(maps[-1].values).double(), 0).float().numpy()
    return ImageInspection(shown, FeatureMap("input", "Input", tuple(values.shape), values), maps, probabilities)


def playground_code(kernel: np.ndarray, channels: int, padding: int, stride: int, pool: bool) -> str:
    """The PyTorch lines that do what the playground shows, in the cheatsheet's style."""
    kernel = np.asarray(kernel, np.float32)
    k = kernel.shape[0]
    rows = [", ".join(f"{float(v):.4g}" for v in row) for row in kernel]
    indent = " " * len("    conv.weight[:] = torch.tensor([")
    matrix = (",\n" + indent).join(f"[{r}]" for r in rows)
    args = f"{channels}, 1, kernel_size={k}, padding={padding}" + (f", stride={stride}" if stride != 1 else "")
    lines = [
        f"conv = nn.Conv2d({args})",
        "with torch.no_grad():",
        f"    conv.weight[:] = torch.tensor([{matrix}])",
        "    conv.bias.zero_()",
        "output = conv(img.unsqueeze(0))",
    ]
    if pool:
        lines.append("output = nn.MaxPool2d(2)(output)")
    return "\n".join(lines)
