"""The sweep: re-ring `process` for stalled conversations, `deliver` for stale rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks.app import CeleryDispatch, create_celery
from tasks.contract import DELIVER, PROCESS
from tasks.sweep import STALL_AFTER, WEBSOCKET_RENOTIFY_SECONDS, Sweeper
from testbed.bots import bot_config
from tests.memorybroker import drain
from tests.zoozl.stores import Clock, answered
from zoozl.plugin import Message
from zoozl.store import Store
from zoozl.store.database import make_engine
from zoozl.store.schema import create_schema


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def swept(tmp_path, clock) -> Iterator[tuple[Sweeper, Store]]:
    """A sweeper ringing tasks on memory://, over a store on a still clock."""
    config = bot_config(tmp_path)
    store = Store(make_engine(config.database_url), clock=clock)
    create_schema(store.engine)
    celery = create_celery(config)
    drain(celery)
    yield Sweeper(CeleryDispatch(celery), store), store
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


def test_a_stale_websocket_reply_is_rung_for_delivery(swept, clock):
    sweeper, store = swept
    cid = store.conversation_for("websocket", "ann")
    outbox_id = answered(store, cid, Message("hi"), [Message("hello")])
    assert sweeper.sweep() == (0, 0)
    clock.advance(WEBSOCKET_RENOTIFY_SECONDS + 1)
    assert sweeper.sweep() == (0, 1)
    assert rung(sweeper) == [(DELIVER, [outbox_id])]
