"""A simple-websocket server that sets headers on the 101 and sends from any thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from simple_websocket import ConnectionClosed, Server
from simple_websocket.ws import Base
from wsproto.events import AcceptConnection

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
            return original(event)

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
