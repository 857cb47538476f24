"""Delivering an outbox row on its channel, with backoff (no Celery here).

A `Sender` per channel (tasks/slack.py, tasks/email.py, tasks/websocket.py) sends
a row's replies; `deliver_row` picks it and turns its errors into retries.
Embedded mode runs it on threads of its own; the `deliver` task of scaled
mode wraps it (tasks/app.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from zoozl.ops.metrics import DELIVERY_FAILURES, REPLIES
from zoozl.store import PENDING, OutboxRow, Store

log = logging.getLogger(__name__)

MAX_RETRIES = 8
#: Retries wait 2, 4, 8 ... seconds, at most this long (below the broker's
#: visibility timeout, so a waiting retry is never handed out twice).
MAX_BACKOFF = 60.0


def backoff(retries: int) -> float:
    """Seconds before retry number `retries` + 1."""
    return min(MAX_BACKOFF, 2.0 ** (retries + 1))


class DeliveryError(Exception):
    """A transient failure: the deliver task retries (after `retry_after` if set)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(Exception):
    """The row can never be delivered (bad token, bad address): record, do not retry."""


class Sender(Protocol):
    """Delivers the replies of one outbox row, from `row.progress` on."""

    def send(self, row: OutboxRow) -> None: ...


def deliver_row(
    store: Store, senders: Mapping[str, Sender], outbox_id: int, retries: int
) -> float | None:
    """Send the row if still pending; return seconds to wait before a retry, or None.

    Idempotent: a row that is no longer pending is left alone.
    """
    row = store.outbox_row(outbox_id)
    if row is None or row.state != PENDING:
        return None
    sender = senders.get(row.channel)
    if sender is None:
        store.mark_failed(row.id, f"no sender for channel {row.channel}")
        log.error("outbox %s: no sender for channel %s", row.id, row.channel)
        return None
    return _send(store, row, sender, retries)


def _send(store: Store, row: OutboxRow, sender: Sender, retries: int) -> float | None:
    try:
        sender.send(row)
    except PermanentDeliveryError as exc:
        DELIVERY_FAILURES.labels(row.channel).inc()
        store.mark_failed(row.id, str(exc))
        log.error("outbox %s not deliverable: %s", row.id, exc)
    except DeliveryError as exc:
        DELIVERY_FAILURES.labels(row.channel).inc()
        if retries >= MAX_RETRIES:
            store.mark_failed(row.id, f"gave up: {exc}")
            log.error("outbox %s: giving up after retries: %s", row.id, exc)
            return None
        store.mark_attempt(row.id, str(exc))
        wait = min(exc.retry_after or backoff(retries), MAX_BACKOFF)
        log.warning("outbox %s: %s; retry in %.1fs", row.id, exc, wait)
        return wait
    if row.channel != "websocket":  # websocket: a notice; its web process counts
        REPLIES.labels(row.channel).inc(len(row.replies))
    return None
