"""The one cooperative pause/stop token every long core function accepts (training, data loading, evaluation, classification)."""

from __future__ import annotations

import threading


class RunControl:
    """Thread-safe flags: the GUI or a signal handler sets them, the training loop reads them."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused loop must wake up to see the stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; returns the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        import time

        start = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - start
