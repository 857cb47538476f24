"""Delivering an outbox row on its channel, with backoff (no Celery here).

Embedded mode runs it on threads of its own; the `deliver` task of scaled
mode wraps it (tasks/deliver.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tasks.senders import DeliveryError, PermanentDeliveryError, Sender
from zoozl.metrics import DELIVERY_FAILURES, REPLIES
from zoozl.store import PENDING, OutboxRow

if TYPE_CHECKING:
    from tasks.runtime import Runtime

log = logging.getLogger(__name__)

MAX_RETRIES = 8
#: Retries wait 2, 4, 8 ... seconds, at most this long (below the broker's
#: visibility timeout, so a waiting retry is never handed out twice).
MAX_BACKOFF = 60.0


def backoff(retries: int) -> float:
    """Seconds before retry number `retries` + 1."""
    return min(MAX_BACKOFF, 2.0 ** (retries + 1))


def deliver_row(runtime: Runtime, outbox_id: int, retries: int) -> float | None:
    """Send the row if still pending; return seconds to wait before a retry, or None.

    Idempotent: a row that is no longer pending is left alone.
    """
    row = runtime.store.outbox_row(outbox_id)
    if row is None or row.state != PENDING:
        return None
    sender = runtime.senders.get(row.channel)
    if sender is None:
        runtime.store.mark_failed(row.id, f"no sender for channel {row.channel}")
        log.error("outbox %s: no sender for channel %s", row.id, row.channel)
        return None
    return _send(runtime, row, sender, retries)


def _send(
    runtime: Runtime, row: OutboxRow, sender: Sender, retries: int
) -> float | None:
    try:
        sender.send(row)
    except PermanentDeliveryError as exc:
        DELIVERY_FAILURES.labels(row.channel).inc()
        runtime.store.mark_failed(row.id, str(exc))
        log.error("outbox %s not deliverable: %s", row.id, exc)
    except DeliveryError as exc:
        DELIVERY_FAILURES.labels(row.channel).inc()
        if retries >= MAX_RETRIES:
            runtime.store.mark_failed(row.id, f"gave up: {exc}")
            log.error("outbox %s: giving up after retries: %s", row.id, exc)
            return None
        runtime.store.mark_attempt(row.id, str(exc))
        wait = min(exc.retry_after or backoff(retries), MAX_BACKOFF)
        log.warning("outbox %s: %s; retry in %.1fs", row.id, exc, wait)
        return wait
    if row.channel != "websocket":  # websocket: a notice; its web process counts
        REPLIES.labels(row.channel).inc(len(row.replies))
    return None
