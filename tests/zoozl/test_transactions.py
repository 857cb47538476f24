"""The message path's transactions on the driver connection (transactions.py)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.zoozl.stores import LEASE, Backend, inbox_rows
from zoozl.plugin import Message
from zoozl.store import Store, database
from zoozl.store import statements as sql
from zoozl.store.database import is_busy, make_engine
from zoozl.store.rows import Done
from zoozl.store.schema import create_schema
from zoozl.store.transactions import Statement, transaction


@pytest.fixture
def any_store(backend: Backend) -> Store:
    """A store on SQLite, then on PostgreSQL."""
    return backend.open()


def statements_through_sqlalchemy(engine: sa.Engine) -> list[str]:
    """The SQL SQLAlchemy executes from now on (the driver path adds none)."""
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_turn_runs_no_statement_through_sqlalchemy(any_store: Store) -> None:
    cid = any_store.conversation_for("web", "alice")
    seen = statements_through_sqlalchemy(any_store.engine)
    any_store.record(cid, Message("hi"), {"web": "w1"})
    claim = any_store.claim(cid, "worker", LEASE)
    assert claim is not None
    done = Done(claim.row.id, "web", {"n": 1}, [Message("hello")], {"web": "w1"})
    finished = any_store.finish(claim.lease, done)
    [row] = any_store.pending_outbox(cid)
    assert any_store.mark_sent(row.id)
    assert seen == []  # losing the driver path puts every statement back here
    assert finished.outbox_id == row.id and not finished.more


def test_json_written_on_the_driver_reads_back_through_sqlalchemy(
    any_store: Store,
) -> None:
    cid = any_store.conversation_for("web", "ałice")
    text = 'Ünïcode "quotes", \\ and\nlines 🎉'
    address = {"web": "w1", "nested": {"list": [1, 2.5, None, True]}}
    message = Message(text, author="ü-author")
    any_store.record(cid, message, address)
    [row] = inbox_rows(any_store, cid)  # read by SQLAlchemy's JSON type
    assert row.message == message.to_dict()
    assert row.reply_address == address
    claim = any_store.claim(cid, "worker", LEASE)  # read on the driver
    assert claim is not None
    assert claim.row.message.text == text and claim.row.reply_address == address
    state = {"history": ["ü", {"x": None}]}
    done = Done(claim.row.id, "web", state, [Message(text)], address)
    any_store.finish(claim.lease, done)
    assert any_store.conversation(cid).state == state
    [reply] = any_store.pending_outbox(cid)
    assert [m.text for m in reply.replies] == [text]
    assert reply.reply_address == address


def test_a_failed_statement_rolls_back_the_transaction_and_frees_the_writer(
    any_store: Store,
) -> None:
    cid = any_store.conversation_for("web", "alice")
    params = {
        "cid": cid,
        "conversation_id": cid,
        "kind": "message",
        "external_id": "same",
        "message": Message("x").to_dict(),
        "reply_address": {},
        "state": "pending",
        "attempts": 0,
        "received_at": 1.0,
    }
    # SQLAlchemy's exception, as callers expect (DuplicateMessage, is_busy).
    with (
        pytest.raises(sa.exc.IntegrityError),
        transaction(any_store.engine) as tx,
    ):
        tx.run(sql.RECORD, params)
        tx.run(sql.RECORD, params)  # the same external id again
    assert inbox_rows(any_store, cid) == []  # the first insert is gone too
    other = threading.Thread(target=any_store.record, args=(cid, Message("after"), {}))
    other.start()
    other.join(timeout=5)
    assert not other.is_alive()  # the writer lock was released
    rows = inbox_rows(any_store, cid)
    assert [Message.from_dict(r.message).text for r in rows] == ["after"]


def test_a_locked_file_is_busy_on_the_driver_path(tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path}/z.db"
    Store.from_url(url).close()
    monkeypatch.setattr(database, "SQLITE_BUSY_SECONDS", 0)  # fail at once
    store = Store(make_engine(url))
    other = sa.create_engine(url)
    with other.connect() as conn:
        conn.exec_driver_sql("BEGIN EXCLUSIVE")  # another process, say
        with pytest.raises(sa.exc.OperationalError) as locked:
            store.record(1, Message("x"), {})
        conn.rollback()
    assert is_busy(locked.value)
    store.close()
    other.dispose()


def test_a_postgresql_connection_killed_under_the_pool_is_replaced(
    pg_engine_url: tuple[str, str],
) -> None:
    url, schema = pg_engine_url
    name = "zoozl-killed-connections"  # this test's connections only
    options = {"options": f"-csearch_path={schema}", "application_name": name}
    engine = make_engine(url, connect_args=options)
    create_schema(engine)
    store = Store(engine)
    cid = store.conversation_for("web", "alice")
    store.record(cid, Message("one"), {})

    terminate(url, name)
    store.record(cid, Message("two"), {})  # found dead by its statement, rerun
    suicide = Statement(
        sa.select(sa.func.pg_terminate_backend(sa.func.pg_backend_pid()))
    )
    with pytest.raises(sa.exc.OperationalError), transaction(engine) as tx:
        tx.run(suicide, {})  # the connection dies inside the transaction
    store.record(cid, Message("three"), {})  # not handed out again
    texts = [Message.from_dict(r.message).text for r in inbox_rows(store, cid)]
    assert texts == ["one", "two", "three"]
    store.close()


@contextlib.contextmanager
def one_connection(url: str, schema: str) -> Iterator[Store]:
    """A PostgreSQL store whose pool holds one connection (traced below)."""
    options = {"options": f"-csearch_path={schema}"}
    engine = make_engine(url, connect_args=options, pool_size=1, max_overflow=0)
    create_schema(engine)
    store = Store(engine)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def round_trips(store: Store, tmp_path: Path) -> Iterator[list[list[str]]]:
    """What the store's one connection sends to PostgreSQL meanwhile, by round
    trip (libpq's trace): each a list of the statements sent before the client
    waits for an answer ("BEGIN", "COMMIT", the first word of others)."""
    trips: list[list[str]] = []
    fairy = store.engine.raw_connection()
    pgconn = fairy.driver_connection.pgconn
    fairy.close()
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        pgconn.trace(out.fileno())
        try:
            yield trips
        finally:
            pgconn.untrace()
    sending, verb = False, ""
    for line in trace.read_text().split("\n2"):  # a message may span lines
        fields = line.split("\t")
        if len(fields) < 4:
            continue
        if fields[1] != "F":
            sending = False
            continue
        if not sending:
            trips.append([])
            sending = True
        kind, text = fields[3].strip(), " ".join(fields[4:])
        if kind == "Parse":
            verb = text.split('"')[3].split()[0]  # Parse "" "SQL" ...
        elif kind == "Execute":
            trips[-1].append(verb)
        elif kind == "Query":
            trips[-1].append(text.strip().strip('"').split()[0])


def test_on_postgresql_a_message_costs_five_round_trips(
    pg_engine_url: tuple[str, str], tmp_path: Path
) -> None:
    """Record, claim, finish, pending replies and "sent" are one statement each,
    with no BEGIN, COMMIT or ping (the claim takes lease and message in one; the
    finish commits state, message, decision and replies in one)."""
    url, schema = pg_engine_url
    with one_connection(url, schema) as store:
        cid = store.conversation_for("web", "alice")
        sent: dict[str, list[list[str]]] = {}
        with round_trips(store, tmp_path) as sent["record"]:
            store.record(cid, Message("hi"), {"web": "w1"})
        with round_trips(store, tmp_path) as sent["claim"]:
            claim = store.claim(cid, "worker", LEASE)
        assert claim is not None
        done = Done(claim.row.id, "web", {}, [Message("hello")], {"web": "w1"})
        with round_trips(store, tmp_path) as sent["finish"]:
            finished = store.finish(claim.lease, done)
        with round_trips(store, tmp_path) as sent["pending"]:
            [row] = store.pending_outbox(cid)
        with round_trips(store, tmp_path) as sent["sent"]:
            assert store.mark_sent(row.id)
    assert sent == {
        "record": [["INSERT"]],
        "claim": [["WITH"]],
        "finish": [["WITH"]],
        "pending": [["SELECT"]],
        "sent": [["UPDATE"]],
    }
    assert finished.outbox_id == row.id and not finished.more


def test_finish_on_postgresql_still_sees_more_messages_pending(
    pg_engine_url: tuple[str, str],
) -> None:
    url, schema = pg_engine_url
    with one_connection(url, schema) as store:
        cid = store.conversation_for("web", "alice")
        for text in ("one", "two"):
            store.record(cid, Message(text), {})
        for expected_more in (True, False):
            claim = store.claim(cid, "worker", LEASE)
            assert claim is not None
            done = Done(claim.row.id, "web", {}, [Message("ok")], {})
            assert store.finish(claim.lease, done).more is expected_more


def terminate(url: str, application: str) -> None:
    """Terminate the backends of connections named `application`."""
    admin = make_engine(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE application_name = '{application}'"
        )
    admin.dispose()


def test_dead_pooled_connections_are_replaced_by_a_turns_first_statement(
    pg_engine_url: tuple[str, str],
) -> None:
    """A database restart kills every pooled connection: claim, finish and record
    (one statement each) and a SQLAlchemy read all find new connections, without
    a ping before each checkout of the message path."""
    url, schema = pg_engine_url
    name = "zoozl-dead-pool"
    options = {"options": f"-csearch_path={schema}", "application_name": name}
    engine = make_engine(url, connect_args=options)
    create_schema(engine)
    store = Store(engine)
    cid = store.conversation_for("web", "alice")
    with ThreadPoolExecutor(3) as pool:  # three connections in the pool
        list(pool.map(lambda t: store.record(cid, Message(t), {}), ["a", "b", "c"]))
    terminate(url, name)
    claim = store.claim(cid, "worker", LEASE)
    assert claim is not None and claim.row.message.text == "a"
    terminate(url, name)
    done = Done(claim.row.id, "web", {}, [Message("ok")], {})
    assert store.finish(claim.lease, done).more
    terminate(url, name)
    store.record(cid, Message("d"), {})
    terminate(url, name)
    assert len(inbox_rows(store, cid)) == 4  # SQLAlchemy's path pings still
    store.close()
