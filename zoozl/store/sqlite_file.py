"""Files beside a SQLite store: its path, and the lock around schema creation."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from zoozl.store.database import normalise_url


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for memory or other databases."""
    parsed = sa.make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:") or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


@contextlib.contextmanager
def creation_lock(url: str) -> Iterator[None]:
    """Hold an exclusive lock on `<db>.lock` (SQLite files only; else nothing).

    Processes opening a fresh store at once otherwise race on `PRAGMA
    journal_mode=WAL`, which SQLite answers with "database is locked" at once
    (the busy timeout does not cover a journal-mode change).
    """
    path = sqlite_path(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
