"""Reading back what a conversation said: `list_messages` pages and earlier messages."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa

from zoozl.chatbot import Message
from zoozl.store.database import reading
from zoozl.store.schema import conversations, inbox, outbox
from zoozl.store.store import Store


def _iso(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.isoformat()


def list_messages(
    store: Store, conversation_id: int, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the conversation's user messages with the bot's answers."""
    mine = (inbox.c.conversation_id == conversation_id) & (inbox.c.kind == "message")
    count = sa.select(sa.func.count()).select_from(inbox).where(mine)
    rows = (
        sa.select(inbox, conversations.c.talker)
        .join(conversations, conversations.c.id == inbox.c.conversation_id)
        .where(mine)
        .order_by(inbox.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    with reading(store.engine) as conn:
        total = int(conn.execute(count).scalar_one())
        found = conn.execute(rows).all()
        ids = [row.id for row in found]
        replies = conn.execute(
            sa.select(outbox.c.inbox_id, outbox.c.replies, outbox.c.state).where(
                outbox.c.inbox_id.in_(ids)
            )
        ).all()
    answers = {r.inbox_id: r for r in replies}
    items = []
    for row in found:
        answer = answers.get(row.id)
        texts = [Message.from_dict(m).text for m in answer.replies] if answer else []
        items.append(
            {
                "date": _iso(row.received_at),
                "user": row.talker,
                "message": Message.from_dict(row.message).text,
                "response": "\n".join(texts),
                "status": answer.state if answer else row.state,
            }
        )
    return items, total


def earlier_messages(
    store: Store, conversation_id: int, since: int, before: int, limit: int
) -> list[Message]:
    """The talker's messages with inbox ids in [since, before), the last `limit`."""
    query = (
        sa.select(inbox.c.message)
        .where(inbox.c.conversation_id == conversation_id)
        .where(inbox.c.kind == "message")
        .where(inbox.c.id >= since, inbox.c.id < before)
        .order_by(inbox.c.id.desc())
        .limit(limit)
    )
    with reading(store.engine) as conn:
        found = conn.execute(query).scalars().all()
    return [Message.from_dict(m) for m in reversed(found)]
