"""Turn a ModelSpec into an nn.Module, inferring every shape on the way.

The builder walks the layers with the shape of the data that reaches each
one, so in_channels / in_features are never typed by hand and the
cheatsheet's "size mismatch m1: [64 x 8], m2: [512 x 32]" cannot happen. A
Linear that receives an image-shaped input gets a Flatten inserted before it.

Each layer is planned as a line of PyTorch source (``nn.Conv2d(3, 16, ...)``);
the module is made by evaluating that line, and the code export prints the
same lines, so the exported code and the built model cannot drift apart.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from cvstudio.core.errors import SpecError
from cvstudio.core.models.blocks import ResidualBlock
from cvstudio.core.specs import ACTIVATIONS, MAX_LAYER_SIZE, ModelSpec

Shape = tuple[int, ...]  # per-sample shape, without the batch dimension

_ACTIVATION_CODE = {
    "relu": "nn.ReLU()",
    "tanh": "nn.Tanh()",
    "gelu": "nn.GELU()",
    "sigmoid": "nn.Sigmoid()",
    "leaky_relu": "nn.LeakyReLU(0.01)",
    "elu": "nn.ELU()",
    "silu": "nn.SiLU()",
}
assert set(_ACTIVATION_CODE) == set(ACTIVATIONS)

_NAME_PREFIX = {
    "conv": "conv",
    "linear": "fc",
    "activation": "act",
    "maxpool": "pool",
    "avgpool": "pool",
    "global_avgpool": "gap",
    "batchnorm": "bn",
    "dropout": "drop",
    "flatten": "flatten",
    "residual": "res",
    "logsoftmax": "logsoftmax",
}

_CODE_NAMESPACE = {"nn": nn, "ResidualBlock": ResidualBlock}


@dataclass(frozen=True)
class PlannedLayer:
    """One module of the built network, before it is made."""

    name: str  # attribute name in the module, e.g. "conv1"
    spec_index: int | None  # index in ModelSpec.layers; None for an inserted Flatten
    kind: str
    description: str  # e.g. "conv 16, 3x3, pad 1"
    in_shape: Shape
    out_shape: Shape
    code: str  # PyTorch source that constructs the module

    def make(self) -> nn.Module:
        return eval(self.code, dict(_CODE_NAMESPACE))  # code is composed from validated numbers only


def _fmt(shape: Shape) -> str:
    return "x".join(str(s) for s in shape)


def _positive_int(value, what: str, where: str, index: int, minimum: int = 1) -> int:
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())  # inf and NaN are not
    if value is None or isinstance(value, bool) or not whole:
        raise SpecError(f"{where}: {what} must be a whole number, got {value!r}", index)
    if int(value) < minimum:
        raise SpecError(f"{where}: {what} must be at least {minimum}, got {value}", index)
    if int(value) > MAX_LAYER_SIZE:
        raise SpecError(f"{where}: {what} must be at most {MAX_LAYER_SIZE:,}, got {value}", index)
    return int(value)


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def plan_model(spec: ModelSpec, input_shape: Shape, num_classes: int) -> list[PlannedLayer]:
    """Plan every module of ``spec`` for inputs of ``input_shape`` (C, H, W).

    Raises SpecError naming the first layer that cannot work, with the reason.
    Torchvision architectures (``spec.arch``) are not planned layer by layer:
    use :func:`summarize` for them.
    """
    if spec.arch is not None:
        raise SpecError(f"{spec.arch} is a torchvision architecture: it has stages, not planned layers")
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise SpecError(f"input shape must be (channels, height, width), got {input_shape}")
    if num_classes < 2:
        raise SpecError(f"a classifier needs at least 2 classes, got {num_classes}")
    if not spec.layers:
        raise SpecError("the model has no layers: add at least one linear layer")

    counters: dict[str, int] = {}
    planned: list[PlannedLayer] = []
    shape: Shape = tuple(int(s) for s in input_shape)

    def next_name(kind: str) -> str:
        prefix = _NAME_PREFIX[kind]
        counters[prefix] = counters.get(prefix, 0) + 1
        return f"{prefix}{counters[prefix]}"

    last = len(spec.layers) - 1
    for i, layer in enumerate(spec.layers):
        where = f"layer {i + 1} ({layer.describe()})"
        kind = layer.kind
        image = len(shape) == 3

        if kind in ("conv", "residual", "maxpool", "avgpool", "global_avgpool") and not image:
            raise SpecError(
                f"{where} needs an image-shaped input, but it gets a flat vector of {shape[0]} values "
                "(it comes after a linear or flatten layer; move it before them)",
                i,
            )

        if kind == "conv":
            out = _positive_int(layer.out, "output channels", where, i)
            k = _positive_int(layer.kernel, "kernel size", where, i)
            s = _positive_int(layer.stride if layer.stride is not None else 1, "stride", where, i)
            p = _positive_int(layer.padding, "padding", where, i, minimum=0)
            c, h, w = shape
            oh, ow = _conv_out(h, k, s, p), _conv_out(w, k, s, p)
            if oh < 1 or ow < 1:
                raise SpecError(
                    f"{where}: its {k}x{k} kernel does not fit the {h}x{w} input "
                    f"(padding {p}); use a smaller kernel, more padding, or less pooling before it",
                    i,
                )
            code = f"nn.Conv2d({c}, {out}, kernel_size={k}, stride={s}, padding={p})"
            new_shape: Shape = (out, oh, ow)
        elif kind == "residual":
            out = _positive_int(layer.out, "output channels", where, i)
            s = _positive_int(layer.stride if layer.stride is not None else 1, "stride", where, i)
            c, h, w = shape
            code = f"ResidualBlock({c}, {out}, stride={s}, batchnorm={bool(layer.batchnorm)})"
            new_shape = (out, (h - 1) // s + 1, (w - 1) // s + 1)
        elif kind in ("maxpool", "avgpool"):
            k = _positive_int(layer.kernel, "window size", where, i)
            s = _positive_int(layer.stride if layer.stride is not None else k, "stride", where, i)
            c, h, w = shape
            if h < k or w < k:
                raise SpecError(
                    f"{where}: cannot pool a {h}x{w} map with a {k}x{k} window; "
                    "remove this pooling layer or a pooling/strided layer before it",
                    i,
                )
            cls = "MaxPool2d" if kind == "maxpool" else "AvgPool2d"
            code = f"nn.{cls}(kernel_size={k}, stride={s})"
            new_shape = (c, _conv_out(h, k, s, 0), _conv_out(w, k, s, 0))
        elif kind == "global_avgpool":
            code = "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())"
            new_shape = (shape[0],)
        elif kind == "linear":
            if image:
                flat = (math.prod(shape),)
                planned.append(
                    PlannedLayer(next_name("flatten"), None, "flatten", "flatten (inserted)", shape, flat, "nn.Flatten()")
                )
                shape = flat
            units = num_classes if layer.out is None else _positive_int(layer.out, "units", where, i)
            code = f"nn.Linear({shape[0]}, {units})"
            new_shape = (units,)
        elif kind == "activation":
            if layer.fn not in _ACTIVATION_CODE:
                raise SpecError(f"{where}: unknown activation {layer.fn!r} (known: {', '.join(ACTIVATIONS)})", i)
            code = _ACTIVATION_CODE[layer.fn]
            new_shape = shape
        elif kind == "batchnorm":
            code = f"nn.BatchNorm2d({shape[0]})" if image else f"nn.BatchNorm1d({shape[0]})"
            new_shape = shape
        elif kind == "dropout":
            p = layer.p
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) < 1.0:
                raise SpecError(f"{where}: dropout probability must be in [0, 1), got {p!r}", i)
            code = f"nn.Dropout(p={float(p)!r})"
            new_shape = shape
        elif kind == "flatten":
            code = "nn.Flatten()"
            new_shape = (math.prod(shape),)
        elif kind == "logsoftmax":
            if i != last:
                raise SpecError(f"{where}: LogSoftmax must be the last layer", i)
            code = "nn.LogSoftmax(dim=1)"
            new_shape = shape
        else:
            raise SpecError(f"{where}: unknown layer type {kind!r}", i)

        planned.append(PlannedLayer(next_name(kind), i, kind, layer.describe(), shape, new_shape, code))
        shape = new_shape

    if shape != (num_classes,):
        raise SpecError(
            f"the last layer must output one score per class ({num_classes}), but the network outputs "
            f"{_fmt(shape)}; end it with a linear layer whose units are 'classes'",
            last,
        )
    if spec.loss == "nll" and spec.layers[-1].kind != "logsoftmax":
        raise SpecError("the NLL loss needs the network to end with LogSoftmax (or use cross-entropy)", last)
    return planned


def build_model(spec: ModelSpec, input_shape: Shape, num_classes: int) -> nn.Module:
    """Build ``spec`` as an nn.Sequential whose children are named like the cheatsheet's Net.

    A spec with ``arch`` set is torchvision's architecture with fresh weights
    and its head replaced (core/models/torchvision_models.py); pretrained
    weights are loaded separately (core/models/weights.py).
    """
    if spec.arch is not None:
        from cvstudio.core.models.torchvision_models import build_arch

        return build_arch(spec, input_shape, num_classes)
    planned = plan_model(spec, input_shape, num_classes)
    return nn.Sequential(OrderedDict((p.name, p.make()) for p in planned))


@dataclass(frozen=True)
class LayerSummary:
    name: str
    spec_index: int | None
    description: str
    out_shape: Shape
    params: int


@dataclass(frozen=True)
class ModelSummary:
    layers: tuple[LayerSummary, ...]
    input_shape: Shape

    @property
    def total_params(self) -> int:
        return sum(l.params for l in self.layers)


def summarize(spec: ModelSpec, input_shape: Shape, num_classes: int) -> ModelSummary:
    """Each module's (for torchvision architectures: each stage's) output shape and trainable parameters.

    Plain specs are planned without allocating weights. A torchvision stage
    has ``spec_index`` None, except the stage holding the head (index 0).
    """
    if spec.arch is not None:
        from cvstudio.core.models.torchvision_models import arch_stages

        stages = arch_stages(spec, input_shape, num_classes)
        return ModelSummary(
            tuple(LayerSummary(s.name, 0 if s.is_head else None, s.description, s.out_shape, s.params) for s in stages),
            tuple(input_shape),
        )
    planned = plan_model(spec, input_shape, num_classes)
    rows = []
    with torch.device("meta"):
        for p in planned:
            module = p.make()
            params = sum(t.numel() for t in module.parameters() if t.requires_grad)
            rows.append(LayerSummary(p.name, p.spec_index, p.description, p.out_shape, params))
    return ModelSummary(tuple(rows), tuple(input_shape))


def uses_channels_last(model: nn.Module, device: torch.device) -> bool:
    """Whether ``model`` runs faster in channels-last memory order on ``device``: convolutions on CPU and CUDA.

    Training (``benchmarks/train_speed.py``) and classifying: a batch of 64 through the convnet
    preset on one CPU thread takes 8.1 ms against 13.5, most of the gap in max pooling.
    """
    return device.type in ("cpu", "cuda") and any(isinstance(m, nn.Conv2d) for m in model.modules())


def prepare_for_device(model: nn.Module, device: torch.device) -> bool:
    """Make ``model`` (already on ``device``) run fast there, in place: channels-last memory order for
    convolutions (:func:`uses_channels_last`) and, on the CPU, the faster Tanh
    (:mod:`cvstudio.core.models.activations`, within 2.5e-7 of the library's; a caller that hands the model
    back undoes it with :func:`~cvstudio.core.models.activations.use_library_tanh`). Returns whether its
    inputs should be channels-last."""
    from cvstudio.core.models.activations import use_fast_tanh

    channels_last = uses_channels_last(model, device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if device.type == "cpu":
        use_fast_tanh(model)
    return channels_last


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
