"""The in-process memory:// broker in tests: drain its queue, run a worker thread."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery

from tasks.names import QUEUE


def drain(celery: Celery) -> list[tuple[str, list[Any]]]:
    """Take every task message off the zoozl queue: (task name, args).

    memory:// queues are global to the process, so tests drain what earlier
    tests left before they start a worker or count rung tasks.
    """
    found = []
    with celery.connection_for_read() as conn:
        queue = conn.SimpleQueue(QUEUE)
        while True:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                break
            found.append((message.headers["task"], message.payload[0]))
            message.ack()
        queue.close()
    return found


@contextmanager
def running_worker(celery: Celery, threads: int = 2) -> Iterator[None]:
    """A Celery worker in a thread, as embedded mode runs it (threads pool)."""
    drain(celery)
    # As zoozl.__main__ does: the threads pool looks tasks up in the default app.
    celery.set_default()
    worker = celery.WorkController(
        pool_cls="threads",
        concurrency=threads,
        hostname=f"zoozl-test-{uuid.uuid4().hex[:8]}@localhost",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel=logging.WARNING,
    )
    thread = threading.Thread(target=worker.start, name="test-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop(in_sighandler=False)
        thread.join(10)
        drain(celery)
