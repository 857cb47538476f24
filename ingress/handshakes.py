"""The guards of the handshake: a deadline for a connection's request headers, and a
cap on websocket handshakes in flight, answered `503` with `Retry-After`.

Both run on the web server's event loop, where a waiting connection holds no
thread. The deadline is uvicorn's h11 protocol with a timer from the moment the
connection is made (or a keep-alive connection starts its next request) until its
request headers are in: a client that sends them slowly, or not at all, is
closed after `seconds` (uvicorn's own keep-alive timeout only covers the idle gap
between requests). The cap counts websocket handshakes from their request to the
end of their set-up (the talker's conversation found, greeted, pending replies
sent): at most `limit` at once, at most `per_address` of one client address (so
one client cannot take every slot); one over it is answered 503 with
`Retry-After`, never dropped, and the page comes back after that long.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

#: Seconds a client refused at the cap is asked to wait (`Retry-After`).
RETRY_AFTER_SECONDS = 1


class HandshakeGate:
    """Websocket handshakes in flight, in all and per client address."""

    def __init__(self, limit: int, per_address: int = 0) -> None:
        self.limit, self.per_address = limit, per_address
        self._per_address: Counter[str] = Counter()
        self._in_flight = 0
        self._full = False
        self._full_addresses: set[str] = set()

    def enter(self, address: str) -> bool:
        """Count a handshake in; False (and one log line per episode) at a cap."""
        if self._in_flight >= self.limit:
            if not self._full:
                log.warning(
                    "%d websocket handshakes are in flight (max_handshakes); "
                    "answering new ones 503, e.g. %s",
                    self.limit,
                    address,
                )
            self._full = True
            return False
        if self.per_address and self._per_address[address] >= self.per_address:
            if address not in self._full_addresses:
                log.warning(
                    "%d websocket handshakes of %s are in flight "
                    "(max_handshakes_per_address); answering its new ones 503",
                    self.per_address,
                    address,
                )
            self._full_addresses.add(address)
            return False
        self._in_flight += 1
        self._per_address[address] += 1
        return True

    def leave(self, address: str) -> None:
        """A handshake counted in by `enter` is set up (or ended)."""
        self._in_flight -= 1
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]
        if self._per_address[address] < self.per_address:
            self._full_addresses.discard(address)
        if self._in_flight < self.limit:
            self._full = False


class _HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol; a connection waiting for request headers has
    `header_seconds` to send them, else it is closed."""

    header_seconds: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
        elif self.conn.their_state is h11.IDLE:
            self._arm()  # headers of a request still to come
        else:
            self._disarm()  # the headers are in (or it is a websocket now)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        # The keep-alive timer takes over until the next request's first byte.
        self._disarm()
        super().on_response_complete()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info(
                "closing a connection without headers after %g s", self.header_seconds
            )
            self.transport.close()


def deadline_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a request-header deadline of `seconds`."""
    return type("HeaderDeadline", (_HeaderDeadline,), {"header_seconds": seconds})


def client_address(peer: object) -> str:
    """The address part of a peer (`(host, port)` from accept), as text."""
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return str(peer)
