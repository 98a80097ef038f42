"""Choosing the device a run trains on, and describing it to the user."""

from __future__ import annotations

import re

import torch

from cvstudio.core.errors import ConfigError
from cvstudio.core.launch import ALL_GPUS  # the window's "All N GPUs": one torchrun process per GPU


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def gpu_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def all_gpus_choice() -> list[tuple[str, str]]:
    """The "all GPUs" entry of a device list, when there are several GPUs to train on together."""
    n = gpu_count()
    return [(ALL_GPUS, f"All {n} GPUs (one process each)")] if n > 1 else []


def available_devices() -> list[tuple[str, str]]:
    """(device string, human label) for every device this machine can train on."""
    devices = [("cpu", "CPU")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append((f"cuda:{i}", f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"))
    if _mps_available():
        devices.append(("mps", "Apple GPU (MPS)"))
    return devices


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU; an unavailable device is a ConfigError."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ConfigError("device 'mps' is not available: it needs an Apple GPU and a PyTorch built with MPS")
        return torch.device("mps")
    if name == ALL_GPUS:  # the first of them; each rank of such a run resolves plain "cuda" to its own
        if gpu_count() < 2:
            raise ConfigError(f"all GPUs: training on several GPUs needs at least 2; this machine has {gpu_count()}")
        return torch.device("cuda", 0)
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match:
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} is not available: no CUDA GPU is visible to PyTorch; use --device cpu")
        index = int(match.group(1) or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    raise ConfigError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)")


def tune_for_training(device: torch.device) -> None:
    """Large host blocks reused batch after batch (:mod:`cvstudio.core.memory`); on CUDA, fast kernels too.

    On CUDA, cuDNN then times all its convolution algorithms once per input
    shape and keeps the fastest (a training run feeds one batch shape, plus the
    last partial batch; all rather than PyTorch's default of the first 10: the
    convnet's recorded step took 202 us against 213 on an H200, README note 2),
    and float32 matrix products use TF32 tensor cores, as
    PyTorch's own convolutions already do by default. The CPU's results stay as they are.
    """
    from cvstudio.core.memory import reuse_freed_memory

    reuse_freed_memory()
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.benchmark_limit = 0
    torch.backends.cuda.matmul.allow_tf32 = True


def describe_device(device: torch.device) -> str:
    """'CPU (8 threads)' or 'NVIDIA H100 (80 GiB)'."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"
