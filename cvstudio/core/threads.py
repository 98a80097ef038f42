"""Thread tuning for inference next to a GUI: one place, with the measurements that justify it.

Classifying with the cheatsheet's tiny models (a 32x32 convnet is ~1.5 MFLOP
per image) while decoding threads and a GUI share a 2-core CPU:

- Two OpenMP threads per forward pass wait on each other at every layer:
  a single-image forward took 50-100 ms with two threads and 0.7-1 ms with
  one (2 cores, busy). A folder of 400 32x32 PNGs went through the core's
  old ``classify_paths`` (torch's default 2 threads) at ~430 images/s and
  through the GUI's one-thread job at ~1,900 images/s on the same machine.
  ``torch.set_num_threads(1)`` cannot be used: it also changes the process-wide
  default every thread started later (a training run) inherits. OpenMP's
  ``omp_set_num_threads`` sets only the calling thread's value, which is what
  torch's parallel regions read; :func:`single_intraop_thread` sets it and
  restores it afterwards.
- At equal priority the GUI thread waited up to ~150 ms for a core while a
  folder job's three busy threads (model + two decoders) ran;
  :func:`lower_thread_priority` raises the calling thread's nice value (Linux),
  and threads it starts afterwards inherit it. It cannot be undone without
  privileges, so only threads that end with their job call it.

- Training on a thread other than the one that first ran torch (the GUI's
  QThread) ran at 0.63-0.75x the main thread's images/s at two torch
  threads, 0.98x at one. libgomp keeps one worker pool per thread that ever
  ran a parallel region, and once the pools together hold more threads than
  there are CPUs it "throttles": idle workers spin 100 times instead of
  ~300,000 and then sleep on a futex. The training team's worker then slept
  and was woken at every layer (12,800 voluntary context switches in one
  epoch of the convnet against ~100 on the main thread). Releasing the idle
  pool of the thread that starts the run (:func:`release_openmp_pool_here`,
  OpenMP 5's ``omp_pause_resource_all``) before training on another thread
  brings the count back under the CPUs and the spinning back (~40 switches).

Where the OpenMP runtime cannot be found (not Linux, no OpenMP) nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

WORKER_NICENESS = 5  # how much lower than the GUI thread inference threads run (Linux)

_OMP: Any = None  # the OpenMP runtime torch uses, once looked up (False: none found)


def _openmp_runtime() -> Any:
    """The OpenMP runtime torch loaded (Linux: found in /proc/self/maps, torch's own first), or None."""
    global _OMP
    if _OMP is None:
        _OMP = False
        if sys.platform.startswith("linux"):
            try:
                import torch

                own = str(Path(torch.__file__).parent / "lib")
                with open("/proc/self/maps", encoding="utf-8") as maps:
                    libs = {line.split()[-1] for line in maps if "libgomp" in line or "libiomp" in line}
                for path in sorted(libs, key=lambda lib: not lib.startswith(own)):
                    lib = ctypes.CDLL(path)
                    lib.omp_set_num_threads.argtypes = [ctypes.c_int]
                    _OMP = lib
                    break
            except (OSError, AttributeError, ValueError):
                _OMP = False
    return _OMP or None


def set_intraop_threads_here(n: int) -> bool:
    """Let torch use ``n`` intra-op threads *in the calling thread only*; True if it could."""
    import torch

    torch.get_num_threads()  # torch initializes this thread's OpenMP setting first, so ours is not overwritten
    omp = _openmp_runtime()
    if omp is None:
        return False
    omp.omp_set_num_threads(max(1, int(n)))
    return torch.get_num_threads() == max(1, int(n))


def one_intraop_thread_here() -> bool:
    """One intra-op thread for the calling thread from now on (threads that end with their job)."""
    return set_intraop_threads_here(1)


@contextlib.contextmanager
def single_intraop_thread() -> Iterator[bool]:
    """One intra-op thread in the calling thread for the ``with`` block; the previous value afterwards."""
    import torch

    before = torch.get_num_threads()
    changed = set_intraop_threads_here(1)
    try:
        yield changed
    finally:
        if changed:
            set_intraop_threads_here(before)


OMP_PAUSE_SOFT = 1  # omp_pause_resource_t: free the thread pool, keep the rest of the runtime


def release_openmp_pool_here() -> bool:
    """End the calling thread's idle OpenMP workers, so a run on another thread spins instead of sleeping.

    Call it on the thread that starts a long torch job on another thread (the
    GUI thread before training). The pool is made again, at the cost of
    starting its threads, the next time this thread runs a parallel region.
    True when a pool was released (or there was none); False where the
    runtime is not found or too old to pause.
    """
    omp = _openmp_runtime()
    pause = getattr(omp, "omp_pause_resource_all", None) if omp is not None else None
    if pause is None:
        return False
    pause.argtypes = [ctypes.c_int]
    pause.restype = ctypes.c_int
    return pause(OMP_PAUSE_SOFT) == 0


def lower_thread_priority(niceness: int = WORKER_NICENESS) -> bool:
    """Make the calling thread yield the CPU to the GUI thread (Linux: a per-thread nice value)."""
    if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except OSError:
        return False
    return True


__all__ = ["lower_thread_priority", "one_intraop_thread_here", "release_openmp_pool_here", "set_intraop_threads_here", "single_intraop_thread"]
