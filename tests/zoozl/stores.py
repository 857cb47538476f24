"""Stores on both databases for the store tests: a still clock, helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa

from zoozl.plugin import Message
from zoozl.store import Done, Store
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


def answered(
    store: Store,
    conversation_id: int,
    message: Message,
    replies: list[Message],
    reply_address: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
) -> int | None:
    """Record `message` and answer it the way a worker does (claim, then finish)
    with `replies` and `state`; return the outbox id (None without replies)."""
    store.record(conversation_id, message, reply_address)
    claim = store.claim(conversation_id, "test", LEASE)
    assert claim is not None
    row = claim.row
    done = Done(row.id, row.channel, state or {}, replies, row.reply_address)
    return store.finish(claim.lease, done).outbox_id


def pending_ids(store: Store, conversation_id: int) -> list[int]:
    """Ids of the conversation's inbox rows still pending, in id order."""
    return [r.id for r in inbox_rows(store, conversation_id) if r.state == "pending"]
