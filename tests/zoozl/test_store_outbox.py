"""The outbox marks and the sweep's queries (stalled conversations, stale rows)."""

from __future__ import annotations

from tests.zoozl.stores import Clock, answered
from zoozl.plugin import Message
from zoozl.store import FAILED, PENDING, SENT, Store


def test_stalled_conversations_skip_live_leases_and_fresh_rows(
    store: Store, clock: Clock
) -> None:
    abandoned = store.conversation_for("websocket", "alice")
    busy = store.conversation_for("websocket", "bob")
    fresh = store.conversation_for("websocket", "carol")
    store.record(abandoned, Message("hi"))
    store.record(busy, Message("hi"))
    assert store.claim(busy, "worker", 300) is not None
    clock.advance(100)
    store.record(fresh, Message("hi"))
    assert store.stalled_conversations(older_than=60) == [abandoned]


def outbox_row_on(store: Store, channel: str, talker: str = "alice") -> int:
    """Commit one message with one reply; return the outbox id."""
    cid = store.conversation_for(channel, talker)
    outbox_id = answered(store, cid, Message("hi"), [Message("hello")])
    assert outbox_id is not None
    return outbox_id


def test_stale_outbox_finds_old_pending_rows_of_given_channels(
    store: Store, clock: Clock
) -> None:
    old_slack = outbox_row_on(store, "slack")
    outbox_row_on(store, "email")
    sent_slack = outbox_row_on(store, "slack", "bob")
    store.mark_sent(sent_slack)
    clock.advance(100)
    outbox_row_on(store, "slack", "carol")
    assert store.stale_outbox(60, ["slack"]) == [old_slack]
    assert len(store.stale_outbox(60, ["slack", "email"])) == 2


def test_mark_attempt_counts_and_keeps_the_row_pending(
    store: Store, clock: Clock
) -> None:
    outbox_id = outbox_row_on(store, "slack")
    clock.advance(100)
    store.mark_attempt(outbox_id, "503 Service Unavailable")
    row = store.outbox_row(outbox_id)
    assert (row.state, row.attempts, row.last_error) == (
        PENDING,
        1,
        "503 Service Unavailable",
    )
    assert store.stale_outbox(60, ["slack"]) == []  # touched just now


def test_mark_failed_gives_the_row_up(store: Store) -> None:
    outbox_id = outbox_row_on(store, "slack")
    store.mark_failed(outbox_id, "channel_not_found")
    row = store.outbox_row(outbox_id)
    assert (row.state, row.attempts, row.last_error) == (
        FAILED,
        1,
        "channel_not_found",
    )
    assert store.pending_outbox(row.conversation_id) == []


def test_mark_progress_records_replies_sent(store: Store) -> None:
    outbox_id = outbox_row_on(store, "email")
    store.mark_progress(outbox_id, 1)
    assert store.outbox_row(outbox_id).progress == 1


def test_mark_sent_succeeds_only_once(store: Store) -> None:
    outbox_id = outbox_row_on(store, "websocket")
    assert store.mark_sent(outbox_id) is True
    assert store.mark_sent(outbox_id) is False
    assert store.outbox_row(outbox_id).state == SENT


def test_ring_stalled_counts_rings_and_waits_longer_each_time(
    store: Store, clock: Clock
) -> None:
    waiting = store.conversation_for("websocket", "alice")
    store.record(waiting, Message("hi"))
    clock.advance(10)
    assert store.ring_stalled(5, [20, 40]) == [waiting]
    assert store.ring_stalled(5, [20, 40]) == []
    clock.advance(20)
    assert store.ring_stalled(5, [20, 40]) == [waiting]
    clock.advance(39)
    assert store.ring_stalled(5, [20, 40]) == []
    store.unring([waiting])  # the broker refused that ring: due now
    assert store.ring_stalled(5, [20, 40]) == [waiting]
    assert store.claim(waiting, "worker", 1) is not None  # taken: starts over
    clock.advance(2)
    assert store.ring_stalled(5, [20, 40], abandoned=True) == [waiting]


def test_unnoticed_outbox_waits_longer_after_each_notice(
    store: Store, clock: Clock
) -> None:
    outbox_id = outbox_row_on(store, "websocket")
    cid = store.conversation_for("websocket", "alice")
    clock.advance(4)
    assert store.unnoticed_outbox(["websocket"], [3, 6]) == [(outbox_id, cid)]
    store.count_notices([outbox_id])
    clock.advance(5)
    assert store.unnoticed_outbox(["websocket"], [3, 6]) == []
    clock.advance(2)
    assert store.unnoticed_outbox(["websocket"], [3, 6]) == [(outbox_id, cid)]
    store.count_notices([outbox_id])
    clock.advance(1000)
    assert store.unnoticed_outbox(["websocket"], [3, 6]) == []  # notified enough
