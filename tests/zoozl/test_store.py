"""The store on SQLite and PostgreSQL: conversations, inbox, leases, outbox, schema."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tests.zoozl.stores import (
    LEASE,
    Backend,
    Clock,
    at_once,
    inbox_rows,
    pending_ids,
    texts,
)
from zoozl.errors import DuplicateMessage, LeaseLost, MessageRejected
from zoozl.plugin import Message
from zoozl.store import (
    DONE,
    MAX_EXTERNAL_ID_CHARS,
    MAX_TALKER_CHARS,
    PENDING,
    Claim,
    Done,
    Finished,
    Lease,
    Store,
)
from zoozl.store.schema import create_schema


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


@pytest.mark.parametrize(
    "talker", ["", "a\x00b", "a\ud800b", "t" * (MAX_TALKER_CHARS + 1)]
)
def test_a_talker_the_store_cannot_hold_is_refused_alike(store, talker) -> None:
    """PostgreSQL raised (NUL, surrogates, VARCHAR(512)) where SQLite stored."""
    with pytest.raises(MessageRejected, match="talker must be a string of 1 to 256"):
        store.conversation_for("api", talker)
    store.conversation_for("api", "t" * MAX_TALKER_CHARS)  # the longest is fine


@pytest.mark.parametrize(
    "external_id", ["", "a\x00b", "\udfff", "e" * (MAX_EXTERNAL_ID_CHARS + 1)]
)
def test_an_external_id_the_store_cannot_hold_is_refused_alike(
    store, external_id
) -> None:
    cid = store.conversation_for("api", "alice")
    with pytest.raises(MessageRejected, match="external id must be a string"):
        store.record(cid, Message("hi"), external_id=external_id)
    assert store.record(cid, Message("hi"), external_id="e" * MAX_EXTERNAL_ID_CHARS)


def done(claim: Claim, state: dict | None = None, replies: list | None = None) -> Done:
    """What a worker commits for the claimed message."""
    row = claim.row
    return Done(row.id, row.channel, state or {}, replies or [], row.reply_address)


def test_pending_rows_are_claimed_in_id_order(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    ids = [store.record(cid, Message(f"m{i}")) for i in range(3)]
    seen = []
    while (claim := store.claim(cid, "worker", LEASE)) is not None:
        seen.append((claim.row.id, claim.row.message.text, claim.row.state))
        store.finish(claim.lease, done(claim))
    assert seen == [
        (ids[0], "m0", PENDING),
        (ids[1], "m1", PENDING),
        (ids[2], "m2", PENDING),
    ]


def test_finish_stores_state_and_one_outbox_row(store: Store) -> None:
    cid = store.conversation_for("slack", "alice")
    first = store.record(cid, Message("hi"), reply_address={"thread": "t1"})
    second = store.record(cid, Message("again"))
    claim = store.claim(cid, "worker", LEASE)
    assert claim is not None
    assert claim.row.id == first
    state = {"subject": "game", "data": {"secret": 1234}}
    finished = store.finish(
        claim.lease, done(claim, state, [Message("one"), Message("two")])
    )
    assert finished.more
    assert store.conversation(cid).state == state
    assert [r.state for r in inbox_rows(store, cid)] == [DONE, PENDING]
    assert pending_ids(store, cid) == [second]
    [row] = store.pending_outbox(cid)
    assert row.id == finished.outbox_id
    assert (row.inbox_id, row.channel, row.reply_address) == (
        first,
        "slack",
        {"thread": "t1"},
    )
    assert texts(row.replies) == ["one", "two"]
    assert (row.state, row.attempts, row.progress) == (PENDING, 0, 0)


def test_finish_without_replies_writes_no_outbox_row(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    store.record(cid, Message("hi"))
    claim = store.claim(cid, "worker", LEASE)
    assert claim is not None
    finished = store.finish(claim.lease, done(claim, {"ongoing": False}))
    assert (finished.outbox_id, finished.more) == (None, False)
    assert store.pending_outbox(cid) == []
    assert pending_ids(store, cid) == []
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
    claim = store.claim(on_email, "worker", LEASE)
    assert claim is not None
    assert claim.row.message.text == "hi"


def claimed(store: Store, cid: int, owner: str) -> Lease | None:
    """The lease `owner` gets claiming the conversation's pending message."""
    claim = store.claim(cid, owner, LEASE)
    return None if claim is None else claim.lease


@pytest.fixture
def cid(store: Store) -> int:
    """A conversation with one pending message."""
    found = store.conversation_for("websocket", "alice")
    store.record(found, Message("hi"))
    return found


def test_lease_is_exclusive_while_held(store: Store, cid: int) -> None:
    assert claimed(store, cid, "a") is not None
    assert claimed(store, cid, "b") is None


def test_nothing_pending_keeps_no_lease(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    assert claimed(store, cid, "a") is None
    store.record(cid, Message("hi"))
    assert claimed(store, cid, "b") is not None


def test_expired_lease_can_be_taken_with_a_new_token(
    store: Store, clock: Clock, cid: int
) -> None:
    old = claimed(store, cid, "a")
    assert old is not None
    clock.advance(LEASE + 1)
    new = claimed(store, cid, "b")
    assert new is not None
    assert new.owner == "b"
    assert new.token > old.token


def test_renew_extends_the_lease(store: Store, clock: Clock, cid: int) -> None:
    lease = claimed(store, cid, "a")
    assert lease is not None
    clock.advance(LEASE - 1)
    assert store.renew_lease(lease, LEASE)
    clock.advance(LEASE - 1)  # past the first expiry, within the renewed one
    assert claimed(store, cid, "b") is None


def test_release_frees_the_lease(store: Store, cid: int) -> None:
    lease = claimed(store, cid, "a")
    assert lease is not None
    store.release_lease(lease)
    assert claimed(store, cid, "b") is not None


def test_release_of_a_lost_lease_does_not_free_the_new_holder(
    store: Store, clock: Clock, cid: int
) -> None:
    old = claimed(store, cid, "a")
    assert old is not None
    clock.advance(LEASE + 1)
    assert claimed(store, cid, "b") is not None
    store.release_lease(old)
    assert claimed(store, cid, "c") is None


def assert_turn_not_committed(store: Store, cid: int, inbox_id: int) -> None:
    assert pending_ids(store, cid) == [inbox_id]
    assert store.conversation(cid).state == {}
    assert store.pending_outbox(cid) == []


def test_holder_whose_lease_was_taken_cannot_commit(store: Store, clock: Clock) -> None:
    cid = store.conversation_for("websocket", "alice")
    inbox_id = store.record(cid, Message("hi"))
    stale = store.claim(cid, "a", LEASE)
    assert stale is not None
    clock.advance(LEASE + 1)
    assert claimed(store, cid, "b") is not None
    with pytest.raises(LeaseLost):
        store.finish(stale.lease, done(stale, {"data": 1}, [Message("late")]))
    assert_turn_not_committed(store, cid, inbox_id)


def test_holder_whose_lease_expired_cannot_commit(store: Store, clock: Clock) -> None:
    cid = store.conversation_for("websocket", "alice")
    inbox_id = store.record(cid, Message("hi"))
    expired = store.claim(cid, "a", LEASE)
    assert expired is not None
    clock.advance(LEASE + 1)  # nobody takes it over
    with pytest.raises(LeaseLost):
        store.finish(expired.lease, done(expired, {"data": 1}, [Message("late")]))
    assert_turn_not_committed(store, cid, inbox_id)
    assert not store.renew_lease(expired.lease, LEASE)


def test_exactly_one_of_two_simultaneous_claimers_wins(backend: Backend) -> None:
    stores = backend.worker_stores()
    cid = stores[0].conversation_for("websocket", "alice")
    stores[0].record(cid, Message("hi"))
    with ThreadPoolExecutor(2) as pool:
        for _ in range(50):
            claims = at_once(
                pool,
                *(
                    lambda s=s, i=i: s.claim(cid, f"worker-{i}", 30)
                    for i, s in enumerate(stores)
                ),
            )
            winners = [claim for claim in claims if claim is not None]
            assert len(winners) == 1, claims
            stores[0].release_lease(winners[0].lease)


def test_a_claim_that_waited_for_the_row_takes_no_message_done_meanwhile(
    pg_engine_url: tuple[str, str],
) -> None:
    """PostgreSQL takes lease and message in one statement. When it waits for the
    conversation's row (another transaction holds it), its snapshot is older
    than what that transaction commits: it must not take a message that was
    done meanwhile, and must still find one recorded while it waited (a second,
    fresh look), not leave it to the sweep."""
    url, schema = pg_engine_url
    backend = Backend("postgresql", url, {"options": f"-csearch_path={schema}"})
    try:
        store = backend.open()
        create_schema(store.engine)
        cid = store.conversation_for("websocket", "alice")
        first = store.record(cid, Message("one"))
        other = store.engine.raw_connection()  # holds the row, lease left free
        cursor = other.cursor()
        cursor.execute("UPDATE inbox SET state = 'done' WHERE id = %s", (first,))
        cursor.execute(
            "UPDATE conversations SET sweep_rings = sweep_rings + 1 WHERE id = %s",
            (cid,),
        )
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(store.claim, cid, "b", LEASE)
            try:
                _wait_for_lock(store, waiting)
                second = store.record(cid, Message("two"))  # after its snapshot
                other.commit()
            finally:
                other.rollback()  # (committed: nothing) the claim goes on
                other.close()
            claim = waiting.result(timeout=10)
        assert claim is not None
        assert claim.row.id == second
        assert [r.attempts for r in inbox_rows(store, cid)] == [0, 1]
    finally:
        backend.close()


def _wait_for_lock(store: Store, waiting: Future[Claim | None]) -> None:
    """Until a backend waits for a row lock (the claim behind the turn)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE 'WITH lease%' AND datname = current_database()"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert not waiting.done(), "the claim did not wait for the turn's lock"
        with store.engine.connect() as conn:
            if conn.execute(query).scalar():
                return
        time.sleep(0.02)
    raise AssertionError("the claim never waited for the turn's lock")


def test_finish_says_whether_its_replies_were_added_alone(store: Store) -> None:
    """Alone: no other reply of the conversation was pending as the row was
    added (the web process may then send it without reading the outbox)."""
    cid = store.conversation_for("websocket", "alice")

    def turn(text: str, replies: list[Message]) -> Finished:
        store.record(cid, Message(text))
        claim = store.claim(cid, "a", LEASE)
        assert claim is not None
        return store.finish(claim.lease, done(claim, {}, replies))

    first = turn("one", [Message("1")])
    assert first.alone
    second = turn("two", [Message("2")])
    assert not second.alone  # the first reply is pending still
    assert store.mark_sent(first.outbox_id) and store.mark_sent(second.outbox_id)
    assert turn("three", [Message("3")]).alone
    assert not turn("four", []).alone  # no row
