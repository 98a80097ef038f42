"""Which parameters train: linear probe, partial or full fine-tuning (``TrainConfig.freeze``).

- ``"none"``: everything trains (full fine-tuning; give the backbone a lower
  learning rate with ``TrainConfig.backbone_lr``);
- ``"backbone"``: only the head (the final layer) trains -- a linear probe;
- ``"upto:STAGE"``: the stages from the input up to and including STAGE are
  frozen. Stages are a torchvision model's stages (``layer2``,
  ``features.4``, see core/models/torchvision_models.py) or a built spec's
  top-level modules (``conv1``, ``res2``, ...).

Frozen parameters get ``requires_grad = False`` (so the optimizer never sees
them) and BatchNorm layers whose parameters are all frozen stay in eval mode
while training (:func:`keep_frozen_batchnorm_in_eval`), so their running
statistics do not move either.
"""

from __future__ import annotations

from torch import nn

from cvstudio.core.errors import ConfigError
from cvstudio.core.models.torchvision_models import STAGES_ATTR
from cvstudio.core.models.weights import head_name


def stage_names(model: nn.Module) -> tuple[str, ...]:
    return tuple(getattr(model, STAGES_ATTR, None) or (name for name, _ in model.named_children()))


def apply_freeze(model: nn.Module, mode: str) -> list[str]:
    """Freeze per ``mode``; returns the dotted names of the frozen modules (stages, or the backbone's)."""
    if mode == "none":
        return []
    if mode == "backbone":
        head = head_name(model)
        if head is None:
            raise ConfigError("the model has no final linear layer to train alone; use --freeze none")
        frozen = []
        for name, p in model.named_parameters():
            if not name.startswith(head + "."):
                p.requires_grad_(False)
                frozen.append(name)
        return [n for n in stage_names(model) if not head.startswith(n)]
    if mode.startswith("upto:"):
        target = mode[len("upto:"):]
        names = stage_names(model)
        if target not in names:
            raise ConfigError(f"--freeze upto:{target}: no stage named {target!r} (stages: {', '.join(names)})")
        frozen = list(names[: names.index(target) + 1])
        head = head_name(model) or ""
        if any(head == n or head.startswith(n + ".") for n in frozen):
            raise ConfigError(f"--freeze upto:{target} would freeze the head too: name an earlier stage")
        for name in frozen:
            for p in model.get_submodule(name).parameters():
                p.requires_grad_(False)
        return frozen
    raise ConfigError(f"unknown freeze mode {mode!r} (use none, backbone or upto:STAGE)")


def keep_frozen_batchnorm_in_eval(model: nn.Module) -> None:
    """Call after ``model.train()``: BatchNorm layers with only frozen parameters go back to eval mode."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters())
            if params and not any(p.requires_grad for p in params):
                m.eval()
