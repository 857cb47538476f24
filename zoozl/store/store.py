"""The store: conversations with leases, inbox of messages, outbox of replies."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from zoozl.chatbot import Message
from zoozl.errors import DuplicateMessage, LeaseLost
from zoozl.store.database import make_engine
from zoozl.store.outbox import OutboxStore
from zoozl.store.rows import (
    DONE,
    PENDING,
    ConversationRow,
    InboxRow,
    Lease,
    inbox_row,
    new_id,
)
from zoozl.store.schema import conversations, create_schema, inbox, outbox
from zoozl.store.sqlite_file import creation_lock


class Store(OutboxStore):
    """All durable state of zoozl, on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine, clock: Any = time.time) -> None:
        self.engine = engine
        self.clock = clock

    @classmethod
    def from_url(cls, url: str, create: bool = True) -> Store:
        """Open (and by default create or migrate) the store at `url`."""
        store = cls(make_engine(url))
        with creation_lock(url):  # the first connection switches SQLite to WAL
            if create:
                create_schema(store.engine)
            else:
                store.engine.connect().close()
        return store

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    # conversations -----------------------------------------------------------

    def conversation_for(self, channel: str, talker: str) -> int:
        """Return the id of the talker's conversation on a channel, creating it."""
        where = (conversations.c.channel == channel) & (
            conversations.c.talker == talker
        )
        query = sa.select(conversations.c.id).where(where)
        with self.engine.begin() as conn:
            found = conn.execute(query).scalar()
            if found is not None:
                return int(found)
        now = self.clock()
        insert = conversations.insert().values(
            channel=channel, talker=talker, state={}, created_at=now, updated_at=now
        )
        try:
            with self.engine.begin() as conn:
                return new_id(conn.execute(insert))
        except sa.exc.IntegrityError:  # another ingress created it meanwhile
            with self.engine.begin() as conn:
                return int(conn.execute(query).scalar_one())

    def conversation(self, conversation_id: int) -> ConversationRow:
        """Load a conversation's identity and state."""
        query = sa.select(conversations).where(conversations.c.id == conversation_id)
        with self.engine.begin() as conn:
            row = conn.execute(query).one()
        return ConversationRow(row.id, row.channel, row.talker, dict(row.state or {}))

    def has_messages(self, conversation_id: int) -> bool:
        """Whether anything was ever recorded for this conversation."""
        query = sa.select(inbox.c.id).where(inbox.c.conversation_id == conversation_id)
        with self.engine.begin() as conn:
            return conn.execute(query.limit(1)).first() is not None

    # leases ------------------------------------------------------------------

    def acquire_lease(
        self, conversation_id: int, owner: str, seconds: float
    ) -> Lease | None:
        """Take the conversation's lease if it is free or expired, else None."""
        now = self.clock()
        c = conversations.c
        update = (
            conversations.update()
            .where(c.id == conversation_id)
            .where(sa.or_(c.lease_owner.is_(None), c.lease_expires < now))
            .values(
                lease_owner=owner,
                lease_expires=now + seconds,
                lease_token=c.lease_token + 1,
            )
            .returning(c.lease_token)
        )
        with self.engine.begin() as conn:
            token = conn.execute(update).scalar()
        if token is None:
            return None
        return Lease(conversation_id, owner, int(token))

    def _held(self, lease: Lease) -> sa.ColumnElement[bool]:
        c = conversations.c
        return sa.and_(
            c.id == lease.conversation_id,
            c.lease_owner == lease.owner,
            c.lease_token == lease.token,
            c.lease_expires >= self.clock(),
        )

    def renew_lease(self, lease: Lease, seconds: float) -> bool:
        """Extend a lease still held; False when it was lost (expired and taken)."""
        update = (
            conversations.update()
            .where(self._held(lease))
            .values(lease_expires=self.clock() + seconds)
        )
        with self.engine.begin() as conn:
            return conn.execute(update).rowcount == 1

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up (a no-op when someone else holds it now)."""
        c = conversations.c
        update = (
            conversations.update()
            .where(c.id == lease.conversation_id, c.lease_token == lease.token)
            .where(c.lease_owner == lease.owner)
            .values(lease_owner=None, lease_expires=None)
        )
        with self.engine.begin() as conn:
            conn.execute(update)

    # inbox -------------------------------------------------------------------

    def record(
        self,
        conversation_id: int,
        message: Message,
        route: dict[str, Any] | None = None,
        kind: str = "message",
        external_id: str | None = None,
    ) -> int:
        """Commit an incoming message; DuplicateMessage for a known external id."""
        channel = self.conversation(conversation_id).channel
        insert = inbox.insert().values(
            conversation_id=conversation_id,
            channel=channel,
            kind=kind,
            external_id=external_id,
            message=message.to_dict(),
            route=route or {},
            state=PENDING,
            received_at=self.clock(),
        )
        try:
            with self.engine.begin() as conn:
                return new_id(conn.execute(insert))
        except sa.exc.IntegrityError as exc:
            if external_id is None:
                raise
            raise DuplicateMessage(f"{channel} message {external_id!r}") from exc

    def next_pending(self, conversation_id: int) -> InboxRow | None:
        """The oldest unprocessed message of a conversation (inbox id order)."""
        query = (
            sa.select(inbox)
            .where(inbox.c.conversation_id == conversation_id)
            .where(inbox.c.state == PENDING)
            .order_by(inbox.c.id)
            .limit(1)
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).first()
        return inbox_row(row) if row else None

    def count_attempt(self, inbox_id: int) -> int:
        """Note that a run starts on an inbox row; return how many have started."""
        update = (
            inbox.update()
            .where(inbox.c.id == inbox_id)
            .values(attempts=inbox.c.attempts + 1)
            .returning(inbox.c.attempts)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(update).scalar_one())

    def commit_turn(
        self,
        lease: Lease,
        inbox_id: int,
        state: dict[str, Any],
        replies: Sequence[Message],
        route: dict[str, Any],
    ) -> int | None:
        """Atomically: new state, inbox row done, replies into the outbox.

        Raises LeaseLost (and commits nothing) when the lease is no longer held.
        Returns the outbox id, or None when there were no replies.
        """
        now = self.clock()
        with self.engine.begin() as conn:
            fenced = conversations.update().where(self._held(lease))
            done = conn.execute(fenced.values(state=state, updated_at=now))
            if done.rowcount != 1:
                raise LeaseLost(f"conversation {lease.conversation_id}")
            conn.execute(
                inbox.update()
                .where(inbox.c.id == inbox_id)
                .values(state=DONE, processed_at=now)
            )
            if not replies:
                return None
            channel = conn.execute(
                sa.select(inbox.c.channel).where(inbox.c.id == inbox_id)
            ).scalar_one()
            insert = outbox.insert().values(
                conversation_id=lease.conversation_id,
                inbox_id=inbox_id,
                channel=channel,
                route=route,
                replies=[m.to_dict() for m in replies],
                state=PENDING,
                attempts=0,
                progress=0,
                created_at=now,
                updated_at=now,
            )
            return new_id(conn.execute(insert))

    def stalled_conversations(self, older_than: float) -> list[int]:
        """Conversations with messages pending longer than `older_than` seconds
        and no live lease: a lost `process` task left them behind."""
        now = self.clock()
        c = conversations.c
        query = (
            sa.select(inbox.c.conversation_id)
            .join(conversations, c.id == inbox.c.conversation_id)
            .where(inbox.c.state == PENDING)
            .where(inbox.c.received_at < now - older_than)
            .where(sa.or_(c.lease_owner.is_(None), c.lease_expires < now))
            .distinct()
        )
        with self.engine.begin() as conn:
            return [int(i) for i in conn.execute(query).scalars()]
