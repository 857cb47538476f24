"""The task tests' worker: a Celery app on memory://, a real store, the pong bot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from tasks.app import build_worker_app
from tasks.websocket import LocalBus
from testbed.bots import bot_config
from tests.memorybroker import drain
from zoozl.conversation.engine import Bot
from zoozl.store import Store


@pytest.fixture
def pong_worker(tmp_path) -> Iterator[Celery]:
    """A worker app whose bot echoes every message (pong); its queue drained."""
    config = bot_config(tmp_path, extensions=["zoozl.plugins.pong"])
    store = Store.from_url(config.database_url)
    app = build_worker_app(config, store=store, bus=LocalBus(), bot=Bot(config))
    drain(app)  # leftovers of other tests on the shared memory://
    yield app
    drain(app)
    store.close()
