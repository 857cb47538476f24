"""A cap and a deadline on connections that have not yet sent their request headers.

Both web servers (werkzeug embedded, gunicorn gthread) block a thread per
connection while its headers arrive. A client that sends them slowly, or not at
all, would hold that thread forever: the gate lets at most `limit` such
connections wait at once and shuts down one that is still waiting after
`seconds` (its blocked read then ends).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

log = logging.getLogger(__name__)


class HandshakeGate:
    """Connections waiting for their request headers, each with a deadline."""

    def __init__(self, seconds: float, limit: int) -> None:
        self.seconds, self.limit = seconds, limit
        self._waiting: dict[socket.socket, float] = {}
        self._wake = threading.Condition()
        self._full = False
        reaper = threading.Thread(target=self._reap, name="zoozl-handshakes")
        reaper.daemon = True
        reaper.start()

    def enter(self, sock: socket.socket, peer: object = None) -> bool:
        """Start a connection's wait for headers; False (and a log line) at the cap."""
        with self._wake:
            if len(self._waiting) >= self.limit:
                if not self._full:
                    log.warning(
                        "%d connections are in their handshake (max_handshakes); "
                        "refusing new ones, e.g. %s",
                        self.limit,
                        peer,
                    )
                self._full = True
                return False
            self._waiting[sock] = time.monotonic() + self.seconds
            self._wake.notify()
            return True

    def leave(self, sock: socket.socket) -> None:
        """The headers arrived (or the connection ended): no deadline any more."""
        with self._wake:
            self._waiting.pop(sock, None)
            if len(self._waiting) < self.limit:
                self._full = False

    def _reap(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for sock, deadline in list(self._waiting.items()):
                    if deadline <= now:
                        del self._waiting[sock]
                        self._shut(sock)
                self._full = self._full and len(self._waiting) >= self.limit
                soonest = min(self._waiting.values(), default=now + 60)
                self._wake.wait(max(soonest - now, 0.01))

    def _shut(self, sock: socket.socket) -> None:
        log.info("closing a connection without headers after %g s", self.seconds)
        with contextlib.suppress(OSError):  # already gone
            sock.shutdown(socket.SHUT_RDWR)
