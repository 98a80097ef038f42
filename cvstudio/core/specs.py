"""The settings of a run: what data, what model, how to train.

All three are frozen dataclasses that round-trip through plain JSON
(``to_dict`` / ``from_dict``) and are stored in every checkpoint, so a run can
be reproduced from its checkpoint alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from cvstudio.core.errors import ConfigError, SpecError

T = TypeVar("T")

# Layer kinds a ModelSpec may contain. The builder (core/models/builder.py)
# turns each into torch modules; shapes and channel counts are inferred.
LAYER_KINDS = (
    "conv",  # Conv2d: out (channels), kernel, stride, padding
    "linear",  # Linear: out (units; None = number of classes)
    "activation",  # fn: one of ACTIVATIONS
    "maxpool",  # MaxPool2d: kernel, stride (None = kernel)
    "avgpool",  # AvgPool2d: kernel, stride (None = kernel)
    "global_avgpool",  # AdaptiveAvgPool2d(1) + flatten
    "batchnorm",  # BatchNorm1d/2d chosen from the incoming shape
    "dropout",  # Dropout: p
    "flatten",  # explicit Flatten (inserted automatically before a linear)
    "residual",  # ResNet basic block: out (channels), stride, batchnorm
    "logsoftmax",  # LogSoftmax(dim=1), pairs with the "nll" loss
)

ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid", "leaky_relu", "elu", "silu")

LOSSES = ("cross_entropy", "nll")

MAX_LAYER_SIZE = 2**20  # channels, units, kernel, stride or padding: far beyond any real network
MAX_NAME_LENGTH = 64
# A model name is shown in titles and written into exported code: short, printable, and free of
# quotes, backslashes, braces and line breaks (unicode letters and digits are fine).
_NAME_PATTERN = re.compile(r"[\w .,:;+*()\[\]/#=@&%!?<>~^|-]+")


def check_model_name(name: object) -> str:
    """Return ``name`` if it is an acceptable model name; SpecError saying why otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise SpecError("a model name must be a non-empty text")
    if len(name) > MAX_NAME_LENGTH:
        raise SpecError(f"a model name must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    if not _NAME_PATTERN.fullmatch(name) or not name.isprintable():
        raise SpecError(
            f"model name {name!r} may hold only letters, digits, spaces and simple punctuation "
            "(no quotes, backslashes, braces or line breaks)"
        )
    return name


def _check_whole(value: object, what: str, minimum: int, maximum: int = MAX_LAYER_SIZE) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise SpecError(f"{what} must be a whole number from {minimum} to {maximum:,}, got {value!r}")


# torchvision architectures a ModelSpec may name in ``arch`` (core/models/torchvision_models.py).
ARCHITECTURES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
    "regnet_y_400mf",
)


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a network; fields that do not apply to ``kind`` are ignored."""

    kind: str
    out: int | None = None  # conv/residual: output channels; linear: units, None = classes
    kernel: int = 3  # conv / pooling window, pixels
    stride: int | None = None  # None: 1 for conv/residual, = kernel for pooling
    padding: int = 0  # conv zero padding, pixels on each side
    fn: str = "relu"  # activation function name
    p: float = 0.5  # dropout probability
    batchnorm: bool = True  # residual blocks only

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that matter for this kind, so saved specs stay readable."""
        keep = {
            "conv": ("out", "kernel", "stride", "padding"),
            "linear": ("out",),
            "activation": ("fn",),
            "maxpool": ("kernel", "stride"),
            "avgpool": ("kernel", "stride"),
            "dropout": ("p",),
            "residual": ("out", "stride", "batchnorm"),
        }.get(self.kind, ())
        out: dict[str, Any] = {"kind": self.kind}
        for name in keep:
            out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSpec:
        if not isinstance(data, dict) or "kind" not in data:
            raise SpecError(f"a layer must be an object with a 'kind', got {data!r}")
        kind = data["kind"]
        if kind not in LAYER_KINDS:
            raise SpecError(f"unknown layer type {kind!r} (known: {', '.join(LAYER_KINDS)})")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"layer {kind!r} has unknown settings: {', '.join(sorted(unknown))}")
        layer = cls(**data)
        layer.check_values()
        return layer

    def check_values(self) -> None:
        """Range-check every field this kind uses (a spec read from a file is untrusted)."""
        what = f"layer {self.kind!r}:"
        if self.kind in ("conv", "residual") or (self.kind == "linear" and self.out is not None):
            _check_whole(self.out, f"{what} size", 1)
        if self.kind in ("conv", "maxpool", "avgpool"):
            _check_whole(self.kernel, f"{what} kernel", 1)
            _check_whole(self.padding, f"{what} padding", 0)
        if self.kind in ("conv", "residual", "maxpool", "avgpool") and self.stride is not None:
            _check_whole(self.stride, f"{what} stride", 1)
        if self.kind == "activation" and self.fn not in ACTIVATIONS:
            raise SpecError(f"unknown activation {self.fn!r} (known: {', '.join(ACTIVATIONS)})")
        if self.kind == "dropout" and (
            isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0.0 <= self.p < 1.0
        ):
            raise SpecError(f"{what} dropout probability must be in [0, 1), got {self.p!r}")
        if self.kind == "residual" and not isinstance(self.batchnorm, bool):
            raise SpecError(f"{what} batchnorm must be true or false, got {self.batchnorm!r}")

    def describe(self) -> str:
        """Short human text, e.g. 'conv 16, 3x3, pad 1'."""
        k = self.kind
        if k == "conv":
            s = f"conv {self.out}, {self.kernel}x{self.kernel}"
            if (self.stride or 1) != 1:
                s += f", stride {self.stride}"
            if self.padding:
                s += f", pad {self.padding}"
            return s
        if k == "linear":
            return f"linear {self.out if self.out is not None else 'classes'}"
        if k == "activation":
            return self.fn
        if k in ("maxpool", "avgpool"):
            s = f"{k} {self.kernel}"
            if self.stride not in (None, self.kernel):
                s += f", stride {self.stride}"
            return s
        if k == "dropout":
            return f"dropout {self.p:g}"
        if k == "residual":
            s = f"residual {self.out}"
            if (self.stride or 1) != 1:
                s += f", stride {self.stride}"
            return s
        return k


@dataclass(frozen=True)
class ModelSpec:
    """A network as an ordered list of layers plus the loss it is trained with.

    With ``arch`` set the network is torchvision's architecture of that name
    and ``layers`` is its classifier head (one linear layer, one output per
    class) that replaces torchvision's; ``weights`` then names the pretrained
    weights the run starts from ("IMAGENET1K_V1", ...; None = random init).
    """

    name: str
    layers: tuple[LayerSpec, ...]
    loss: str = "cross_entropy"
    arch: str | None = None  # a torchvision architecture, see ARCHITECTURES; None = built from layers
    weights: str | None = None  # torchvision weights name the run starts from; only with arch

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        check_model_name(self.name)
        if self.loss not in LOSSES:
            raise SpecError(f"unknown loss {self.loss!r} (known: {', '.join(LOSSES)})")
        if self.arch is not None and self.arch not in ARCHITECTURES:
            raise SpecError(f"unknown architecture {self.arch!r} (known: {', '.join(ARCHITECTURES)})")
        if self.weights is not None and (self.arch is None or not isinstance(self.weights, str) or not self.weights):
            raise SpecError("pretrained weights can only be named for a torchvision architecture ('arch')")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "loss": self.loss, "layers": [l.to_dict() for l in self.layers]}
        if self.arch is not None:  # plain specs keep their old, shorter form
            d["arch"] = self.arch
            d["weights"] = self.weights
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            raise SpecError("a model spec must be an object with a list of 'layers'")
        arch, weights = data.get("arch"), data.get("weights")
        if not (arch is None or isinstance(arch, str)) or not (weights is None or isinstance(weights, str)):
            raise SpecError("a model spec's 'arch' and 'weights' must be names")
        return cls(
            name=data.get("name", "custom"),
            layers=tuple(LayerSpec.from_dict(l) for l in data["layers"]),
            loss=data.get("loss", "cross_entropy"),
            arch=arch,
            weights=weights,
        )

    def with_layers(self, layers: tuple[LayerSpec, ...] | list[LayerSpec]) -> ModelSpec:
        return dataclasses.replace(self, layers=tuple(layers))

    @property
    def outputs_log_probs(self) -> bool:
        """True when the network ends in LogSoftmax (outputs are log-probabilities)."""
        return bool(self.layers) and self.layers[-1].kind == "logsoftmax"


AUGMENTATIONS = ("none", "flip-crop")  # the named presets; DataConfig.augment also takes a comma list of steps
# Training augmentation steps (core/data/augment.py), in the order they are applied.
AUGMENT_STEPS = ("resized-crop", "crop", "flip", "rotate", "color", "trivial")
_AUGMENT_ALIASES = {"none": (), "flip-crop": ("crop", "flip")}


def parse_augment(text: str) -> tuple[str, ...]:
    """``"flip,crop"`` -> ("crop", "flip"): the steps of an augment setting in application order (ConfigError if unknown)."""
    if not isinstance(text, str):
        raise ConfigError("augmentation must be a comma list of names")
    if text.strip() in _AUGMENT_ALIASES:
        return _AUGMENT_ALIASES[text.strip()]
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in AUGMENT_STEPS]
    if unknown or not parts:
        raise ConfigError(
            f"unknown augmentation {(unknown[0] if unknown else text)[:40]!r} "
            f"(use none, flip-crop or a comma list of {', '.join(AUGMENT_STEPS)})"
        )
    return tuple(s for s in AUGMENT_STEPS if s in parts)


@dataclass(frozen=True)
class DataConfig:
    """Which images to train on and how to present them to the model."""

    source: str = "shapes"  # "shapes", a torchvision name (see core.data.SOURCES) or a folder path
    data_dir: str | None = None  # where torchvision datasets live; None = user data dir
    download: bool = False  # allow downloading a torchvision dataset
    classes: tuple[str, ...] = ()  # subset, in this order -> labels 0..k-1; () = all
    val_fraction: float = 0.2  # folders without a train/test split: share held out
    image_size: int | None = None  # folders: side of the square input, pixels; None = 32
    grayscale: bool = False  # folders: load as 1 channel instead of RGB
    augment: str = "none"  # "none" | "flip-crop" | a comma list of AUGMENT_STEPS (core/data/augment.py)
    seed: int = 0  # shapes generation and folder split

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        parse_augment(self.augment)
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"validation fraction must be between 0 and 1, got {self.val_fraction}")
        if self.image_size is not None and not 4 <= self.image_size <= 1024:
            raise ConfigError(f"image size must be between 4 and 1024 pixels, got {self.image_size}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataConfig:
        return _from_dict(cls, data)


OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "onecycle", "cosine", "step")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, schedule, regularization, stopping, device."""

    optimizer: str = "sgd"  # "sgd" | "adam" | "adamw"
    lr: float = 1e-2  # learning rate
    momentum: float = 0.0  # SGD only
    nesterov: bool = False  # SGD only, needs momentum > 0
    weight_decay: float = 0.0  # L2 penalty applied by the optimizer
    l1: float = 0.0  # L1 penalty weight: loss += l1 * sum(|w|) over all parameters
    batch_size: int = 64  # images per step
    epochs: int = 10
    seed: int = 0  # weight init and shuffling
    stop_loss: float | None = None  # stop once an epoch's mean training loss falls below this
    patience: int | None = None  # stop after this many epochs without a better val accuracy
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    schedule: str = "none"  # learning-rate schedule, see SCHEDULES; onecycle/cosine step per batch, step per epoch
    label_smoothing: float = 0.0  # in [0, 1): share of the target spread over all classes
    amp: bool = False  # mixed precision: bf16 autocast (CPU, CUDA with bf16), else fp16 + GradScaler (CUDA)
    clip_grad: float | None = None  # clip the gradients' global L2 norm to this; None = no clipping
    freeze: str = "none"  # "none" | "backbone" (linear probe) | "upto:STAGE", see core/training/freeze.py
    backbone_lr: float | None = None  # learning rate of everything but the head; None = lr

    def __post_init__(self) -> None:
        for name in ("lr", "momentum", "weight_decay", "l1", "stop_loss", "label_smoothing", "clip_grad", "backbone_lr"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
                raise ConfigError(f"{name.replace('_', ' ')} must be a finite number, got {value!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r} (use {', '.join(OPTIMIZERS)})")
        for key in ("batch_size", "epochs", "seed"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{key} must be a whole number, got {value!r}")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be in [0, 2^63), got {self.seed}")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}")
        if self.momentum >= 1:
            raise ConfigError(f"momentum must be below 1, got {self.momentum}")
        if self.momentum < 0 or self.weight_decay < 0 or self.l1 < 0:
            raise ConfigError("momentum, weight decay and L1 must not be negative")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ConfigError("Nesterov momentum needs the SGD optimizer and a momentum above 0")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {self.batch_size}")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if self.patience is not None and (isinstance(self.patience, bool) or not isinstance(self.patience, int)):
            raise ConfigError(f"patience must be a whole number of epochs, got {self.patience!r}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience must be at least 1 epoch, got {self.patience}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown learning-rate schedule {self.schedule!r} (use {', '.join(SCHEDULES)})")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.clip_grad is not None and not self.clip_grad > 0:
            raise ConfigError(f"gradient clipping norm must be positive, got {self.clip_grad}")
        if self.backbone_lr is not None and not self.backbone_lr > 0:
            raise ConfigError(f"backbone learning rate must be positive, got {self.backbone_lr}")
        if not isinstance(self.freeze, str) or not (
            self.freeze in ("none", "backbone") or (self.freeze.startswith("upto:") and len(self.freeze) > 5)
        ):
            raise ConfigError(f"unknown freeze mode {self.freeze!r} (use none, backbone or upto:STAGE)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data)


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{cls.__name__} has unknown settings: {', '.join(sorted(unknown))}")
    return cls(**data)


def to_json(obj: Any) -> str:
    return json.dumps(obj.to_dict(), sort_keys=True)


__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "AUGMENTATIONS",
    "AUGMENT_STEPS",
    "parse_augment",
    "LAYER_KINDS",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "DataConfig",
    "LayerSpec",
    "ModelSpec",
    "TrainConfig",
    "to_json",
]
