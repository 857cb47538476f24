"""Store outages as an operator should see them: recognised as such, and logged
once when one begins and once when it ends, however many requests fail between.

Server-independent: the websocket endpoint, the HTTP routes and the sweep each
keep an `Outage` and tell it what happened; none of them logs a traceback for
a database that is simply down.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

#: What the database raises when it cannot be reached or is too busy to answer.
UNAVAILABLE = (
    sa.exc.OperationalError,  # refused, reset, shut down, SQLite busy
    sa.exc.InterfaceError,  # the connection is closed
    sa.exc.DisconnectionError,
    sa.exc.TimeoutError,  # no connection free in the pool
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the store cannot answer now (not a bug: try again later)."""
    if isinstance(exc, UNAVAILABLE):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated


def reason(exc: BaseException) -> str:
    """The first line of what the database said, at most 200 characters."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    return lines[0][:200]


class Outage:
    """One log line when `what` stops answering, one when it answers again."""

    def __init__(self, log: logging.Logger, what: str, effect: str) -> None:
        self.log, self.what, self.effect = log, what, effect
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def ongoing(self) -> bool:
        return self._failures > 0

    def failed(self, exc: BaseException) -> None:
        """Count a failure; the first of an outage is logged (with `effect`)."""
        with self._lock:
            self._failures += 1
            first = self._failures == 1
        if first:
            self.log.warning(
                "%s unavailable (%s): %s until it answers again",
                self.what,
                reason(exc),
                self.effect,
            )

    def answered(self) -> None:
        """The store answered: an outage, if one was going on, is over."""
        if not self._failures:  # the common case, without the lock
            return
        with self._lock:
            failures, self._failures = self._failures, 0
        if failures:
            self.log.warning(
                "%s answers again after %d failed attempts", self.what, failures
            )
