"""The schema: created once, migrated, refused when newer; SQLite survives restarts."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from tests.zoozl.stores import LEASE, Clock, answered, pending_ids
from zoozl.plugin import Message
from zoozl.store import Decision, Done, Store
from zoozl.store.database import make_engine
from zoozl.store.decisions import decisions_of
from zoozl.store.schema import (
    SCHEMA_VERSION,
    SchemaError,
    create_schema,
    schema_version,
)


def test_sqlite_store_survives_a_restart(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/memory.db"
    before = Store.from_url(url)
    try:
        cid = before.conversation_for("websocket", "alice")
        answered(
            before, cid, Message("guess 1234"), [], state={"data": {"secret": "4321"}}
        )
        waiting = before.record(cid, Message("guess 5678"))
    finally:
        before.close()
    after = Store.from_url(url)
    try:
        assert after.conversation_for("websocket", "alice") == cid
        assert after.conversation(cid).state == {"data": {"secret": "4321"}}
        assert pending_ids(after, cid) == [waiting]
    finally:
        after.close()


def versions(store: Store) -> list[int]:
    with store.engine.begin() as conn:
        return list(conn.execute(sa.select(schema_version.c.version)).scalars())


def test_create_schema_twice_keeps_data(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    store.record(cid, Message("hi"))
    create_schema(store.engine)
    claim = store.claim(cid, "worker", LEASE)
    assert claim is not None and claim.row.message.text == "hi"
    assert versions(store) == [SCHEMA_VERSION]


def drop_sweep_columns(conn: sa.Connection) -> None:
    """Back to the conversations table before version 5."""
    for column in ("sweep_rings", "swept_at"):
        conn.execute(sa.text(f"ALTER TABLE conversations DROP COLUMN {column}"))


def test_a_version_1_store_is_migrated_keeping_its_rows(store: Store) -> None:
    cid = store.conversation_for("websocket", "alice")
    store.record(cid, Message("kept"))
    with store.engine.begin() as conn:  # back to what version 1 created
        drop_sweep_columns(conn)
        conn.execute(sa.text("DROP TABLE decisions"))
        conn.execute(sa.text("ALTER TABLE inbox DROP COLUMN attempts"))
        for table in ("inbox", "outbox"):
            rename = f"ALTER TABLE {table} RENAME COLUMN reply_address TO route"
            conn.execute(sa.text(rename))
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(version=1))
    create_schema(store.engine)
    assert versions(store) == list(range(1, SCHEMA_VERSION + 1))
    claim = store.claim(cid, "worker", LEASE)
    assert claim is not None and claim.row.message.text == "kept"
    assert claim.attempts == 1  # the column version 2 added counts from 0
    assert claim.row.reply_address == {}


def test_a_version_3_store_gets_the_decisions_table_and_keeps_its_rows(
    store: Store,
) -> None:
    cid = store.conversation_for("websocket", "alice")
    answered(store, cid, Message("before"), [Message("ok")])
    waiting = store.record(cid, Message("kept"))
    with store.engine.begin() as conn:  # back to what version 3 created
        drop_sweep_columns(conn)
        conn.execute(sa.text("DROP TABLE decisions"))
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(version=3))
    assert "decisions" not in sa.inspect(store.engine).get_table_names()
    create_schema(store.engine)
    assert versions(store) == [3, 4, 5] and SCHEMA_VERSION == 5
    assert pending_ids(store, cid) == [waiting]
    claim = store.claim(cid, "worker", LEASE)
    assert claim is not None and claim.row.message.text == "kept"
    decision = Decision("margin", "help:Help", "a:Timer", 0.41, 0.01)
    done = Done(claim.row.id, "websocket", {}, [], {}, decision)
    store.finish(claim.lease, done)
    assert decisions_of(store, [waiting]) == {waiting: decision}


def test_a_version_4_store_gets_the_sweep_columns_and_keeps_its_rows(
    store: Store, clock: Clock
) -> None:
    cid = store.conversation_for("websocket", "alice")
    waiting = store.record(cid, Message("kept"))
    with store.engine.begin() as conn:  # back to what version 4 created
        drop_sweep_columns(conn)
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(version=4))
    create_schema(store.engine)
    assert versions(store) == [4, 5]
    clock.advance(1)
    assert store.ring_stalled(0.0, [10.0]) == [cid]  # rung once, counted
    assert store.ring_stalled(0.0, [10.0]) == []
    claim = store.claim(cid, "worker", LEASE)
    assert claim is not None and claim.row.id == waiting


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
