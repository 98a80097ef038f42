"""The cheatsheet's networks as ModelSpecs, plus width/depth/regularization knobs.

Parameter counts for 2 classes on 3x32x32 input match the cheatsheet exactly
(mlp 393,602; mlp-wide 1,574,402; mlp-deep 3,737,474; convnet 18,090;
convnet-width at W=32 38,386) -- tests/core/test_models.py checks each.
"""

from __future__ import annotations

from dataclasses import dataclass

from cvstudio.core.errors import SpecError
from cvstudio.core.specs import LayerSpec, ModelSpec

L = LayerSpec


@dataclass(frozen=True)
class PresetInfo:
    name: str
    description: str
    width: int  # default of the width knob (hidden units or first conv's channels)
    depth: int  # default of the depth knob (hidden layers, conv blocks or residual blocks)
    lr: float  # SGD learning rate the cheatsheet (or we) found to work
    momentum: float = 0.9  # SGD momentum; with lr 1e-2 it reaches 90 % on shapes in 3 epochs, plain SGD needs ~12
    weight_decay: float = 0.0


PRESETS: dict[str, PresetInfo] = {
    p.name: p
    for p in (
        PresetInfo("mlp", "Linear(3072,128)-Tanh-Linear(128,k)-LogSoftmax with NLL loss (cheatsheet)", 128, 1, 1e-2),
        PresetInfo("mlp-wide", "Linear(3072,512)-Tanh-Linear(512,k) (cheatsheet)", 512, 1, 1e-2),
        PresetInfo("mlp-deep", "3072-1024-512-128-k with Tanh (cheatsheet)", 1024, 3, 1e-2),
        PresetInfo("convnet", "2 x [Conv 3x3 pad 1, Tanh, MaxPool 2], Linear(512,32)-Tanh-Linear(32,k) (cheatsheet)", 16, 2, 1e-2),
        PresetInfo("convnet-relu", "the convnet with ReLU after the convolutions (cheatsheet)", 16, 2, 1e-2),
        PresetInfo("convnet-width", "the ReLU convnet at width W=32: Conv(3,W), Conv(W,W/2) (cheatsheet; SGD lr 0.1, L2 1e-3)", 32, 2, 1e-1, 0.0, 1e-3),
        PresetInfo("convnet-dropout", "convnet-width with Dropout(0.4) after each pooling", 32, 2, 1e-2),
        PresetInfo("convnet-batchnorm", "convnet-width with BatchNorm after each convolution", 32, 2, 1e-2),
        PresetInfo("resnet", "small ResNet: conv stem, residual blocks with skip connections, global average pool", 32, 3, 2e-2),
        PresetInfo("airbench", "airbench94's network (Keller Jordan, 2024), without its training tricks: 2x2 conv stem, "
                   "groups of [Conv, MaxPool, BN, GELU, Conv, BN, GELU] W, 4W, 4W wide, MaxPool 3, Linear. Made for a GPU: "
                   "on a CPU an epoch takes ~35x the convnet's", 64, 3, 5e-2,
                   0.9, 5e-4),
    )
}


def _mlp(hidden: list[int], fn: str = "tanh") -> list[LayerSpec]:
    layers: list[LayerSpec] = []
    for units in hidden:
        layers += [L("linear", out=units), L("activation", fn=fn)]
    return layers + [L("linear", out=None)]


def _convnet(width: int, depth: int, conv_fn: str) -> list[LayerSpec]:
    layers: list[LayerSpec] = []
    for block in range(depth):
        channels = width if block == 0 else max(1, width // 2)
        layers += [L("conv", out=channels, kernel=3, padding=1), L("activation", fn=conv_fn), L("maxpool", kernel=2)]
    # The cheatsheet's classifier head: flatten (inserted by the builder) -> 32 -> classes.
    return layers + [L("linear", out=32), L("activation", fn="tanh"), L("linear", out=None)]


def _resnet(width: int, depth: int) -> list[LayerSpec]:
    layers = [L("conv", out=width, kernel=3, padding=1), L("batchnorm"), L("activation", fn="relu"), L("maxpool", kernel=2)]
    layers += [L("residual", out=width) for _ in range(depth)]
    layers += [L("residual", out=2 * width, stride=2), L("global_avgpool"), L("linear", out=None)]
    return layers


def _airbench(width: int, depth: int) -> list[LayerSpec]:
    # airbench's stem is a fixed whitening of 2x2 patches, 2 x 3 x 2 x 2 = 24 filters; here it learns
    layers = [L("conv", out=24, kernel=2), L("activation", fn="gelu")]
    for group in range(depth):
        channels = width if group == 0 else 4 * width
        layers += [L("conv", out=channels, kernel=3, padding=1), L("maxpool", kernel=2), L("batchnorm"),
                   L("activation", fn="gelu"), L("conv", out=channels, kernel=3, padding=1), L("batchnorm"),
                   L("activation", fn="gelu")]
    return layers + [L("maxpool", kernel=3), L("linear", out=None)]  # 32 px: 31, 15, 7, 3, then 1


def get_preset(
    name: str,
    *,
    width: int | None = None,
    depth: int | None = None,
    dropout: float | None = None,
    batchnorm: bool = False,
) -> ModelSpec:
    """The preset ``name`` with optional knobs; None keeps the preset's default."""
    if name not in PRESETS:
        from cvstudio.core.specs import ARCHITECTURES

        raise SpecError(
            f"unknown model preset {name!r} (known: {', '.join(PRESETS)}; "
            f"torchvision architectures: {', '.join(ARCHITECTURES)})"
        )
    info = PRESETS[name]
    w = info.width if width is None else int(width)
    d = info.depth if depth is None else int(depth)
    if w < 1 or d < 1:
        raise SpecError(f"width and depth must be at least 1, got width {w}, depth {d}")

    loss = "cross_entropy"
    if name == "mlp":
        layers = _mlp([w] * d) + [L("logsoftmax")]
        loss = "nll"
    elif name == "mlp-wide":
        layers = _mlp([w] * d)
    elif name == "mlp-deep":
        # The cheatsheet's 1024-512-128 at the default width 1024 and depth 3: halve, then quarter,
        # then keep halving, never below 8 units.
        shifts = [0, 1, 3] + list(range(4, d + 1))
        layers = _mlp([max(8, w >> s) for s in shifts[:d]])
    elif name == "convnet":
        layers = _convnet(w, d, "tanh")
    elif name in ("convnet-relu", "convnet-width"):
        layers = _convnet(w, d, "relu")
    elif name == "convnet-dropout":
        layers = _convnet(w, d, "relu")
        dropout = 0.4 if dropout is None else dropout
    elif name == "convnet-batchnorm":
        layers = _convnet(w, d, "relu")
        batchnorm = True
    elif name == "airbench":
        layers = _airbench(w, d)
    else:  # resnet
        layers = _resnet(w, d)

    spec = ModelSpec(name=name, layers=tuple(layers), loss=loss)
    return add_regularization(spec, dropout=dropout, batchnorm=batchnorm)


def add_regularization(spec: ModelSpec, *, dropout: float | None = None, batchnorm: bool = False) -> ModelSpec:
    """Insert BatchNorm after each conv / hidden linear and Dropout after each pooling / hidden activation.

    Layers already followed by the same kind are left alone, so applying it twice changes nothing.
    """
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise SpecError(f"dropout probability must be in [0, 1), got {dropout}")
    layers = list(spec.layers)
    out: list[LayerSpec] = []
    last_linear = max((i for i, l in enumerate(layers) if l.kind == "linear"), default=-1)
    for i, layer in enumerate(layers):
        out.append(layer)
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        hidden_linear = layer.kind == "linear" and i != last_linear
        if batchnorm and (layer.kind == "conv" or hidden_linear) and not (nxt and nxt.kind == "batchnorm"):
            out.append(L("batchnorm"))
        after_hidden_activation = layer.kind == "activation" and i < last_linear and any(
            l.kind == "linear" for l in layers[:i]
        )
        if dropout and (layer.kind in ("maxpool", "avgpool") or after_hidden_activation):
            if not (nxt and nxt.kind == "dropout"):
                out.append(L("dropout", p=float(dropout)))
    return spec.with_layers(out)
