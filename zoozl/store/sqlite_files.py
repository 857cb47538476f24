"""Files beside a SQLite store: its path, the lock around schema creation, and the
owner lock `<db>.owner` that gives one embedded server per store.

Two servers on one file would each sweep the other's pending messages and answer
them with the wrong plugins on the wrong reply bus. The owner lock is an flock,
so the kernel drops it when the owner dies, however it dies. Both locks are taken
beside the file the path resolves to, so that every name of one store (a symlink
to it, a path through a symlinked directory) meets the same lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from zoozl.errors import ConfigError
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
    with open(f"{path.resolve()}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class StoreOwned(ConfigError):
    """Another process holds the SQLite store."""


class StoreOwner:
    """Holds the owner lock of a SQLite store until `release` (or exit)."""

    def __init__(self, handle: IO[str] | None) -> None:
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def own_store(url: str) -> StoreOwner:
    """Take `<db>.owner` exclusively; StoreOwned names the file and the holder."""
    path = sqlite_path(url)
    if path is None:  # memory or PostgreSQL: nothing to own
        return StoreOwner(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    real = path.resolve()
    handle = open(f"{real}.owner", "a+")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        named = str(path) if real == path.absolute() else f"{path} (that is {real})"
        raise StoreOwned(
            f"the store {named} is in use by another zoozl server (pid {holder}); "
            "stop it, or give this one its own memory_path"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return StoreOwner(handle)
