"""Multi-process training on PyTorch's own torch.distributed: torchrun, DDP, DistributedSampler.

Nothing here schedules processes: ``torchrun`` (``torch.distributed.run``)
starts them and sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/
``MASTER_PORT``; a run that finds those variables calls :meth:`Distributed.start`
and hands the object to ``fit(..., dist=...)``. Then:

- each rank trains on its own disjoint shard of the in-memory training set,
  reshuffled every epoch from the run's seed exactly as
  ``torch.utils.data.DistributedSampler`` does (padded to equal length);
- gradients are averaged by ``DistributedDataParallel``; batch norm becomes
  ``SyncBatchNorm`` on GPUs (PyTorch supports it on GPUs only);
- the ~10/s loss syncs of the loop are all-reduced: every rank sees the same
  global losses, a stop asked on any rank (Ctrl-C, the GUI's Stop through the
  stop file) stops all of them at the same step, and rank 0 picks how many
  steps the next group holds;
- validation and final metrics are summed over validation shards (no padding).

With a global batch of ``batch_size x world_size`` and the same seed, the
losses equal a one-process run's (up to float summation order) on models
without batch norm, or with it on GPUs.

Rank 0 alone prints and saves (the callers check :attr:`Distributed.is_main`).
``python -m cvstudio.core.distributed`` is ``torchrun`` with one change: a
failed rank ends the run with one line naming the rank and its error
(:func:`launch_main`; ``cvstudio train --nproc N`` runs it as a child).

:func:`nccl_check` trains a few DDP steps under torchrun with NCCL on one GPU:
a quick check for benchmarks/gpu.py that the distributed GPU path works.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn

from cvstudio.core.data.batches import BatchLoader
from cvstudio.core.data.bundle import ImageSet
from cvstudio.core.errors import ConfigError

STOP_FILE_ENV = "CVSTUDIO_STOP_FILE"  # rank 0 stops every rank once this file exists (set by `train --nproc`)
TIMEOUT_ENV = "CVSTUDIO_DIST_TIMEOUT_MIN"  # minutes a collective may wait (dataset downloads happen in one)
DEFAULT_TIMEOUT_MIN = 30.0
SYNC_INTERVAL_S = 0.1  # same rate as the single-process loop's loss syncs
MAX_SYNC_STEPS = 10_000
# Errors a rank gets because another one died first: never the root cause of a failed run.
_PEER_ERRORS = ("connection closed by peer", "connection reset", "broken pipe", "distbackenderror",
                "distnetworkerror", "nccl communicator was aborted", "socket timeout", "timed out")


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a torchrun (or srun) job."""

    rank: int  # 0..world_size-1 over all nodes
    world_size: int
    local_rank: int  # index on this node: picks the GPU


def detect_env(environ: Mapping[str, str] | None = None) -> DistEnv | None:
    """The job this process belongs to, from torchrun's variables; None when run alone.

    Raises ConfigError for values that cannot be right (the variables are input like any other).
    """
    environ = os.environ if environ is None else environ
    if "RANK" not in environ or "WORLD_SIZE" not in environ:
        return None

    def number(name: str, default: str | None = None) -> int:
        text = environ.get(name, default)
        try:
            value = int(str(text).strip())
        except ValueError:
            raise ConfigError(f"the environment variable {name}={text!r} is not a whole number") from None
        if not 0 <= value < 1_000_000:
            raise ConfigError(f"the environment variable {name}={value} is out of range")
        return value

    world = number("WORLD_SIZE")
    rank = number("RANK")
    local = number("LOCAL_RANK", environ.get("RANK"))
    if world < 1 or rank >= world:
        raise ConfigError(f"RANK={rank} does not fit WORLD_SIZE={world}: each rank must be in 0..WORLD_SIZE-1")
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not environ.get(name):
            raise ConfigError(f"RANK and WORLD_SIZE are set but {name} is not: start the run with torchrun")
    return DistEnv(rank, world, local)


def shard_order(n: int, seed: int, epoch: int, rank: int, world_size: int) -> torch.Tensor:
    """This rank's indices for 0-based ``epoch``: DistributedSampler's own, as an int64 tensor."""
    sampler = torch.utils.data.DistributedSampler(
        range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), dtype=torch.int64)


def shard_set(data: ImageSet, rank: int, world_size: int) -> ImageSet:
    """Every ``world_size``-th image from ``rank``: disjoint, no padding (evaluation counts stay exact)."""
    return ImageSet(data.images[rank::world_size], data.labels[rank::world_size])


class ShardedBatchLoader(BatchLoader):
    """Training batches of this rank's shard, reshuffled per epoch as DistributedSampler does.

    The order depends only on (seed, epoch), never on the loader's generator,
    so all ranks agree on it; the generator (seeded per rank) drives augmentation only.
    """

    def __init__(self, data: ImageSet, batch_size: int, device, mean, std, *, rank: int, world_size: int,
                 seed: int = 0, **kwargs: Any):
        super().__init__(data, batch_size, device, mean, std, shuffle=True, seed=seed + rank, **kwargs)
        self.rank, self.world_size, self.order_seed = rank, world_size, seed
        self.epoch = 0  # 0-based, set by Distributed.start_epoch

    @property
    def epoch_size(self) -> int:
        return math.ceil(self.num_images / self.world_size)

    def epoch_order(self) -> torch.Tensor:
        return shard_order(self.num_images, self.order_seed, self.epoch, self.rank, self.world_size)


class Distributed:
    """An initialised process group plus what ``fit`` asks of it at its sync points."""

    def __init__(self, env: DistEnv, device: torch.device, backend: str):
        self.env, self.device, self.backend = env, device, backend
        self.rank, self.world_size = env.rank, env.world_size
        self.sync_every = 1  # steps per loss sync; rank 0 adapts it to about SYNC_INTERVAL_S
        self._since_sync = 0
        self._last_sync = time.perf_counter()
        self._stop_file = os.environ.get(STOP_FILE_ENV) if env.rank == 0 else None
        self._originals: dict[str, nn.Module] = {}

    # --- set-up -----------------------------------------------------------------------------

    @classmethod
    def start(cls, env: DistEnv, device_name: str) -> Distributed:
        """Join the job: NCCL with one GPU per local rank on CUDA, gloo on the CPU."""
        from cvstudio.core.training.devices import resolve_device

        device = resolve_device(device_name)
        if device.type == "cuda":
            if env.local_rank >= torch.cuda.device_count():
                raise ConfigError(
                    f"local rank {env.local_rank} has no GPU: this node has {torch.cuda.device_count()}; "
                    "start at most one process per GPU (--nproc-per-node)"
                )
            device = torch.device("cuda", env.local_rank)
            torch.cuda.set_device(device)
            backend = "nccl"
        elif device.type == "cpu":
            backend = "gloo"
        else:
            raise ConfigError(f"multi-process training runs on CUDA GPUs or the CPU, not on {device.type}")
        minutes = _timeout_minutes()
        kwargs: dict[str, Any] = {"device_id": device} if backend == "nccl" else {}
        torch_dist.init_process_group(backend, rank=env.rank, world_size=env.world_size,
                                      timeout=timedelta(minutes=minutes), **kwargs)
        return cls(env, device, backend)

    def close(self) -> None:
        """Leave the job. The DDP wrapper of the last fit still holds the process group until the
        garbage collector frees it; a gloo group freed during interpreter shutdown aborts the process."""
        import gc

        gc.collect()
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self, batch_size: int) -> str:
        return (
            f"distributed: {self.world_size} processes ({self.backend}), global batch "
            f"{batch_size * self.world_size} = {batch_size} per process x {self.world_size}"
        )

    def barrier(self) -> None:
        if self.backend == "nccl":
            torch_dist.barrier(device_ids=[self.device.index])
        else:
            torch_dist.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (building caches, downloading), then each other node's local
        rank 0 (its own cache folder, unless shared), then the rest, reading what those made."""
        phase = 0 if self.rank == 0 else 1 if self.env.local_rank == 0 else 2
        for _ in range(phase):
            self.barrier()
        yield
        for _ in range(2 - phase):
            self.barrier()

    # --- model and data -----------------------------------------------------------------------

    def wrap_model(self, model: nn.Module) -> nn.Module:
        """DistributedDataParallel around ``model`` (on this rank's device); batch norm synced on GPUs.

        SyncBatchNorm shares the parameters and buffers of the modules it
        replaces; :meth:`unwrap_model` puts the originals back after training.
        """
        if self.device.type == "cuda":
            self._originals = {
                name: m for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and name
            }
            if self._originals:
                nn.SyncBatchNorm.convert_sync_batchnorm(model)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def unwrap_model(self, model: nn.Module) -> None:
        """Put the plain batch-norm modules back, so the model is saved and used like any other."""
        for name, original in self._originals.items():
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, original)
        self._originals = {}

    def loader(self, data: ImageSet, batch_size: int, device, mean, std, *, shuffle: bool = False,
               seed: int = 0, **kwargs: Any) -> BatchLoader:
        """BatchLoader's signature: this rank's shuffled training shard, or its share of an evaluation set."""
        if shuffle:
            return ShardedBatchLoader(data, batch_size, device, mean, std, rank=self.rank,
                                      world_size=self.world_size, seed=seed, **kwargs)
        return BatchLoader(shard_set(data, self.rank, self.world_size), batch_size, device, mean, std,
                           seed=seed, **kwargs)

    def start_epoch(self, loader: BatchLoader, epoch: int) -> None:
        """DistributedSampler.set_epoch for 1-based ``epoch``; the loss-sync step counter restarts."""
        if isinstance(loader, ShardedBatchLoader):
            loader.epoch = epoch - 1
        self._since_sync = 0
        self._last_sync = time.perf_counter()

    # --- sync points -----------------------------------------------------------------------------

    def sync_due(self, step: int, steps: int) -> bool:
        """Called once per step on every rank: True at the same steps everywhere."""
        self._since_sync += 1
        return self._since_sync >= self.sync_every or step == steps

    def stop_asked(self, control: Any) -> bool:
        """This rank's own stop request: its RunControl, and on rank 0 the launcher's stop file."""
        if control.stop_requested:
            return True
        return bool(self._stop_file) and os.path.exists(self._stop_file)

    def sync_losses(self, pending: Sequence[torch.Tensor], control: Any) -> tuple[np.ndarray, bool]:
        """(global per-step losses, whether any rank asked to stop): one all-reduce, one host sync."""
        now = time.perf_counter()
        steps = max(1, self._since_sync)
        proposal = 0.0
        if self.is_main:
            per_step = max(1e-6, (now - self._last_sync) / steps)
            proposal = float(min(MAX_SYNC_STEPS, max(1, int(SYNC_INTERVAL_S / per_step))))
        tail = torch.tensor([1.0 if self.stop_asked(control) else 0.0, proposal], dtype=torch.float64)
        vec = torch.cat([torch.stack(list(pending)).double(), tail.to(self.device)])
        torch_dist.all_reduce(vec)
        values = vec.cpu().numpy()
        self.sync_every = max(1, int(values[-1]))
        self._since_sync = 0
        self._last_sync = time.perf_counter()
        return values[:-2] / self.world_size, bool(values[-2] > 0)

    def any_stop(self, control: Any) -> bool:
        """Whether any rank asked to stop (at an epoch end)."""
        flag = torch.tensor([1.0 if self.stop_asked(control) else 0.0], dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(flag)
        return bool(flag.item() > 0)

    def sum(self, *values: torch.Tensor | float | int) -> list[float]:
        """Sums over ranks of a few numbers (counts, loss sums), in float64."""
        vec = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=self.device).reshape(()) for v in values])
        torch_dist.all_reduce(vec)
        return [float(v) for v in vec.cpu()]


def _timeout_minutes() -> float:
    text = os.environ.get(TIMEOUT_ENV)
    if not text:
        return DEFAULT_TIMEOUT_MIN
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}={text!r} is not a number of minutes") from None
    if not math.isfinite(value) or not 0.1 <= value <= 7 * 24 * 60:
        raise ConfigError(f"{TIMEOUT_ENV}={text!r} must be between 0.1 and 10080 minutes")
    return value


# --- failures ---------------------------------------------------------------------------------


def record_failure(message: str) -> bool:
    """Write a rank's error where torchrun reads it (TORCHELASTIC_ERROR_FILE); False when not under torchrun.

    Same JSON as torch's ErrorHandler.record_exception, with our one-line
    message instead of the exception's type and repr.
    """
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return False
    data = {"message": {"message": message, "extraInfo": {
        "py_callstack": traceback.format_exc(), "timestamp": str(int(time.time()))}}}
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
    except OSError:
        return False
    return True


def _is_peer_error(message: str) -> bool:
    text = message.lower()
    return any(marker in text for marker in _PEER_ERRORS)


def root_failure(failures: Mapping[int, Any]) -> tuple[int, str, int]:
    """(rank, one-line reason, exit code) of the failure that ended a run, from ChildFailedError.failures.

    A rank killed by a signal or failing with its own error comes before the
    ranks that then lost their connection to it or were ended by torchrun
    (SIGTERM); ties go to the earliest, then the lowest rank.
    """

    def reason(failure: Any) -> str:
        message = failure.message if isinstance(failure.message, str) else str(failure.message.get("message", ""))
        recorded = getattr(failure, "error_file", "<N/A>") not in ("<N/A>", "")  # the rank wrote its own error
        if failure.exitcode < 0 and not recorded:
            return f"killed by {failure.signal_name()}"
        if not message or message.startswith("To enable traceback"):
            return f"exited with status {failure.exitcode} (its error is printed above)"
        return message.strip().splitlines()[0] if "\n" in message.strip() else message.strip()

    def key(item: tuple[int, Any]) -> tuple[int, int, int]:
        rank, failure = item
        if failure.exitcode < 0:  # torchrun itself ends the surviving ranks with SIGTERM
            secondary = -failure.exitcode == int(signal.SIGTERM)
        else:
            secondary = _is_peer_error(str(failure.message))
        return (int(secondary), int(failure.timestamp), rank)

    rank, failure = min(failures.items(), key=key)
    code = failure.exitcode if failure.exitcode > 0 else 1
    return int(rank), reason(failure), code


def launch_main(argv: Sequence[str] | None = None) -> int:
    """``torchrun`` in this process: same options; a failed rank gives one line naming it and its error."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(list(argv if argv is not None else sys.argv[1:]))
    # Its per-process failure lines would repeat, less clearly, the one line printed below.
    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(logging.CRITICAL)
    try:
        run(args)
    except ChildFailedError as exc:
        rank, why, code = root_failure(exc.failures)
        world = _world_size_of(args)
        print(f"cvstudio: rank {rank} of {world} failed: {why}; all ranks were stopped", file=sys.stderr, flush=True)
        return code
    except SignalException as exc:
        print(f"cvstudio: stopped by {exc.sigval.name}; all ranks were stopped", file=sys.stderr, flush=True)
        return 128 + int(exc.sigval)
    return 0


def _world_size_of(args: Any) -> str:
    """nproc-per-node x nodes, as text; "?" for elastic ranges or "auto"."""
    try:
        low, _, high = str(args.nnodes).partition(":")
        if high and high != low:
            return "?"
        return str(int(args.nproc_per_node) * int(low))
    except (ValueError, TypeError):
        return "?"


# --- launching ---------------------------------------------------------------------------------


def launch_command(train_argv: Sequence[str], nproc: int) -> list[str]:
    """The child command of ``cvstudio train --nproc N``: torchrun (through :func:`launch_main`), standalone.

    ``train_argv`` is the ``train`` command line without ``--nproc``; the
    child runs with ``CVSTUDIO_STOP_FILE`` set (see :func:`new_stop_file`).
    """
    return [sys.executable, "-m", "cvstudio.core.distributed", "--nproc-per-node", str(int(nproc)), "--standalone",
            "-m", "cvstudio", *train_argv]


def new_stop_file() -> tuple[str, dict[str, str]]:
    """(path that stops every rank once it exists, the environment for the child): the launcher's Stop.

    The path is in a new private folder; the caller removes it with
    ``shutil.rmtree(os.path.dirname(path))`` once the child has ended.
    """
    import tempfile

    folder = tempfile.mkdtemp(prefix="cvstudio-run-")
    path = os.path.join(folder, "stop")
    env = dict(os.environ)
    env[STOP_FILE_ENV] = path
    return path, env


def check_nproc(nproc: int, device_name: str) -> None:
    """Refuse a process count the device cannot hold (one GPU per process on CUDA), before launching."""
    if device_name in ("cpu",):
        return
    if device_name == "mps":
        raise ConfigError("--nproc trains on CUDA GPUs or the CPU, not on mps")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device_name == "auto" and gpus == 0:
        return  # the CPU, with gloo
    if device_name.startswith("cuda:"):
        raise ConfigError("--nproc gives each process its own GPU (cuda:LOCAL_RANK): use --device cuda or auto")
    if gpus < nproc:
        raise ConfigError(f"--nproc {nproc} needs {nproc} CUDA GPUs (one per process); this machine has {gpus}. "
                          "Use fewer processes, or --device cpu")


# --- a GPU check for benchmarks/gpu.py -------------------------------------------------------------


def nccl_check(timeout_s: float = 300.0) -> dict[str, Any]:
    """Train 2 epochs of a tiny convnet under ``torchrun --nproc-per-node 1`` with NCCL on one GPU.

    Returns {"ok": bool, "seconds": float, "summary": the run's --json done line or None,
    "output": the last lines of its output}. Needs a CUDA GPU; one process so it fits a one-GPU machine.
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "nccl-check.safetensors")
        cmd = [sys.executable, "-m", "cvstudio.core.distributed", "--nproc-per-node", "1", "--standalone",
               "-m", "cvstudio", "train", "--device", "cuda", "--epochs", "2", "--batch-size", "64",
               "--json", "--out", out]
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            return {"ok": False, "seconds": timeout_s, "summary": None, "output": str(exc)}
        seconds = time.perf_counter() - started
        summary = None
        for line in proc.stdout.splitlines():
            if line.startswith("{") and '"done"' in line:
                summary = json.loads(line)
        ok = proc.returncode == 0 and summary is not None and os.path.exists(out) and str(summary.get("device", "")).startswith("cuda")
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        return {"ok": ok, "seconds": seconds, "summary": summary, "output": tail}


if __name__ == "__main__":
    sys.exit(launch_main())
