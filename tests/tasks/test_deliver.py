"""The `deliver` task: backoff, rows without a sender, rows no longer pending."""

from __future__ import annotations

from tasks.contract import DELIVER, PROCESS
from tasks.delivery import MAX_BACKOFF, backoff
from tests.memorybroker import drain
from zoozl.plugin import Message
from zoozl.store import FAILED, SENT


def answered(app, channel: str) -> int:
    """Record and process one message on `channel`; the id of its outbox row."""
    store = app.zoozl.store
    cid = store.conversation_for(channel, "ann")
    store.record(cid, Message("hello"))
    app.tasks[PROCESS].apply(args=[cid])
    [row] = store.pending_outbox(cid)
    assert drain(app) == [(DELIVER, [row.id])]
    return row.id


def test_backoff_doubles_up_to_the_cap():
    assert [backoff(n) for n in range(4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff(20) == MAX_BACKOFF


def test_a_row_of_a_channel_without_sender_is_failed_not_retried(pong_worker):
    outbox_id = answered(pong_worker, "email")  # no email_port: no email sender
    pong_worker.tasks[DELIVER].apply(args=[outbox_id])
    row = pong_worker.zoozl.store.outbox_row(outbox_id)
    assert row.state == FAILED
    assert "no sender for channel email" in (row.last_error or "")
    assert drain(pong_worker) == []


def test_a_row_no_longer_pending_is_left_alone(pong_worker):
    outbox_id = answered(pong_worker, "email")
    pong_worker.zoozl.store.mark_sent(outbox_id)
    pong_worker.tasks[DELIVER].apply(args=[outbox_id])  # a redelivered task
    assert pong_worker.zoozl.store.outbox_row(outbox_id).state == SENT
