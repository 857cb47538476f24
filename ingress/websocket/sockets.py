"""The sockets of this web process: uvicorn's websocket protocol (two close frames
fixed), one accepted websocket over ASGI, the open sockets by conversation, and
the replies sent to them: a conversation's outbox flushed in order, each row once.

All of it runs on the web process's event loop. The reply bus calls `on_notice`
from its own thread (a worker thread in embedded mode, the Redis listener in
scaled mode); the flush is handed to the loop with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from uvicorn.protocols.websockets.wsproto_impl import FrameTooLargeError, WSProtocol
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, TextMessage

from ingress.inbox import Blocking, on_loop
from zoozl.channels import websocket
from zoozl.ops.metrics import DELIVERY_FAILURES, REPLIES
from zoozl.plugin import Message
from zoozl.store import PENDING, OutboxRow, Store
from zoozl.store.outage import Outage, is_unavailable

log = logging.getLogger(__name__)
#: RFC 6455 close code of a message over the size limit.
TOO_BIG = 1009
#: Conversations whose last outbox row sent from this process is remembered
#: (`Sessions`; about 100 bytes each); the one longest unused is forgotten
#: first, and is read again (a notice held back meanwhile by the bus could then
#: repeat a reply: the bus delivers in milliseconds or not at all).
REMEMBERED = 20_000

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Closed(Exception):
    """The websocket has closed (the client left, or the server closed it)."""


class Websocket:
    """One websocket over ASGI's `receive` and `send` (uvicorn with wsproto: a
    complete RFC 6455 stack; pings, fragments and the size limit are its work)."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive, self._send = receive, send
        self.closed = False

    async def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        """The 101, with `headers` (the talker cookie) on it."""
        await self._send({"type": "websocket.accept", "headers": headers})

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        """The next message; None after `timeout` seconds; Closed once it closed."""
        try:
            message = await asyncio.wait_for(self._receive(), timeout)
        except TimeoutError:
            return None
        if message["type"] == "websocket.disconnect":
            self.closed = True
            raise Closed(message.get("code"))
        found: str | bytes | None = message.get("text")
        return message.get("bytes") if found is None else found

    async def send(self, data: str) -> None:
        """One text frame; Closed if the socket is gone."""
        if self.closed:
            raise Closed()
        try:
            await self._send({"type": "websocket.send", "text": data})
        except (OSError, RuntimeError) as exc:  # uvicorn: disconnected, or closed
            self.closed = True
            raise Closed() from exc

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame; the server waits for the client's before it hangs up
        (so the client reads the frames sent before it)."""
        if self.closed:
            return
        self.closed = True
        close = {"type": "websocket.close", "code": code, "reason": reason}
        with contextlib.suppress(OSError, RuntimeError):  # already gone
            await self._send(close)


class Websockets(WSProtocol):
    """uvicorn's wsproto protocol, with two close frames as RFC 6455 has them.

    On text that is not UTF-8 (1007) or a broken frame (1002) wsproto reports a
    close while the connection is still open, and uvicorn then hangs up without
    telling the client why: this sends the close frame first. On a message over
    `ws_max_size` uvicorn sends 1009 and hangs up at once, while the client may
    still be sending the message: its kernel then resets the connection and the
    client loses the close frame; this waits for the client's close instead.
    """

    def handle_message(self, event: TextMessage | BytesMessage) -> None:
        try:
            self.buffer.extend(event)
        except FrameTooLargeError:
            self._too_big()
            return
        if event.message_finished:
            self.queue.put_nowait(self.buffer.to_message())
            self.buffer.clear()
            if not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()

    def _too_big(self) -> None:
        self.buffer.clear()
        reason = f"message over {self.config.ws_max_size} bytes"
        self.queue.put_nowait(
            {"type": "websocket.disconnect", "code": TOO_BIG, "reason": reason}
        )
        self.close_sent = True
        if self.transport.is_closing():
            return
        self.transport.write(self.conn.send(CloseConnection(TOO_BIG, reason)))
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(
            self.close_timeout, self.transport.close
        )

    def handle_close(self, event: CloseConnection) -> None:
        if not self.close_sent and self.conn.state is ConnectionState.OPEN:
            closing = CloseConnection(code=event.code, reason=event.reason)
            self.transport.write(self.conn.send(closing))
        super().handle_close(event)


class Socket(Protocol):
    """What the replies need of a websocket."""

    async def send(self, data: str) -> None: ...


def carried(notice: dict[str, Any]) -> OutboxRow | None:
    """The outbox row a notice carries (its replies), if it carries a valid one."""
    replies = notice.get("replies")
    outbox_id = notice.get("outbox_id")
    conversation_id = notice.get("conversation_id")
    if not (isinstance(replies, list) and replies):
        return None
    if not (isinstance(outbox_id, int) and isinstance(conversation_id, int)):
        return None
    try:
        messages = [Message.from_dict(reply) for reply in replies]
    except (AttributeError, TypeError, ValueError):
        log.warning("reply notice of outbox %s carries no messages", outbox_id)
        return None
    return OutboxRow(
        id=outbox_id,
        conversation_id=conversation_id,
        inbox_id=None,
        channel=websocket.NAME,
        reply_address={},
        replies=messages,
        state=PENDING,
        attempts=0,
        progress=0,
        last_error=None,
    )


class Sessions:
    """conversation id -> open sockets; replies are sent in outbox order, once.

    A flush reads the conversation's pending rows, unless the notice that asked
    for it carries its row (the worker adds the replies when no earlier reply of
    the conversation was pending as the row was added: nothing may go before
    it). Such a row is sent unread if it is newer than the last row this process
    sent to the conversation, remembered per conversation across reconnects: a
    row a read has sent already is not sent twice. A conversation this process
    does not remember (none of its rows sent here yet, or forgotten among
    `REMEMBERED` others) is read, as is every notice while a flush runs.
    """

    def __init__(self, store: Store, blocking: Blocking) -> None:
        self.store = store
        self.blocking = blocking
        self.loop: asyncio.AbstractEventLoop | None = None
        self._sockets: dict[int, list[Socket]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Conversations with a flush task queued or running, and those of them
        # notified again meanwhile: a burst of notices is one or two flushes.
        self._flushing: set[int] = set()
        self._again: set[int] = set()
        # Conversations with a flush (any: a session's first one too) that has
        # not begun reading the outbox: it will read what a notice announces.
        # Added on the loop; removed by the store thread as the read begins.
        self._unread: set[int] = set()
        self._outage = Outage(log, "the store", "replies wait for the sweep")
        self._failing = False  # a flush failed on the store; till one succeeds
        # conversation id -> the newest outbox row sent from here (see above)
        self._sent: collections.OrderedDict[int, int] = collections.OrderedDict()

    def add(self, conversation_id: int, sock: Socket) -> None:
        self.loop = asyncio.get_running_loop()
        self._sockets.setdefault(conversation_id, []).append(sock)

    def remove(self, conversation_id: int, sock: Socket) -> None:
        socks = self._sockets.get(conversation_id, [])
        if sock in socks:
            socks.remove(sock)
        if not socks:
            self._sockets.pop(conversation_id, None)
            lock = self._locks.get(conversation_id)
            if lock is not None and not lock.locked():
                del self._locks[conversation_id]

    def live(self, conversation_id: int) -> list[Socket]:
        return list(self._sockets.get(conversation_id, ()))

    def count(self) -> int:
        """Open sockets."""
        return sum(len(socks) for socks in self._sockets.values())

    def holding(self, conversation_id: int) -> asyncio.Lock:
        """The lock flushes of a conversation hold: no reply frame goes out under it."""
        return self._locks.setdefault(conversation_id, asyncio.Lock())

    def on_notice(self, notice: dict[str, Any]) -> None:
        """Reply-bus handler (any thread): a conversation's replies wait."""
        conversation_id = notice.get("conversation_id")
        if isinstance(conversation_id, int):
            self._on_loop(self._flush_soon, conversation_id, carried(notice))

    def flush_all(self) -> None:
        """Flush every conversation with a session here (any thread; after a bus
        outage)."""
        self._on_loop(self._flush_all_soon)

    def _on_loop(self, call: Callable[..., None], *args: Any) -> None:
        if self.loop is not None:  # None: no socket was ever opened here
            on_loop(self.loop, call, *args)

    def _flush_all_soon(self) -> None:
        for conversation_id in list(self._sockets):
            self._flush_soon(conversation_id)

    def _flush_soon(self, conversation_id: int, given: OutboxRow | None = None) -> None:
        if conversation_id not in self._sockets:
            return  # not here (notices of retried replies go to every web process)
        if conversation_id in self._unread:
            return  # a flush queued (behind a backlog) reads the outbox still
        if conversation_id in self._flushing:
            self._again.add(conversation_id)  # its flush reads the outbox again
            return
        self._flushing.add(conversation_id)
        flushes = self._flushes(conversation_id, given)
        task = asyncio.get_running_loop().create_task(flushes)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flushes(self, conversation_id: int, given: OutboxRow | None) -> None:
        """Flush until no notice came for the conversation meanwhile (the first
        with the row the notice carried, if any; the others read)."""
        try:
            while True:
                self._again.discard(conversation_id)
                await self._guarded(conversation_id, given)
                given = None
                if conversation_id not in self._again:
                    return
        finally:
            self._flushing.discard(conversation_id)
            self._again.discard(conversation_id)

    async def _guarded(self, conversation_id: int, given: OutboxRow | None) -> None:
        try:
            await self.flush(conversation_id, given)
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("sending the replies of %s failed", conversation_id)
                return
            self._failing = True
            self._outage.failed(exc)
            return
        if self._failing:  # most flushes: no call, no outage to end
            self._failing = False
            self._outage.answered()

    async def flush(self, conversation_id: int, given: OutboxRow | None = None) -> int:
        """Send pending replies to the conversation's sessions; return frames sent.
        `given`: the row a notice carried, sent unread if it may be (see above)."""
        if not self.live(conversation_id):
            return 0
        sent = 0
        self._unread.add(conversation_id)
        try:
            async with self.holding(conversation_id):
                if given is not None and self._unsent(given):
                    self._unread.discard(conversation_id)
                    rows = [given]
                else:
                    rows = await self.blocking(self._pending, conversation_id)
                    self._unread.discard(conversation_id)
                    self._remember(conversation_id)
                sent = await self._send_rows(conversation_id, rows)
        finally:
            self._unread.discard(conversation_id)
        return sent

    def _unsent(self, row: OutboxRow) -> bool:
        """Whether a carried row is newer than the last one sent from here."""
        last = self._sent.get(row.conversation_id)
        return last is not None and row.id > last

    def _remember(self, conversation_id: int, outbox_id: int | None = None) -> None:
        """The newest row sent from here to the conversation (none: a read found
        nothing to send; the conversation is known from now on)."""
        last = self._sent.pop(conversation_id, 0)
        self._sent[conversation_id] = max(last, outbox_id or 0)
        if len(self._sent) > REMEMBERED:
            self._sent.popitem(last=False)

    def _pending(self, conversation_id: int) -> list[OutboxRow]:
        """The store thread's read: a notice from now on needs a flush of its own."""
        self._unread.discard(conversation_id)
        return self.store.pending_outbox(conversation_id)

    async def _send_rows(self, conversation_id: int, rows: list[OutboxRow]) -> int:
        sent = 0
        for row in rows:
            socks = self.live(conversation_id)
            if not socks:
                break
            frames = [
                json.dumps({"author": reply.author, "text": reply.text})
                for reply in row.replies[row.progress :]
            ]
            if not await self._send(socks, frames):
                break
            self._remember(conversation_id, row.id)
            await self.blocking(self.store.mark_sent, row.id)
            REPLIES.labels(websocket.NAME).inc(len(frames))
            sent += len(frames)
        return sent

    async def _send(self, socks: list[Socket], frames: list[str]) -> bool:
        delivered = False
        for sock in socks:
            try:
                for frame in frames:
                    await sock.send(frame)
                delivered = True
            except Closed as exc:  # the socket closed under us
                DELIVERY_FAILURES.labels(websocket.NAME).inc()
                log.info("websocket send failed: %s", exc.__cause__ or "closed")
        return delivered
