"""Record an incoming message durably, then ring its processing."""

from __future__ import annotations

from typing import Any

from tasks.contract import Dispatch
from zoozl.chatbot import Message
from zoozl.metrics import MESSAGES
from zoozl.store import Store


class Acceptor:
    """The one way every channel hands a message to the workers."""

    def __init__(self, store: Store, dispatch: Dispatch) -> None:
        self.store = store
        self.dispatch = dispatch

    def conversation(self, channel: str, talker: str) -> int:
        """The id of a talker's conversation on a channel."""
        return self.store.conversation_for(channel, talker)

    def accept(
        self,
        conversation_id: int,
        message: Message,
        reply_address: dict[str, Any] | None = None,
        kind: str = "message",
        external_id: str | None = None,
        channel: str = "",
    ) -> int:
        """Commit the inbox row (raises DuplicateMessage), then ring `process`.

        Once the row is committed the message is safe: the dispatch never
        raises for a broker outage, the sweep rings the conversation later.
        `channel` labels the message in `zoozl_messages_total`.
        """
        inbox_id = self.store.record(
            conversation_id, message, reply_address, kind, external_id
        )
        if kind == "message":
            MESSAGES.labels(channel or "unknown").inc()
        self.dispatch.process(conversation_id)
        return inbox_id
