"""Checkpoints: one ``.safetensors`` file with the weights and a JSON description.

The file holds the model's ``state_dict`` tensors (on the CPU, contiguous) and,
in the safetensors ``__metadata__``, one JSON document under the key
``"cvstudio"``: the format version, the ModelSpec, class names, input shape,
normalization statistics, the run's settings, final metrics and the per-epoch
history. A checkpoint is therefore enough to rebuild, evaluate and describe a
run.

Loading never unpickles anything. Saving is atomic: the file at the target
path is either the old checkpoint or the complete new one, never a mixture.
Importing a plain PyTorch ``.pt`` state_dict goes only through
``torch.load(..., weights_only=True)`` and a spec chosen by the user.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

import cvstudio
from cvstudio.core.atomic import replacing
from cvstudio.core.errors import CheckpointError, ConfigError, SpecError
from cvstudio.core.specs import DataConfig, ModelSpec, TrainConfig

FORMAT_VERSION = 1

MAX_INPUT_SIDE = 8192  # pixels; a larger input is a crafted file, not a model
MAX_PARAMS = 2_000_000_000  # checked on the meta device before any weight is allocated
METADATA_KEY = "cvstudio"  # the __metadata__ entry holding our JSON document
# Resume state (core/training/resume.py) rides along in the same file: its tensors
# under this name prefix, its JSON under a second metadata key. Loading the model
# ignores both, so a resumable checkpoint is still an ordinary checkpoint.
RESUME_PREFIX = "__resume__."
RESUME_METADATA_KEY = "cvstudio.resume"
MAX_RESUME_JSON = 64 * 1024 * 1024  # characters; the history of a long run is far below this
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit

# Run outcomes written by the training loop (events.FitEnded.status), plus
# "imported" for a state_dict imported from a .pt file. Other non-empty values
# are accepted on load so that newer writers do not make files unreadable.
KNOWN_STATUSES = ("finished", "stopped", "early_stopped", "loss_reached", "diverged", "imported")

def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------
# Metadata


def _fail(msg: str) -> None:
    raise CheckpointError(f"invalid checkpoint metadata: {msg}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class CheckpointMeta:
    """Everything a checkpoint says about its model and the run that made it.

    Constructing one validates it (CheckpointError on bad values); sequences
    are normalized to tuples and numbers to floats.
    """

    model_spec: ModelSpec
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]  # (channels, height, width)
    mean: tuple[float, ...]  # per channel, of images scaled to 0..1
    std: tuple[float, ...]
    train_config: TrainConfig | None = None
    data_config: DataConfig | None = None
    dataset: str = ""  # human description, e.g. "CIFAR-10: airplane, bird"
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. train_acc, val_acc, val_loss
    history: list[dict[str, Any]] = field(default_factory=list)  # one dict per epoch
    app_version: str = cvstudio.__version__
    created: str = field(default_factory=_now_iso)  # ISO 8601, UTC
    status: str = "finished"  # how the run ended, see KNOWN_STATUSES
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        s = object.__setattr__
        if not isinstance(self.model_spec, ModelSpec):
            _fail("model_spec must be a ModelSpec")
        if not self.model_spec.layers:
            _fail("the model spec has no layers")
        if isinstance(self.class_names, str) or not isinstance(self.class_names, (list, tuple)):
            _fail("class_names must be a list of names")
        s(self, "class_names", tuple(self.class_names))
        if not all(isinstance(c, str) and c for c in self.class_names):
            _fail("class names must be non-empty strings")
        if len(self.class_names) < 2:
            _fail(f"a classifier needs at least 2 classes, got {len(self.class_names)}")
        if len(set(self.class_names)) != len(self.class_names):
            _fail("class names must be unique")

        shape = self.input_shape
        if not isinstance(shape, (list, tuple)) or len(shape) != 3 or not all(_is_int(v) for v in shape):
            _fail(f"input_shape must be three integers (channels, height, width), got {shape!r}")
        s(self, "input_shape", tuple(int(v) for v in shape))
        c, h, w = self.input_shape
        if c not in (1, 3):
            _fail(f"input images must have 1 or 3 channels, got {c}")
        if not (1 <= h <= MAX_INPUT_SIDE and 1 <= w <= MAX_INPUT_SIDE):
            _fail(f"input size {h}x{w} is out of range (at most {MAX_INPUT_SIDE} pixels a side)")

        for name in ("mean", "std"):
            vals = getattr(self, name)
            if not isinstance(vals, (list, tuple)) or not all(_is_number(v) for v in vals):
                _fail(f"{name} must be a list of numbers")
            if len(vals) != c:
                _fail(f"{name} has {len(vals)} values but the input has {c} channels")
            vals = tuple(float(v) for v in vals)
            if not all(math.isfinite(v) for v in vals):
                _fail(f"{name} must be finite numbers")
            s(self, name, vals)
        if not all(v > 0 for v in self.std):
            _fail("std must be positive")

        if self.train_config is not None and not isinstance(self.train_config, TrainConfig):
            _fail("train_config must be a TrainConfig")
        if self.data_config is not None and not isinstance(self.data_config, DataConfig):
            _fail("data_config must be a DataConfig")
        if not isinstance(self.dataset, str):
            _fail("dataset must be a string")

        if not isinstance(self.metrics, Mapping):
            _fail("metrics must be an object of numbers")
        metrics: dict[str, float] = {}
        for k, v in self.metrics.items():
            if not isinstance(k, str) or not (_is_number(v) or v is None):
                _fail(f"metric {k!r} must be a number")
            metrics[k] = float("nan") if v is None else float(v)
        s(self, "metrics", metrics)

        if not isinstance(self.history, (list, tuple)):
            _fail("history must be a list of per-epoch objects")
        history: list[dict[str, Any]] = []
        for i, entry in enumerate(self.history):
            if not isinstance(entry, Mapping):
                _fail(f"history entry {i + 1} must be an object")
            for k, v in entry.items():
                if not isinstance(k, str) or not (v is None or isinstance(v, (str, int, float, bool))):
                    _fail(f"history entry {i + 1} has a bad value for {k!r}")
            history.append(dict(entry))
        s(self, "history", history)

        for name in ("app_version", "created", "status"):
            if not isinstance(getattr(self, name), str):
                _fail(f"{name} must be a string")
        if not self.status:
            _fail("status must not be empty")
        try:
            datetime.fromisoformat(self.created.replace("Z", "+00:00"))
        except ValueError:
            _fail(f"created is not an ISO 8601 date: {self.created!r}")
        if not _is_int(self.format_version) or self.format_version < 1:
            _fail(f"format_version must be a positive integer, got {self.format_version!r}")
        if self.format_version > FORMAT_VERSION:
            raise CheckpointError(_newer_message(self.format_version))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "model_spec": self.model_spec.to_dict(),
            "class_names": list(self.class_names),
            "input_shape": list(self.input_shape),
            "mean": list(self.mean),
            "std": list(self.std),
            "train_config": None if self.train_config is None else self.train_config.to_dict(),
            "data_config": None if self.data_config is None else self.data_config.to_dict(),
            "dataset": self.dataset,
            "metrics": dict(self.metrics),
            "history": [dict(h) for h in self.history],
            "app_version": self.app_version,
            "created": self.created,
            "status": self.status,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> CheckpointMeta:
        """Validate a decoded JSON document; raises CheckpointError with a plain reason.

        Unknown top-level keys are ignored (a newer writer may add optional ones
        without changing the format version).
        """
        if not isinstance(data, dict):
            _fail("expected a JSON object")
        version = data.get("format_version")
        if not _is_int(version) or version < 1:
            _fail(f"missing or bad format_version ({version!r})")
        if version > FORMAT_VERSION:
            raise CheckpointError(_newer_message(version))
        for key in ("model_spec", "class_names", "input_shape", "mean", "std"):
            if key not in data:
                _fail(f"'{key}' is missing")
        try:
            spec = ModelSpec.from_dict(data["model_spec"])
        except SpecError as e:
            raise CheckpointError(f"the checkpoint's model spec is invalid: {e}") from None
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"the checkpoint's model spec is invalid: {e}") from None
        train_config = _config(TrainConfig, data.get("train_config"), "training settings")
        data_config = _config(DataConfig, data.get("data_config"), "data settings")
        kwargs: dict[str, Any] = {}
        for key in ("dataset", "metrics", "history", "app_version", "created", "status"):
            if key in data:
                kwargs[key] = data[key]
        return cls(
            model_spec=spec,
            class_names=data["class_names"],
            input_shape=data["input_shape"],
            mean=data["mean"],
            std=data["std"],
            train_config=train_config,
            data_config=data_config,
            format_version=version,
            **kwargs,
        )

    @classmethod
    def from_json(cls, text: str) -> CheckpointMeta:
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"invalid checkpoint metadata: not valid JSON ({e})") from None
        except RecursionError:
            raise CheckpointError("invalid checkpoint metadata: nested too deeply") from None
        return cls.from_dict(data)


def _newer_message(version: int) -> str:
    return (
        f"this checkpoint was made by a newer CV Studio (format {version}; "
        f"this version {cvstudio.__version__} reads format {FORMAT_VERSION})"
    )


def _config(cls: type, value: Any, what: str) -> Any:
    if value is None:
        return None
    try:
        return cls.from_dict(value)
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"invalid checkpoint metadata: bad {what}: {e}") from None


# ---------------------------------------------------------------------------
# Saving


def _state_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    model = getattr(model, "_orig_mod", model)  # torch.compile wrapper
    out: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"could not save checkpoint: state entry {name!r} is not a tensor")
        out[name] = t.detach().to("cpu").contiguous()
    return out


def _os_reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    meta: CheckpointMeta,
    *,
    extra_tensors: Mapping[str, torch.Tensor] | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and ``meta`` to ``path`` atomically; returns the path.

    ``extra_tensors`` (stored as ``__resume__.<name>``) and ``extra_metadata``
    (JSON under the metadata key "cvstudio.resume") hold the state a stopped
    run needs to go on; :func:`read_resume_state` gives them back.

    Parent folders are created. On any failure the temporary file is removed,
    whatever was at ``path`` before stays as it was, and CheckpointError says why.
    """
    path = Path(path)
    if not isinstance(meta, CheckpointMeta):
        raise TypeError("meta must be a CheckpointMeta")
    try:
        from safetensors.torch import save as st_save

        tensors = _state_tensors(model)
        metadata = {METADATA_KEY: meta.to_json()}
        for name, t in (extra_tensors or {}).items():
            tensors[RESUME_PREFIX + name] = t.detach().to("cpu").contiguous()
        if extra_metadata is not None:
            metadata[RESUME_METADATA_KEY] = json.dumps(extra_metadata, allow_nan=True)
        blob = st_save(tensors, metadata=metadata)
    except CheckpointError:
        raise
    except Exception as e:  # e.g. tensors sharing memory
        raise CheckpointError(f"could not save checkpoint to {path}: {e}") from None

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:
            with open(tmp, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
    except Exception as e:  # disk full, permissions, a folder in the way
        raise CheckpointError(f"could not save checkpoint to {path}: {_os_reason(e)}") from None
    return path


# ---------------------------------------------------------------------------
# Reading the header


# What the safetensors library says about a damaged file -> what we tell the user, first match wins.
_LIBRARY_ERRORS = (
    ("not fully covered", "is truncated: its tensor data ends early"),
    ("incomplete metadata", "is truncated: its tensor data ends early"),
    ("invalid shape, data type, or offset", "is damaged: a tensor's size does not match its shape, type or offsets"),
    ("invalid offset", "is damaged: its tensors' data overlap or are out of order"),
    ("expected a string", "is not a safetensors checkpoint (bad __metadata__ in header)"),
    ("expected struct", "is not a safetensors checkpoint (header is not a JSON object)"),
    ("unknown variant", "is damaged: a tensor has an unknown data type"),
    ("invalid json", "is not a safetensors checkpoint (header is not valid JSON)"),
)


def _check_file(path: Path, what: str = "checkpoint") -> int:
    """Return the file size, or raise CheckpointError for missing/unreadable files."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CheckpointError(f"{what} not found: {path}") from None
    except OSError as e:
        raise CheckpointError(f"cannot read {what} {path}: {_os_reason(e)}") from None
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a {what} file")
    if st.st_size == 0:
        raise CheckpointError(f"{what} {path} is an empty file")
    return st.st_size


def _check_header_size(path: Path) -> None:
    """The caps that must hold before the library maps the file: a sane header length that fits."""
    size = _check_file(path)
    not_st = f"{path} is not a safetensors checkpoint"
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {_os_reason(e)}") from None
    if len(head) < 8:
        raise CheckpointError(f"{not_st} (file too short)")
    n = int.from_bytes(head, "little")
    if n < 2 or n > MAX_HEADER_BYTES:
        raise CheckpointError(f"{not_st} (bad header length)")
    if 8 + n > size:
        raise CheckpointError(
            f"{path} is truncated or not a safetensors checkpoint (header needs {n} bytes, the file has {size - 8})"
        )


def _read_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor shapes and the ``__metadata__`` strings, read by the safetensors library (no tensor data)."""
    from safetensors import SafetensorError, safe_open

    _check_header_size(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except SafetensorError as e:
        text = str(e).lower()
        reason = next((said for key, said in _LIBRARY_ERRORS if key in text), "is damaged: " + _first_line(e))
        raise CheckpointError(f"{path} {reason}") from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {_os_reason(e)}") from None
    return shapes, metadata


def _model_infos(infos: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The model's own tensors: the resume state's are not part of the state_dict."""
    return {k: v for k, v in infos.items() if not k.startswith(RESUME_PREFIX)}


def _read_tensors(path: Path, names: list[str]) -> dict[str, torch.Tensor]:
    """Only the named tensors (a checkpoint may carry a resume state several times the weights' size)."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {name: f.get_tensor(name) for name in names}
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{path} is damaged: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _meta_from_header(path: Path, metadata: dict[str, str]) -> CheckpointMeta:
    text = metadata.get(METADATA_KEY)
    if text is None:
        raise CheckpointError(
            f"{path} has no CV Studio metadata (a plain safetensors file; "
            "import its weights with a chosen model spec instead)"
        )
    try:
        return CheckpointMeta.from_json(text)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None


def read_meta(path: str | os.PathLike[str]) -> CheckpointMeta:
    """Read only the description of a checkpoint (fast: no tensor data is read)."""
    path = Path(path)
    _, metadata = _read_header(path)
    return _meta_from_header(path, metadata)


# ---------------------------------------------------------------------------
# Loading


@dataclass
class LoadedCheckpoint:
    model: nn.Module  # in eval mode, on the requested device
    meta: CheckpointMeta
    path: Path


def _first_line(e: BaseException) -> str:
    """One line of an exception's text: torch's C++ errors span many lines with a stack trace."""
    lines = str(e).strip().splitlines()
    return lines[0].strip() if lines else type(e).__name__


def _fmt_shape(shape: tuple[int, ...] | torch.Size) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown


def _final_layer_prefix(model: nn.Module) -> str | None:
    """State-dict prefix of the last module holding a weight (the output layer)."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            last = name
    return last


def _build(meta: CheckpointMeta, where: str) -> nn.Module:
    from cvstudio.core.models.builder import build_model, summarize

    c, h, w = meta.input_shape
    try:
        params = summarize(meta.model_spec, meta.input_shape, meta.num_classes).total_params
    except SpecError as e:
        raise CheckpointError(f"the model in {where} does not build for {c}x{h}x{w} inputs: {e}") from None
    except (RuntimeError, ValueError, TypeError, OverflowError) as e:
        raise CheckpointError(f"the model in {where} does not build for {c}x{h}x{w} inputs: {_first_line(e)}") from None
    if params > MAX_PARAMS:
        raise CheckpointError(f"the model in {where} has {params:,} parameters, more than the {MAX_PARAMS:,} CV Studio loads")
    try:
        model = build_model(meta.model_spec, meta.input_shape, meta.num_classes)
    except SpecError as e:
        raise CheckpointError(f"the model in {where} does not build for {c}x{h}x{w} inputs: {e}") from None
    except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError) as e:
        raise CheckpointError(f"the model in {where} does not build for {c}x{h}x{w} inputs: {_first_line(e)}") from None
    # The output must have one value per class name.
    model.eval()
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, c, h, w))
    except RuntimeError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"the model in {where} does not run on {c}x{h}x{w} inputs: {msg}") from None
    if out.ndim != 2 or out.shape[1] != meta.num_classes:
        got = out.shape[1] if out.ndim == 2 else _fmt_shape(out.shape[1:])
        raise CheckpointError(
            f"the model in {where} outputs {got} values per image but the checkpoint "
            f"lists {meta.num_classes} class names"
        )
    return model


def _check_tensors(model: nn.Module, shapes: Mapping[str, tuple[int, ...]], meta: CheckpointMeta, where: str) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected]
    if missing:
        raise CheckpointError(f"{where} does not match its model: missing tensors {_names(missing)}")
    if unexpected:
        raise CheckpointError(f"{where} does not match its model: unexpected tensors {_names(unexpected)}")
    final = _final_layer_prefix(model)
    for name, want in expected.items():
        have = tuple(shapes[name])
        if have != want:
            hint = ""
            if final is not None and name.startswith(final + ".") and have and want and have[0] != want[0]:
                hint = f" (its final layer has {have[0]} outputs but there are {meta.num_classes} class names)"
            raise CheckpointError(
                f"{where} does not match its model: tensor {name!r} has shape {_fmt_shape(have)} "
                f"but the model expects {_fmt_shape(want)}{hint}"
            )


def _finish(model: nn.Module, tensors: dict[str, torch.Tensor], device: str | torch.device, where: str) -> nn.Module:
    for name, t in tensors.items():
        if t.dtype == torch.bool or (t.is_complex()):
            raise CheckpointError(f"{where}: tensor {name!r} has an unusable type {t.dtype}")
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f"{where} does not match its model: {first[-1].strip() if first else e}") from None
    try:
        model = model.to(device)
    except (RuntimeError, AssertionError, ValueError) as e:
        raise CheckpointError(f"cannot use device {device!r}: {str(e).splitlines()[0] if str(e) else e}") from None
    return model.eval()


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuild the model a checkpoint describes and load its weights (eval mode).

    Every problem -- a missing or damaged file, foreign or newer metadata, a
    spec that does not build, tensors that do not fit -- raises one
    CheckpointError with a plain message.
    """
    path = Path(path)
    infos, metadata = _read_header(path)
    meta = _meta_from_header(path, metadata)
    where = str(path)
    model = _build(meta, where)
    infos = _model_infos(infos)
    _check_tensors(model, infos, meta, where)
    tensors = _read_tensors(path, list(infos))
    model = _finish(model, tensors, device, where)
    return LoadedCheckpoint(model=model, meta=meta, path=path)


def read_resume_state(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The resume state saved with a checkpoint: (tensors without their prefix, metadata), or None if it has none.

    The file is hostile input: the header is validated as for loading, the
    JSON must be an object, and only numeric tensors are accepted.
    """
    path = Path(path)
    infos, metadata = _read_header(path)
    names = [k for k in infos if k.startswith(RESUME_PREFIX)]
    text = metadata.get(RESUME_METADATA_KEY)
    if text is None and not names:
        return None
    bad = f"{path} has a damaged resume state"
    if text is None or not names:
        raise CheckpointError(f"{bad} (its {'description is' if text is None else 'tensors are'} missing)")
    if len(text) > MAX_RESUME_JSON:
        raise CheckpointError(f"{bad} (its description is {len(text):,} characters long)")
    try:
        state = json.loads(text)
    except (ValueError, RecursionError):
        raise CheckpointError(f"{bad} (its description is not valid JSON)") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{bad} (its description is not a JSON object)")
    if any(len(name) == len(RESUME_PREFIX) for name in names):
        raise CheckpointError(f"{bad} (a tensor entry without a name)")
    tensors = _read_tensors(path, names)
    for name, tensor in tensors.items():
        if tensor.dtype == torch.bool or tensor.is_complex():
            raise CheckpointError(f"{bad} (bad tensor entry {name!r})")
    return {k[len(RESUME_PREFIX):]: v for k, v in tensors.items()}, state


# ---------------------------------------------------------------------------
# Importing a plain PyTorch state_dict


def import_state_dict(
    pt_path: str | os.PathLike[str],
    spec: ModelSpec,
    input_shape: tuple[int, int, int],
    class_names: tuple[str, ...] | list[str],
    mean: tuple[float, ...] | list[float],
    std: tuple[float, ...] | list[float],
) -> LoadedCheckpoint:
    """Load weights from a plain PyTorch ``.pt`` state_dict into a model built from ``spec``.

    Only ``torch.load(..., weights_only=True)`` is used, so a file containing
    arbitrary Python objects is refused instead of run. A dict wrapping the
    state_dict under "state_dict", "model_state_dict" or "model" is accepted,
    and "module." / "_orig_mod." prefixes (DataParallel, torch.compile) are removed.
    """
    from cvstudio.core.models.weights import WeightsError, read_state_dict

    pt_path = Path(pt_path)
    _check_file(pt_path, "state_dict file")
    try:
        tensors = read_state_dict(pt_path)  # torch.load(weights_only=True); wrappers and prefixes removed
    except WeightsError as e:
        raise CheckpointError(str(e)) from None

    meta = CheckpointMeta(
        model_spec=spec,
        class_names=tuple(class_names),
        input_shape=tuple(input_shape),  # type: ignore[arg-type]
        mean=tuple(mean),
        std=tuple(std),
        dataset=f"imported from {pt_path.name}",
        status="imported",
    )
    where = str(pt_path)
    model = _build(meta, where)
    _check_tensors(model, {k: tuple(v.shape) for k, v in tensors.items()}, meta, where)
    model = _finish(model, tensors, "cpu", where)
    return LoadedCheckpoint(model=model, meta=meta, path=pt_path)


__all__ = [
    "FORMAT_VERSION",
    "KNOWN_STATUSES",
    "CheckpointMeta",
    "LoadedCheckpoint",
    "import_state_dict",
    "RESUME_METADATA_KEY",
    "RESUME_PREFIX",
    "load_checkpoint",
    "read_meta",
    "read_resume_state",
    "save_checkpoint",
]
