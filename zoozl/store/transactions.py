"""The message path's transactions: on SQLite, statements compiled once and run on
the driver connection; on other databases, SQLAlchemy's.

Executing a prebuilt statement through SQLAlchemy still cost about 40 µs of CPU
per statement and 30 µs per transaction, four times SQLite's own work (an INSERT
committed: 87 µs through SQLAlchemy, 21 µs on the sqlite3 connection), and a
message takes nine statements in four transactions. So on SQLite each statement
is compiled to its SQL text once, with its parameter order and which parameters
and columns hold JSON, and runs on the pool's sqlite3 connection under the same
writer lock as SQLAlchemy's transactions (`zoozl.store.database`). PostgreSQL
keeps SQLAlchemy: there the round trip to the server costs more than the Python.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import namedtuple
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from zoozl.store.database import reading, sqlite_lock

_SQLITE = sqlite.dialect(paramstyle="qmark")


class Statement:
    """A prebuilt SQLAlchemy statement with its SQLite text, compiled once."""

    def __init__(self, statement: Any, keys: tuple[str, ...] = ()) -> None:
        """keys: the columns an INSERT sets from parameters (its column_keys)."""
        self.statement = statement
        compiled = statement.compile(dialect=_SQLITE, column_keys=list(keys) or None)
        self.text = str(compiled)
        self.order = tuple(compiled.positiontup or ())
        binds = compiled.binds
        self.json = frozenset(n for n, b in binds.items() if _is_json(b.type))
        self.fixed = {n: b.effective_value for n, b in binds.items() if not b.required}
        columns = list(getattr(statement, "exported_columns", ()))
        self.record = namedtuple("record", [c.key for c in columns])  # type: ignore[misc]
        self.decode = tuple(i for i, c in enumerate(columns) if _is_json(c.type))

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        """The parameters in the text's order, JSON ones encoded."""
        found = []
        for name in self.order:
            value = params[name] if name in params else self.fixed[name]
            if name in self.json and value is not None:
                value = json.dumps(value)
            found.append(value)
        return found

    def row(self, raw: tuple[Any, ...]) -> Any:
        """A returned row with attribute access, JSON columns decoded."""
        if not self.decode:
            return self.record(*raw)
        values = list(raw)
        for i in self.decode:
            if values[i] is not None:
                values[i] = json.loads(values[i])
        return self.record(*values)


def _is_json(type_: Any) -> bool:
    return isinstance(type_, sa.JSON)


class Result(Protocol):
    """What the message path reads from an executed statement."""

    @property
    def rowcount(self) -> int: ...

    @property
    def inserted_id(self) -> int: ...

    def first(self) -> Any: ...

    def all(self) -> list[Any]: ...


class Transaction(Protocol):
    """One open transaction: run statements in it."""

    def run(self, statement: Statement, params: Mapping[str, Any]) -> Result: ...


class _SQLAlchemyResult:
    def __init__(self, result: sa.CursorResult[Any]) -> None:
        self._result = result
        self.rowcount = result.rowcount

    @property
    def inserted_id(self) -> int:
        key = self._result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def first(self) -> Any:
        return self._result.first()

    def all(self) -> list[Any]:
        return list(self._result)


class _SQLAlchemyTransaction:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def run(self, statement: Statement, params: Mapping[str, Any]) -> Result:
        return _SQLAlchemyResult(self.conn.execute(statement.statement, dict(params)))


class _SQLiteResult:
    def __init__(self, statement: Statement, cursor: sqlite3.Cursor) -> None:
        self._statement, self._cursor = statement, cursor
        self.rowcount = cursor.rowcount
        self.inserted_id = int(cursor.lastrowid or 0)

    def first(self) -> Any:
        raw = self._cursor.fetchone()
        self._cursor.close()
        return None if raw is None else self._statement.row(raw)

    def all(self) -> list[Any]:
        return [self._statement.row(raw) for raw in self._cursor.fetchall()]


class _SQLiteTransaction:
    def __init__(self, driver: sqlite3.Connection) -> None:
        self.driver = driver

    def run(self, statement: Statement, params: Mapping[str, Any]) -> Result:
        values = statement.values(params)
        try:
            cursor = self.driver.execute(statement.text, values)
        except sqlite3.Error as exc:
            raise _wrapped(statement.text, values, exc) from exc
        return _SQLiteResult(statement, cursor)


def _wrapped(text: str, values: Any, exc: sqlite3.Error) -> sa.exc.StatementError:
    """The exception SQLAlchemy would raise (IntegrityError, OperationalError...)."""
    return sa.exc.DBAPIError.instance(text, values, exc, sqlite3.Error)


@contextlib.contextmanager
def transaction(engine: sa.Engine, write: bool = True) -> Iterator[Transaction]:
    """A transaction of the message path (`write=False`: it only reads)."""
    lock = sqlite_lock(engine)
    if lock is None:
        if write:
            with engine.begin() as conn:
                yield _SQLAlchemyTransaction(conn)
            return
        with reading(engine) as conn:
            yield _SQLAlchemyTransaction(conn)
        return
    writer = lock.writer if write or lock.memory else None
    with _sqlite_transaction(engine, writer) as tx:
        yield tx


@contextlib.contextmanager
def _sqlite_transaction(engine: sa.Engine, writer: Any) -> Iterator[Transaction]:
    """BEGIN IMMEDIATE (holding `writer`) or BEGIN, on a pooled sqlite3 connection."""
    fairy = engine.raw_connection()
    try:
        driver: sqlite3.Connection = fairy.driver_connection  # type: ignore[assignment]
        if writer is not None:
            writer.acquire()
        try:
            _execute(driver, "BEGIN IMMEDIATE" if writer is not None else "BEGIN")
            try:
                yield _SQLiteTransaction(driver)
                _execute(driver, "COMMIT")
            except BaseException:
                if driver.in_transaction:
                    driver.execute("ROLLBACK")
                raise
        finally:
            if writer is not None:
                writer.release()
    finally:
        fairy.close()


def _execute(driver: sqlite3.Connection, text: str) -> None:
    try:
        driver.execute(text)
    except sqlite3.Error as exc:
        raise _wrapped(text, (), exc) from exc
