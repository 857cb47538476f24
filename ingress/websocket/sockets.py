"""The sockets of this web process: the websocket server each one runs on (headers on
the 101, frames sent whole from any thread), the open sockets by conversation, and
the replies sent to them: a conversation's outbox flushed in order, each row once."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections import defaultdict
from typing import Any, Protocol

from simple_websocket import ConnectionClosed, Server
from simple_websocket.ws import Base
from wsproto.events import AcceptConnection

from zoozl.channels import websocket
from zoozl.ops.metrics import DELIVERY_FAILURES, REPLIES
from zoozl.store import Store

#: How long a session waits, once its connection ended, for the reader thread to
#: send its last frame and stop (it is already on its way out; this only bounds it).
READER_EXIT_SECONDS = 2.0


class _LockedSocket:
    """Every write is a whole `sendall` under one lock: frames never interleave."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class WebsocketServer(Server):  # type: ignore[misc]
    """`simple_websocket.Server` (a complete RFC 6455 stack on wsproto) plus:

    extra headers on the handshake response (the talker cookie), and sends that
    are safe from several threads (the session and the reply-bus listener).
    """

    sock: Any  # the connection's socket, wrapped in _LockedSocket at the handshake

    def __init__(
        self,
        environ: dict[str, Any],
        extra_headers: list[tuple[bytes, bytes]],
        **kw: Any,
    ) -> None:
        self._extra_headers = extra_headers
        self._send_lock = threading.Lock()
        super().__init__(environ, **kw)

    def handshake(self) -> None:
        self.sock = _LockedSocket(self.sock)
        original = self.ws.send

        def send(event: Any) -> bytes:
            if isinstance(event, AcceptConnection):
                event = AcceptConnection(
                    subprotocol=event.subprotocol,
                    extensions=event.extensions,
                    extra_headers=self._extra_headers,
                )
            sent: bytes = original(event)
            return sent

        self.ws.send = send
        try:
            super().handshake()
        finally:
            self.ws.send = original

    def send(self, data: str | bytes) -> None:
        with self._send_lock:
            super().send(data)

    def receive(self, timeout: float | None = None) -> Any:
        """The next message, as `Base.receive`; once the connection has ended,
        ConnectionClosed only after the reader thread has sent its last frame.

        The reader wakes the session before it sends the close frame it owes (the
        answer to the client's close, or 1007 for text that is not UTF-8); the
        session would then end the connection first and the client would see it
        drop without a close frame.
        """
        try:
            return super().receive(timeout)
        except ConnectionClosed:
            self.thread.join(READER_EXIT_SECONDS)
            raise

    def _thread(self) -> None:
        """The reader, plus a last wake-up of `receive` when it stops.

        On a message over max_message_size the reader wakes `receive` before it
        marks the connection closed; without this a session could wait for a
        message forever, one thread per such client.
        """
        try:
            super()._thread()
        finally:
            self.connected = False
            self.event.set()

    def close_after_reply(self, code: int, reason: str, wait: float) -> None:
        """Close with `code` and let the client answer before the socket goes.

        `close()` shuts the TCP socket at once; frames the client sent meanwhile
        (a browser sends its first frames back to back) are then unread, the
        kernel answers with a reset, and the browser drops the error frame and
        the close code it was sent. Waiting for the client's close reply (or
        `wait` seconds) reads them first.
        """
        Base.close(self, code, reason)
        self.thread.join(wait)
        self.shutdown()

    def shutdown(self) -> None:
        """End the TCP connection, whoever else holds the socket.

        werkzeug keeps a file on the socket and writes an HTTP response on it
        after the view returns; after a shutdown that write fails quietly
        instead of reaching the client as bytes after the close frame.
        """
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


log = logging.getLogger(__name__)


class Socket(Protocol):
    """What a session needs of a websocket."""

    def send(self, data: str | bytes) -> None: ...


class Sessions:
    """conversation id -> open sockets; replies are sent in outbox order, once."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sockets: dict[int, list[Socket]] = defaultdict(list)
        self._flush_locks: dict[int, threading.Lock] = defaultdict(threading.Lock)
        self._lock = threading.Lock()

    def add(self, conversation_id: int, sock: Socket) -> None:
        with self._lock:
            self._sockets[conversation_id].append(sock)

    def remove(self, conversation_id: int, sock: Socket) -> None:
        with self._lock:
            socks = self._sockets.get(conversation_id, [])
            if sock in socks:
                socks.remove(sock)
            if not socks:
                self._sockets.pop(conversation_id, None)

    def live(self, conversation_id: int) -> list[Socket]:
        with self._lock:
            return list(self._sockets.get(conversation_id, ()))

    def holding(self, conversation_id: int) -> threading.Lock:
        """The lock flushes of a conversation hold: no reply frame goes out under it."""
        return self._flush_locks[conversation_id]

    def on_notice(self, notice: dict[str, Any]) -> None:
        """Reply-bus handler: replies of a conversation are in the outbox."""
        conversation_id = notice.get("conversation_id")
        if isinstance(conversation_id, int):
            self.flush(conversation_id)

    def flush_all(self) -> None:
        """Flush every conversation with a session here (after a bus outage)."""
        with self._lock:
            conversation_ids = list(self._sockets)
        for conversation_id in conversation_ids:
            self.flush(conversation_id)

    def flush(self, conversation_id: int) -> int:
        """Send pending replies to the conversation's sessions; return frames sent."""
        if not self.live(conversation_id):
            # Not here (notices of retried replies go to every web process).
            return 0
        sent = 0
        with self._flush_locks[conversation_id]:
            for row in self.store.pending_outbox(conversation_id):
                socks = self.live(conversation_id)
                if not socks:
                    break
                frames = [
                    json.dumps({"author": reply.author, "text": reply.text})
                    for reply in row.replies[row.progress :]
                ]
                if not self._send(socks, frames):
                    break
                self.store.mark_sent(row.id)
                REPLIES.labels(websocket.NAME).inc(len(frames))
                sent += len(frames)
        return sent

    def _send(self, socks: list[Socket], frames: list[str]) -> bool:
        delivered = False
        for sock in socks:
            try:
                for frame in frames:
                    sock.send(frame)
                delivered = True
            except Exception as exc:  # the socket closed under us
                DELIVERY_FAILURES.labels(websocket.NAME).inc()
                log.info("websocket send failed: %s", exc)
        return delivered
