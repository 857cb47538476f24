"""A simple-websocket server that sets headers on the 101 and sends from any thread."""

from __future__ import annotations

import socket
import threading
from typing import Any

from simple_websocket import Server
from wsproto.events import AcceptConnection


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
