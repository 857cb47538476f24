"""The periodic sweep: re-ring `process` and `deliver` for work lost tasks left."""

from __future__ import annotations

import logging
import threading

from tasks.contract import Dispatch
from tasks.delivery import MAX_BACKOFF, MAX_RETRIES
from zoozl.store import Store
from zoozl.store.database import is_busy

log = logging.getLogger(__name__)

#: A websocket notice is re-published this often, this many times; after that
#: the row waits for the talker to reconnect.
WEBSOCKET_RENOTIFY_SECONDS = 3.0
WEBSOCKET_RENOTIFY_TIMES = 5
#: Seconds between sweeps, and how long a pending message may wait (with no
#: live lease) before the sweep rings `process` for it again.
SWEEP_INTERVAL = 2.0
STALL_AFTER = 5.0


class Sweeper:
    """A daemon thread that sweeps every `interval` seconds."""

    def __init__(
        self,
        dispatch: Dispatch,
        store: Store,
        interval: float = SWEEP_INTERVAL,
        stall_after: float = STALL_AFTER,
    ) -> None:
        self.dispatch = dispatch
        self.store = store
        self.interval = interval
        self.stall_after = stall_after
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="zoozl-sweep", daemon=True
        )

    def sweep(self) -> tuple[int, int]:
        """One pass; returns how many process and deliver tasks it rang."""
        stalled = self.store.stalled_conversations(self.stall_after)
        for conversation_id in stalled:
            self.dispatch.process(conversation_id)
        stale = self.store.stale_outbox(
            WEBSOCKET_RENOTIFY_SECONDS, ["websocket"], WEBSOCKET_RENOTIFY_TIMES
        )
        stale += self.store.stale_outbox(
            MAX_BACKOFF * 1.5, ["slack", "email"], MAX_RETRIES + 2
        )
        for outbox_id in stale:
            self.dispatch.deliver(outbox_id)
        if stalled or stale:
            log.info(
                "sweep re-rang %d conversations, %d replies", len(stalled), len(stale)
            )
        return len(stalled), len(stale)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception as exc:  # the database or broker is down: next time
                if is_busy(exc):
                    log.warning("sweep: store busy, next time")
                else:
                    log.exception("sweep failed")
