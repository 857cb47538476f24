"""Reading back what a conversation said: `list_messages` pages, the recent messages of
the `history` operation, earlier messages for plugins, and one message's answer for
the HTTP API."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import sqlalchemy as sa

from zoozl.plugin import Message
from zoozl.store.database import reading
from zoozl.store.rows import DONE, PENDING
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


#: Messages the page shows after a reload.
DEFAULT_LIMIT = 50


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
