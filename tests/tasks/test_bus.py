"""The reply buses: in-process for embedded mode, Redis pub/sub or RabbitMQ for scaled
mode."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tasks.amqp import AmqpBus, broadcast_key, worker_problem
from tasks.buses import make_bus
from tasks.websocket import LocalBus, RedisBus

NOTICE = {"conversation_id": 1, "outbox_id": 2}


def test_local_bus_calls_the_handlers_of_the_topic_only():
    bus = LocalBus()
    heard: list[tuple[str, dict]] = []
    bus.subscribe("zoozl:web:a", lambda n: heard.append(("a", n)))
    bus.subscribe("zoozl:web:b", lambda n: heard.append(("b", n)))
    bus.publish("zoozl:web:a", NOTICE)
    assert heard == [("a", NOTICE)]
    assert sorted(bus.topics("zoozl:web:*")) == ["zoozl:web:a", "zoozl:web:b"]


def test_a_failing_handler_does_not_stop_the_others(caplog):
    bus = LocalBus()
    heard: list[dict] = []

    def broken(notice: dict) -> None:
        raise ValueError("broken handler")

    bus.subscribe("t", broken)
    bus.subscribe("t", heard.append)
    bus.publish("t", NOTICE)
    assert heard == [NOTICE]
    assert "reply bus handler for t failed" in caplog.text


def test_a_closed_local_bus_has_no_topics():
    bus = LocalBus()
    bus.subscribe("t", lambda n: None)
    bus.close()
    assert bus.topics("*") == []


def test_redis_bus_delivers_a_notice_to_the_subscriber(redis_url):
    bus = RedisBus(redis_url)
    heard: list[dict] = []
    arrived = threading.Event()
    bus.subscribe("zoozl:web:test", lambda n: (heard.append(n), arrived.set()))
    try:
        deadline = time.monotonic() + 10
        while not bus.topics("zoozl:web:*"):  # the listener has subscribed
            assert time.monotonic() < deadline, "never subscribed"
            time.sleep(0.05)
        assert bus.topics("zoozl:web:*") == ["zoozl:web:test"]
        bus.publish("zoozl:web:test", NOTICE)
        assert arrived.wait(10)
        assert heard == [NOTICE]
    finally:
        bus.close()


def test_make_bus_picks_redis_for_redis_urls(redis_url):
    assert isinstance(make_bus("memory://"), LocalBus)
    bus = make_bus(redis_url)
    try:
        assert isinstance(bus, RedisBus)
    finally:
        bus.close()


def test_broadcast_reaches_every_topic_of_the_family():
    bus = LocalBus()
    heard: list[str] = []
    bus.subscribe("zoozl:web:a", lambda n: heard.append("a"))
    bus.subscribe("zoozl:web:b", lambda n: heard.append("b"))
    bus.subscribe("other", lambda n: heard.append("other"))
    bus.broadcast("zoozl:web:*", NOTICE)
    assert sorted(heard) == ["a", "b"]


def test_the_broadcast_key_of_a_topic():
    assert broadcast_key("zoozl:web:a1b2") == "zoozl:web:*"
    assert broadcast_key("plain") == "*"


def listening(url: str, topic: str) -> tuple[AmqpBus, list[dict], threading.Event]:
    bus = AmqpBus(url)
    heard: list[dict] = []
    arrived = threading.Event()
    bus.subscribe(topic, lambda n: (heard.append(n), arrived.set()))
    assert bus.wait_bound(10), "the bus never bound its queue"
    return bus, heard, arrived


def test_amqp_bus_routes_a_notice_to_its_topic_only(amqp_url):
    a, heard_a, arrived_a = listening(amqp_url, "zoozl:web:a")
    b, heard_b, _ = listening(amqp_url, "zoozl:web:b")
    worker = AmqpBus(amqp_url)
    try:
        worker.publish("zoozl:web:a", NOTICE)
        assert arrived_a.wait(10)
        worker.publish("zoozl:web:nobody", NOTICE)  # dropped, raises nothing
        time.sleep(0.5)
        assert heard_a == [NOTICE]
        assert heard_b == []
    finally:
        for bus in (a, b, worker):
            bus.close()


def test_amqp_broadcast_reaches_every_web_process(amqp_url):
    a, heard_a, arrived_a = listening(amqp_url, "zoozl:web:a")
    b, heard_b, arrived_b = listening(amqp_url, "zoozl:web:b")
    worker = make_bus(amqp_url)
    try:
        assert isinstance(worker, AmqpBus)
        worker.broadcast("zoozl:web:*", NOTICE)
        assert arrived_a.wait(10) and arrived_b.wait(10)
        assert heard_a == heard_b == [NOTICE]
        assert a.topics("zoozl:web:*") == ["zoozl:web:a"]  # its own, nobody else's
    finally:
        for bus in (a, b, worker):
            bus.close()


def test_amqp_bus_binds_a_topic_added_later(amqp_url):
    bus, _, _ = listening(amqp_url, "zoozl:web:first")
    later = threading.Event()
    bus.subscribe("zoozl:web:second", lambda n: later.set())
    try:
        deadline = time.monotonic() + 10
        while not later.is_set():  # rebinding takes up to a second
            assert time.monotonic() < deadline, "the second topic was never bound"
            bus.publish("zoozl:web:second", NOTICE)
            later.wait(0.3)
    finally:
        bus.close()


def test_amqp_bus_not_json_object_is_dropped_and_the_bus_lives(amqp_url, caplog):
    bus, heard, arrived = listening(amqp_url, "zoozl:web:a")
    try:
        bus._publish("zoozl:web:a", ["not", "an", "object"])  # type: ignore[arg-type]
        bus.publish("zoozl:web:a", NOTICE)
        assert arrived.wait(10)
        assert heard == [NOTICE]
        assert "not an object; dropped" in caplog.text
    finally:
        bus.close()


def test_publishing_to_an_unreachable_rabbitmq_raises():
    bus = AmqpBus("amqp://guest:guest@127.0.0.1:1//")
    try:
        with pytest.raises(Exception):  # kombu raises several kinds
            bus.publish("zoozl:web:a", NOTICE)
    finally:
        bus.close()


def test_worker_readiness_is_a_consumer_of_the_task_queue(amqp_url):
    from kombu.connection import Connection

    assert "no worker" in worker_problem(amqp_url, "zoozl-test")
    with Connection(amqp_url) as connection:
        queue = connection.SimpleQueue("zoozl-test")
        assert "no worker" in worker_problem(amqp_url, "zoozl-test")
        consumer = queue.consumer
        consumer.consume()
        assert worker_problem(amqp_url, "zoozl-test") is None
        queue.close()
    assert "no worker" in worker_problem(amqp_url, "zoozl-test")


def test_amqp_bus_rebinds_and_flushes_after_rabbitmq_drops_it(amqp_url):
    """A dropped connection: the listener binds a fresh queue, calls on_reconnect
    (the web process flushes), and hears the next notice."""
    bus, heard, _ = listening(amqp_url, "zoozl:web:a")
    reconnected = threading.Event()
    bus.on_reconnect = reconnected.set
    vhost = amqp_url.rsplit("/", 1)[1]
    try:
        subprocess.run(
            ["rabbitmqctl", "close_all_connections", "--vhost", vhost, "test"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        assert reconnected.wait(15), "the listener never reconnected"
        assert bus.wait_bound(10)
        bus.publish("zoozl:web:a", NOTICE)  # the publisher was dropped too
        deadline = time.monotonic() + 10
        while heard != [NOTICE]:
            assert time.monotonic() < deadline, heard
            time.sleep(0.05)
    finally:
        bus.close()
