"""Project folders and the runs they hold (no Qt; torch only where a checkpoint is read).

A project is a folder::

    project.json   data settings (source, class subset and order), the model spec with
                   hand edits, the training settings, UI choices, notes and tags per run
    runs/          one checkpoint per run; its metadata holds the run's history
    exports/       exported models
    trash/         runs deleted from the runs browser

``project.json`` is written atomically (:func:`cvstudio.core.atomic.replacing`)
on every save, so a crash leaves the old file or the new one. Loading never
fails on a bad item: :func:`load_project` returns the project with what could
be read and one line per problem. A file that could not be read (damaged, or
from a newer version) is copied to ``project.json.bak`` before it is first
replaced. Two programs on one project: :func:`acquire_lock` lets the first
write and tells the second who holds it (a stale lock of a dead process is
taken over).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cvstudio
from cvstudio.core import paths
from cvstudio.core.atomic import replacing
from cvstudio.core.errors import ConfigError, SpecError, UserError
from cvstudio.core.specs import DataConfig, ModelSpec, TrainConfig

PROJECT_FORMAT = 1
PROJECT_FILE = "project.json"
LOCK_FILE = ".cvstudio-lock"
RUNS, EXPORTS, TRASH = "runs", "exports", "trash"
CHECKPOINT_SUFFIX = ".safetensors"

MAX_PROJECT_BYTES = 16 * 1024 * 1024  # a larger project.json is not one we wrote
MAX_NOTE_CHARS = 20_000
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_OVERLAID = 64
_RUN_ID = re.compile(r"[A-Za-z0-9_.+-]{1,200}")  # a checkpoint's file stem; never a path
_UI_VALUE_TYPES = (str, int, float, bool)

# The convnet preset's recommended training, which a new project starts with (as the window does).
DEFAULT_TRAIN_CONFIG = TrainConfig(epochs=10, lr=1e-2, momentum=0.9)


# What a project (and the window's forms) accept; the core's dataclasses alone allow far more.
TRAIN_LIMITS = {"epochs": (1, 100_000), "batch_size": (1, 65_536), "seed": (0, 2**31 - 1), "patience": (1, 10_000)}
DATA_LIMITS = {"image_size": (4, 1024), "seed": (0, 2**31 - 1)}


def check_limits(config: TrainConfig | DataConfig) -> None:
    """ConfigError naming the first whole-number setting outside what a project keeps."""
    limits = TRAIN_LIMITS if isinstance(config, TrainConfig) else DATA_LIMITS
    for name, (low, high) in limits.items():
        value = getattr(config, name)
        if value is not None and not low <= value <= high:
            shown = value if abs(value) < 10**12 else f"about 10^{len(str(abs(value))) - 1}"
            raise ConfigError(f"{name.replace('_', ' ')} {shown} is outside {low}..{high:,}")


class ProjectError(UserError):
    """A project folder cannot be used at all (not a folder, cannot be created)."""


def default_project_dir() -> Path:
    """The project the app uses when none was chosen, in the user data folder."""
    return paths.data_dir().parent / "default-project"


def is_run_id(text: object) -> bool:
    return isinstance(text, str) and bool(_RUN_ID.fullmatch(text)) and text not in (".", "..")


@dataclass
class Project:
    """What ``project.json`` holds; ``folder`` is where it lives (not stored in the file)."""

    folder: Path
    data_config: DataConfig = field(default_factory=DataConfig)
    spec: ModelSpec | None = None  # None: the app's default preset
    train_config: TrainConfig = DEFAULT_TRAIN_CONFIG
    current_run: str | None = None  # run id (checkpoint stem in runs/) of the current model
    current_checkpoint: str | None = None  # or a checkpoint outside the project (absolute path)
    overlaid_runs: list[str] = field(default_factory=list)  # run ids whose curves the Train page shows
    page: str | None = None  # title of the page that was open
    ui: dict[str, Any] = field(default_factory=dict)  # other UI choices: plain names -> str/int/float/bool
    notes: dict[str, str] = field(default_factory=dict)  # run id -> note
    tags: dict[str, list[str]] = field(default_factory=dict)  # run id -> tags
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    # project.json was read as damaged or from a newer version: copy it to a .bak before replacing it
    keep_backup: bool = field(default=False, compare=False, repr=False)

    @property
    def file(self) -> Path:
        return self.folder / PROJECT_FILE

    @property
    def runs_dir(self) -> Path:
        return self.folder / RUNS

    @property
    def exports_dir(self) -> Path:
        return self.folder / EXPORTS

    @property
    def trash_dir(self) -> Path:
        return self.folder / TRASH

    def run_path(self, run_id: str) -> Path:
        if not is_run_id(run_id):
            raise ProjectError(f"not a run id: {run_id!r}")
        return self.runs_dir / f"{run_id}{CHECKPOINT_SUFFIX}"

    def current_model_path(self) -> Path | None:
        if self.current_run is not None:
            return self.run_path(self.current_run)
        return Path(self.current_checkpoint) if self.current_checkpoint else None

    def set_current_model(self, path: str | os.PathLike[str] | None) -> None:
        """Remember the current model: a run of this project by id, anything else by absolute path."""
        self.current_run = self.current_checkpoint = None
        if path is None:
            return
        path = Path(path).absolute()
        if path.parent == self.runs_dir.absolute() and path.suffix == CHECKPOINT_SUFFIX and is_run_id(path.stem):
            self.current_run = path.stem
        else:
            self.current_checkpoint = str(path)

    def to_dict(self) -> dict[str, Any]:
        run_ids = sorted(set(self.notes) | set(self.tags))
        return {
            "format_version": PROJECT_FORMAT,
            "app_version": cvstudio.__version__,
            "created": self.created,
            "data_config": self.data_config.to_dict(),
            "model_spec": None if self.spec is None else self.spec.to_dict(),
            "train_config": self.train_config.to_dict(),
            "current_run": self.current_run,
            "current_checkpoint": self.current_checkpoint,
            "ui": {"page": self.page, "overlaid_runs": list(self.overlaid_runs), **self.ui},
            "runs": {
                rid: {"notes": self.notes.get(rid, ""), "tags": list(self.tags.get(rid, []))} for rid in run_ids
            },
        }


@dataclass
class LoadedProject:
    project: Project
    problems: list[str]  # one line per item that could not be read or is missing
    read_only: bool = False  # the folder cannot be written, or another program holds the lock
    lock_owner: int | None = None  # the pid holding the lock when read_only because of it


# --- reading ---------------------------------------------------------------------------------


def _items(data: dict[str, Any], project: Project, problems: list[str]) -> None:
    """Read each item on its own: one bad item costs only that item."""

    def read(key: str, what: str, parse: Any) -> None:
        if key not in data or data[key] is None:
            return
        try:
            parse(data[key])
        except (ConfigError, SpecError, TypeError, ValueError, KeyError, RecursionError) as e:
            problems.append(f"the {what} in {PROJECT_FILE} are unreadable ({_one_line(e)}); using the defaults")

    def data_config(v: Any) -> None:
        config = DataConfig.from_dict(_plain_object(v))
        check_limits(config)
        project.data_config = config

    def spec(v: Any) -> None:
        project.spec = ModelSpec.from_dict(_plain_object(v))

    def train_config(v: Any) -> None:
        config = TrainConfig.from_dict(_plain_object(v))
        check_limits(config)
        project.train_config = config

    read("data_config", "data settings", data_config)
    read("model_spec", "model settings", spec)
    read("train_config", "training settings", train_config)

    created = data.get("created")
    if isinstance(created, str) and len(created) <= 64:
        project.created = created
    current = data.get("current_run")
    if current is not None:
        if is_run_id(current):
            project.current_run = current
        else:
            problems.append(f"the current run in {PROJECT_FILE} is not a run id; ignored")
    current = data.get("current_checkpoint")
    if current is not None:
        if isinstance(current, str) and 0 < len(current) <= 4096 and "\x00" not in current:
            project.current_checkpoint = current
        else:
            problems.append(f"the current checkpoint in {PROJECT_FILE} is not a path; ignored")

    ui = data.get("ui")
    if ui is not None and not isinstance(ui, dict):
        problems.append(f"the UI choices in {PROJECT_FILE} are unreadable; using the defaults")
    elif ui:
        page = ui.get("page")
        if isinstance(page, str) and len(page) <= 64:
            project.page = page
        overlaid = ui.get("overlaid_runs")
        if isinstance(overlaid, list):
            project.overlaid_runs = [r for r in overlaid if is_run_id(r)][:MAX_OVERLAID]
        for key, value in ui.items():
            if key in ("page", "overlaid_runs") or not isinstance(key, str) or len(key) > 64:
                continue
            if isinstance(value, _UI_VALUE_TYPES) and not (isinstance(value, float) and not math.isfinite(value)):
                if not isinstance(value, str) or len(value) <= 4096:
                    project.ui[key] = value

    runs = data.get("runs")
    if runs is not None and not isinstance(runs, dict):
        problems.append(f"the run notes and tags in {PROJECT_FILE} are unreadable; none shown")
    elif runs:
        skipped = 0
        for rid, entry in runs.items():
            if not is_run_id(rid) or not isinstance(entry, dict):
                skipped += 1
                continue
            note = entry.get("notes", "")
            if isinstance(note, str) and note:
                project.notes[rid] = note[:MAX_NOTE_CHARS]
            tags = entry.get("tags", [])
            if isinstance(tags, list):
                clean = clean_tags(t for t in tags if isinstance(t, str))
                if clean:
                    project.tags[rid] = clean
        if skipped:
            problems.append(f"{skipped} run note(s) in {PROJECT_FILE} had a bad run id; ignored")


def _plain_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError("expected a JSON object")
    return value


def clean_tags(tags: Any) -> list[str]:
    """Tags as the runs browser keeps them: trimmed, non-empty, unique, bounded."""
    out: list[str] = []
    for tag in tags:
        tag = " ".join(str(tag).split())[:MAX_TAG_CHARS]
        if tag and tag not in out:
            out.append(tag)
    return out[:MAX_TAGS]


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def data_source_problem(config: DataConfig) -> str | None:
    """Why the data of ``config`` cannot be loaded here (missing folder or dataset files), or None.

    Folders are checked without torch; a torchvision dataset's files only
    once torch is imported (the loader's own modules import it).
    """
    source = str(config.source).strip()
    if source == "shapes":
        return None
    from cvstudio.core.errors import DataError

    looks_like_path = os.sep in source or (os.altsep and os.altsep in source) or source.startswith(("~", "."))
    if looks_like_path or Path(source).expanduser().is_absolute():
        folder = Path(source).expanduser()
        return None if folder.is_dir() else f"the data folder {source} is missing"
    try:
        from cvstudio.core.data.loader import _data_root, resolve_source
        from cvstudio.core.data.torchvision_sources import TORCHVISION_SOURCES, check_present, locate_root

        resolved = resolve_source(source)
        if resolved.kind == "torchvision" and not config.download:
            info = TORCHVISION_SOURCES[resolved.name]
            check_present(info, locate_root(info, _data_root(config)))
    except DataError as e:
        return _one_line(e)
    return None


def load_project(folder: str | os.PathLike[str], *, create: bool = True, lock: bool = True) -> LoadedProject:
    """Open the project in ``folder`` (made, with an empty project, when ``create`` and missing).

    Never fails on the file's contents: what cannot be read is reported in
    ``problems`` and replaced by defaults. ProjectError only when the folder
    itself is unusable.
    """
    folder = Path(folder).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise ProjectError(f"{folder} is a file, not a project folder")
    if not folder.exists():
        if not create:
            raise ProjectError(f"no project folder at {folder}")
        try:
            folder.mkdir(parents=True)
        except OSError as e:
            raise ProjectError(f"cannot create the project folder {folder}: {e.strerror or e}") from None
    project = Project(folder)
    problems: list[str] = []
    damaged = False
    if project.file.exists():
        data, problem = _read_json(project.file)
        if problem:
            problems.append(problem)
            damaged = True
        if data is not None:
            version = data.get("format_version")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                problems.append(f"{PROJECT_FILE} has no valid format version; read what could be read")
                damaged = True
            elif version > PROJECT_FORMAT:
                problems.append(
                    f"{PROJECT_FILE} was written by a newer CV Studio (format {version}; this version "
                    f"{cvstudio.__version__} reads format {PROJECT_FORMAT}); read what this version understands"
                )
                damaged = True
            _items(data, project, problems)
    project_state = LoadedProject(project, problems)
    if damaged:
        project.keep_backup = True  # save_project copies it to a .bak first
    _check_references(project, problems)
    if not _writable(folder):
        project_state.read_only = True
        problems.append(f"cannot write to {folder}: changes in this session are not saved")
    elif lock:
        owner = acquire_lock(folder)
        if owner is not None:
            project_state.read_only = True
            project_state.lock_owner = owner
            problems.append(f"the project is open in another program (process {owner}): opened read-only "
                            f"(if no CV Studio has it open, delete {folder / LOCK_FILE})")
    return project_state


def _read_json(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        size = path.stat().st_size
        if size > MAX_PROJECT_BYTES:
            return None, f"{PROJECT_FILE} is {size:,} bytes, too large to be a project; opened with the defaults"
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return None, f"{PROJECT_FILE} cannot be read ({_one_line(e)}); opened with the defaults"
    try:
        data = json.loads(text)
    except ValueError as e:
        return None, f"{PROJECT_FILE} is damaged (not valid JSON: {_one_line(e)}); opened with the defaults"
    except RecursionError:
        return None, f"{PROJECT_FILE} is damaged (nested too deeply); opened with the defaults"
    if not isinstance(data, dict):
        return None, f"{PROJECT_FILE} is damaged (not a JSON object); opened with the defaults"
    return data, None


def _check_references(project: Project, problems: list[str]) -> None:
    """Missing folders and checkpoints: say so, and drop only what cannot be shown anyway."""
    if project.data_config.source != "shapes":
        source = Path(str(project.data_config.source)).expanduser()
        if source.is_absolute() and not source.is_dir():
            problems.append(f"the data folder {project.data_config.source} is missing; no dataset is loaded from it")
    model = project.current_model_path()
    if model is not None and not model.is_file():
        problems.append(f"the current model's checkpoint {model} is missing")
        project.current_run = project.current_checkpoint = None
    missing = [r for r in project.overlaid_runs if not project.run_path(r).is_file()]
    for run_id in missing:
        problems.append(f"the run {run_id} is missing from {RUNS}/; its curves are not shown")
    project.overlaid_runs = [r for r in project.overlaid_runs if r not in missing]


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


# --- writing ---------------------------------------------------------------------------------

def backup_path(file: Path) -> Path:
    """``project.json.bak``, or ``.bak2``, ``.bak3``… when an older backup is there (none is overwritten)."""
    candidate = file.with_name(file.name + ".bak")
    n = 2
    while candidate.exists():
        candidate = file.with_name(f"{file.name}.bak{n}")
        n += 1
    return candidate


def save_project(project: Project) -> Path:
    """Write ``project.json`` atomically (the old file or the new one survives a crash); makes the folders.

    Raises ProjectError (one line) when the folder cannot be written.
    """
    text = project_text(project)
    path = write_project_text(text, *project_writing(project))
    project.keep_backup = False  # the backup is made: one is enough
    return path


def project_text(project: Project) -> str:
    """What ``project.json`` will hold; ProjectError when a setting is NaN or infinite (no invalid JSON)."""
    try:
        return json.dumps(project.to_dict(), indent=1, sort_keys=True, allow_nan=False)
    except ValueError as e:
        raise ProjectError(f"cannot save the project: {e}") from None


def project_writing(project: Project) -> tuple[Path, tuple[Path, ...], bool]:
    """Where ``project`` is written (its file and folders) and whether the old file is first kept as a backup:
    read on the thread that owns the project, so that another one can write with them (the GUI's autosave)."""
    return project.file, (project.folder, project.runs_dir, project.exports_dir), project.keep_backup


def write_project_text(text: str, file: Path, folders: tuple[Path, ...], keep_backup: bool) -> Path:
    """``text`` into ``file`` atomically and durably (see :func:`save_project`); ProjectError (one line) on failure."""
    folder = file.parent
    try:
        for sub in folders:
            sub.mkdir(parents=True, exist_ok=True)
        if keep_backup and file.exists():
            shutil.copy2(file, backup_path(file))
        with replacing(file) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:
        raise ProjectError(f"cannot save the project in {folder}: {e.strerror or e}") from None
    return file


def open_for_runs(folder: str | os.PathLike[str], data_config: DataConfig, spec: ModelSpec,
                  train_config: TrainConfig) -> LoadedProject:
    """A project ready to receive runs from the command line (``train --project``, a sweep).

    A new project is written with these settings, so opening it in the window
    shows what the runs used; an existing one is left as it is (a window may
    hold it), only its ``runs/`` folder is made. ProjectError when it cannot be written.
    """
    is_new = not (Path(folder).expanduser() / PROJECT_FILE).exists()
    loaded = load_project(folder, lock=False)
    project = loaded.project
    if loaded.read_only:
        raise ProjectError(f"cannot write to the project folder {project.folder}")
    if is_new:
        project.data_config, project.spec, project.train_config = data_config, spec, train_config
        save_project(project)
    else:
        try:
            project.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ProjectError(f"cannot make {project.runs_dir}: {e.strerror or e}") from None
    return loaded


# --- the lock --------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def lock_owner(folder: str | os.PathLike[str]) -> int | None:
    """The pid of another live process holding the project's lock, or None (no lock, stale, or ours)."""
    try:
        data = json.loads((Path(folder) / LOCK_FILE).read_text(encoding="utf-8"))
        pid, host = int(data["pid"]), str(data.get("host", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no lock, or one too damaged to belong to anyone
    if pid == os.getpid() or pid <= 0:
        return None
    if host and host != socket.gethostname():
        return pid  # another machine's process (a shared folder): cannot check, assume alive
    return pid if _pid_alive(pid) else None


def acquire_lock(folder: str | os.PathLike[str]) -> int | None:
    """Take the project's lock; returns None when taken, else the pid of the live process holding it."""
    folder = Path(folder)
    owner = lock_owner(folder)
    if owner is not None:
        return owner
    text = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # two openers at once: one wins
    except FileExistsError:
        owner = lock_owner(folder)  # it appeared meanwhile, or is a stale one: replace only a stale one
        if owner is not None:
            return owner
        try:
            with replacing(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
        except OSError:
            return None
        return None
    except OSError:
        return None  # cannot write: the caller already opens read-only for that reason
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return None


def release_lock(folder: str | os.PathLike[str]) -> None:
    """Remove the lock if this process holds it."""
    path = Path(folder) / LOCK_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if int(data.get("pid", -1)) == os.getpid():
            path.unlink()
    except (OSError, ValueError, TypeError, AttributeError):
        pass


# --- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """One run of a project, as the runs browser and ``cvstudio runs`` show it."""

    id: str
    checkpoint: Path
    model: str = ""
    dataset: str = ""
    classes: tuple[str, ...] = ()
    optimizer: str = ""
    lr: float | None = None
    batch_size: int | None = None
    weight_decay: float | None = None
    val_acc: float | None = None
    train_acc: float | None = None
    epochs: int = 0
    seconds: float | None = None  # wall time of all epochs
    images_per_s: float | None = None  # mean over epochs, training loop only
    status: str = ""
    created: str = ""
    notes: str = ""
    tags: tuple[str, ...] = ()
    error: str | None = None  # why the checkpoint could not be read
    settings: dict[str, str] = field(default_factory=dict)  # flat name -> value, for Diff

    def to_json(self) -> dict[str, Any]:
        def num(v: float | None) -> float | None:
            return v if v is None or math.isfinite(v) else None

        return {
            "id": self.id,
            "model": self.model,
            "dataset": self.dataset,
            "classes": list(self.classes),
            "optimizer": self.optimizer,
            "lr": num(self.lr),
            "batch_size": self.batch_size,
            "weight_decay": num(self.weight_decay),
            "val_acc": num(self.val_acc),
            "train_acc": num(self.train_acc),
            "epochs": self.epochs,
            "seconds": num(self.seconds),
            "images_per_s": num(self.images_per_s),
            "status": self.status,
            "created": self.created,
            "checkpoint": str(self.checkpoint),
            "notes": self.notes,
            "tags": list(self.tags),
            "error": self.error,
        }


def run_settings(meta: Any) -> dict[str, str]:
    """A checkpoint's settings as flat ``name -> text`` rows (what Diff puts side by side)."""
    rows: dict[str, str] = {"model": meta.model_spec.name}
    if meta.model_spec.arch:
        rows["model.arch"] = str(meta.model_spec.arch)
        rows["model.weights"] = str(meta.model_spec.weights)
    rows["model.loss"] = meta.model_spec.loss
    for i, layer in enumerate(meta.model_spec.layers, 1):
        rows[f"model.layer {i:02d}"] = layer.describe()
    rows["data"] = meta.dataset
    rows["data.classes"] = ", ".join(meta.class_names)
    rows["data.input"] = "x".join(str(v) for v in meta.input_shape)
    if meta.data_config is not None:
        for key, value in meta.data_config.to_dict().items():
            rows[f"data.{key}"] = _text(value)
    if meta.train_config is not None:
        for key, value in meta.train_config.to_dict().items():
            rows[f"train.{key}"] = _text(value)
    for key, value in sorted(meta.metrics.items()):
        rows[f"result.{key}"] = f"{value:.4f}" if math.isfinite(value) else str(value)
    rows["result.status"] = meta.status
    rows["result.epochs"] = str(len(meta.history))
    return rows


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "(all)"
    return "–" if value is None else str(value)


def read_run(path: Path, project: Project | None = None) -> RunRecord:
    """The record of one checkpoint; an unreadable one gives a record with ``error`` set."""
    from cvstudio.core.checkpoints import read_meta
    from cvstudio.core.errors import CheckpointError

    run_id = path.stem
    notes = project.notes.get(run_id, "") if project else ""
    tags = tuple(project.tags.get(run_id, [])) if project else ()
    try:
        meta = read_meta(path)
    except (CheckpointError, OSError) as e:
        return RunRecord(run_id, path, status="unreadable", error=_one_line(e), notes=notes, tags=tags)
    history = meta.history
    seconds = [h.get("seconds") for h in history if isinstance(h.get("seconds"), (int, float))]
    speeds = [h.get("images_per_s") for h in history if isinstance(h.get("images_per_s"), (int, float))]
    tc = meta.train_config
    return RunRecord(
        id=run_id,
        checkpoint=path,
        model=meta.model_spec.name,
        dataset=meta.dataset,
        classes=tuple(meta.class_names),
        optimizer=tc.optimizer if tc else "",
        lr=tc.lr if tc else None,
        batch_size=tc.batch_size if tc else None,
        weight_decay=tc.weight_decay if tc else None,
        val_acc=meta.metrics.get("val_acc"),
        train_acc=meta.metrics.get("train_acc"),
        epochs=len(history),
        seconds=float(sum(seconds)) if seconds else None,
        images_per_s=float(sum(speeds) / len(speeds)) if speeds else None,
        status=meta.status,
        created=meta.created,
        notes=notes,
        tags=tags,
        settings=run_settings(meta),
    )


def list_runs(project: Project) -> list[RunRecord]:
    """Every checkpoint in the project's ``runs/``, newest first (reads headers only)."""
    try:
        files = [p for p in project.runs_dir.iterdir() if p.suffix == CHECKPOINT_SUFFIX and p.is_file()]
    except OSError:
        return []
    records = [read_run(p, project) for p in files if is_run_id(p.stem)]
    return sorted(records, key=lambda r: (r.created, r.id), reverse=True)


def run_history(path: str | os.PathLike[str]) -> tuple[str, list[dict[str, Any]], str]:
    """(model name, per-epoch history, status) of a checkpoint, for drawing its curves again."""
    from cvstudio.core.checkpoints import read_meta

    meta = read_meta(path)
    return meta.model_spec.name, meta.history, meta.status


def trash_run(project: Project, run_id: str) -> Path:
    """Move a run's checkpoint into ``trash/`` (a unique name there); its notes and tags stay."""
    source = project.run_path(run_id)
    if not source.is_file():
        raise ProjectError(f"the run {run_id} is not in {project.runs_dir}")
    try:
        project.trash_dir.mkdir(parents=True, exist_ok=True)
        target = project.trash_dir / source.name
        n = 2
        while target.exists():
            target = project.trash_dir / f"{run_id}-{n}{CHECKPOINT_SUFFIX}"
            n += 1
        os.replace(source, target)
    except OSError as e:
        raise ProjectError(f"cannot move the run {run_id} to the trash: {e.strerror or e}") from None
    if run_id in project.overlaid_runs:
        project.overlaid_runs.remove(run_id)
    if project.current_run == run_id:
        project.current_run = None
    return target
