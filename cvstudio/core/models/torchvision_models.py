"""torchvision architectures as CV Studio models (issue 13, "Your own photos").

A ModelSpec with ``arch`` set (e.g. "resnet18") is built by
``torchvision.models.<arch>(weights=None)`` with its final Linear replaced by
one sized for the dataset's classes; the module keeps torchvision's own
names, so torchvision's pretrained state_dicts load into it unchanged (all
but the head). Pretrained weights themselves are fetched and loaded by
``core/models/weights.py``; building never downloads anything.

Per architecture we know where the head is and what the stages are: the
top-level children, with ``features`` / ``trunk_output`` opened up, so
``freeze upto:layer2`` or ``upto:features.4`` name real modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cvstudio.core.errors import SpecError
from cvstudio.core.specs import ARCHITECTURES, ModelSpec

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ArchInfo:
    name: str  # torchvision.models builder name
    head: str  # dotted path of the final nn.Linear that is replaced
    opened: str | None  # a Sequential child whose children are listed as stages


ARCH_INFO: dict[str, ArchInfo] = {
    a.name: a
    for a in (
        ArchInfo("resnet18", "fc", None),
        ArchInfo("resnet34", "fc", None),
        ArchInfo("resnet50", "fc", None),
        ArchInfo("mobilenet_v3_small", "classifier.3", "features"),
        ArchInfo("mobilenet_v3_large", "classifier.3", "features"),
        ArchInfo("efficientnet_b0", "classifier.1", "features"),
        ArchInfo("convnext_tiny", "classifier.2", "features"),
        ArchInfo("regnet_y_400mf", "fc", "trunk_output"),
    )
}
assert tuple(ARCH_INFO) == ARCHITECTURES

HEAD_ATTR = "cvstudio_head"  # set on built models: dotted path of the head Linear
STAGES_ATTR = "cvstudio_stages"  # set on built models: stage names in forward order


def arch_info(name: str) -> ArchInfo:
    if name not in ARCH_INFO:
        raise SpecError(f"unknown architecture {name!r} (known: {', '.join(ARCH_INFO)})")
    return ARCH_INFO[name]


def weights_enum(arch: str):
    """torchvision's weights enum class for ``arch`` (e.g. ResNet18_Weights)."""
    from torchvision import models

    return models.get_model_weights(arch_info(arch).name)


def resolve_weights(arch: str, name: str | None = "DEFAULT"):
    """The weights enum member ``name`` ("DEFAULT", "IMAGENET1K_V1", ...) of ``arch``."""
    enum = weights_enum(arch)
    key = "DEFAULT" if name in (None, "") else str(name).replace(enum.__name__ + ".", "")
    try:
        return enum[key]
    except KeyError:
        known = ", ".join(["DEFAULT", *(m.name for m in enum)])
        raise SpecError(f"{arch} has no pretrained weights named {name!r} (known: {known})") from None


def default_input_size(arch: str, weights: str | None = None) -> int:
    """The crop size of the weights' own transforms (224 for all ImageNet weights here)."""
    crop = resolve_weights(arch, weights).transforms().crop_size
    return int(crop[0] if isinstance(crop, (list, tuple)) else crop)


def imagenet_stats(arch: str, weights: str | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std the weights were trained with (ImageNet's)."""
    t = resolve_weights(arch, weights).transforms()
    return tuple(float(v) for v in t.mean), tuple(float(v) for v in t.std)


def _get(module: nn.Module, dotted: str) -> nn.Module:
    return module.get_submodule(dotted)


def _set(module: nn.Module, dotted: str, new: nn.Module) -> None:
    parent, _, leaf = dotted.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, leaf, new)


def head_code(dotted: str) -> str:
    """``classifier.3`` -> ``model.classifier[3]`` (the path is from our fixed table)."""
    out = "model"
    for part in dotted.split("."):
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def check_arch_spec(spec: ModelSpec, input_shape: Shape, num_classes: int) -> ArchInfo:
    info = arch_info(spec.arch or "")
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise SpecError(f"input shape must be (channels, height, width), got {input_shape}")
    if input_shape[0] != 3:
        raise SpecError(
            f"{info.name} needs colour (3-channel) images, but the data has {input_shape[0]} channel(s); "
            "use a preset such as convnet for grayscale data"
        )
    if min(input_shape[1:]) < 32:
        raise SpecError(f"{info.name} needs images of at least 32x32 pixels, got {input_shape[1]}x{input_shape[2]}")
    if num_classes < 2:
        raise SpecError(f"a classifier needs at least 2 classes, got {num_classes}")
    if [l.kind for l in spec.layers] != ["linear"] or spec.layers[0].out is not None:
        raise SpecError(f"a {info.name} model's head must be one linear layer with one output per class")
    if spec.loss != "cross_entropy":
        raise SpecError(f"{info.name} outputs scores: train it with the cross-entropy loss")
    return info


def _construct(arch: str) -> nn.Module:
    from torchvision import models

    return getattr(models, arch_info(arch).name)(weights=None)


def build_arch(spec: ModelSpec, input_shape: Shape, num_classes: int) -> nn.Module:
    """torchvision's ``arch`` with fresh weights and its head replaced for ``num_classes``."""
    info = check_arch_spec(spec, input_shape, num_classes)
    model = _construct(info.name)
    old = _get(model, info.head)
    assert isinstance(old, nn.Linear)
    _set(model, info.head, nn.Linear(old.in_features, num_classes))
    setattr(model, HEAD_ATTR, info.head)
    setattr(model, STAGES_ATTR, tuple(name for name, _ in stage_modules(model, info)))
    return model


def stage_modules(model: nn.Module, info: ArchInfo) -> list[tuple[str, nn.Module]]:
    stages: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if name == info.opened:
            stages += [(f"{name}.{sub}", m) for sub, m in child.named_children()]
        else:
            stages.append((name, child))
    return stages


@dataclass(frozen=True)
class ArchStage:
    name: str  # e.g. "layer2", "features.4"
    description: str  # e.g. "Sequential (2 blocks)"
    out_shape: Shape
    params: int
    is_head: bool


def arch_stages(spec: ModelSpec, input_shape: Shape, num_classes: int) -> list[ArchStage]:
    """Each stage's output shape and trainable parameters (a meta-device forward where possible)."""
    info = check_arch_spec(spec, input_shape, num_classes)
    try:
        with torch.device("meta"):
            model = build_arch(spec, input_shape, num_classes)
    except (NotImplementedError, RuntimeError):  # regnet computes its widths with real tensors
        model = build_arch(spec, input_shape, num_classes)
    device = next(model.parameters()).device
    shapes: dict[str, Shape] = {}
    stages = stage_modules(model, info)
    hooks = [
        m.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
        for name, m in stages
    ]
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    except RuntimeError as exc:
        raise SpecError(f"{info.name} does not run on {'x'.join(map(str, input_shape))} inputs: {str(exc).splitlines()[0]}") from None
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for name, m in stages:
        children = len(list(m.children()))
        desc = type(m).__name__ + (f" ({children} blocks)" if isinstance(m, nn.Sequential) and children else "")
        if name == info.head.split(".")[0]:
            desc += f", head -> {num_classes} classes"
        rows.append(ArchStage(name, desc, shapes.get(name, ()), sum(p.numel() for p in m.parameters() if p.requires_grad),
                              name == info.head.split(".")[0]))
    return rows


def arch_source(spec: ModelSpec, input_shape: Shape, num_classes: int, class_name: str = "Net", *, with_weights: bool = False) -> str:
    """Python source building the same module: ``torchvision.models.<arch>(weights=...)`` plus the new head.

    Every string in it is a ``repr()`` literal. By default it writes
    ``weights=None`` and names the pretrained weights in a comment, so code
    that loads a checkpoint's weights (the Python export) never downloads;
    ``with_weights=True`` writes ``weights=<name>`` instead.
    """
    info = check_arch_spec(spec, input_shape, num_classes)
    stages = arch_stages(spec, input_shape, num_classes)
    total = sum(s.params for s in stages)
    with torch.device("meta"):
        try:
            in_features = _get(_construct(info.name), info.head).in_features
        except (NotImplementedError, RuntimeError):
            in_features = None
    if in_features is None:
        in_features = _get(_construct(info.name), info.head).in_features
    weights = spec.weights if with_weights else None
    c, h, w = input_shape
    doc = f"{spec.name}: torchvision {info.name}, input {c}x{h}x{w}, {num_classes} classes, {total:,} trainable parameters."
    lines = [
        "import torch",
        "import torchvision",
        "from torch import nn",
        "",
        "",
        f"def {class_name}():",
        f"    {doc!r}",
        *([f"    # started from torchvision's pretrained weights {spec.weights!r}: weights={spec.weights!r} downloads them"]
          if spec.weights and not with_weights else []),
        f"    model = torchvision.models.{info.name}(weights={weights!r})",
        f"    {head_code(info.head)} = nn.Linear({in_features}, {num_classes})  # head replaced for {num_classes} classes",
        "    return model",
        "",
        "",
        'if __name__ == "__main__":',
        f"    model = {class_name}().eval()",
        f"    print(model(torch.zeros(1, {c}, {h}, {w})).shape)  # torch.Size([1, {num_classes}])",
        "    print(sum(p.numel() for p in model.parameters()))",
        "",
    ]
    return "\n".join(lines)


def arch_spec(arch: str, weights: str | None = None, name: str | None = None) -> ModelSpec:
    """The ModelSpec of torchvision's ``arch``; ``weights`` names the pretrained weights it starts from."""
    from cvstudio.core.specs import LayerSpec

    arch_info(arch)
    return ModelSpec(name=name or arch, layers=(LayerSpec("linear", out=None),), arch=arch, weights=weights)


__all__ = [
    "ARCH_INFO",
    "ArchInfo",
    "ArchStage",
    "HEAD_ATTR",
    "STAGES_ATTR",
    "arch_info",
    "arch_source",
    "arch_spec",
    "arch_stages",
    "build_arch",
    "default_input_size",
    "imagenet_stats",
    "resolve_weights",
    "weights_enum",
]
