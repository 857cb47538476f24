"""The websocket channel's outbound side: the reply bus, on which a worker tells the
web process holding a session that replies wait (the API channel's replies take the
same way), and the notifier that publishes on it.

The web process sends the frames and marks the row sent (ingress/websocket/
sockets.py). The bus is in-process (`LocalBus`) in embedded mode; in scaled mode
Redis pub/sub (`RedisBus`) or, with an `amqp://` broker, a RabbitMQ exchange
(`tasks.amqp.AmqpBus`); one topic per web process
(`zoozl.channels.websocket.web_topic`).
A lost notice loses no reply: the outbox keeps the row pending, the sweep
publishes it again, and the talker's next connection flushes it, on whichever web
process it lands.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from tasks.contract import Handler, ReplyBus
from zoozl.channels.websocket import Notice, notice, web_of, web_topic
from zoozl.plugin import Message
from zoozl.store import OutboxRow, Store
from zoozl.store.outage import Outage, is_unavailable

log = logging.getLogger(__name__)


class Handlers:
    """Handlers by topic; a failing handler is logged and the others still run
    (a store outage once, not once per notice: the sweep publishes them again)."""

    def __init__(self) -> None:
        self._by_topic: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()
        self._outage = Outage(log, "the store", "reply notices wait for the sweep")
        self._failing = False  # set by a store failure, until a handler succeeds

    def add(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._by_topic.setdefault(topic, []).append(handler)

    def topics(self) -> list[str]:
        with self._lock:
            return list(self._by_topic)

    def matching(self, pattern: str) -> list[str]:
        """The topics that match a glob `pattern`."""
        return [t for t in self.topics() if fnmatch.fnmatchcase(t, pattern)]

    def call(self, topic: str, notice: Notice) -> None:
        with self._lock:
            handlers = list(self._by_topic.get(topic, ()))
        for handler in handlers:
            try:
                handler(notice)
            except Exception as exc:
                if is_unavailable(exc):
                    self._failing = True
                    self._outage.failed(exc)
                else:
                    log.exception("reply bus handler for %s failed", topic)
            else:
                if self._failing:  # most notices: no call, nothing to end
                    self._failing = False
                    self._outage.answered()

    def clear(self) -> None:
        with self._lock:
            self._by_topic.clear()


class LocalBus:
    """In-process bus for embedded mode: publish calls the handlers directly."""

    def __init__(self) -> None:
        self._handlers = Handlers()

    def publish(self, topic: str, notice: Notice) -> None:
        self._handlers.call(topic, notice)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers.add(topic, handler)

    def topics(self, pattern: str) -> list[str]:
        return self._handlers.matching(pattern)

    def broadcast(self, pattern: str, notice: Notice) -> None:
        for topic in self.topics(pattern):
            self.publish(topic, notice)

    def close(self) -> None:
        self._handlers.clear()


class RedisBus:
    """Redis pub/sub bus; the listener thread reconnects after Redis restarts.

    `on_reconnect` runs after every reconnection, because notices published
    while the connection was down are gone: the web process flushes then.
    """

    def __init__(
        self, url: str, on_reconnect: Callable[[], None] = lambda: None
    ) -> None:
        import redis  # only scaled mode loads redis

        self._redis = redis
        self.url = url
        self.on_reconnect = on_reconnect
        self._client = redis.Redis.from_url(url, socket_timeout=5)
        self._handlers = Handlers()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, topic: str, notice: Notice) -> None:
        self._client.publish(topic, json.dumps(notice))

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers.add(topic, handler)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._listen, name="zoozl-bus", daemon=True
            )
            self._thread.start()

    def topics(self, pattern: str) -> list[str]:
        """PUBSUB CHANNELS: the topics some process is subscribed to now."""
        found = self._client.pubsub_channels(pattern)
        return sorted(t.decode() if isinstance(t, bytes) else t for t in found)

    def broadcast(self, pattern: str, notice: Notice) -> None:
        """Publish on every topic matching `pattern` that someone listens on."""
        for topic in self.topics(pattern):
            self.publish(topic, notice)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._client.close()

    def _listen(self) -> None:
        lost = (self._redis.ConnectionError, self._redis.TimeoutError, OSError)
        connected_before = False
        while not self._stop.is_set():
            try:
                self._listen_once(connected_before)
            except lost as exc:
                log.warning("reply bus lost Redis (%s); reconnecting", exc)
                time.sleep(0.5)
            connected_before = True

    def _listen_once(self, reconnecting: bool) -> None:
        client = self._redis.Redis.from_url(self.url, socket_timeout=5)
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(*self._handlers.topics())
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
        try:
            notice = json.loads(message["data"])
        except ValueError:
            log.warning("reply bus notice on %s is not JSON; dropped", topic)
            return
        self._handlers.call(topic, notice)


class WebsocketNotifier:
    """Publishes "replies are ready" notices for websocket outbox rows."""

    def __init__(self, bus: ReplyBus, store: Store) -> None:
        self.bus = bus
        self.store = store

    def notify(
        self,
        conversation_id: int,
        outbox_id: int,
        reply_address: dict[str, Any],
        replies: Sequence[Message] | None = None,
    ) -> None:
        """Right after the commit: tell the web process the message came through;
        with the `replies` of a row added when no other reply of the
        conversation was pending (the web process sends them unread)."""
        web = web_of(reply_address)
        if web:
            carried = None if replies is None else [m.to_dict() for m in replies]
            found = notice(conversation_id, outbox_id, carried)
            self.bus.publish(web_topic(web), found)

    def send(self, row: OutboxRow) -> None:
        """A reply still pending after a while (the sweep): tell every web process.

        The talker may have reconnected to another web process before the
        reply was committed; the one holding a session sends it. The row
        counts the notices in `attempts`, so the sweep stops after a few.
        """
        self.renotify([(row.id, row.conversation_id)])

    def renotify(self, rows: Sequence[tuple[int, int]]) -> None:
        """`send` for many (row id, conversation id), one notice per conversation
        (a web process reads all its pending rows) and one count for all rows:
        the sweep's way, not a `deliver` task per row."""
        latest: dict[int, int] = {}
        for outbox_id, conversation_id in rows:
            latest[conversation_id] = max(outbox_id, latest.get(conversation_id, 0))
        for conversation_id, outbox_id in latest.items():
            self.bus.broadcast(web_topic("*"), notice(conversation_id, outbox_id))
        self.store.count_notices([outbox_id for outbox_id, _ in rows])
