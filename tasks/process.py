"""The `process` task: handle a conversation's next pending message."""

from __future__ import annotations

import logging

from celery import Celery, Task

from tasks.contract import PROCESS
from zoozl.store.database import is_busy

log = logging.getLogger(__name__)

#: Seconds before a message that met a busy SQLite store is tried again.
BUSY_RETRY_SECONDS = 1.0


def register(app: Celery) -> Task:
    """Register `zoozl.process` on `app`."""

    # shared=False: a shared task joins every Celery app finalized later in the
    # process, and a second app would run this closure over the first app's runtime.
    @app.task(
        name=PROCESS,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        shared=False,
    )
    def process(self: Task, conversation_id: int) -> None:
        """Idempotent: a handled row is done; a second run finds nothing pending.

        One message per task; while more are pending the task rings itself
        again, behind other conversations' tasks.
        """
        runtime = app.zoozl
        try:
            more = runtime.handle(int(conversation_id))
        except Exception as exc:
            if not is_busy(exc):
                raise
            log.warning("conversation %s: store busy, retried", conversation_id)
            raise self.retry(countdown=BUSY_RETRY_SECONDS, max_retries=None) from None
        if more:
            runtime.dispatch.process(int(conversation_id))

    return process
