"""The recent conversation for the `history` operation: what the talker has seen."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa

from zoozl.chatbot import Message
from zoozl.store.database import reading
from zoozl.store.schema import inbox, outbox
from zoozl.store.store import Store

#: Messages the page shows after a reload.
DEFAULT_LIMIT = 50


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat()


def _delivered(row: Any) -> list[dict[str, str]]:
    """The replies of an outbox row that were sent to the talker."""
    count = len(row.replies) if row.state == "sent" else row.progress
    return [
        {"author": reply.author, "text": reply.text}
        for reply in (Message.from_dict(r) for r in row.replies[:count])
    ]


def recent(
    store: Store, conversation_id: int, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    """The last `limit` messages of a conversation and its greetings among them,
    oldest first, each with the replies the talker was sent.

    Only delivered replies are listed: replies still pending reach the talker as
    ordinary frames, so a client that draws this list and then appends frames
    shows each reply once.
    """
    mine = inbox.c.conversation_id == conversation_id
    last = (
        sa.select(inbox.c.id)
        .where(mine & (inbox.c.kind == "message"))
        .order_by(inbox.c.id.desc())
        .limit(limit)
    )
    prefix = f"{conversation_id}:"
    with reading(store.engine) as conn:
        ids = list(conn.execute(last).scalars())
        # The last `limit` messages, and the greetings between and after them.
        since = min(ids) if len(ids) == limit else 0
        rows = sa.select(inbox).where(mine & (inbox.c.id >= since)).order_by(inbox.c.id)
        found = conn.execute(rows).all()
        answers = conn.execute(
            sa.select(outbox)
            .where(outbox.c.inbox_id.in_([row.id for row in found]))
            .order_by(outbox.c.id)
        ).all()
    replies: dict[int, list[dict[str, str]]] = {}
    for answer in answers:
        replies.setdefault(answer.inbox_id, []).extend(_delivered(answer))
    return [
        {
            "kind": row.kind,
            "id": (row.external_id or "").removeprefix(prefix) or None,
            "text": Message.from_dict(row.message).text
            if row.kind == "message"
            else "",
            "date": _iso(row.received_at),
            "status": row.state,
            "replies": replies.get(row.id, []),
        }
        for row in found
    ]
