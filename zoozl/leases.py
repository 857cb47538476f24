"""One thread per process renews the leases of messages whose plugin runs long."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator

from zoozl.store import Lease, Store

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews every held lease once it is a third of `seconds` old.

    Most messages are handled in milliseconds and are never renewed: the
    thread only writes for turns that run long. It starts on first use, and
    again in a forked child (threads do not survive a fork).
    """

    def __init__(self, store: Store, seconds: float) -> None:
        self.store = store
        self.seconds = seconds
        self._held: dict[Lease, float] = {}  # lease -> when last taken or renewed
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextlib.contextmanager
    def holding(self, lease: Lease) -> Iterator[None]:
        """Keep `lease` renewed while the block runs."""
        with self._lock:
            self._held[lease] = time.monotonic()
            self._ensure_thread()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(lease, None)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(
            target=self._run, name="zoozl-leases", daemon=True
        )
        self._thread.start()

    def _due(self) -> list[Lease]:
        older = time.monotonic() - self.seconds / 3
        with self._lock:
            return [lease for lease, at in self._held.items() if at <= older]

    def _run(self) -> None:
        while not self._wake.wait(self.seconds / 6):
            for lease in self._due():
                self._renew(lease)

    def _renew(self, lease: Lease) -> None:
        try:
            kept = self.store.renew_lease(lease, self.seconds)
        except Exception:  # the store is down: the commit will be fenced
            log.exception(
                "renewing the lease of conversation %s failed", lease.conversation_id
            )
            return
        with self._lock:
            if lease not in self._held:
                return
            if kept:
                self._held[lease] = time.monotonic()
                return
            del self._held[lease]  # the commit will be fenced; stop renewing
        log.warning("lease on conversation %s lost", lease.conversation_id)
