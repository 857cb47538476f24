"""The message path's transactions: statements compiled once per database and run
on the driver connection (sqlite3, psycopg), under SQLAlchemy's pool.

Executing a prebuilt statement through SQLAlchemy still cost about 40 µs of CPU
per statement and 30 µs per transaction, four times SQLite's own work (an INSERT
committed: 87 µs through SQLAlchemy, 21 µs on the sqlite3 connection), and a
message takes nine statements in four transactions; on PostgreSQL SQLAlchemy's
share of the worker's and the web process's CPU was a third. So each statement is
compiled to its SQL text once per dialect, with its parameter order and which
parameters and columns hold JSON, and runs on the pooled DB-API connection. On
SQLite writers still queue on the engine's writer lock (`SQLiteLock` below, set
up by `zoozl.store.database`).

On PostgreSQL a message cost 24 round trips to the database across the web
process and the worker, and the backends' CPU was a fifth of scaled mode's:
the message path pings no connection before using it (a dead one is found by
its first statement and replaced, `Transaction`), and a transaction of one
statement runs in autocommit, without BEGIN and COMMIT (`single`): the claim and
the turn are one statement each (`zoozl.store.statements`), at most five round
trips a message in all.
Errors are raised as SQLAlchemy would raise them (IntegrityError, ...).
"""

from __future__ import annotations

import contextlib
import json
import threading
import weakref
from collections import namedtuple
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class SQLiteLock:
    """The process's one SQLite writer lock of an engine; in memory, every
    transaction takes it (there is one shared connection)."""

    writer: threading.RLock
    memory: bool


_LOCKS: weakref.WeakKeyDictionary[sa.Engine, SQLiteLock] = weakref.WeakKeyDictionary()


def sqlite_lock(engine: sa.Engine) -> SQLiteLock | None:
    """The writer lock of a SQLite engine; None for other databases."""
    return _LOCKS.get(engine)


def register_sqlite_lock(engine: sa.Engine, lock: SQLiteLock) -> None:
    """Make `lock` the writer lock transactions of this SQLite engine queue on."""
    _LOCKS[engine] = lock


class Compiled:
    """One dialect's SQL text of a statement and how to bind and read it."""

    def __init__(self, statement: Any, keys: tuple[str, ...], dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) or None)
        self.text = str(compiled)
        #: Parameter names in text order (qmark), or None: bound by name.
        self.order = tuple(compiled.positiontup) if compiled.positiontup else None
        binds = compiled.binds
        self.json = frozenset(n for n, b in binds.items() if _is_json(b.type))
        self.fixed = {n: b.effective_value for n, b in binds.items() if not b.required}
        # psycopg decodes json columns itself; sqlite3 returns their text.
        columns = list(getattr(statement, "exported_columns", ()))
        text_json = dialect.name == "sqlite"
        self.decode = tuple(
            i for i, c in enumerate(columns) if text_json and _is_json(c.type)
        )

    def values(self, params: Mapping[str, Any]) -> Any:
        """The parameters as the driver takes them, JSON ones encoded."""
        if self.order is None:
            named = {**self.fixed, **params}
            for name in self.json & named.keys():
                if named[name] is not None:
                    named[name] = json.dumps(named[name])
            return named
        found = []
        for name in self.order:
            value = params[name] if name in params else self.fixed[name]
            if name in self.json and value is not None:
                value = json.dumps(value)
            found.append(value)
        return found


class Statement:
    """A prebuilt SQLAlchemy statement, compiled once for each database it meets."""

    def __init__(self, statement: Any, keys: tuple[str, ...] = ()) -> None:
        """keys: the columns an INSERT sets from parameters (its column_keys)."""
        self.statement = statement
        self.keys = keys
        columns = list(getattr(statement, "exported_columns", ()))
        names = [c.key for c in columns]
        self.record = namedtuple("record", names, rename=True)  # type: ignore[misc]
        self._compiled: dict[str, Compiled] = {}

    def compiled(self, dialect: Any) -> Compiled:
        """The statement for this dialect (compiled on first use)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = Compiled(
                self.statement, self.keys, dialect
            )
        return found

    def row(self, compiled: Compiled, raw: tuple[Any, ...]) -> Any:
        """A returned row with attribute access, JSON columns decoded."""
        if not compiled.decode:
            return self.record(*raw)
        values = list(raw)
        for i in compiled.decode:
            if values[i] is not None:
                values[i] = json.loads(values[i])
        return self.record(*values)


def _is_json(type_: Any) -> bool:
    return isinstance(type_, sa.JSON)


class Result:
    """An executed statement: rows changed, the new row's id, returned rows."""

    def __init__(self, statement: Statement, compiled: Compiled, cursor: Any) -> None:
        self._statement, self._compiled, self._cursor = statement, compiled, cursor

    @property
    def rowcount(self) -> int:
        """Rows changed."""
        return int(self._cursor.rowcount)

    @property
    def inserted_id(self) -> int:
        """The primary key an INSERT created (RETURNING on PostgreSQL)."""
        if self._compiled.order is None:
            return int(self._cursor.fetchone()[0])
        return int(self._cursor.lastrowid)

    def first(self) -> Any:
        raw = self._cursor.fetchone()
        self._cursor.close()
        return None if raw is None else self._statement.row(self._compiled, raw)

    def all(self) -> list[Any]:
        rows = self._cursor.fetchall()
        return [self._statement.row(self._compiled, raw) for raw in rows]


class Transaction:
    """One open transaction on a driver connection: run statements in it.

    On PostgreSQL a pooled connection that died (the database restarted, a
    backend was terminated) is found by the transaction's first statement rather
    than by a ping before every checkout: the pool is then invalidated, as
    SQLAlchemy does on a disconnect, and that statement runs once more on a new
    connection. That is safe: in a transaction, nothing of it was committed on
    the dead connection. A single statement in autocommit may have committed
    before the connection died; those of the message path give the same rows
    when run again (an update to the same values, a unique key, a read) or, for
    an inbox row without a client id, what the client's resend of a message it
    saw no ack for gives; the turn's (`Store.finish`) finds its lease given up
    and raises LeaseLost, its replies then go out with the sweep. After that
    first statement a lost connection is raised.

    On PostgreSQL the connection runs in autocommit and a transaction of several
    statements sends its BEGIN itself, with its first statement.
    """

    def __init__(
        self,
        engine: sa.Engine,
        single: bool = False,
        autocommit: bool = False,
        retry_dead: bool = False,
    ) -> None:
        self.engine, self.dialect = engine, engine.dialect
        self.single, self.autocommit = single, autocommit
        self._ran = False
        # In autocommit, a transaction of several statements sends its BEGIN.
        self._begins = autocommit and not single
        self._begun = False
        self.fairy: Any = _checkout(engine)
        self.driver: Any = self.fairy.driver_connection
        # Whether a dead connection may still be replaced: until a statement ran.
        self._replaceable = retry_dead
        if autocommit:
            self.driver.autocommit = True

    def run(self, statement: Statement, params: Mapping[str, Any]) -> Result:
        if self.single and self._ran:  # on its own, a second one is not atomic
            raise RuntimeError("a second statement in a single-statement transaction")
        self._ran = True
        compiled = statement.compiled(self.dialect)
        values = compiled.values(params)
        while True:
            try:
                self._begin()
                cursor = self.driver.execute(compiled.text, values)
                break
            except self.dialect.loaded_dbapi.Error as exc:
                if not self._replaceable or not self._dead(exc):
                    raise _wrapped(self.dialect, compiled.text, values, exc) from exc
                self._replaceable = False  # once: a new connection is alive
                self._replace(exc)
        self._replaceable = False
        return Result(statement, compiled, cursor)

    def _begin(self) -> None:
        if self._begins and not self._begun:
            self.driver.execute("BEGIN")
            self._begun = True

    def _dead(self, exc: Any) -> bool:
        return bool(self.dialect.is_disconnect(exc, self.driver, None))

    def _replace(self, exc: Exception) -> None:
        """Drop the pool's connections (this one is dead, so are those as old as
        it: SQLAlchemy's own reaction to a disconnect); check out a new one."""
        self.engine.pool._invalidate(self.fairy, exc)
        self.fairy.close()
        self.fairy = self.driver = None
        self._begun = False
        self.fairy = _checkout(self.engine)  # raises when the database is down
        self.driver = self.fairy.driver_connection
        if self.autocommit:
            self.driver.autocommit = True

    def close(self) -> None:
        """Return the connection to the pool (in its own transaction mode)."""
        if self.fairy is None:  # its replacement could not be checked out
            return
        if self.autocommit and self.fairy.is_valid:  # not if rolling back failed
            try:
                self.driver.autocommit = False
            except Exception as exc:  # broken meanwhile: not pooled again
                self.fairy.invalidate(exc)
        self.fairy.close()


#: Set while the message path checks a connection out: no ping then (see
#: `Transaction`); SQLAlchemy's own use of the pool pings (`zoozl.store.database`).
unpinged = threading.local()


def _checkout(engine: sa.Engine) -> Any:
    unpinged.on = True
    try:
        return engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as exc:  # wrapped like connect()
        raise _wrapped(engine.dialect, None, None, exc) from exc
    finally:
        unpinged.on = False


def _wrapped(
    dialect: Any, text: str | None, values: Any, exc: Any
) -> sa.exc.StatementError:
    """The exception SQLAlchemy would raise for this driver error."""
    base = dialect.loaded_dbapi.Error
    wrapped: sa.exc.StatementError = sa.exc.DBAPIError.instance(
        text, values, exc, base, dialect=dialect
    )
    return wrapped


@contextlib.contextmanager
def transaction(
    engine: sa.Engine, write: bool = True, single: bool = False
) -> Iterator[Transaction]:
    """A transaction of the message path (`write=False`: it only reads).

    `single`: it runs one statement, which on PostgreSQL then runs on its own
    (no BEGIN and COMMIT, two round trips fewer; one statement is atomic by
    itself). On SQLite a writer (and, in memory, every transaction)
    holds the engine's writer lock and begins IMMEDIATE; WAL readers begin
    plainly and never wait.
    """
    dialect = engine.dialect
    lock = sqlite_lock(engine)
    writer = lock.writer if lock is not None and (write or lock.memory) else None
    postgres = lock is None
    tx = Transaction(engine, single, autocommit=postgres, retry_dead=postgres)
    try:
        if writer is not None:
            writer.acquire()
        try:
            if lock is not None:  # sqlite3 runs with isolation_level None
                begin = "BEGIN IMMEDIATE" if writer is not None else "BEGIN"
                _execute(dialect, tx.driver, begin)
            try:
                yield tx
                _commit(dialect, tx.driver)
            except BaseException as exc:
                if tx.fairy is not None:
                    _roll_back(tx.fairy, tx.driver, exc)
                raise
        finally:
            if writer is not None:
                writer.release()
    finally:
        tx.close()


def _execute(dialect: Any, driver: Any, text: str) -> None:
    try:
        driver.execute(text)
    except dialect.loaded_dbapi.Error as exc:
        raise _wrapped(dialect, text, (), exc) from exc


def _commit(dialect: Any, driver: Any) -> None:
    try:
        driver.commit()
    except dialect.loaded_dbapi.Error as exc:
        raise _wrapped(dialect, "COMMIT", (), exc) from exc


def _roll_back(fairy: Any, driver: Any, cause: BaseException) -> None:
    """Roll back after `cause`; a connection that cannot is not pooled again."""
    try:
        driver.rollback()
    except Exception:
        fairy.invalidate(cause if isinstance(cause, Exception) else None)
