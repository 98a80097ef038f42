"""How the C allocator hands memory to tensors: one place, with the measurement that justifies it.

glibc's malloc serves every block over its mmap threshold (at most 32 MB)
with a fresh ``mmap`` and gives it back with ``munmap`` when freed. An
evaluation batch of 512 images through the cheatsheet's convnet makes
activations of ~67 MB, so every batch mapped new memory and the kernel
zeroed it page by page: ~360,000 page faults and ~0.6 s of system time in
each 1.5 s epoch (training 10,000 built-in images, then evaluating them and
the validation split). Serving large blocks from the heap and keeping up to
:data:`KEEP_FREED_BYTES` of freed memory for the next batch took the faults
to zero and the epoch to ~1.15 s (``python benchmarks/train_speed.py``, the
faults with ``getrusage``). The process keeps its peak memory rather than
returning it between batches, which is what a training or evaluation loop
wants. Classifying files (``core.inference.classify``: the CLI and the
Classify page) gains too, from decoded images and batches made and freed
in turn: in a fresh process 1.34x the images/s for 1,000 32x32 PNGs, 1.09x
for 96x96 JPEGs, 1.03x for 3 MP photos (``cvstudio classify DIR``).

Those settings hold for the main heap. glibc gives each thread that
allocates an arena of its own (up to 8 per CPU), made of 64 MB heaps that it
unmaps as they empty, and it maps every block larger than such a heap afresh
(an evaluation batch of 512 images is one). Training from the window runs on
a QThread: its 1-epoch run met typically 30,000-100,000 page faults (up to
220,000) where the same run on the main thread met none.
:func:`one_heap_for_all_threads`, called first thing by the program
(``cli.main``), keeps every thread on the main heap: 20-50 faults once warm,
and the window's images/s over the command line's went from 0.78-0.98x
(mean 0.89) to 0.86-1.01x (mean 0.96) over 4 alternated pairs of
``benchmarks/gui_training.py --epochs 1`` runs.

Only glibc (Linux) has these settings; elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import sys
import threading

M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc's malloc.h)
M_MMAP_MAX = -4
M_ARENA_MAX = -8
KEEP_FREED_BYTES = 256 * 1024 * 1024  # freed memory at the top of the heap kept for reuse

_lock = threading.Lock()
_tuned: bool | None = None


def _glibc_mallopt():  # noqa: ANN202 - the ctypes function, or None
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only: musl's mallopt does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def one_heap_for_all_threads() -> bool:
    """Every thread allocates from the main heap (glibc). True when set.

    Call it at the program's start: a thread that has already allocated
    keeps the arena it was given, and glibc hands arenas of exited threads
    to new ones.
    """
    mallopt = _glibc_mallopt()
    return mallopt is not None and bool(mallopt(M_ARENA_MAX, 1))


def reuse_freed_memory() -> bool:
    """Large tensors from the heap, reused batch after batch (glibc; once per process). True when set."""
    global _tuned
    with _lock:
        if _tuned is None:
            mallopt = _glibc_mallopt()
            # This order: a trim threshold alone also freezes glibc's adaptive mmap threshold at
            # 128 kB, and an epoch then ran 2.5x slower; no mmap at all comes first.
            _tuned = mallopt is not None and bool(mallopt(M_MMAP_MAX, 0)) and bool(
                mallopt(M_TRIM_THRESHOLD, KEEP_FREED_BYTES))
        return _tuned


__all__ = ["one_heap_for_all_threads", "reuse_freed_memory"]
