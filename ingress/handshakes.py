"""A cap and a deadline on connections that have not yet sent their request headers.

Both web servers (werkzeug embedded, gunicorn gthread) block a thread per
connection while its headers arrive. A client that sends them slowly, or not at
all, would hold that thread forever: the gate lets at most `limit` such
connections wait at once, at most `per_address` of them from one client address
(so one client cannot take every slot), and shuts down one that is still
waiting after `seconds` (its blocked read then ends). Server-independent: a
server hands over the socket and the peer address it accepted.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import Counter

log = logging.getLogger(__name__)


class HandshakeGate:
    """Connections waiting for their request headers, each with a deadline."""

    def __init__(self, seconds: float, limit: int, per_address: int = 0) -> None:
        self.seconds, self.limit, self.per_address = seconds, limit, per_address
        self._waiting: dict[socket.socket, float] = {}
        self._address_of: dict[socket.socket, str] = {}
        self._per_address: Counter[str] = Counter()
        self._full_addresses: set[str] = set()
        self._wake = threading.Condition()
        self._full = False
        reaper = threading.Thread(target=self._reap, name="zoozl-handshakes")
        reaper.daemon = True
        reaper.start()

    def enter(self, sock: socket.socket, peer: object = None) -> bool:
        """Start a connection's wait for headers; False (and a log line) at a cap."""
        address = client_address(peer)
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
            if self.per_address and self._per_address[address] >= self.per_address:
                if address not in self._full_addresses:
                    log.warning(
                        "%d connections of %s are in their handshake "
                        "(max_handshakes_per_address); refusing its new ones",
                        self.per_address,
                        address,
                    )
                self._full_addresses.add(address)
                return False
            self._waiting[sock] = time.monotonic() + self.seconds
            self._address_of[sock] = address
            self._per_address[address] += 1
            self._wake.notify()
            return True

    def leave(self, sock: socket.socket) -> None:
        """The headers arrived (or the connection ended): no deadline any more."""
        with self._wake:
            self._forget(sock)
            if len(self._waiting) < self.limit:
                self._full = False

    def _forget(self, sock: socket.socket) -> None:
        if self._waiting.pop(sock, None) is None:
            return
        address = self._address_of.pop(sock)
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]
        if self._per_address[address] < self.per_address:
            self._full_addresses.discard(address)

    def _reap(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for sock, deadline in list(self._waiting.items()):
                    if deadline <= now:
                        self._forget(sock)
                        self._shut(sock)
                self._full = self._full and len(self._waiting) >= self.limit
                soonest = min(self._waiting.values(), default=now + 60)
                self._wake.wait(max(soonest - now, 0.01))

    def _shut(self, sock: socket.socket) -> None:
        log.info("closing a connection without headers after %g s", self.seconds)
        with contextlib.suppress(OSError):  # already gone
            sock.shutdown(socket.SHUT_RDWR)


def client_address(peer: object) -> str:
    """The address part of a peer (`(host, port)` from accept), as text."""
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return str(peer)
