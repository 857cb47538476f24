"""The store on SQLite and PostgreSQL: conversations, inbox, leases, outbox, schema."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.zoozl.stores import LEASE, Backend, Clock, at_once, inbox_rows, texts
from zoozl.chatbot import Message
from zoozl.errors import DuplicateMessage, LeaseLost
from zoozl.store import DONE, PENDING, Store


def test_conversation_for_is_idempotent(store: Store) -> None:
    first = store.conversation_for("websocket", "alice")
    assert store.conversation_for("websocket", "alice") == first
    row = store.conversation(first)
    assert (row.channel, row.talker, row.state) == ("websocket", "alice", {})


def test_same_talker_on_two_channels_gets_two_conversations(store: Store) -> None:
    on_websocket = store.conversation_for("websocket", "alice")
    on_slack = store.conversation_for("slack", "alice")
    assert on_websocket != on_slack
    assert store.conversation(on_slack).channel == "slack"
    assert store.conversation_for("websocket", "bob") not in (on_websocket, on_slack)


def test_pending_rows_come_in_id_order(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    ids = [store.record(cid, Message(f"m{i}")) for i in range(3)]
    lease = store.acquire_lease(cid, "worker", LEASE)
    assert lease is not None
    seen = []
    while (row := store.next_pending(cid)) is not None:
        seen.append((row.id, row.message.text, row.state))
        store.commit_turn(lease, row.id, {}, [], {})
    assert seen == [
        (ids[0], "m0", PENDING),
        (ids[1], "m1", PENDING),
        (ids[2], "m2", PENDING),
    ]


def test_commit_turn_stores_state_and_one_outbox_row(store: Store) -> None:
    cid = store.conversation_for("slack", "alice")
    first = store.record(cid, Message("hi"), reply_address={"thread": "t1"})
    second = store.record(cid, Message("again"))
    lease = store.acquire_lease(cid, "worker", LEASE)
    assert lease is not None
    state = {"subject": "game", "data": {"secret": 1234}}
    outbox_id = store.commit_turn(
        lease, first, state, [Message("one"), Message("two")], {"thread": "t1"}
    )
    assert store.conversation(cid).state == state
    assert [r.state for r in inbox_rows(store, cid)] == [DONE, PENDING]
    assert store.next_pending(cid).id == second
    [row] = store.pending_outbox(cid)
    assert row.id == outbox_id
    assert (row.inbox_id, row.channel, row.reply_address) == (
        first,
        "slack",
        {"thread": "t1"},
    )
    assert texts(row.replies) == ["one", "two"]
    assert (row.state, row.attempts, row.progress) == (PENDING, 0, 0)


def test_commit_turn_without_replies_writes_no_outbox_row(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    inbox_id = store.record(cid, Message("hi"))
    lease = store.acquire_lease(cid, "worker", LEASE)
    assert store.commit_turn(lease, inbox_id, {"ongoing": False}, [], {}) is None
    assert store.pending_outbox(cid) == []
    assert store.next_pending(cid) is None
    assert store.conversation(cid).state == {"ongoing": False}


def test_duplicate_external_id_is_refused_and_first_row_kept(store: Store) -> None:
    cid = store.conversation_for("slack", "alice")
    first = store.record(cid, Message("original"), external_id="Ev1")
    with pytest.raises(DuplicateMessage):
        store.record(cid, Message("retry"), external_id="Ev1")
    [row] = inbox_rows(store, cid)
    assert (row.id, row.state, row.message["parts"]) == (
        first,
        PENDING,
        [{"text": "original"}],
    )


def test_same_external_id_on_another_channel_is_recorded(store: Store) -> None:
    on_slack = store.conversation_for("slack", "alice")
    on_email = store.conversation_for("email", "alice")
    store.record(on_slack, Message("hi"), external_id="id-1")
    store.record(on_email, Message("hi"), external_id="id-1")
    assert store.next_pending(on_email).message.text == "hi"


def test_lease_is_exclusive_while_held(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    assert store.acquire_lease(cid, "a", LEASE) is not None
    assert store.acquire_lease(cid, "b", LEASE) is None


def test_expired_lease_can_be_taken_with_a_new_token(
    store: Store, clock: Clock
) -> None:
    cid = store.conversation_for("websocket", "alice")
    old = store.acquire_lease(cid, "a", LEASE)
    clock.advance(LEASE + 1)
    new = store.acquire_lease(cid, "b", LEASE)
    assert new is not None
    assert new.owner == "b"
    assert new.token > old.token


def test_renew_extends_the_lease(store: Store, clock: Clock) -> None:
    cid = store.conversation_for("websocket", "alice")
    lease = store.acquire_lease(cid, "a", LEASE)
    clock.advance(LEASE - 1)
    assert store.renew_lease(lease, LEASE)
    clock.advance(LEASE - 1)  # past the first expiry, within the renewed one
    assert store.acquire_lease(cid, "b", LEASE) is None


def test_release_frees_the_lease(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    store.release_lease(store.acquire_lease(cid, "a", LEASE))
    assert store.acquire_lease(cid, "b", LEASE) is not None


def test_release_of_a_lost_lease_does_not_free_the_new_holder(
    store: Store, clock: Clock
) -> None:
    cid = store.conversation_for("websocket", "alice")
    old = store.acquire_lease(cid, "a", LEASE)
    clock.advance(LEASE + 1)
    assert store.acquire_lease(cid, "b", LEASE) is not None
    store.release_lease(old)
    assert store.acquire_lease(cid, "c", LEASE) is None


def assert_turn_not_committed(store: Store, cid: int, inbox_id: int) -> None:
    assert store.next_pending(cid).id == inbox_id
    assert store.conversation(cid).state == {}
    assert store.pending_outbox(cid) == []


def test_holder_whose_lease_was_taken_cannot_commit(store: Store, clock: Clock) -> None:
    cid = store.conversation_for("websocket", "alice")
    inbox_id = store.record(cid, Message("hi"))
    stale = store.acquire_lease(cid, "a", LEASE)
    clock.advance(LEASE + 1)
    assert store.acquire_lease(cid, "b", LEASE) is not None
    with pytest.raises(LeaseLost):
        store.commit_turn(stale, inbox_id, {"data": 1}, [Message("late")], {})
    assert_turn_not_committed(store, cid, inbox_id)


def test_holder_whose_lease_expired_cannot_commit(store: Store, clock: Clock) -> None:
    cid = store.conversation_for("websocket", "alice")
    inbox_id = store.record(cid, Message("hi"))
    expired = store.acquire_lease(cid, "a", LEASE)
    clock.advance(LEASE + 1)  # nobody takes it over
    with pytest.raises(LeaseLost):
        store.commit_turn(expired, inbox_id, {"data": 1}, [Message("late")], {})
    assert_turn_not_committed(store, cid, inbox_id)
    assert not store.renew_lease(expired, LEASE)


def test_exactly_one_of_two_simultaneous_acquirers_wins(backend: Backend) -> None:
    stores = backend.worker_stores()
    cid = stores[0].conversation_for("websocket", "alice")
    with ThreadPoolExecutor(2) as pool:
        for _ in range(50):
            leases = at_once(
                pool,
                *(
                    lambda s=s, i=i: s.acquire_lease(cid, f"worker-{i}", 30)
                    for i, s in enumerate(stores)
                ),
            )
            winners = [lease for lease in leases if lease is not None]
            assert len(winners) == 1, leases
            stores[0].release_lease(winners[0])
