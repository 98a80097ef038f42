"""core.threads: releasing a thread's idle OpenMP pool (why: see the module's notes)."""

from __future__ import annotations

import os
import sys
import threading

import pytest
import torch

from cvstudio.core import threads


def _thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def _run_parallel_region() -> None:
    torch.ones(2_000_000).mul(1.5).sum()  # large enough for torch to use every intra-op thread


@pytest.mark.skipif(not sys.platform.startswith("linux") or threads._openmp_runtime() is None,
                    reason="needs Linux and torch's OpenMP runtime")
def test_release_ends_this_threads_idle_openmp_workers():
    if torch.get_num_threads() < 2:
        pytest.skip("one intra-op thread: no OpenMP workers to release")
    _run_parallel_region()
    with_pool = _thread_count()
    assert threads.release_openmp_pool_here()
    released = _thread_count()
    assert released <= with_pool - 1  # the workers are gone
    _run_parallel_region()  # torch still works: the pool is made again on demand
    assert _thread_count() >= released + 1


def test_release_on_a_thread_without_a_pool_is_harmless():
    results = []
    worker = threading.Thread(target=lambda: results.append(threads.release_openmp_pool_here()))
    worker.start()
    worker.join()
    assert results == [threads._openmp_runtime() is not None]
