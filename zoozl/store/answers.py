"""The answer to one inbox row, for the HTTP message API: handled yet, and replies."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from zoozl.chatbot import Message
from zoozl.store.database import reading
from zoozl.store.rows import DONE, PENDING
from zoozl.store.schema import inbox, outbox
from zoozl.store.store import Store


@dataclasses.dataclass(frozen=True)
class Answer:
    """An inbox row's state and, once it is handled, its replies."""

    inbox_id: int
    conversation_id: int
    channel: str
    handled: bool
    replies: list[Message]
    unsent: list[int]  # outbox rows still pending


def inbox_id_for(store: Store, channel: str, external_id: str) -> int | None:
    """The inbox row recorded on `channel` under a channel's own id."""
    query = sa.select(inbox.c.id).where(
        inbox.c.channel == channel, inbox.c.external_id == external_id
    )
    with reading(store.engine) as conn:
        found = conn.execute(query).scalar()
    return None if found is None else int(found)


def answer(store: Store, inbox_id: int) -> Answer | None:
    """The row's answer; None when there is no such inbox row."""
    with reading(store.engine) as conn:
        row = conn.execute(
            sa.select(inbox.c.conversation_id, inbox.c.channel, inbox.c.state).where(
                inbox.c.id == inbox_id
            )
        ).first()
        if row is None:
            return None
        if row.state != DONE:
            return Answer(inbox_id, row.conversation_id, row.channel, False, [], [])
        found = conn.execute(
            sa.select(outbox.c.id, outbox.c.replies, outbox.c.state)
            .where(outbox.c.conversation_id == row.conversation_id)
            .where(outbox.c.inbox_id == inbox_id)
            .order_by(outbox.c.id)
        ).all()
    replies = [Message.from_dict(r) for answer in found for r in answer.replies]
    unsent = [int(a.id) for a in found if a.state == PENDING]
    return Answer(inbox_id, row.conversation_id, row.channel, True, replies, unsent)
