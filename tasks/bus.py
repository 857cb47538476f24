"""The reply buses: workers publish "replies are ready" to the web process of a session.

In embedded mode it is the in-process LocalBus; in scaled mode Redis pub/sub
(tasks/redisbus.py), one topic per web process. A lost notice loses no reply:
the outbox keeps the row pending, the sweep publishes it again and a
reconnecting talker flushes it.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from typing import Any

from tasks.contract import Handler, ReplyBus

log = logging.getLogger(__name__)


class LocalBus:
    """In-process bus for embedded mode: publish calls the handlers directly."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    def publish(self, topic: str, notice: dict[str, Any]) -> None:
        with self._lock:
            handlers = list(self._handlers.get(topic, ()))
        for handler in handlers:
            try:
                handler(notice)
            except Exception:
                log.exception("reply bus handler for %s failed", topic)

    def subscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._handlers.setdefault(topic, []).append(handler)

    def topics(self, pattern: str) -> list[str]:
        with self._lock:
            return [t for t in self._handlers if fnmatch.fnmatchcase(t, pattern)]

    def close(self) -> None:
        with self._lock:
            self._handlers.clear()


def make_bus(url: str) -> ReplyBus:
    """A RedisBus for redis:// URLs, else the in-process LocalBus."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from tasks.redisbus import RedisBus  # embedded mode never loads redis

        return RedisBus(url)
    return LocalBus()
