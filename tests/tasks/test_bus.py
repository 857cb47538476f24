"""The reply buses: in-process for embedded mode, Redis pub/sub for scaled mode."""

from __future__ import annotations

import threading
import time

from tasks.websocket import LocalBus, RedisBus, make_bus

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
