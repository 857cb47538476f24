"""The worker's watchdog with real processes: gunicorn, a Celery worker, Redis or
RabbitMQ, PostgreSQL.

A worker whose consumer stopped (here: told to stop consuming its queue, the
state Celery's reconnect bug leaves a worker in: alive, idle, its queue filling)
exits with the watchdog's status, and a fresh worker, as a supervisor starts it,
answers every message that waited, exactly once. A worker that is busy while
work waits is left alone.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tasks.app import create_celery
from tasks.contract import QUEUE
from tasks.watchdog import EXIT_STALLED
from testbed.procs import BROKERS, Scaled, scaled, wait_until
from tests.e2e.test_scaled import DONE, SLOW, connected, messages
from zoozl.config import load_config

pytestmark = pytest.mark.e2e

#: The watchdog's window in these tests (the default is 60 s).
STALL = 3
#: The log line of a worker the watchdog ended.
STOPPED = "its consumer has stopped"


def stop_consuming(setup: Scaled) -> list[dict]:
    """Celery's remote control `cancel_consumer` for the queue: the worker lives
    on and takes no more tasks. The replies of the workers that obeyed."""
    app = create_celery(load_config(setup.conf))
    try:
        return wait_until(
            lambda: app.control.cancel_consumer(QUEUE, reply=True, timeout=5),
            30,
            "the worker to stop consuming",
        )
    finally:
        app.close()


@pytest.mark.parametrize("broker", BROKERS)
def test_a_worker_whose_consumer_stopped_exits_and_a_fresh_one_answers(
    tmp_path: Path, broker: str
) -> None:
    with scaled(tmp_path, broker=broker, worker_stall_seconds=STALL) as (setup, db):
        client, conversation = connected(setup, db)
        with contextlib.closing(client):
            [reply] = stop_consuming(setup)
            assert list(reply.values()) == [{"ok": f"no longer consuming from {QUEUE}"}]
            sent = [f"hello {n}" for n in range(3)]
            for n, text in enumerate(sent):
                client.say(text, client_id=str(n))
            assert client.frames(3) == [{"ack": str(n)} for n in range(3)]

            worker = setup.workers[0]
            assert worker.wait(60) == EXIT_STALLED, worker.tail()
            assert STOPPED in worker.log()
            assert {state for _, state, _ in messages(db, conversation)} == {"pending"}

            setup.start_worker()  # what its supervisor does (systemd: Restart=always)
            assert client.texts(3, 60) == sent
            db.check_exactly_once(conversation)
            assert [text for _, _, text in messages(db, conversation)] == sent


@pytest.mark.parametrize("broker", BROKERS)
def test_a_busy_worker_with_work_waiting_is_left_alone(
    tmp_path: Path, broker: str
) -> None:
    # One slot, taken by a job longer than the watchdog's window, while another
    # talker's message waits in the queue: the worker is full, not stalled.
    config = {"worker_stall_seconds": 1, SLOW: {"seconds": STALL * 3}}
    with scaled(tmp_path, broker=broker, workers=0, **config) as (setup, db):
        worker = setup.start_worker(concurrency=1)
        slow, slow_conversation = connected(setup, db)
        other, other_conversation = connected(setup, db)
        with contextlib.closing(slow), contextlib.closing(other):
            slow.say("slow job")
            wait_until(lambda: db.lease_owner(slow_conversation), 15, "the slow job")
            other.say("hello", client_id="1")
            assert other.frames(1) == [{"ack": "1"}]

            assert slow.texts(1, 60) == [DONE]
            assert other.texts(1, 60) == ["hello"]
        assert worker.alive(), worker.tail()
        assert STOPPED not in worker.log()
        for conversation in (slow_conversation, other_conversation):
            db.check_exactly_once(conversation)
