"""Websocket replies: tell the web process holding the session that replies wait.

The web process sends the frames and marks the row sent; the notifier only
publishes on the reply bus. A row whose session is gone stays pending; the
talker's next connection flushes it, on whichever web process it lands.
"""

from __future__ import annotations

from tasks.contract import ReplyBus, web_topic
from zoozl.store import OutboxRow, Store


class WebsocketNotifier:
    """Publishes "replies are ready" notices for websocket outbox rows."""

    def __init__(self, bus: ReplyBus, store: Store) -> None:
        self.bus = bus
        self.store = store

    def notify(self, conversation_id: int, outbox_id: int, web: str | None) -> None:
        """Right after the commit: tell the web process the message came through."""
        if web:
            notice = {"conversation_id": conversation_id, "outbox_id": outbox_id}
            self.bus.publish(web_topic(web), notice)

    def send(self, row: OutboxRow) -> None:
        """A reply still pending after a while (the sweep): tell every web process.

        The talker may have reconnected to another web process before the
        reply was committed; the one holding a session sends it. The row
        counts the notices in `attempts`, so the sweep stops after a few.
        """
        web = row.reply_address.get("web")
        topics = [web_topic(web)] if web else []
        topics += [t for t in self.bus.topics(web_topic("*")) if t not in topics]
        notice = {"conversation_id": row.conversation_id, "outbox_id": row.id}
        for topic in topics:
            self.bus.publish(topic, notice)
        self.store.count_notice(row.id)
