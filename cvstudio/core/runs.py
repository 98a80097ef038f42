"""A whole run: build the model, fit it, save the checkpoint. The GUI worker and
``cvstudio train`` both call :func:`train_and_save`, so they cannot disagree on
what a run does or what its checkpoint holds."""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from torch import nn

import cvstudio
from cvstudio.core import paths
from cvstudio.core.checkpoints import CheckpointMeta, read_meta, save_checkpoint
from cvstudio.core.data.bundle import DatasetBundle
from cvstudio.core.errors import CheckpointError, ConfigError
from cvstudio.core.models.torchvision_models import imagenet_stats, resolve_weights
from cvstudio.core.models.weights import (
    WeightsError,
    checkpoint_weights,
    load_into,
    pretrained_file,
    pretrained_state_dict,
    read_state_dict,
)
from cvstudio.core.specs import DataConfig, ModelSpec, TrainConfig
from cvstudio.core.control import RunControl
from cvstudio.core.training.loop import FitResult, fit, new_model


@dataclass
class RunOutcome:
    result: FitResult
    model: nn.Module  # on the CPU, in eval mode, holding the best weights
    checkpoint: Path | None  # None when the run produced no usable weights or could not be saved
    meta: CheckpointMeta | None
    notes: list[str] = field(default_factory=list)  # what prepare_model did, e.g. a replaced head
    save_error: str | None = None  # why the checkpoint could not be written; model and meta are still here

    @property
    def unsaved(self) -> bool:
        """Usable weights that are in memory only: offer to save them elsewhere."""
        return self.checkpoint is None and self.meta is not None


@dataclass(frozen=True)
class ModelInit:
    """Where a run's weights start; all unset = random initialization from the seed.

    At most one source: torchvision's pretrained weights (named by the spec's
    ``weights``, "DEFAULT" when None), a state_dict file, or a CV Studio checkpoint.
    """

    pretrained: bool = False  # torchvision's weights for spec.arch, from the torch hub cache
    download: bool = False  # allow downloading them (an explicit user action)
    weights_file: str | None = None  # a .pth/.pt (loaded weights_only) or .safetensors state_dict
    init_from: str | None = None  # a CV Studio checkpoint; its head is replaced if the classes differ
    progress: bool = False  # show torch hub's download progress bar (on stderr)

    def __post_init__(self) -> None:
        if sum((self.pretrained, self.weights_file is not None, self.init_from is not None)) > 1:
            raise ConfigError("choose one source of starting weights: pretrained, a weights file or a checkpoint")

    @property
    def any(self) -> bool:
        return self.pretrained or self.weights_file is not None or self.init_from is not None


@dataclass
class PreparedModel:
    model: nn.Module
    data: DatasetBundle  # with the mean/std the starting weights expect
    spec: ModelSpec
    notes: list[str]


def check_init(spec: ModelSpec, init: ModelInit) -> None:
    """Fail fast, before any data is loaded, when the starting weights cannot be had."""
    if init.pretrained:
        if spec.arch is None:
            raise ConfigError(f"pretrained weights exist only for torchvision architectures, not for {spec.name!r}")
        path, _ = pretrained_file(spec.arch, spec.weights)
        if not path.exists() and not init.download:
            raise WeightsError(
                f"pretrained weights for {spec.arch} are not downloaded ({path}); add --download-weights to fetch them"
            )
    if init.weights_file is not None and not Path(init.weights_file).is_file():
        raise WeightsError(f"weights file not found: {init.weights_file}")
    if init.init_from is not None:
        read_meta(init.init_from)


def prepare_model(spec: ModelSpec, data: DatasetBundle, seed: int, init: ModelInit | None = None) -> PreparedModel:
    """Build ``spec`` for ``data`` from ``seed``, then load the starting weights ``init`` names.

    Pretrained torchvision weights (and a state_dict file for a torchvision
    architecture) bring ImageNet's mean/std; a checkpoint brings its own. The
    notes say what was replaced or changed.
    """
    init = init or ModelInit()
    notes: list[str] = []
    if init.pretrained:
        if spec.arch is None:
            raise ConfigError(f"pretrained weights exist only for torchvision architectures, not for {spec.name!r}")
        spec = dataclasses.replace(spec, weights=resolve_weights(spec.arch, spec.weights).name)
    model = new_model(spec, data, seed)
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    if init.pretrained:
        tensors, path = pretrained_state_dict(spec.arch, spec.weights, download=init.download, progress=init.progress)
        notes += load_into(model, tensors, f"{spec.arch} {spec.weights} weights ({path.name})")
        stats = imagenet_stats(spec.arch, spec.weights)
    elif init.weights_file is not None:
        notes += load_into(model, read_state_dict(init.weights_file), str(init.weights_file))
        if spec.arch is not None:
            stats = imagenet_stats(spec.arch)
            notes.append("normalizing with ImageNet's mean/std, as torchvision's weights expect")
    elif init.init_from is not None:
        tensors, meta = checkpoint_weights(init.init_from)
        same_classes = tuple(meta.class_names) == tuple(data.class_names)
        if not same_classes:
            notes.append(
                f"the checkpoint's classes ({', '.join(meta.class_names)}) differ from the data's "
                f"({', '.join(data.class_names)})"
            )
        notes += load_into(model, tensors, str(init.init_from), replace_head=not same_classes)
        if len(meta.mean) == len(data.mean):
            stats = (tuple(meta.mean), tuple(meta.std))
    if stats is not None and len(stats[0]) == len(data.mean):
        data = dataclasses.replace(data, mean=stats[0], std=stats[1])
    return PreparedModel(model, data, spec, notes)


@dataclass
class ResumeRun:
    """What a stopped run's checkpoint holds to go on: the run's settings and its state at the last epoch end."""

    spec: ModelSpec
    data_config: DataConfig
    train_config: TrainConfig
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    state: tuple[dict[str, Any], dict[str, Any]]  # (tensors, metadata) for fit(resume=...)
    done_epochs: int


def read_resume_run(path: str | Path) -> ResumeRun:
    """The settings and resume state of a stopped run's checkpoint; UserError says why it cannot go on."""
    from cvstudio.core.checkpoints import read_resume_state

    meta = read_meta(path)
    state = read_resume_state(path)
    if state is None:
        raise ConfigError(
            f"{path} cannot be resumed: it holds no resume state (only runs stopped by the user do; this one {meta.status})"
        )
    if meta.train_config is None or meta.data_config is None:
        raise ConfigError(f"{path} cannot be resumed: its training or data settings are missing")
    epoch = state[1].get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < meta.train_config.epochs:
        raise ConfigError(f"{path} cannot be resumed: its resume state is at epoch {epoch!r} of {meta.train_config.epochs}")
    return ResumeRun(meta.model_spec, meta.data_config, meta.train_config, meta.class_names, meta.input_shape,
                     tuple(meta.mean), tuple(meta.std), state, epoch)


def resume_prepared(run: ResumeRun, data: DatasetBundle) -> PreparedModel:
    """The model to continue ``run`` with (its weights come from the resume state) and the data normalized as before."""
    if tuple(data.class_names) != run.class_names or tuple(data.input_shape) != run.input_shape:
        raise ConfigError(
            f"the data changed since the run stopped: now {len(data.class_names)} classes of "
            f"{'x'.join(map(str, data.input_shape))} images, then {len(run.class_names)} of "
            f"{'x'.join(map(str, run.input_shape))}"
        )
    data = dataclasses.replace(data, mean=run.mean, std=run.std)
    return PreparedModel(new_model(run.spec, data, run.train_config.seed), data, run.spec, [])


def default_checkpoint_path(spec: ModelSpec, data: DatasetBundle, folder: Path | None = None) -> Path:
    """<UTC time>-<model>-<dataset>-<4 hex>.safetensors in ``folder`` (a project's runs/), else the user data folder's runs/.

    The name is chosen when a run starts and written when it ends: the random
    part keeps runs started in the same second (a sweep's trials, two windows)
    from choosing the same file and overwriting each other.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    source = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(data.source).name or data.source)[:40]
    model = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.name)[:40]  # names may hold spaces and punctuation
    base = (folder if folder is not None else paths.runs_dir()) / f"{stamp}-{model}-{source}-{secrets.token_hex(2)}"
    path = base.with_suffix(".safetensors")
    n = 2
    while path.exists():
        path = Path(f"{base}-{n}.safetensors")
        n += 1
    return path


def make_meta(
    spec: ModelSpec,
    data: DatasetBundle,
    data_config: DataConfig | None,
    train_config: TrainConfig | None,
    result: FitResult,
) -> CheckpointMeta:
    return CheckpointMeta(
        model_spec=spec,
        class_names=tuple(data.class_names),
        input_shape=data.input_shape,
        mean=tuple(data.mean),
        std=tuple(data.std),
        train_config=train_config,
        data_config=data_config,
        dataset=data.description,
        metrics=dict(result.metrics),
        history=result.history_dicts(),
        app_version=cvstudio.__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        status=result.status,
    )


def train_and_save(
    spec: ModelSpec,
    data: DatasetBundle,
    train_config: TrainConfig,
    data_config: DataConfig | None = None,
    *,
    out: str | Path | None = None,
    callbacks: Iterable[Any] | None = None,
    control: RunControl | None = None,
    model_callbacks: Iterable[Callable[[nn.Module], Any]] = (),
    tensorboard_dir: str | Path | None = None,
    init: ModelInit | None = None,
    prepared: PreparedModel | None = None,
    resumable: bool = True,
    resume: tuple[Any, Any] | None = None,
    dist: Any = None,
) -> RunOutcome:
    """Train a fresh model from ``spec`` and save its best weights (also when stopped early).

    ``init`` names starting weights (see :func:`prepare_model`); a caller that
    already ran ``prepare_model`` (to show its notes first) passes ``prepared``.
    ``resumable`` / ``resume`` go to :func:`fit`; the checkpoint of a run the
    user stopped carries its resume state (:func:`resume_run` continues it).

    ``model_callbacks`` are factories called with the new model, for callbacks
    that need to look at it (e.g. read kernels at each epoch end, in the
    training thread). ``tensorboard_dir`` additionally writes TensorBoard
    event files there.

    ``dist`` (core/distributed.py) trains this rank's part of a torchrun job;
    only rank 0 writes the checkpoint, the other ranks return without one.
    """
    if prepared is None:
        prepared = prepare_model(spec, data, train_config.seed, init)
    model, data, spec = prepared.model, prepared.data, prepared.spec
    callbacks = list(callbacks or [])
    callbacks += [make(model) for make in model_callbacks]
    if tensorboard_dir is not None:
        from cvstudio.core.training.tensorboard import TensorBoardLogger

        callbacks.append(TensorBoardLogger(tensorboard_dir, model))
    result = fit(
        model,
        data,
        train_config,
        loss=spec.loss,
        augment=data_config.augment if data_config else "none",
        callbacks=callbacks,
        control=control,
        resumable=resumable and dist is None,  # resuming a torchrun job is not supported
        resume=resume,
        dist=dist,
    )
    model.to("cpu").eval()
    if dist is not None and not dist.is_main:  # rank 0 alone saves
        return RunOutcome(result, model, None, None, prepared.notes)
    if not result.metrics:  # diverged before a single usable epoch
        return RunOutcome(result, model, None, None, prepared.notes)
    meta = make_meta(spec, data, data_config, train_config, result)
    path = Path(out) if out else default_checkpoint_path(spec, data)
    # Only a run the user stopped has epochs left to do; a finished, early-stopped or
    # loss-reached run ended by its own rules, and its state would triple the file for nothing.
    keep_resume = result.status == "stopped" and result.resume_tensors is not None
    try:
        save_checkpoint(path, model, meta, extra_tensors=result.resume_tensors if keep_resume else None,
                        extra_metadata=result.resume_meta if keep_resume else None)
    except CheckpointError as exc:  # disk full, folder gone or read-only: the weights must not be lost
        return RunOutcome(result, model, None, meta, prepared.notes, save_error=str(exc))
    return RunOutcome(result, model, path, meta, prepared.notes)
