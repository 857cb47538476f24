"""The Redis transport of tasks/broker.py against a private Redis that goes away.

The sequence is the one Celery's consumer runs on a lost broker connection
(`collect()`, then `close()`), at the moment that killed workers (issue 23): a
channel with a BRPOP outstanding and a message not yet acknowledged.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Message, Queue
from kombu.common import ignore_errors

from tasks.app import create_celery
from tasks.broker import TRANSPORT, Transport
from testbed.procs import RedisServer, process_set
from zoozl.config import config_from_dict

TASKS = Queue("tasks", Exchange("tasks"), "tasks")
OTHER = Queue("other", Exchange("other"), "other")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with process_set(tmp_path) as procs:
        yield RedisServer(procs, tmp_path).start()


def lose_the_broker_mid_poll(
    server: RedisServer, transport: object
) -> tuple[Connection, Message]:
    """A consumer holding an unacked message, its BRPOPs outstanding when Redis
    stops; Redis comes back after Celery's `collect()`."""
    with Connection(server.url) as producer:
        producer.Producer().publish(
            {"task": 1}, exchange=TASKS.exchange, routing_key="tasks", declare=[TASKS]
        )
    connection = Connection(server.url, transport=transport)
    received: list[Message] = []
    consumer = connection.Consumer(TASKS, callbacks=[lambda _b, m: received.append(m)])
    consumer.qos(prefetch_count=2)  # room for more: a BRPOP stays outstanding
    consumer.consume()
    other = connection.channel()  # Celery's consumer has a second channel too
    connection.Consumer(OTHER, channel=other, callbacks=[lambda *_: None]).consume()
    connection.drain_events(timeout=5)
    with pytest.raises(socket.timeout):
        connection.drain_events(timeout=0.3)
    [message] = received
    assert consumer.channel._in_poll and other._in_poll  # the window of the crash
    server.stop()
    connection.collect(socket_timeout=5)
    server.start()
    return connection, message


def test_kombus_own_transport_raises_attribute_error_here(redis_server) -> None:
    """The defect, so the test below is known to exercise it."""
    connection, message = lose_the_broker_mid_poll(redis_server, None)
    with pytest.raises(AttributeError, match="hostname"):
        ignore_errors(connection, connection.close)
    with pytest.raises(AttributeError, match="hostname"):
        message.ack()


def test_a_collected_channel_fails_with_a_connection_error(redis_server) -> None:
    connection, message = lose_the_broker_mid_poll(redis_server, Transport)
    ignore_errors(connection, connection.close)  # Celery's next step: no error
    with pytest.raises(connection.connection_errors):
        message.ack()  # a task that finished after the loss: logged, not fatal


def test_the_fixed_transport_still_carries_messages(redis_server) -> None:
    with Connection(redis_server.url, transport=Transport) as connection:
        connection.Producer().publish(
            {"n": 1}, exchange=TASKS.exchange, routing_key="tasks", declare=[TASKS]
        )
        queue = connection.SimpleQueue(TASKS)
        message = queue.get(timeout=5)
        assert message.payload == {"n": 1}
        message.ack()
        queue.close()


def test_redis_urls_get_the_fixed_transport_and_rediss_keeps_its_tls() -> None:
    def connection(url: str) -> Connection:
        app = create_celery(config_from_dict({"broker_url": url}))
        return app.connection_for_write()

    plain = connection("redis://127.0.0.1:6379/0")
    assert plain.transport_cls == TRANSPORT
    assert isinstance(plain.transport, Transport)
    assert not plain.ssl
    secure = connection("rediss://127.0.0.1:6380/0")
    assert isinstance(secure.transport, Transport)
    assert secure.ssl == {"ssl_cert_reqs": ssl.CERT_NONE}  # kombu's own default
    chosen = connection("rediss://127.0.0.1:6380/0?ssl_cert_reqs=required")
    assert chosen.ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    memory = connection("memory://")
    assert not isinstance(memory.transport, Transport)


def test_a_channel_publishes_and_acks_through_one_redis_client(redis_server) -> None:
    """kombu builds a redis.Redis for each publish and ack (about 90 µs of CPU
    each with redis-py 8); the channel keeps one over its pool instead."""
    with Connection(redis_server.url, transport=Transport) as connection:
        channel = connection.channel()
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as again:
            assert first is again and first.connection_pool is channel.pool
        producer = connection.Producer(channel)
        for n in range(3):
            producer.publish(
                {"n": n}, exchange=TASKS.exchange, routing_key="tasks", declare=[TASKS]
            )
        queue = connection.SimpleQueue(TASKS)
        for n in range(3):
            message = queue.get(timeout=5)
            assert message.payload == {"n": n}
            message.ack()
        with channel.conn_or_acquire() as client:
            assert client is first
            assert client.zcard(channel.unacked_index_key) == 0  # the acks arrived
        queue.close()
