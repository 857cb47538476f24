"""Stores on both databases for the store tests: a still clock, helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa

from zoozl.chatbot import Message
from zoozl.store import Store
from zoozl.store.database import make_engine
from zoozl.store.schema import inbox

#: Seconds a lease lasts in these tests.
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
