"""RabbitMQ beside Celery's tasks: the reply bus on a topic exchange, and readiness.

A deployment whose `broker_url` is `amqp://` needs no Redis: the reply bus runs on
the same RabbitMQ (kombu, like Celery's own tasks), and /readyz asks RabbitMQ
whether some worker consumes the task queue instead of reading Redis heartbeats.

The bus: one durable topic exchange, `zoozl.replies`. Each subscribing process
(a web process) declares one exclusive, auto-delete queue, which RabbitMQ drops
when the process's connection ends, bound with the routing key of each topic it
subscribes to (`zoozl:web:<id>`) and with the broadcast key of that topic family
(`zoozl:web:*`, a literal key: the topic exchange's wildcards are whole words
between dots, which these keys do not have). A worker publishes a notice with
the web process's topic as routing key; the sweep publishes it once with the
broadcast key, which reaches every web process. A notice published while no
queue is bound is dropped, as on Redis pub/sub: the outbox row stays pending.
"""

# kombu has no type hints: its calls are untyped.
# mypy: allow-untyped-calls

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue, binding
from kombu.exceptions import OperationalError
from kombu.message import Message

from tasks.contract import Handler
from tasks.websocket import Handlers
from zoozl.channels.websocket import Notice

log = logging.getLogger(__name__)

EXCHANGE = Exchange("zoozl.replies", type="topic", durable=True)
#: Seconds between AMQP heartbeats of the bus's connections: a cut link is
#: noticed within about two of them (py-amqp checks at twice the rate).
HEARTBEAT_SECONDS = 10
CONNECT_TIMEOUT = 5
#: Publishing gives up after this many reconnections, at once (a worker must not
#: wait on a broker outage: the sweep publishes the notice again).
PUBLISH_RETRIES = 1


def is_amqp(url: str) -> bool:
    """Whether a broker URL names RabbitMQ (kombu's py-amqp transport)."""
    return url.startswith(("amqp://", "amqps://", "pyamqp://"))


def _connection(url: str, heartbeat: int = HEARTBEAT_SECONDS) -> Connection:
    """A connection whose every implicit (re)connection tries once, at once."""
    return Connection(
        url,
        heartbeat=heartbeat,
        connect_timeout=CONNECT_TIMEOUT,
        transport_options={"max_retries": 1, "interval_start": 0},
    )


def broadcast_key(topic: str) -> str:
    """The key that reaches every subscriber of `topic`'s family: the part after
    its last ':' made '*' (`zoozl:web:a1` -> `zoozl:web:*`)."""
    head, _, _ = topic.rpartition(":")
    return f"{head}:*" if head else "*"


class AmqpBus:
    """The reply bus on RabbitMQ; the listener thread reconnects after an outage.

    `on_reconnect` runs after every reconnection, because notices published
    while the queue was gone were dropped: the web process flushes then.
    """

    def __init__(
        self, url: str, on_reconnect: Callable[[], None] = lambda: None
    ) -> None:
        self.url = url
        self.on_reconnect = on_reconnect
        self._handlers = Handlers()
        self._publisher: Connection | None = None
        self._publish_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bound = threading.Event()

    # publishing -------------------------------------------------------------

    def publish(self, topic: str, notice: Notice) -> None:
        """Publish on `topic`; raises when RabbitMQ stays unreachable."""
        self._publish(topic, notice)

    def broadcast(self, pattern: str, notice: Notice) -> None:
        """Publish to every subscriber of the topic family `pattern` (`x:y:*`)."""
        self._publish(pattern, notice)

    def _publish(self, routing_key: str, notice: Notice) -> None:
        with self._publish_lock:
            if self._publisher is None:
                # No heartbeats: nobody would answer them between publishes,
                # and RabbitMQ would close an idle publisher; a publish on a
                # dead connection fails and reconnects (`ensure`).
                self._publisher = _connection(self.url, heartbeat=0)
            connection = self._publisher
            try:
                producer = connection.Producer(serializer="json")
                publish = connection.ensure(
                    producer,
                    producer.publish,
                    max_retries=PUBLISH_RETRIES,
                    interval_start=0,
                )
                publish(notice, exchange=EXCHANGE, routing_key=routing_key)
            except (OperationalError, *connection.connection_errors):
                self._drop_publisher()
                raise

    def _drop_publisher(self) -> None:
        if self._publisher is not None:
            self._publisher.release()
            self._publisher = None

    # subscribing ------------------------------------------------------------

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers.add(topic, handler)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._listen, name="zoozl-bus", daemon=True
            )
            self._thread.start()

    def topics(self, pattern: str) -> list[str]:
        """The topics this process listens on (RabbitMQ lists no one else's)."""
        return self._handlers.matching(pattern)

    def wait_bound(self, timeout: float) -> bool:
        """Whether the queue is bound (tests: a notice published now arrives)."""
        return self._bound.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._publish_lock:
            self._drop_publisher()

    def _listen(self) -> None:
        connected_before = False
        while not self._stop.is_set():
            connection = _connection(self.url)
            try:
                self._listen_once(connection, connected_before)
            except (OperationalError, *connection.connection_errors) as exc:
                log.warning("reply bus lost RabbitMQ (%s); reconnecting", exc)
                time.sleep(0.5)
            except Exception:  # a channel error: the listener must live on
                log.exception("reply bus listener failed; reconnecting")
                time.sleep(0.5)
            finally:
                self._bound.clear()
                with contextlib.suppress(Exception):
                    connection.release()
            connected_before = True

    def _queue(self) -> Queue:
        """A queue of this connection's own: after a cut link RabbitMQ may keep
        the last one (exclusive to the old connection) until it notices."""
        topics = self._handlers.topics()
        keys = sorted({*topics, *(broadcast_key(t) for t in topics)})
        bindings = [binding(EXCHANGE, routing_key=key) for key in keys]
        return Queue(
            f"zoozl.replies.{socket.gethostname()}.{uuid.uuid4().hex}",
            bindings=bindings,
            exclusive=True,
            auto_delete=True,
            durable=False,
        )

    def _listen_once(self, connection: Connection, reconnecting: bool) -> None:
        connection.ensure_connection(max_retries=1)
        queue = self._queue()
        with connection.Consumer(
            [queue], callbacks=[self._dispatch], accept=["json"], no_ack=True
        ):
            self._bound.set()
            if reconnecting:
                log.info("reply bus reconnected to RabbitMQ")
                self.on_reconnect()
            while not self._stop.is_set():
                try:
                    connection.drain_events(timeout=1.0)
                except TimeoutError:
                    connection.heartbeat_check()
                if set(self._handlers.topics()) != self._topics_bound(queue):
                    return  # a topic was added: bind it (a fresh consumer)

    @staticmethod
    def _topics_bound(queue: Queue) -> set[str]:
        keys = {binding.routing_key for binding in queue.bindings}
        return {key for key in keys if not key.endswith("*")}

    def _dispatch(self, body: Any, message: Message) -> None:
        topic = message.delivery_info.get("routing_key", "")
        if not isinstance(body, dict):
            log.warning("reply bus notice on %s is not an object; dropped", topic)
            return
        if topic.endswith("*"):
            for own in self._handlers.matching(topic):
                self._handlers.call(own, body)
        else:
            self._handlers.call(topic, body)


# readiness ------------------------------------------------------------------


def broker_problem(url: str) -> str | None:
    """None when RabbitMQ accepts a connection (raises otherwise)."""
    with _connection(url, heartbeat=0) as connection:
        connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
    return None


def worker_problem(url: str, queue: str) -> str | None:
    """None when some worker consumes the task queue.

    A Celery worker consumes only once its plugins and model are loaded (they
    load in `worker_init`, before the consumer starts), so a consumer is a
    worker that can answer; RabbitMQ drops it when the worker's connection ends.
    """
    with _connection(url, heartbeat=0) as connection:
        channel = connection.channel()
        try:
            _, _, consumers = channel.queue_declare(queue, passive=True)
        except connection.channel_errors:  # no such queue: no worker ever came
            consumers = 0
    if consumers:
        return None
    return f"no worker consumes the queue {queue!r}"
