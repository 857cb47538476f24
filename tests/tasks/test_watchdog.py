"""The watchdog's look at the queue, against a real Redis and a real RabbitMQ: the
ready messages of `zoozl`, none for a queue that does not exist yet, and "unknown"
(never "stalled") when the broker does not answer.

The rule itself runs in a real worker: tests/e2e/test_worker_watchdog.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from tasks.app import create_celery
from tasks.contract import PROCESS
from tasks.watchdog import QueueProbe
from testbed.ports import free_port
from zoozl.config import config_from_dict


@pytest.fixture(params=["redis", "amqp"])
def app(request: pytest.FixtureRequest) -> Iterator[Celery]:
    """The scaled-mode Celery app on a fresh Redis database or RabbitMQ vhost."""
    url = request.getfixturevalue(f"{request.param}_url")
    found = create_celery(config_from_dict({"broker_url": url}))
    yield found
    found.close()


def test_the_probe_counts_the_ready_messages_of_the_queue(app: Celery) -> None:
    probe = QueueProbe(app)
    try:
        assert probe() == 0  # no queue yet (Redis: none until a message comes)
        for conversation in range(3):
            app.send_task(PROCESS, [conversation])
        assert probe() == 3
        assert probe() == 3  # the same connection, looked at again
    finally:
        probe.close()


def test_a_broker_that_does_not_answer_is_unknown_not_empty() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = create_celery(config_from_dict({"broker_url": url}))
    probe = QueueProbe(app)
    try:
        assert probe() is None
    finally:
        probe.close()
        app.close()
