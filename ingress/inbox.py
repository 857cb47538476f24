"""The ingress seam to the store: record a message durably, ring it, read history;
and the pool that runs these calls off the web server's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tasks.contract import Dispatch
from zoozl.ops.metrics import MESSAGES
from zoozl.plugin import Message
from zoozl.store import Store
from zoozl.store.history import (
    DEFAULT_LIMIT,
    Answer,
    answer,
    inbox_id_for,
    list_messages,
    recent,
)
from zoozl.store.outage import Outage

log = logging.getLogger("zoozl.ingress")
T = TypeVar("T")

#: Threads of one web process that call the store and ring the workers. SQLite
#: has one writer: more threads only queue on it, and on the GIL beside the event
#: loop (10,000 connects at once, embedded: 58 s to greet them all with 8
#: threads, 29 s with 3). PostgreSQL answers several at once, over the network.
SQLITE_STORE_THREADS = 3
STORE_THREADS = 8


def store_threads(store: Store) -> int:
    """The pool size for this store."""
    if store.engine.dialect.name == "sqlite":
        return SQLITE_STORE_THREADS
    return STORE_THREADS


class Blocking:
    """`await blocking(fn, *args, **kw)`: `fn` on one of a few threads.

    The sockets never wait for the store on the event loop, and the thread
    count does not grow with the number of open sockets. A call is one queue
    put and one `call_soon_threadsafe` with its result, not `run_in_executor`
    (a concurrent future with its lock and condition, chained to an asyncio
    future): a storm of 10,000 connects, four calls each, took 22-24 s with
    that and 18.4-18.8 s with this (benchmarks/RESULTS.md, "Open sockets").
    """

    def __init__(self, threads: int = STORE_THREADS) -> None:
        self._size = threads
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, fn: Callable[..., T], *args: Any, **kw: Any) -> Awaitable[T]:
        if self._closed:  # as an executor after shutdown: no call left waiting
            raise RuntimeError("the store pool is closed")
        if not self._threads:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, fn, args, kw))
        return future

    def _start(self) -> None:
        # On first use, not in __init__: threads do not survive a fork, and an
        # app built before one (gunicorn's --preload) would have none.
        with self._lock:
            while len(self._threads) < self._size:
                name = f"zoozl-store_{len(self._threads)}"
                thread = threading.Thread(target=self._serve, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            self._run(*call)
            del call  # nothing of a call outlives it while the thread waits

    def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kw: dict[str, Any],
    ) -> None:
        if future.cancelled():  # its awaiter is gone (read off the loop: a hint)
            return
        try:
            result = fn(*args, **kw)
        except BaseException as exc:  # the awaiter raises it
            on_loop(loop, _fail, future, exc)
        else:
            on_loop(loop, _succeed, future, result)

    def close(self) -> None:
        """Let the threads end once the calls queued before are done."""
        self._closed = True
        for _ in self._threads:
            self._calls.put(None)


def on_loop(
    loop: asyncio.AbstractEventLoop, call: Callable[..., Any], *args: Any
) -> None:
    """Run `call(*args)` on `loop` from another thread; nothing once it closed
    (the web process is stopping)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(call, *args)


_Call = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    Callable[..., Any],
    tuple[Any, ...],
    dict[str, Any],
]


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(exc)


class Acceptor:
    """Everything ingress needs of the store: every channel's way to the workers.

    `outage` is told by the channels when the store does not answer (they
    refuse with a "try again later" of their own), and here when it does.
    """

    def __init__(self, store: Store, dispatch: Dispatch, effect: str = "") -> None:
        self._store = store
        self._dispatch = dispatch
        self.outage = Outage(log, "the store", effect or "messages are refused")

    def conversation(self, channel: str, talker: str) -> int:
        """The id of a talker's conversation on a channel."""
        found = self._store.conversation_for(channel, talker)
        self.outage.answered()
        return found

    def accept(
        self,
        conversation_id: int,
        message: Message,
        reply_address: dict[str, Any] | None = None,
        kind: str = "message",
        external_id: str | None = None,
        channel: str = "",
    ) -> int:
        """Commit the inbox row (raises DuplicateMessage), then ring `process`.

        Once the row is committed the message is safe: the dispatch never
        raises for a broker outage, the sweep rings the conversation later.
        `channel` labels the message in `zoozl_messages_total`.
        """
        inbox_id = self._store.record(
            conversation_id, message, reply_address, kind, external_id
        )
        if kind == "message":
            MESSAGES.labels(channel or "unknown").inc()
        self._dispatch.process(conversation_id)
        return inbox_id

    def opened(
        self,
        channel: str,
        talker: str,
        reply_address: dict[str, Any],
        new: bool = False,
    ) -> tuple[int, bool]:
        """A session opened: the talker's conversation id, greeted (a greet
        recorded) until the talker has said something (PROTOCOL §2); and
        whether its greeting still waits for `ring`.

        One call, so that a session's set-up is one trip to the store's pool.
        A `new` talker (issued by this ingress just now) has nothing to look
        up: one transaction creates the conversation and its greeting, which
        the session rings once its socket is registered (so the notice of the
        greeting finds it) with nothing to send before: no outbox read.
        """
        if new:
            created = self._store.new_conversation(
                channel, talker, Message(), reply_address
            )
            self.outage.answered()
            if created is not None:
                return created, True
        conversation_id = self.conversation(channel, talker)
        if not self.has_messages(conversation_id, kind="message"):
            self.accept(conversation_id, Message(), reply_address, kind="greet")
        return conversation_id, False

    def ring(self, conversation_id: int) -> bool:
        """Ring a conversation's pending message (False: the sweep will)."""
        return self._dispatch.process(conversation_id)

    def has_messages(self, conversation_id: int, kind: str | None = None) -> bool:
        """Whether anything (of `kind`, e.g. "message") was recorded for it."""
        return self._store.has_messages(conversation_id, kind)

    def recent(
        self, conversation_id: int, limit: int = DEFAULT_LIMIT
    ) -> list[dict[str, Any]]:
        """The conversation's last messages with their replies, oldest first."""
        return recent(self._store, conversation_id, limit)

    def list_messages(
        self, conversation_id: int, page: int, page_size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the conversation's messages and the total count."""
        return list_messages(self._store, conversation_id, page, page_size)

    def inbox_id_for(self, channel: str, external_id: str) -> int | None:
        """The inbox row a channel's own id was recorded as, if any."""
        return inbox_id_for(self._store, channel, external_id)

    def answer(self, inbox_id: int) -> Answer | None:
        """A message's state and the replies committed for it so far."""
        return answer(self._store, inbox_id)

    def mark_sent(self, outbox_id: int) -> bool:
        """Mark replies delivered (by the answering request); False if already."""
        return self._store.mark_sent(outbox_id)
