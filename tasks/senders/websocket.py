"""Websocket replies: tell the web process holding the session that replies wait."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.names import web_topic
from zoozl.store import OutboxRow

if TYPE_CHECKING:
    from tasks.runtime import Runtime


class WebsocketSender:
    """Publishes a notice; the web process sends the frames and marks the row sent.

    A row whose session is gone stays pending; the talker's next connection
    flushes it, on whichever web process it lands.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def send(self, row: OutboxRow) -> None:
        web = row.route.get("web")
        if web:
            notice = {"conversation_id": row.conversation_id, "outbox_id": row.id}
            self.runtime.bus.publish(web_topic(web), notice)
        self.runtime.store.mark_attempt(row.id, "waiting for the websocket session")
