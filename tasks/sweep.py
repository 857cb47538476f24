"""The periodic sweep: re-ring `process` and `deliver`, re-publish websocket notices."""

from __future__ import annotations

import logging

from tasks.contract import Dispatch
from tasks.delivery import MAX_BACKOFF, MAX_RETRIES
from tasks.periodic import Periodic
from tasks.websocket import WebsocketNotifier
from zoozl.channels import NETWORK_CHANNELS, websocket
from zoozl.store import Store
from zoozl.store.database import is_busy
from zoozl.store.outage import Outage, is_unavailable

log = logging.getLogger(__name__)

#: A websocket reply still pending this long after its commit, then after its
#: 1st, 2nd, ... re-published notice, is notified again; after the last, the
#: row waits for the talker to reconnect. The waits grow: a web process behind
#: a backlog (a reconnect storm) is not sent a notice per row every few seconds
#: (up to 3,879 a pass with a fixed 3 s), each one more flush to queue.
WEBSOCKET_RENOTIFY_WAITS = (3.0, 6.0, 12.0, 24.0, 48.0)
#: Seconds between sweeps, and how long a pending message may wait (with no
#: live lease) before the sweep rings `process` for it again.
SWEEP_INTERVAL = 2.0
STALL_AFTER = 5.0
#: Seconds the sweep waits after its 1st, 2nd, ... ring of a conversation before
#: it rings it again (the last wait repeats), until a worker takes the
#: conversation. A ring still queued behind a backlog is not rung again on
#: every pass (10,000 greetings waiting once became 52,962 `process` tasks);
#: a ring really lost (worker killed, broker restarted) is rung again within
#: the wait. The longest is Redis's visibility timeout (tasks/app.py).
RERING_WAITS = (15.0, 30.0, 60.0, 120.0)
#: While the broker's queue holds rings (a backlog), a pending message's ring
#: is most likely among them: the sweep rings a conversation (first time or
#: again) only once it has waited this long, unless a worker took its ring and
#: left the lease to expire (killed, cut off): that ring is gone, rung as usual.
#: A ring lost otherwise under a lasting backlog is still rung, later.
BACKLOG_WAIT = 120.0


class Sweeper(Periodic):
    """A daemon thread that sweeps every `interval` seconds."""

    def __init__(
        self,
        dispatch: Dispatch,
        store: Store,
        notifier: WebsocketNotifier,
        interval: float = SWEEP_INTERVAL,
        stall_after: float = STALL_AFTER,
        rering_waits: tuple[float, ...] = RERING_WAITS,
    ) -> None:
        super().__init__(interval, "zoozl-sweep")
        self.dispatch = dispatch
        self.store = store
        self.notifier = notifier
        self.stall_after = stall_after
        self.rering_waits = rering_waits
        self.outage = Outage(log, "the store", "the sweep waits")

    def sweep(self) -> tuple[int, int]:
        """One pass; returns how many process and deliver tasks it rang."""
        if self.dispatch.queued():
            stalled = self.store.ring_stalled(
                self.stall_after, self.rering_waits, abandoned=True
            )
            stalled += self.store.ring_stalled(BACKLOG_WAIT, (BACKLOG_WAIT,))
        else:
            stalled = self.store.ring_stalled(self.stall_after, self.rering_waits)
        refused = [c for c in stalled if not self.dispatch.process(c)]
        self.store.unring(refused)  # the broker is down: due again next pass
        unnoticed = self.store.unnoticed_outbox(
            [websocket.NAME], WEBSOCKET_RENOTIFY_WAITS
        )
        if unnoticed:
            self.notifier.renotify(unnoticed)
        stale = self.store.stale_outbox(
            MAX_BACKOFF * 1.5, list(NETWORK_CHANNELS), MAX_RETRIES + 2
        )
        for outbox_id in stale:
            self.dispatch.deliver(outbox_id)
        replies = len(unnoticed) + len(stale)
        if stalled or replies:
            log.info(
                "sweep re-rang %d conversations, %d replies", len(stalled), replies
            )
        return len(stalled), replies

    def tick(self) -> None:
        try:
            self.sweep()
        except Exception as exc:  # the database or broker is down: next time
            if is_busy(exc):
                log.warning("sweep: store busy, next time")
            elif is_unavailable(exc):
                self.outage.failed(exc)  # one line per outage, not one per sweep
            else:
                log.exception("sweep failed")
        else:
            self.outage.answered()
