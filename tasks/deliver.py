"""The `deliver` task: send an outbox row on its channel, retried with backoff."""

from __future__ import annotations

from celery import Celery, Task

from tasks.contract import DELIVER
from tasks.delivery import MAX_RETRIES, deliver_row


def register(app: Celery) -> Task:
    """Register `zoozl.deliver` on `app`."""

    @app.task(  # shared=False: see tasks/process.py
        name=DELIVER,
        shared=False,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=MAX_RETRIES,
    )
    def deliver(self: Task, outbox_id: int) -> None:
        wait = deliver_row(app.zoozl, int(outbox_id), self.request.retries)
        if wait is not None:
            raise self.retry(countdown=wait)

    return deliver
