"""Engines for the store: SQLite (WAL, immediate transactions) and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, pool

from zoozl.store.transactions import SQLiteLock, register_sqlite_lock, unpinged

#: Seconds a SQLite writer waits for the lock before giving up.
SQLITE_BUSY_SECONDS = 30
#: Execution option of a connection that only reads (`Store.reading`).
READ_ONLY = "zoozl_read_only"
_HOLDS_WRITER = "zoozl_holds_writer"


def normalise_url(url: str) -> str:
    """Map plain PostgreSQL URLs to the psycopg 3 driver zoozl ships with."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _driver(conn: sa.Connection) -> Any:
    """The sqlite3 connection under `conn`: BEGIN without SQLAlchemy's execution
    machinery, which cost more than the statement (no result, nothing to map)."""
    return conn.connection.driver_connection


def _sqlite_setup(engine: sa.Engine, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own
        # transaction handling would defer it).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()

    # One writer at a time in this process (in memory: one transaction at a
    # time, on the one shared connection), queued on a Python lock: SQLite's
    # busy handler makes a blocked writer sleep up to 100 ms between tries,
    # which under load cost more than the transactions themselves.
    writer = threading.RLock()
    register_sqlite_lock(engine, SQLiteLock(writer, memory))

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if not memory and conn.get_execution_options().get(READ_ONLY):
            _driver(conn).execute("BEGIN")  # WAL readers never wait for writers
            return
        writer.acquire()
        conn.info[_HOLDS_WRITER] = True
        try:
            # IMMEDIATE takes the write lock up front: two writers never deadlock
            # upgrading a read lock, they queue on busy_timeout instead.
            _driver(conn).execute("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    def _release(conn: sa.Connection) -> None:
        if conn.info.pop(_HOLDS_WRITER, False):
            writer.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)


def _ping_on_checkout(engine: sa.Engine) -> None:
    """SQLAlchemy's pre-ping, but not for the message path's checkouts: those
    find a dead connection with their first statement (`zoozl.store.transactions`),
    a round trip fewer per transaction. A failed ping makes the pool connect
    afresh (SQLAlchemy's recipe for pessimistic disconnect handling)."""

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if getattr(unpinged, "on", False):
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Create the engine for a store URL (sqlite:///..., postgresql://...)."""
    url = normalise_url(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        ping = kwargs.pop("pool_pre_ping", True)
        engine = sa.create_engine(url, **kwargs)
        if ping:
            _ping_on_checkout(engine)
        return engine
    memory = parsed.database in (None, "", ":memory:")
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}
    if memory:
        kwargs.setdefault("poolclass", pool.StaticPool)
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    _sqlite_setup(engine, memory)
    return engine


@contextlib.contextmanager
def reading(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that only reads: on SQLite it waits for no writer."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{READ_ONLY: True})
        with conn.begin():
            yield conn


def is_busy(exc: BaseException) -> bool:
    """A SQLite "database is locked" past the busy timeout: retry, not a bug."""
    return isinstance(exc, sa.exc.OperationalError) and "database is locked" in str(
        exc.orig
    )
