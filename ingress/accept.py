"""Record an incoming message durably, then ring the `process` task by name."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from tasks.names import PROCESS
from zoozl.chatbot import Message
from zoozl.config import Config
from zoozl.store import Store

log = logging.getLogger(__name__)


class Acceptor:
    """The one way every channel hands a message to the workers."""

    def __init__(self, config: Config, store: Store, celery: Celery) -> None:
        self.config = config
        self.store = store
        self.celery = celery

    def conversation(self, channel: str, talker: str) -> int:
        """The id of a talker's conversation on a channel."""
        return self.store.conversation_for(channel, talker)

    def accept(
        self,
        conversation_id: int,
        message: Message,
        route: dict[str, Any] | None = None,
        kind: str = "message",
        external_id: str | None = None,
    ) -> int:
        """Commit the inbox row (raises DuplicateMessage), then ring `process`.

        Once the row is committed the message is safe: if the broker is down the
        sweep rings `process` later, so a broker error is logged, not raised.
        """
        inbox_id = self.store.record(conversation_id, message, route, kind, external_id)
        self.ring(conversation_id)
        return inbox_id

    def ring(self, conversation_id: int) -> None:
        """Ask a worker to process the conversation."""
        try:
            self.celery.send_task(PROCESS, [conversation_id])
        except Exception as exc:  # kombu raises many kinds; the sweep covers them
            log.warning("broker unavailable (%s); the sweep will process it", exc)
