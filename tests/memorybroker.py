"""The in-process memory:// broker in tests: drain its queue, run a worker thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery

from tasks.threadpool import start_thread_worker


def drain(celery: Celery) -> list[tuple[str, list[Any]]]:
    """Take every task message off the app's queue: (task name, args)."""
    found = []
    with celery.connection_for_read() as conn:
        queue = conn.SimpleQueue(celery.conf.task_default_queue)
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
    stop = start_thread_worker(celery, threads, "test-worker")
    try:
        yield
    finally:
        stop()
        drain(celery)
