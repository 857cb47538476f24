"""The reply bus of scaled mode: Redis pub/sub, one topic per web process.

The listener thread reconnects after Redis restarts; notices published while
the connection was down are gone, so the web process flushes after it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from tasks.contract import Handler

log = logging.getLogger(__name__)


class RedisBus:
    """Redis pub/sub bus; the listener thread reconnects after Redis restarts.

    `on_reconnect` runs after every reconnection, because notices published
    while the connection was down are gone: the web process flushes then.
    """

    def __init__(
        self, url: str, on_reconnect: Callable[[], None] = lambda: None
    ) -> None:
        self.url = url
        self.on_reconnect = on_reconnect
        self._client = redis.Redis.from_url(url, socket_timeout=5)
        self._handlers: dict[str, Handler] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, topic: str, notice: dict[str, Any]) -> None:
        self._client.publish(topic, json.dumps(notice))

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic] = handler
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._listen, name="zoozl-bus", daemon=True
            )
            self._thread.start()

    def topics(self, pattern: str) -> list[str]:
        """PUBSUB CHANNELS: the topics some process is subscribed to now."""
        return sorted(t.decode() for t in self._client.pubsub_channels(pattern))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._client.close()

    def _listen(self) -> None:
        connected_before = False
        while not self._stop.is_set():
            try:
                self._listen_once(connected_before)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("reply bus lost Redis (%s); reconnecting", exc)
                time.sleep(0.5)
            connected_before = True

    def _listen_once(self, reconnecting: bool) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=5)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(*self._handlers)
            if reconnecting:
                log.info("reply bus reconnected to Redis")
                self.on_reconnect()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._dispatch(message)
        finally:
            pubsub.close()
            client.close()

    def _dispatch(self, message: dict[str, Any]) -> None:
        topic = message["channel"].decode()
        handler = self._handlers.get(topic)
        if handler is None:
            return
        try:
            handler(json.loads(message["data"]))
        except Exception:
            log.exception("reply bus handler for %s failed", topic)
