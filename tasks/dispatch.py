"""Scaled mode's Dispatch: Celery tasks by name, a broker outage left to the sweep."""

from __future__ import annotations

import logging

from celery import Celery

from tasks.contract import DELIVER, PROCESS

log = logging.getLogger(__name__)


class CeleryDispatch:
    """Sends `zoozl.process` and `zoozl.deliver` tasks on a Celery app."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def process(self, conversation_id: int) -> None:
        self._send(PROCESS, conversation_id)

    def deliver(self, outbox_id: int, delay: float = 0.0) -> None:
        self._send(DELIVER, outbox_id, delay)

    def _send(self, task: str, row_id: int, delay: float = 0.0) -> None:
        try:
            self.app.send_task(task, [row_id], countdown=delay or None)
        except Exception as exc:  # kombu raises many kinds; the row is safe
            log.warning(
                "%s %s: broker unavailable (%s); the sweep rings it", task, row_id, exc
            )
