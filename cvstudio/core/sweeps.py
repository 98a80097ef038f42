"""Hyper-parameter sweeps: many ``cvstudio train`` runs over a grid of settings, recorded in a project.

A sweep is the same training command repeated with some options changed
(``--set lr=0.01,0.05 --set width=16,32``): the full grid, or ``--random N``
combinations drawn from it with a seed. Every trial is a child process running
``cvstudio train ... --project DIR --json`` -- the same code path as any run,
so a trial's checkpoint is an ordinary run of the project -- and several
trials run side by side. On this kind of machine that is the fast way to use
all cores for small networks: two single-threaded processes gave 1.58x the
images/s of one process with two threads (DESIGN.md section 6), so on the CPU
each trial gets one thread and there are as many trials at once as cores. With
GPUs, each trial gets its own GPU.

The sweep's record (``DIR/sweeps/<id>.json``) is rewritten atomically when a
trial ends; running the same sweep into the same project again skips the trials
that already finished and retries the failed ones.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from cvstudio.core.atomic import replacing
from cvstudio.core.control import RunControl
from cvstudio.core.errors import ConfigError

SWEEP_FORMAT_VERSION = 1
MAX_TRIALS = 10_000  # a grid larger than this is a typo, not a plan
DONE_STATUSES = ("finished", "early_stopped", "loss_reached", "diverged")  # ran to its own end (not stopped by the user)
STDERR_LINES_KEPT = 20  # a failed trial's message comes from its last stderr lines

# Options a sweep may vary: the name used with --set -> the train option it sets.
SWEEPABLE = {
    "lr": "--lr",
    "momentum": "--momentum",
    "width": "--width",
    "depth": "--depth",
    "dropout": "--dropout",
    "weight-decay": "--weight-decay",
    "l1": "--l1",
    "batch-size": "--batch-size",
    "epochs": "--epochs",
    "model": "--model",
    "optimizer": "--optimizer",
    "augment": "--augment",
    "schedule": "--schedule",
    "label-smoothing": "--label-smoothing",
    "seed": "--seed",
    "freeze": "--freeze",
    "image-size": "--image-size",
}
FLAGS = ("batchnorm", "amp", "nesterov")  # on/off options: --set batchnorm=on,off


def parse_set(text: str) -> tuple[str, tuple[str, ...]]:
    """``"lr=0.01,0.05"`` -> ``("lr", ("0.01", "0.05"))``; ConfigError naming what is wrong."""
    name, sep, values = text.partition("=")
    name = name.strip().replace("_", "-")
    if not sep or not name:
        raise ConfigError(f"--set needs NAME=v1,v2,... (got {text!r})")
    if name not in SWEEPABLE and name not in FLAGS:
        known = ", ".join(sorted((*SWEEPABLE, *FLAGS)))
        raise ConfigError(f"--set {name!r} is not a setting a sweep can vary (known: {known})")
    parts = tuple(v.strip() for v in values.split(","))
    if not parts or any(not v for v in parts):
        raise ConfigError(f"--set {name} has an empty value (got {text!r})")
    if len(set(parts)) != len(parts):
        raise ConfigError(f"--set {name} lists a value twice (got {text!r})")
    if name in FLAGS and not set(parts) <= {"on", "off"}:
        raise ConfigError(f"--set {name} takes on and/or off (got {text!r})")
    return name, parts


def plan_trials(grid: Sequence[tuple[str, Sequence[str]]], random_n: int | None = None, seed: int = 0) -> list[dict[str, str]]:
    """The trials of a sweep: every combination of ``grid``, or ``random_n`` distinct ones drawn with ``seed``."""
    names = [name for name, _ in grid]
    if len(set(names)) != len(names):
        raise ConfigError("each setting may be given to --set once")
    total = 1
    for _, values in grid:
        total *= len(values)
    if random_n is not None and random_n < 1:
        raise ConfigError(f"--random must be at least 1, got {random_n}")
    if total > MAX_TRIALS and random_n is None:
        raise ConfigError(f"the grid has {total:,} combinations (at most {MAX_TRIALS:,}); use --random N to sample it")
    if random_n is not None and random_n < total:
        rng = random.Random(seed)
        picked = sorted(rng.sample(range(total), random_n))
        combos = [_combination(grid, i) for i in picked]
    else:
        combos = [dict(zip(names, values)) for values in itertools.product(*(v for _, v in grid))]
    return combos


def _combination(grid: Sequence[tuple[str, Sequence[str]]], index: int) -> dict[str, str]:
    """The ``index``-th element of the grid's product, in itertools.product order."""
    out: dict[str, str] = {}
    for name, values in reversed(grid):
        index, i = divmod(index, len(values))
        out[name] = values[i]
    return {name: out[name] for name, _ in grid}


def trial_args(settings: dict[str, str]) -> list[str]:
    """Train options of one trial, e.g. ``{"lr": "0.1", "batchnorm": "on"}`` -> ``["--lr", "0.1", "--batchnorm"]``."""
    args: list[str] = []
    for name, value in settings.items():
        if name in FLAGS:
            if value == "on":
                args.append(f"--{name}")
        else:
            args += [SWEEPABLE[name], value]
    return args


def trial_key(settings: dict[str, str]) -> str:
    return json.dumps(settings, sort_keys=True)


def sweep_id(base_args: Sequence[str], grid: Sequence[tuple[str, Sequence[str]]], random_n: int | None, seed: int) -> str:
    """Same command, grid and sampling -> the same id, so a re-run finds its record."""
    text = json.dumps([list(base_args), [[n, list(v)] for n, v in grid], random_n, seed])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def auto_parallel(cpu_count: int | None = None, gpu_count: int = 0) -> int:
    """Trials at once: one per GPU when there are GPUs, else one single-threaded trial per core."""
    if gpu_count > 0:
        return gpu_count
    return max(1, cpu_count if cpu_count is not None else (os.cpu_count() or 1))


@dataclass
class Trial:
    settings: dict[str, str]
    status: str = "pending"  # pending | running | finished, stopped, ... (the run's status) | failed
    val_acc: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    epochs: int | None = None
    seconds: float | None = None
    checkpoint: str | None = None
    message: str = ""

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES and self.checkpoint is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Trial | None:
        """A recorded trial, or None when the entry is damaged (it is then simply run again)."""
        if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
            return None
        settings = data["settings"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in settings.items()):
            return None
        trial = cls(settings=dict(settings))
        for name in ("val_acc", "train_acc", "val_loss", "seconds"):
            value = data.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(trial, name, float(value))
        if isinstance(data.get("epochs"), int) and not isinstance(data.get("epochs"), bool):
            trial.epochs = data["epochs"]
        for name in ("status", "checkpoint", "message"):
            if isinstance(data.get(name), str):
                setattr(trial, name, data[name])
        return trial


@dataclass
class SweepRecord:
    """What ``DIR/sweeps/<id>.json`` holds: the command, the grid, and every trial's outcome."""

    id: str
    base_args: list[str]
    grid: list[tuple[str, list[str]]]
    trials: list[Trial] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": SWEEP_FORMAT_VERSION,
            "id": self.id,
            "base_args": self.base_args,
            "grid": [[name, values] for name, values in self.grid],
            "created": self.created,
            "trials": [t.to_dict() for t in self.trials],
        }

    def best(self) -> Trial | None:
        scored = [t for t in self.trials if t.done and t.val_acc is not None]
        return max(scored, key=lambda t: t.val_acc) if scored else None


def record_path(project: Path, sweep: str) -> Path:
    return Path(project) / "sweeps" / f"{sweep}.json"


def load_record(path: Path) -> dict[str, Trial]:
    """Finished and failed trials of an earlier run of this sweep, by settings; {} if none or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
        return {}
    out: dict[str, Trial] = {}
    for entry in data["trials"]:
        trial = Trial.from_dict(entry)
        if trial is not None:
            out[trial_key(trial.settings)] = trial
    return out


def save_record(path: Path, record: SweepRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(record.to_dict(), indent=1), encoding="utf-8")


def _child_env(index: int, parallel: int, gpu_count: int) -> dict[str, str]:
    env = dict(os.environ)
    if gpu_count > 0:
        env["CUDA_VISIBLE_DEVICES"] = str(index % gpu_count)
    elif parallel > 1:  # several trials share the cores: one thread each (see the module docstring)
        env["OMP_NUM_THREADS"] = "1"
        env["MKL_NUM_THREADS"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class _RunningTrial:
    """One child ``cvstudio train`` process, its stdout read for the JSON summary."""

    def __init__(self, trial: Trial, argv: list[str], env: dict[str, str]):
        self.trial = trial
        self.started = time.monotonic()
        self.summary: dict[str, Any] | None = None
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
        )
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") == "done":
                    self.summary = event

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.strip():
                self.stderr.append(line.rstrip())

    def finish(self) -> Trial:
        """After the process ended: fill the trial from its summary or its error."""
        for reader in self._readers:
            reader.join(timeout=5)
        trial = self.trial
        trial.seconds = time.monotonic() - self.started
        s = self.summary
        if s is not None and s.get("checkpoint"):
            trial.status = str(s.get("status", "finished"))
            trial.checkpoint = str(s["checkpoint"])
            for name in ("val_acc", "train_acc", "val_loss"):
                value = s.get(name)
                setattr(trial, name, float(value) if isinstance(value, (int, float)) else None)
            trial.epochs = s.get("epochs") if isinstance(s.get("epochs"), int) else None
            trial.message = str(s.get("message", ""))
        else:
            trial.status = "failed"
            errors = [line for line in self.stderr if "error" in line.lower()]
            trial.message = (errors or list(self.stderr) or [f"exit status {self.process.returncode}"])[-1]
        return trial


def run_sweep(
    base_args: Sequence[str],
    grid: Sequence[tuple[str, Sequence[str]]],
    project: str | os.PathLike[str],
    *,
    random_n: int | None = None,
    seed: int = 0,
    parallel: int | None = None,
    gpu_count: int = 0,
    control: RunControl | None = None,
    on_trial: Callable[[Trial], Any] | None = None,
    on_start: Callable[[Trial], Any] | None = None,
    python: Sequence[str] = (sys.executable, "-m", "cvstudio"),
) -> SweepRecord:
    """Run every trial not finished before, ``parallel`` at a time; returns the complete record.

    ``on_trial`` is called (in this thread) as each trial ends, after it is
    recorded; ``on_start`` as each trial's process has started. ``control.request_stop()`` ends the running trials (they save
    their best weights, as a stopped run does) and starts no new ones.
    """
    project = Path(project)
    trials = plan_trials(grid, random_n, seed)
    sid = sweep_id(base_args, grid, random_n, seed)
    path = record_path(project, sid)
    earlier = load_record(path)
    record = SweepRecord(sid, list(base_args), [(n, list(v)) for n, v in grid])
    todo: deque[Trial] = deque()
    for settings in trials:
        previous = earlier.get(trial_key(settings))
        if previous is not None and previous.done:
            record.trials.append(previous)
        else:
            trial = Trial(settings)
            record.trials.append(trial)
            todo.append(trial)
    save_record(path, record)

    parallel = max(1, parallel or auto_parallel(gpu_count=gpu_count))
    running: list[_RunningTrial] = []
    slots = list(range(parallel))
    stopping = False
    while todo or running:
        if control is not None and control.stop_requested and not stopping:
            stopping = True
            todo.clear()
            for child in running:
                child.process.send_signal(2)  # SIGINT: the run stops after its batch and saves its checkpoint
        while todo and len(running) < parallel and not stopping:
            trial = todo.popleft()
            slot = slots.pop(0)
            argv = [*python, "train", *base_args, *trial_args(trial.settings), "--project", str(project), "--json"]
            trial.status = "running"
            child = _RunningTrial(trial, argv, _child_env(slot, parallel, gpu_count))
            child.slot = slot  # type: ignore[attr-defined]
            running.append(child)
            if on_start is not None:
                on_start(trial)
        time.sleep(0.05)
        for child in [c for c in running if c.process.poll() is not None]:
            running.remove(child)
            slots.append(child.slot)  # type: ignore[attr-defined]
            slots.sort()
            child.finish()
            save_record(path, record)
            if on_trial is not None:
                on_trial(child.trial)
    for trial in record.trials:
        if trial.status in ("pending", "running"):
            trial.status, trial.message = "not run", "the sweep was stopped before this trial"
    save_record(path, record)
    return record


def trial_summary(trial: Trial) -> dict[str, Any]:
    """One trial as printed by ``cvstudio sweep --json``."""
    return {"event": "trial", **trial.to_dict()}


def grid_from_sets(sets: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    return [parse_set(text) for text in sets]


__all__ = [
    "SWEEPABLE",
    "SweepRecord",
    "Trial",
    "auto_parallel",
    "grid_from_sets",
    "parse_set",
    "plan_trials",
    "run_sweep",
    "trial_args",
    "trial_summary",
]
