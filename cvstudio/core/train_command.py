"""The ``cvstudio train`` options that reproduce a window's settings (what a sweep started from the window runs).

The command line builds models only from presets (with their width, depth,
dropout and batch-norm knobs) and torchvision architectures. A spec edited by
hand on the Model page is neither, and some data settings (grayscale folders,
a data seed other than the training seed) have no option: :func:`train_command`
says so in ``problems`` instead of silently running something else, and
:func:`nearest_preset` names the preset a sweep could start from instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from cvstudio.core.specs import ARCHITECTURES, DataConfig, ModelSpec, TrainConfig

DEFAULT_VAL_FRACTION = 0.2  # the train command's --val-fraction default
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class TrainCommand:
    args: tuple[str, ...]  # options after ``cvstudio train``
    problems: tuple[str, ...]  # settings the options cannot express (empty: the options reproduce the settings)


def preset_options(spec: ModelSpec) -> list[str] | None:
    """``--model`` and knob options that rebuild ``spec`` exactly, or None when no preset does."""
    from cvstudio.core.models.presets import PRESETS, get_preset

    # width is the first layer's size, or the second's (airbench's stem is 24 wide whatever the width)
    first_outs = [l.out for l in spec.layers if l.kind in ("conv", "linear", "residual") and l.out][:2]
    dropouts = sorted({l.p for l in spec.layers if l.kind == "dropout"})
    count = {kind: sum(l.kind == kind for l in spec.layers) for kind in ("conv", "linear", "residual")}
    # depth is conv blocks (convnets), hidden layers (MLPs), residual blocks before the last (ResNet)
    # or groups of two convolutions after the stem (airbench)
    depths = {count["conv"], count["linear"] - 1, count["linear"] - 2, count["residual"] - 1, (count["conv"] - 1) // 2}
    names = sorted(PRESETS, key=lambda n: n != spec.name)  # its own name first: the shortest match
    for name in names:
        info = PRESETS[name]
        for width in dict.fromkeys((info.width, *first_outs)):
            for depth in sorted(d for d in {info.depth, *depths} if d >= 1):
                for dropout in (None, *dropouts):
                    for batchnorm in (False, True):
                        try:
                            candidate = get_preset(name, width=width, depth=depth, dropout=dropout, batchnorm=batchnorm)
                        except Exception:  # noqa: BLE001 - a knob combination the preset refuses is no match
                            continue
                        if candidate.layers == spec.layers and candidate.loss == spec.loss:
                            args = ["--model", name]
                            args += ["--width", str(width)] if width != info.width else []
                            args += ["--depth", str(depth)] if depth != info.depth else []
                            args += ["--dropout", repr(dropout)] if dropout is not None else []
                            args += ["--batchnorm"] if batchnorm else []
                            return args
    return None


def model_options(spec: ModelSpec) -> list[str] | None:
    """Options that build ``spec`` (a preset with knobs or a plain torchvision architecture), or None."""
    if spec.arch is not None:
        if spec.arch not in ARCHITECTURES or len(spec.layers) != 1 or spec.layers[0].kind != "linear" or spec.layers[0].out is not None:
            return None
        return ["--model", spec.arch] + (["--pretrained", "--weights-name", spec.weights] if spec.weights else [])
    return preset_options(spec)


def nearest_preset(spec: ModelSpec) -> str:
    """The preset or architecture closest to ``spec``: its own name when it is one, else by its layer kinds."""
    from cvstudio.core.models.presets import PRESETS

    if spec.name in PRESETS:
        return spec.name
    if spec.arch is not None:
        return spec.arch
    kinds = {l.kind for l in spec.layers}
    if "residual" in kinds:
        return "resnet"
    if "conv" in kinds and any(l.kind == "activation" and l.fn == "gelu" for l in spec.layers):
        return "airbench"
    if "conv" in kinds:
        relu = any(l.kind == "activation" and l.fn == "relu" for l in spec.layers)
        return "convnet-relu" if relu else "convnet"
    return "mlp" if spec.outputs_log_probs else "mlp-wide"


def train_command(data: DataConfig, spec: ModelSpec | None, train: TrainConfig, *,
                  model_override: list[str] | None = None) -> TrainCommand:
    """The train options for these settings, and what they cannot express.

    ``model_override`` (e.g. ``["--model", "convnet"]``) replaces the spec's own
    model options: the user chose to sweep from a preset instead of a hand-edited spec.
    """
    args: list[str] = ["--dataset", data.source]
    problems: list[str] = []
    if data.data_dir:
        args += ["--data-dir", data.data_dir]
    if data.download:
        args.append("--download")
    if data.classes:
        if any("," in c for c in data.classes):
            problems.append("a class name contains a comma, which --classes cannot express")
        args += ["--classes", ",".join(data.classes)]
    if data.val_fraction != DEFAULT_VAL_FRACTION:
        args += ["--val-fraction", repr(data.val_fraction)]
    if data.image_size is not None:
        args += ["--image-size", str(data.image_size)]
    if data.grayscale:
        problems.append("grayscale loading of a folder has no train option")
    if data.augment != "none":
        args += ["--augment", data.augment]
    if data.seed != train.seed:
        problems.append(f"the data seed ({data.seed}) differs from the training seed ({train.seed}); "
                        "the train command uses one seed for both")

    if model_override is not None:
        args += model_override
    elif spec is None:
        problems.append("there is no model yet")
    else:
        model = model_options(spec)
        if model is None:
            problems.append(f"the model {spec.name!r} was edited by hand; the train command builds only presets "
                            "(with width, depth, dropout and batch norm) and torchvision architectures")
        else:
            args += model

    args += ["--optimizer", train.optimizer, "--lr", repr(train.lr)]
    if train.optimizer == "sgd":
        args += ["--momentum", repr(train.momentum)]
        args += ["--nesterov"] if train.nesterov else []
    args += ["--weight-decay", repr(train.weight_decay)]
    args += ["--l1", repr(train.l1)] if train.l1 else []
    args += ["--batch-size", str(train.batch_size)] if train.batch_size != DEFAULT_BATCH_SIZE else []
    args += ["--epochs", str(train.epochs), "--seed", str(train.seed)]
    args += ["--stop-loss", repr(train.stop_loss)] if train.stop_loss is not None else []
    args += ["--patience", str(train.patience)] if train.patience is not None else []
    if train.device != "auto":
        # a sweep gives each trial its own GPU (CUDA_VISIBLE_DEVICES): inside a trial it is always "cuda"
        args += ["--device", "cuda" if train.device.startswith("cuda") else train.device]
    args += ["--schedule", train.schedule] if train.schedule != "none" else []
    args += ["--label-smoothing", repr(train.label_smoothing)] if train.label_smoothing else []
    args += ["--amp"] if train.amp else []
    args += ["--clip-grad", repr(train.clip_grad)] if train.clip_grad is not None else []
    args += ["--freeze", train.freeze] if train.freeze != "none" else []
    args += ["--backbone-lr", repr(train.backbone_lr)] if train.backbone_lr is not None else []
    return TrainCommand(tuple(args), tuple(problems))


def without_options(args: tuple[str, ...] | list[str], names: set[str], flags: set[str]) -> list[str]:
    """``args`` less the options a sweep varies: ``names`` take a value (``--lr``), ``flags`` do not (``--amp``)."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif arg not in flags:
            out.append(arg)
    return out


__all__ = ["TrainCommand", "model_options", "nearest_preset", "preset_options", "train_command", "without_options"]
