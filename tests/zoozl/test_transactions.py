"""The message path's transactions on the driver connection (transactions.py)."""

from __future__ import annotations

import threading

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

    def kill_pooled_connections() -> None:
        admin = make_engine(url)
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name = '{name}'"
            )
        admin.dispose()

    kill_pooled_connections()
    store.record(cid, Message("two"), {})  # the pre-ping found a dead one
    suicide = Statement(
        sa.select(sa.func.pg_terminate_backend(sa.func.pg_backend_pid()))
    )
    with pytest.raises(sa.exc.OperationalError), transaction(engine) as tx:
        tx.run(suicide, {})  # the connection dies inside the transaction
    store.record(cid, Message("three"), {})  # not handed out again
    texts = [Message.from_dict(r.message).text for r in inbox_rows(store, cid)]
    assert texts == ["one", "two", "three"]
    store.close()
