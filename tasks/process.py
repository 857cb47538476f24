"""The `process` task: run a conversation's pending inbox through the bot."""

from __future__ import annotations

from celery import Celery, Task

from tasks.names import PROCESS


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
    def process(self: Task, conversation_id: int) -> int:
        """Idempotent: handled rows are done; a second run finds nothing pending."""
        return int(app.zoozl.processor().process(int(conversation_id)))

    return process
