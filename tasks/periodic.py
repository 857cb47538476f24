"""A daemon thread that does one thing every few seconds until it is stopped."""

from __future__ import annotations

import threading


class Periodic:
    """Calls `tick` every `interval` seconds (first at once if `eager`)."""

    def __init__(self, interval: float, name: str, eager: bool = False) -> None:
        self.interval = interval
        self.eager = eager
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def tick(self) -> None:
        """One round of the work; it must not raise."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        if self.eager:
            self.tick()
        while not self._stop.wait(self.interval):
            self.tick()
