"""Resume state of a run as flat tensors + JSON, and back (``cvstudio train --resume``).

What a run needs to go on as if it had never stopped, captured at an epoch
end (the last consistent point; a run stopped mid-epoch resumes from the end
of the epoch before):

- the current weights (``model.*``) -- the checkpoint itself holds the *best* ones --
  and the best weights so far (``best.*``);
- the optimizer state (``optimizer.<param index>.<name>`` tensors; param groups as JSON),
  the LR scheduler and GradScaler states (JSON);
- the random number generators: torch's global one (dropout), the loader's
  shuffle/augment generator and CUDA's (``rng.*``);
- the epoch, the history and the divergence guard's first loss (JSON).

Everything is a tensor name -> tensor mapping plus one JSON-able dict, the
shape a safetensors file with a JSON ``__metadata__`` entry can hold, so it
can travel inside a checkpoint once ``core/checkpoints.py`` accepts extra
tensors and metadata. :class:`ResumePoint` records it at every epoch end.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from cvstudio.core.errors import ConfigError
from cvstudio.core.events import EpochEnded
from cvstudio.core.training.callbacks import BestWeights, DivergenceGuard, FitState, TrainingCallback

RESUME_FORMAT = 1


def training_state_tensors(state: FitState, rules: list[Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, JSON-able metadata) of the run ``state`` describes, as of its last epoch end."""
    tensors: dict[str, torch.Tensor] = {}
    for k, v in state.model.state_dict().items():
        tensors[f"model.{k}"] = v.detach().to("cpu", copy=True).contiguous()
    opt = state.optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entries in opt["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{idx}.{name}"] = value.detach().to("cpu", copy=True).contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    tensors["rng.torch"] = torch.get_rng_state()
    if state.generator is not None:
        tensors["rng.loader"] = state.generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    meta: dict[str, Any] = {
        "format": RESUME_FORMAT,
        "epoch": state.epoch,
        "history": [dict(vars(e)) for e in state.history],
        "optimizer": {"param_groups": _jsonable(opt["param_groups"]), "scalars": scalars},
        "scheduler": None if state.scheduler is None else _jsonable(state.scheduler.state_dict()),
        "scaler": None if state.scaler is None else _jsonable(state.scaler.state_dict()),
        "first_loss": None,
    }
    for rule in rules:
        if isinstance(rule, BestWeights) and rule.state_dict is not None:
            for k, v in rule.state_dict.items():
                tensors[f"best.{k}"] = v.contiguous()
        if isinstance(rule, DivergenceGuard):
            meta["first_loss"] = rule.first_loss
    return tensors, meta


def restore_training_state(state: FitState, rules: list[Any], tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> int:
    """Put the run back as :func:`training_state_tensors` captured it; returns the epoch to continue after.

    The state may come from a hostile file: anything malformed is one ConfigError.
    """
    if not isinstance(meta, Mapping) or meta.get("format") != RESUME_FORMAT:
        raise ConfigError("the resume state is missing or from another CV Studio version")
    try:
        epoch = _restore(state, rules, tensors, meta)
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[-1].strip() if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"the resume state is damaged or does not fit this run ({reason})") from None
    if not 0 <= epoch <= state.config.epochs or len(state.history) != epoch:
        raise ConfigError(f"the resume state's epoch {epoch} does not fit a run of {state.config.epochs} epochs")
    return epoch


def _restore(state: FitState, rules: list[Any], tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> int:
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        state.model.load_state_dict(model_state)
    except RuntimeError as exc:
        raise ConfigError(f"the resume state does not fit the model: {str(exc).splitlines()[-1].strip()}") from None
    opt_state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optimizer."):
            _, idx, name = k.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = v
    for idx, entries in meta["optimizer"]["scalars"].items():
        opt_state.setdefault(int(idx), {}).update(entries)
    state.optimizer.load_state_dict({"state": opt_state, "param_groups": meta["optimizer"]["param_groups"]})
    if state.scheduler is not None and meta.get("scheduler") is not None:
        state.scheduler.load_state_dict(meta["scheduler"])
    if state.scaler is not None and meta.get("scaler") is not None:
        state.scaler.load_state_dict(meta["scaler"])
    torch.set_rng_state(tensors["rng.torch"])
    loader_rng = tensors.get("rng.loader")
    # A CUDA run's loader generator lives on the GPU (core/data/batches.py): a state saved on the other kind
    # of device does not fit it, and the run goes on with a fresh order rather than failing.
    if state.generator is not None and loader_rng is not None and loader_rng.numel() == state.generator.get_state().numel():
        state.generator.set_state(loader_rng)
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    state.history = [EpochEnded(**h) for h in meta["history"]]
    state.epoch = int(meta["epoch"])
    best = {k[len("best."):]: v for k, v in tensors.items() if k.startswith("best.")}
    for rule in rules:
        if isinstance(rule, BestWeights) and best:
            rule.state_dict = dict(best)
        if isinstance(rule, DivergenceGuard):
            rule.first_loss = meta.get("first_loss")
    return state.epoch


class ResumePoint(TrainingCallback):
    """Records the resume state at every epoch end (after the other rules ran)."""

    def __init__(self, rules: list[Any]):
        self.rules = rules
        self.tensors: dict[str, torch.Tensor] | None = None
        self.meta: dict[str, Any] | None = None

    def on_epoch_end(self, state: FitState, event: EpochEnded) -> None:
        self.tensors, self.meta = training_state_tensors(state, self.rules)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.item() if obj.numel() == 1 else obj.tolist()
    return obj


__all__ = ["RESUME_FORMAT", "ResumePoint", "restore_training_state", "training_state_tensors"]
