"""The store on SQLite and PostgreSQL: conversations, inbox, leases, outbox, schema."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from zoozl.chatbot import Message
from zoozl.config import config_from_dict
from zoozl.engine import APOLOGY, Bot
from zoozl.errors import DuplicateMessage, LeaseLost
from zoozl.processing import MAX_ATTEMPTS, Processor
from zoozl.store import DONE, FAILED, PENDING, SENT, InboxRow, Store
from zoozl.store.database import make_engine
from zoozl.store.schema import (
    SCHEMA_VERSION,
    SchemaError,
    create_schema,
    inbox,
    schema_version,
)

LEASE = 10.0


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Backend:
    """Opens stores on one database; closes every one of them at the end."""

    def __init__(self, name: str, url: str, connect_args: dict[str, Any]) -> None:
        self.name = name
        self.url = url
        self.connect_args = connect_args
        self._stores: list[Store] = []

    def open(self, clock: Callable[[], float] = time.time) -> Store:
        kwargs = {"connect_args": self.connect_args} if self.connect_args else {}
        store = Store(make_engine(self.url, **kwargs), clock=clock)
        self._stores.append(store)
        return store

    def worker_stores(self, clock: Callable[[], float] = time.time) -> list[Store]:
        """Stores for two workers: embedded SQLite workers share one engine,
        PostgreSQL workers run on other machines with engines of their own."""
        if self.name == "sqlite":
            return [self.open(clock)] * 2
        return [self.open(clock), self.open(clock)]

    def close(self) -> None:
        for store in self._stores:
            store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Backend]:
    if request.param == "sqlite":
        found = Backend("sqlite", f"sqlite:///{tmp_path}/zoozl.db", {})
    else:
        url, schema = request.getfixturevalue("pg_engine_url")
        options = {"options": f"-csearch_path={schema}"}
        found = Backend("postgresql", url, options)
    create_schema(found.open().engine)
    yield found
    found.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(backend: Backend, clock: Clock) -> Store:
    return backend.open(clock)


def texts(messages: list[Message]) -> list[str]:
    return [m.text for m in messages]


def inbox_rows(store: Store, conversation_id: int) -> list[sa.Row[Any]]:
    query = sa.select(inbox).where(inbox.c.conversation_id == conversation_id)
    with store.engine.begin() as conn:
        return list(conn.execute(query.order_by(inbox.c.id)))


def at_once(pool: ThreadPoolExecutor, *calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in the pool's threads, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=10)
        return call()

    return [f.result() for f in [pool.submit(run, call) for call in calls]]


# conversations ---------------------------------------------------------------


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


# inbox -----------------------------------------------------------------------


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


# leases ----------------------------------------------------------------------


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


# processing ------------------------------------------------------------------


def test_two_processors_answer_every_message_once_in_order(backend: Backend) -> None:
    bot = Bot(
        config_from_dict({"extensions": ["zoozl.plugins.pong"], "embedder": "char"})
    )
    stores = backend.worker_stores()
    cid = stores[0].conversation_for("websocket", "alice")
    sent = [f"message {i}" for i in range(30)]
    ids = [stores[0].record(cid, Message(text)) for text in sent]
    processors = [
        Processor(s, bot, owner=f"worker-{i}", lease_seconds=30)
        for i, s in enumerate(stores)
    ]
    with ThreadPoolExecutor(2) as pool:
        handled = at_once(pool, *(lambda p=p: p.process(cid) for p in processors))
    assert sum(handled) == len(sent)
    rows = stores[0].pending_outbox(cid)
    assert [row.inbox_id for row in rows] == ids
    assert [text for row in rows for text in texts(row.replies)] == sent
    assert stores[0].next_pending(cid) is None


class FailsOn:
    """A prepare hook that raises for one message text, as a broken channel would."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def __call__(self, row: InboxRow) -> Message:
        if row.message.text == self.text:
            self.calls += 1
            raise RuntimeError("cannot prepare this message")
        return row.message


def test_a_message_that_always_fails_is_given_up_and_the_next_answered(
    store: Store,
) -> None:
    bot = Bot(
        config_from_dict({"extensions": ["zoozl.plugins.pong"], "embedder": "char"})
    )
    prepare = FailsOn("poison")
    processor = Processor(store, bot, "worker", 30, prepare=prepare)
    cid = store.conversation_for("websocket", "alice")
    store.record(cid, Message("poison"))
    store.record(cid, Message("after"))
    for _ in range(MAX_ATTEMPTS):  # each run fails; the sweep would ring again
        with pytest.raises(RuntimeError):
            processor.process(cid)
        assert store.next_pending(cid) is not None
    assert processor.process(cid) == 2
    assert prepare.calls == MAX_ATTEMPTS
    replies = [texts(row.replies) for row in store.pending_outbox(cid)]
    assert replies == [[APOLOGY], ["after"]]


# sweeps ----------------------------------------------------------------------


def test_stalled_conversations_skip_live_leases_and_fresh_rows(
    store: Store, clock: Clock
) -> None:
    abandoned = store.conversation_for("websocket", "alice")
    busy = store.conversation_for("websocket", "bob")
    fresh = store.conversation_for("websocket", "carol")
    store.record(abandoned, Message("hi"))
    store.record(busy, Message("hi"))
    store.acquire_lease(busy, "worker", 300)
    clock.advance(100)
    store.record(fresh, Message("hi"))
    assert store.stalled_conversations(older_than=60) == [abandoned]


def outbox_row_on(store: Store, channel: str, talker: str = "alice") -> int:
    """Commit one message with one reply; return the outbox id."""
    cid = store.conversation_for(channel, talker)
    inbox_id = store.record(cid, Message("hi"))
    lease = store.acquire_lease(cid, "worker", LEASE)
    outbox_id = store.commit_turn(lease, inbox_id, {}, [Message("hello")], {})
    store.release_lease(lease)
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


# schema and persistence ------------------------------------------------------


def test_sqlite_store_survives_a_restart(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/memory.db"
    before = Store.from_url(url)
    try:
        cid = before.conversation_for("websocket", "alice")
        played = before.record(cid, Message("guess 1234"))
        waiting = before.record(cid, Message("guess 5678"))
        lease = before.acquire_lease(cid, "worker", LEASE)
        before.commit_turn(lease, played, {"data": {"secret": "4321"}}, [], {})
    finally:
        before.close()
    after = Store.from_url(url)
    try:
        assert after.conversation_for("websocket", "alice") == cid
        assert after.conversation(cid).state == {"data": {"secret": "4321"}}
        assert after.next_pending(cid).id == waiting
    finally:
        after.close()


def versions(store: Store) -> list[int]:
    with store.engine.begin() as conn:
        return list(conn.execute(sa.select(schema_version.c.version)).scalars())


def test_create_schema_twice_keeps_data(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    store.record(cid, Message("hi"))
    create_schema(store.engine)
    assert store.next_pending(cid).message.text == "hi"
    assert versions(store) == [SCHEMA_VERSION]


def test_a_version_1_store_is_migrated_keeping_its_rows(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    store.record(cid, Message("kept"))
    with store.engine.begin() as conn:  # back to what version 1 created
        conn.execute(sa.text("ALTER TABLE inbox DROP COLUMN attempts"))
        for table in ("inbox", "outbox"):
            rename = f"ALTER TABLE {table} RENAME COLUMN reply_address TO route"
            conn.execute(sa.text(rename))
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(version=1))
    create_schema(store.engine)
    assert versions(store) == list(range(1, SCHEMA_VERSION + 1))
    row = store.next_pending(cid)
    assert row is not None and row.message.text == "kept"
    assert store.count_attempt(row.id) == 1
    assert row.reply_address == {}


def test_schema_newer_than_the_code_is_refused(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION + 1))
    with pytest.raises(SchemaError, match="newer"):
        create_schema(store.engine)


def test_processes_creating_the_schema_at_once_do_not_collide(pg_engine_url) -> None:
    url, schema = pg_engine_url
    engines = [
        make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        for _ in range(4)
    ]
    barrier = threading.Barrier(len(engines))

    def create(engine: sa.Engine) -> None:
        barrier.wait()
        create_schema(engine)

    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            list(pool.map(create, engines))
        with engines[0].begin() as conn:
            versions = conn.execute(sa.text("SELECT count(*) FROM zoozl_schema"))
            assert versions.scalar_one() == 1
    finally:
        for engine in engines:
            engine.dispose()


def test_opening_a_fresh_sqlite_store_waits_for_the_process_creating_it(
    tmp_path,
) -> None:
    """Another process is mid-creation (it holds `<db>.lock` and SQLite's write
    lock before the switch to WAL): opening the store waits, it does not fail with
    "database is locked" (SQLite answers a journal-mode change that at once).
    """
    import fcntl
    import sqlite3

    path = tmp_path / "fresh.db"
    creating, opened = threading.Event(), []

    def peer() -> None:
        with open(f"{path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            creating.set()
            time.sleep(0.5)  # (only how long the opener waits)
            conn.execute("ROLLBACK")
            conn.close()

    other = threading.Thread(target=peer)
    other.start()
    creating.wait(10)
    try:
        store = Store.from_url(f"sqlite:///{path}")
        opened.append(store.conversation_for("websocket", "ann"))
        store.close()
    finally:
        other.join()
    assert opened
