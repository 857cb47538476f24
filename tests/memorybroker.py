"""The in-process memory:// broker in tests: drain its queue, run a worker thread.

Production no longer runs a Celery worker in a thread (embedded mode dispatches
in-process); the tests of the Celery tasks still do, here.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery.concurrency.thread import ApplyResult, TaskPool


class AppThreadPool(TaskPool):
    """Celery's threads pool, handing every task the app of its worker.

    The threads pool runs a task through celery's `trace_task_ret`, which looks
    the task up in the process's *default* app unless it is given one. zoozl's
    tasks live on their own app only (`shared=False`), and one process may run
    several embedded servers (tests do), so the app is passed explicitly.
    """

    def on_apply(
        self,
        target: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Any = None,
        accept_callback: Any = None,
        **options: Any,
    ) -> ApplyResult:
        kwargs = {**(kwargs or {}), "app": self.app}
        return super().on_apply(
            target, args, kwargs, callback, accept_callback, **options
        )


def start_thread_worker(app: Any, threads: int, name: str) -> Callable[[], None]:
    """Run a worker of `app` with `threads` threads in this process; return its stop."""
    worker = app.WorkController(
        pool_cls=AppThreadPool,
        concurrency=threads,
        hostname=f"{name}-{uuid.uuid4().hex[:8]}@localhost",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel=logging.WARNING,
    )
    thread = threading.Thread(target=worker.start, name=name, daemon=True)
    thread.start()

    def stop() -> None:
        worker.stop(in_sighandler=False)
        thread.join(10)

    return stop


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
