"""The message path's SQLite transactions on the driver connection (transactions.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from tests.zoozl.stores import LEASE, inbox_rows
from zoozl.chatbot import Message
from zoozl.store import Store, database
from zoozl.store import statements as sql
from zoozl.store.database import is_busy, make_engine
from zoozl.store.rows import Done
from zoozl.store.schema import create_schema
from zoozl.store.transactions import transaction


@pytest.fixture
def sqlite_store(tmp_path: Any) -> Any:
    store = Store.from_url(f"sqlite:///{tmp_path}/z.db")
    yield store
    store.close()


def statements_through_sqlalchemy(engine: sa.Engine) -> list[str]:
    """The SQL SQLAlchemy executes from now on (the driver path adds none)."""
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_turn_on_sqlite_runs_no_statement_through_sqlalchemy(sqlite_store) -> None:
    cid = sqlite_store.conversation_for("web", "alice")
    seen = statements_through_sqlalchemy(sqlite_store.engine)
    sqlite_store.record(cid, Message("hi"), {"web": "w1"})
    claim = sqlite_store.claim(cid, "worker", LEASE)
    assert claim is not None
    done = Done(claim.row.id, "web", {"n": 1}, [Message("hello")], {"web": "w1"})
    finished = sqlite_store.finish(claim.lease, done)
    [row] = sqlite_store.pending_outbox(cid)
    assert sqlite_store.mark_sent(row.id)
    assert seen == []  # losing the driver path puts every statement back here
    assert finished.outbox_id == row.id and not finished.more


def test_json_written_on_the_driver_reads_back_through_sqlalchemy(sqlite_store) -> None:
    cid = sqlite_store.conversation_for("web", "ałice")
    text = 'Ünïcode "quotes", \\ and\nlines 🎉'
    address = {"web": "w1", "nested": {"list": [1, 2.5, None, True]}}
    message = Message(text, author="ü-author")
    sqlite_store.record(cid, message, address)
    [row] = inbox_rows(sqlite_store, cid)  # read by SQLAlchemy's JSON type
    assert row.message == message.to_dict()
    assert row.reply_address == address
    claim = sqlite_store.claim(cid, "worker", LEASE)  # read on the driver
    assert claim is not None
    assert claim.row.message.text == text and claim.row.reply_address == address
    state = {"history": ["ü", {"x": None}]}
    done = Done(claim.row.id, "web", state, [Message(text)], address)
    sqlite_store.finish(claim.lease, done)
    assert sqlite_store.conversation(cid).state == state
    [reply] = sqlite_store.pending_outbox(cid)
    assert [m.text for m in reply.replies] == [text]
    assert reply.reply_address == address


def test_a_failed_statement_rolls_back_the_transaction_and_frees_the_writer(
    sqlite_store,
) -> None:
    cid = sqlite_store.conversation_for("web", "alice")
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
        transaction(sqlite_store.engine) as tx,
    ):
        tx.run(sql.RECORD, params)
        tx.run(sql.RECORD, params)  # the same external id again
    assert inbox_rows(sqlite_store, cid) == []  # the first insert is gone too
    other = threading.Thread(
        target=sqlite_store.record, args=(cid, Message("after"), {})
    )
    other.start()
    other.join(timeout=5)
    assert not other.is_alive()  # the writer lock was released
    rows = inbox_rows(sqlite_store, cid)
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


def test_postgresql_keeps_sqlalchemy(pg_engine_url: tuple[str, str]) -> None:
    url, schema = pg_engine_url
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    create_schema(engine)
    store = Store(engine)
    cid = store.conversation_for("web", "alice")
    seen = statements_through_sqlalchemy(store.engine)
    store.record(cid, Message("hi"), {})
    assert any(s.startswith("INSERT INTO inbox") for s in seen)
    store.close()
