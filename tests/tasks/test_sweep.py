"""The sweep: re-ring `process` for stalled conversations, re-publish notices of
pending websocket replies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks.app import CeleryDispatch, create_celery
from tasks.contract import PROCESS
from tasks.sweep import (
    BACKLOG_WAIT,
    RERING_WAITS,
    STALL_AFTER,
    SWEEP_INTERVAL,
    WEBSOCKET_RENOTIFY_WAITS,
    Sweeper,
)
from tasks.websocket import LocalBus, WebsocketNotifier
from testbed.bots import bot_config
from testbed.ports import free_port
from tests.memorybroker import drain
from tests.zoozl.stores import Clock, answered
from zoozl.channels.websocket import Notice, web_topic
from zoozl.plugin import Message
from zoozl.store import Store
from zoozl.store.database import make_engine
from zoozl.store.schema import create_schema


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def notices() -> list[Notice]:
    return []


@pytest.fixture
def swept(tmp_path, clock, notices) -> Iterator[tuple[Sweeper, Store]]:
    """A sweeper ringing tasks on memory://, publishing notices on an
    in-process bus that one web process listens on, over a store on a still
    clock."""
    config = bot_config(tmp_path)
    store = Store(make_engine(config.database_url), clock=clock)
    create_schema(store.engine)
    celery = create_celery(config)
    drain(celery)
    bus = LocalBus()
    bus.subscribe(web_topic("web-1"), notices.append)
    yield Sweeper(CeleryDispatch(celery), store, WebsocketNotifier(bus, store)), store
    drain(celery)
    store.close()


def rung(sweeper: Sweeper) -> list[tuple[str, list]]:
    dispatch = sweeper.dispatch
    assert isinstance(dispatch, CeleryDispatch)
    return drain(dispatch.app)


def test_a_stalled_conversation_is_rung_again(swept, clock):
    sweeper, store = swept
    cid = store.conversation_for("websocket", "ann")
    store.record(cid, Message("hi"))
    assert sweeper.sweep() == (0, 0)  # fresh: its task may still be on its way
    clock.advance(STALL_AFTER + 1)
    assert sweeper.sweep() == (1, 0)
    assert rung(sweeper) == [(PROCESS, [cid])]


def test_a_leased_conversation_is_left_to_its_worker(swept, clock):
    sweeper, store = swept
    cid = store.conversation_for("websocket", "ann")
    store.record(cid, Message("hi"))
    assert store.claim(cid, "worker", STALL_AFTER * 10) is not None
    clock.advance(STALL_AFTER + 1)
    assert sweeper.sweep() == (0, 0)
    assert rung(sweeper) == []


def test_a_stale_websocket_reply_is_notified_again(swept, clock, notices):
    sweeper, store = swept
    cid = store.conversation_for("websocket", "ann")
    outbox_id = answered(store, cid, Message("hi"), [Message("hello")])
    assert sweeper.sweep() == (0, 0)
    clock.advance(WEBSOCKET_RENOTIFY_WAITS[0] + 1)
    assert sweeper.sweep() == (0, 1)
    assert notices == [{"conversation_id": cid, "outbox_id": outbox_id}]
    assert rung(sweeper) == []  # no task: the sweep publishes itself


def pending_conversations(store: Store, count: int) -> list[int]:
    ids = [store.conversation_for("websocket", f"talker-{n}") for n in range(count)]
    for cid in ids:
        store.record(cid, Message("hi"))
    return ids


def passes(sweeper: Sweeper, clock: Clock, seconds: float) -> list[int]:
    """Sweep every SWEEP_INTERVAL for `seconds`; the conversations rung, in order."""
    rung_ids: list[int] = []
    for _ in range(round(seconds / SWEEP_INTERVAL)):
        clock.advance(SWEEP_INTERVAL)
        sweeper.sweep()
        rung_ids += [args[0] for _, args in rung(sweeper)]
    return rung_ids


def test_a_backlog_is_rung_once_per_growing_wait_not_once_per_pass(swept, clock):
    """Nobody consumes: each stalled conversation is rung once, then again only
    after the wait, and the next wait is longer (issue 22: 10,000 greetings
    waiting became 52,962 `process` tasks, one per conversation per pass)."""
    sweeper, store = swept
    ids = pending_conversations(store, 20)
    first, second = RERING_WAITS[:2]
    assert sorted(passes(sweeper, clock, STALL_AFTER + first - SWEEP_INTERVAL)) == ids
    assert sorted(passes(sweeper, clock, 2 * SWEEP_INTERVAL)) == ids  # first wait
    assert passes(sweeper, clock, second - 2 * SWEEP_INTERVAL) == []
    assert sorted(passes(sweeper, clock, 2 * SWEEP_INTERVAL)) == ids  # second wait


def test_while_rings_are_queued_the_sweep_waits_longer(swept, clock):
    """A backlog in the broker's queue: the conversations' rings are there, the
    sweep adds none until they have waited BACKLOG_WAIT (issue 22, scaled)."""
    sweeper, store = swept
    queued = pending_conversations(store, 3)
    for cid in queued:
        sweeper.dispatch.process(cid)  # what the ingress rang; nobody consumes
    clock.advance(STALL_AFTER + 1)
    assert sweeper.sweep() == (0, 0)
    clock.advance(BACKLOG_WAIT - STALL_AFTER - 2)
    assert sweeper.sweep() == (0, 0)
    clock.advance(2)
    assert sweeper.sweep() == (3, 0)  # lost under a lasting backlog: rung anyway
    assert sorted(args[0] for _, args in rung(sweeper)) == sorted(queued * 2)


def test_with_rings_queued_a_lease_left_to_expire_is_rung_as_usual(swept, clock):
    """A worker took the ring and died (its lease expired unreleased): that
    ring is not in the queue, whatever else is."""
    sweeper, store = swept
    abandoned, queued = pending_conversations(store, 2)
    sweeper.dispatch.process(queued)  # a backlog nobody consumes
    assert store.claim(abandoned, "worker", 3.0) is not None  # then killed
    clock.advance(STALL_AFTER + 1)
    assert sweeper.sweep() == (1, 0)
    assert sorted(args[0] for _, args in rung(sweeper)) == [abandoned, queued]


def test_the_longest_wait_repeats(swept, clock):
    sweeper, store = swept
    [cid] = pending_conversations(store, 1)
    rings = passes(sweeper, clock, STALL_AFTER + sum(RERING_WAITS) + SWEEP_INTERVAL)
    assert rings == [cid] * (len(RERING_WAITS) + 1)
    assert passes(sweeper, clock, RERING_WAITS[-1] - 2 * SWEEP_INTERVAL) == []
    assert passes(sweeper, clock, 2 * SWEEP_INTERVAL) == [cid]


def test_a_worker_taking_the_conversation_starts_the_waits_over(swept, clock):
    """A worker took the ring and died before finishing: once its lease
    expires the conversation is rung at the next pass, not after a wait."""
    sweeper, store = swept
    [cid] = pending_conversations(store, 1)
    assert passes(sweeper, clock, STALL_AFTER + SWEEP_INTERVAL) == [cid]
    lease_seconds = 3.0
    assert store.claim(cid, "worker", lease_seconds) is not None
    assert passes(sweeper, clock, 2 * SWEEP_INTERVAL) == [cid]  # lease expired


def test_sweepers_sharing_a_store_ring_each_conversation_once(swept, clock):
    sweeper, store = swept
    other = Sweeper(sweeper.dispatch, store, sweeper.notifier)
    ids = pending_conversations(store, 5)
    clock.advance(STALL_AFTER + 1)
    assert sweeper.sweep() == (5, 0)
    assert other.sweep() == (0, 0)
    assert sorted(args[0] for _, args in rung(sweeper)) == ids


def test_a_ring_the_broker_refused_is_rung_at_the_next_pass(tmp_path, clock):
    """The broker is down: the ring did not leave, so no wait applies to it."""
    config = bot_config(tmp_path, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    store = Store(make_engine(config.database_url), clock=clock)
    create_schema(store.engine)
    notifier = WebsocketNotifier(LocalBus(), store)
    down = Sweeper(CeleryDispatch(create_celery(config)), store, notifier)
    [cid] = pending_conversations(store, 1)
    clock.advance(STALL_AFTER + 1)
    assert down.sweep() == (1, 0)
    assert store.ring_stalled(STALL_AFTER, RERING_WAITS) == [cid]  # due again
    store.close()


def test_a_pending_websocket_reply_is_notified_again_after_growing_waits(
    swept, clock, notices
):
    """A web process behind a backlog is not sent a notice per row every pass;
    after the last notice the row waits for the talker's next connection."""
    sweeper, store = swept
    cid = store.conversation_for("websocket", "ann")
    answered(store, cid, Message("hi"), [Message("hello")])
    for times, wait in enumerate(WEBSOCKET_RENOTIFY_WAITS, 1):
        clock.advance(wait - 0.5)
        sweeper.sweep()
        assert len(notices) == times - 1  # not yet: the wait grew
        clock.advance(1.0)
        sweeper.sweep()
        assert len(notices) == times
    clock.advance(max(WEBSOCKET_RENOTIFY_WAITS) * 10)
    sweeper.sweep()
    assert len(notices) == len(WEBSOCKET_RENOTIFY_WAITS)


def test_one_notice_per_conversation_however_many_rows_wait(swept, clock, notices):
    sweeper, store = swept
    ann = store.conversation_for("websocket", "ann")
    bob = store.conversation_for("websocket", "bob")
    answered(store, ann, Message("hi"), [Message("hello")])
    latest = answered(store, ann, Message("again"), [Message("hello again")])
    only = answered(store, bob, Message("hi"), [Message("hello")])
    clock.advance(WEBSOCKET_RENOTIFY_WAITS[0] + 1)
    assert sweeper.sweep() == (0, 3)  # three rows counted
    assert sorted(n["outbox_id"] for n in notices) == sorted([latest, only])
    clock.advance(WEBSOCKET_RENOTIFY_WAITS[0] + 1)
    sweeper.sweep()
    assert len(notices) == 2  # each row counted once: the next wait is longer
