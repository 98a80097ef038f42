"""The knobs of the model builder: a preset and the settings that generate its layers."""

from __future__ import annotations

import dataclasses

from cvstudio.core.specs import ModelSpec


@dataclasses.dataclass(frozen=True)
class Knobs:
    """What generates the layers: a preset and its width/depth/regularization settings."""

    preset: str
    width: int
    depth: int
    dropout: float  # 0 = none
    batchnorm: bool


def preset_family(name: str) -> str:
    if name.startswith("mlp"):
        return "mlp"
    if name in ("resnet", "airbench"):
        return name
    return "convnet"


WIDTH_LABELS = {"mlp": "Hidden units", "convnet": "Channels", "resnet": "Channels", "airbench": "Channels"}
DEPTH_LABELS = {"mlp": "Hidden layers", "convnet": "Conv blocks", "resnet": "Residual blocks",
                "airbench": "Conv groups"}
WIDTH_TIPS = {
    "mlp": "units of the first hidden layer",
    "convnet": "output channels of the first convolution (the next ones get half)",
    "resnet": "channels of the stem and the residual blocks (the last block doubles them)",
    "airbench": "channels of the first group of convolutions (the later groups get 4x)",
}
DEPTH_TIPS = {
    "mlp": "number of hidden linear layers",
    "convnet": "number of [conv, activation, max-pool] blocks; each halves the image side",
    "resnet": "number of residual blocks at full resolution",
    "airbench": "number of [conv, max-pool, batch norm, GELU, conv, batch norm, GELU] groups; each halves the image side",
}


def infer_knobs(spec: ModelSpec, default: Knobs) -> Knobs:
    """The knob settings that most likely generated ``spec`` (checked by re-generating it)."""
    preset = default.preset
    layers = spec.layers
    convs = [l.out for l in layers if l.kind == "conv" and l.out]
    linears = [l for l in layers if l.kind == "linear"]
    residuals = [l for l in layers if l.kind == "residual"]
    family = preset_family(preset)
    if family == "mlp":
        width = linears[0].out if linears and linears[0].out else default.width
        depth = max(1, len(linears) - 1)
    elif family == "resnet":
        width = convs[0] if convs else default.width
        depth = max(1, len(residuals) - 1)
    elif family == "airbench":  # a fixed 24-wide stem, then two convolutions per group
        width = convs[1] if len(convs) > 1 else default.width
        depth = max(1, (len(convs) - 1) // 2)
    else:
        width = convs[0] if convs else default.width
        depth = max(1, len(convs))
    dropout = next((float(l.p) for l in layers if l.kind == "dropout"), 0.0)
    if family == "airbench":  # batch norm is part of it; the knob's shows as one after the stem
        batchnorm = default.batchnorm or (len(layers) > 1 and layers[1].kind == "batchnorm")
    else:
        batchnorm = default.batchnorm or any(l.kind == "batchnorm" for l in layers)
    return Knobs(preset, int(width), int(depth), round(dropout, 4), batchnorm)


__all__ = ["DEPTH_LABELS", "DEPTH_TIPS", "WIDTH_LABELS", "WIDTH_TIPS", "Knobs", "infer_knobs", "preset_family"]
