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
    flushes it, on whichever web process it lands. A talker who reconnected
    before the reply was committed may sit on another web process than the one
    the message came through: a repeated notice (the sweep's) goes to every web
    process, and the one holding a session sends it.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def send(self, row: OutboxRow) -> None:
        web = row.route.get("web")
        topics = [web_topic(web)] if web else []
        if row.attempts > 0:
            bus = self.runtime.bus
            topics += [t for t in bus.topics(web_topic("*")) if t not in topics]
        notice = {"conversation_id": row.conversation_id, "outbox_id": row.id}
        for topic in topics:
            self.runtime.bus.publish(topic, notice)
        self.runtime.store.mark_attempt(row.id, "waiting for the websocket session")
