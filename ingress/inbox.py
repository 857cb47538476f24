"""The ingress seam to the store: record a message durably, ring it, read history;
and the pool that runs these calls off the web server's event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    count does not grow with the number of open sockets.
    """

    def __init__(self, threads: int = STORE_THREADS) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="zoozl-store")

    async def __call__(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kw)
        return await loop.run_in_executor(self._pool, call)

    def close(self) -> None:
        """Let the threads end once their calls are done."""
        self._pool.shutdown(wait=False)


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
    ) -> int:
        """A session opened: the talker's conversation id, greeted (a greet
        recorded and rung) until the talker has said something (PROTOCOL §2).

        One call, so that a session's set-up is one trip to the store's pool;
        a `new` talker (issued by this ingress just now) has nothing to look
        up: one transaction creates the conversation and its greeting.
        """
        if new:
            created = self._store.new_conversation(
                channel, talker, Message(), reply_address
            )
            self.outage.answered()
            if created is not None:
                self._dispatch.process(created)
                return created
        conversation_id = self.conversation(channel, talker)
        if not self.has_messages(conversation_id, kind="message"):
            self.accept(conversation_id, Message(), reply_address, kind="greet")
        return conversation_id

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
