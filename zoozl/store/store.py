"""The store: conversations with leases, inbox of messages, outbox of replies."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from zoozl.chatbot import Message
from zoozl.errors import DuplicateMessage, LeaseLost
from zoozl.store.database import make_engine
from zoozl.store.schema import conversations, create_schema, inbox, outbox

PENDING, DONE, SENT, FAILED = "pending", "done", "sent", "failed"


@dataclasses.dataclass(frozen=True)
class Lease:
    """Proof that `owner` may process a conversation; `token` fences stale holders."""

    conversation_id: int
    owner: str
    token: int


@dataclasses.dataclass(frozen=True)
class ConversationRow:
    """A conversation as stored: who, on which channel, and the engine's state."""

    id: int
    channel: str
    talker: str
    state: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class InboxRow:
    """One recorded incoming message."""

    id: int
    conversation_id: int
    channel: str
    kind: str
    message: Message
    route: dict[str, Any]
    state: str
    received_at: float


@dataclasses.dataclass(frozen=True)
class OutboxRow:
    """The replies to one inbox row, waiting for or done with delivery."""

    id: int
    conversation_id: int
    inbox_id: int | None
    channel: str
    route: dict[str, Any]
    replies: list[Message]
    state: str
    attempts: int
    progress: int
    last_error: str | None


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _inbox_row(row: sa.Row[Any]) -> InboxRow:
    return InboxRow(
        id=row.id,
        conversation_id=row.conversation_id,
        channel=row.channel,
        kind=row.kind,
        message=Message.from_dict(row.message),
        route=dict(row.route or {}),
        state=row.state,
        received_at=row.received_at,
    )


def _outbox_row(row: sa.Row[Any]) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        conversation_id=row.conversation_id,
        inbox_id=row.inbox_id,
        channel=row.channel,
        route=dict(row.route or {}),
        replies=[Message.from_dict(m) for m in row.replies],
        state=row.state,
        attempts=row.attempts,
        progress=row.progress,
        last_error=row.last_error,
    )


class Store:
    """All durable state of zoozl, on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine, clock: Any = time.time) -> None:
        self.engine = engine
        self.clock = clock

    @classmethod
    def from_url(cls, url: str, create: bool = True) -> Store:
        """Open (and by default create or migrate) the store at `url`."""
        store = cls(make_engine(url))
        if create:
            create_schema(store.engine)
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
                return _new_id(conn.execute(insert))
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
                return _new_id(conn.execute(insert))
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
        return _inbox_row(row) if row else None

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
            return _new_id(conn.execute(insert))

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

    # outbox ------------------------------------------------------------------

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        """Load one outbox row."""
        query = sa.select(outbox).where(outbox.c.id == outbox_id)
        with self.engine.begin() as conn:
            row = conn.execute(query).first()
        return _outbox_row(row) if row else None

    def pending_outbox(self, conversation_id: int) -> list[OutboxRow]:
        """Undelivered replies of a conversation, oldest first."""
        query = (
            sa.select(outbox)
            .where(outbox.c.conversation_id == conversation_id)
            .where(outbox.c.state == PENDING)
            .order_by(outbox.c.id)
        )
        with self.engine.begin() as conn:
            return [_outbox_row(r) for r in conn.execute(query)]

    def _update_outbox(self, outbox_id: int, only_pending: bool, **values: Any) -> bool:
        update = outbox.update().where(outbox.c.id == outbox_id)
        if only_pending:
            update = update.where(outbox.c.state == PENDING)
        with self.engine.begin() as conn:
            result = conn.execute(update.values(updated_at=self.clock(), **values))
        return result.rowcount == 1

    def mark_progress(self, outbox_id: int, progress: int) -> None:
        """Record that the first `progress` replies of a row were delivered."""
        self._update_outbox(outbox_id, True, progress=progress)

    def mark_sent(self, outbox_id: int) -> bool:
        """Mark a row delivered; False when it was not pending (already sent)."""
        now = self.clock()
        return self._update_outbox(outbox_id, True, state=SENT, sent_at=now)

    def mark_attempt(self, outbox_id: int, error: str) -> None:
        """Count a failed delivery attempt that will be retried."""
        self._update_outbox(
            outbox_id, True, attempts=outbox.c.attempts + 1, last_error=error[:2000]
        )

    def mark_failed(self, outbox_id: int, error: str) -> None:
        """Give a row up for good (permanent error or attempts exhausted)."""
        self._update_outbox(
            outbox_id,
            True,
            state=FAILED,
            attempts=outbox.c.attempts + 1,
            last_error=error[:2000],
        )

    def stale_outbox(
        self,
        older_than: float,
        channels: Sequence[str],
        max_attempts: int | None = None,
    ) -> list[int]:
        """Pending rows of the given channels untouched for `older_than` seconds
        (and, with `max_attempts`, tried fewer times than that)."""
        query = (
            sa.select(outbox.c.id)
            .where(outbox.c.state == PENDING)
            .where(outbox.c.channel.in_(list(channels)))
            .where(outbox.c.updated_at < self.clock() - older_than)
            .order_by(outbox.c.id)
        )
        if max_attempts is not None:
            query = query.where(outbox.c.attempts < max_attempts)
        with self.engine.begin() as conn:
            return [int(i) for i in conn.execute(query).scalars()]
