"""The store: conversations with leases, inbox of messages, outbox of replies, and
what it takes, alike on SQLite and PostgreSQL: the checks of message text,
talkers, external ids and row ids that every entry point applies before recording.

PostgreSQL refuses what SQLite would keep: NUL in a text column, a lone surrogate
(`\\ud800` from a JSON escape; it has no UTF-8 form), an integer past its INTEGER
columns, a string past a VARCHAR's length. Checking here, with one error text per
rule, gives every channel one clear refusal instead of a database exception, and
the same answer on both databases. The store applies the identity checks itself
as the last guard (`Store.conversation_for`, `Store.record`). (These checks live
in this module, not one of their own: every message crosses them, and the
message path is kept to 15 files, tests/test_layout.py.)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from zoozl.errors import DuplicateMessage, LeaseLost, MessageRejected
from zoozl.plugin import Message
from zoozl.store import statements as sql
from zoozl.store.database import make_engine, reading
from zoozl.store.rows import (
    FAILED,
    PENDING,
    Claim,
    ConversationRow,
    Done,
    Finished,
    InboxRow,
    Lease,
    OutboxRow,
)
from zoozl.store.schema import conversations, create_schema, inbox, outbox
from zoozl.store.sqlite_files import creation_lock
from zoozl.store.transactions import Transaction, transaction

# what the store takes ---------------------------------------------------------

#: Largest row id (PostgreSQL INTEGER): a larger one names no row.
MAX_ROW_ID = 2**31 - 1
#: Longest talker of any channel: an e-mail address is at most 254 characters
#: (RFC 5321), websocket talkers are 32 hex digits, Slack's `team:user` at most
#: 129, and the message API has taken up to 256.
MAX_TALKER_CHARS = 256
#: Row ids per statement when the sweep updates many rows at once.
UNRING_CHUNK = 500
#: Longest external id the inbox holds (its column is VARCHAR(512)).
MAX_EXTERNAL_ID_CHARS = 512


def unstorable(value: str) -> str | None:
    """What in `value` a text column cannot hold ("NUL characters", ...), or None."""
    if "\x00" in value:
        return "NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "lone surrogate characters"
    return None


def incoming_text(value: Any, max_chars: int) -> str:
    """Return `value` if it is acceptable message text, else raise MessageRejected."""
    if not isinstance(value, str):
        raise MessageRejected("Message 'text' must be a string")
    if len(value) > max_chars:
        raise MessageRejected(
            f"Message is too long: {len(value)} characters, the limit is {max_chars}"
        )
    problem = unstorable(value)
    if problem is not None:
        raise MessageRejected(f"Message must not contain {problem}")
    return value


def identity(value: Any, what: str, max_chars: int) -> str:
    """A talker or an id: a string of 1 to `max_chars` storable characters."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= max_chars
        or unstorable(value) is not None
    ):
        raise MessageRejected(
            f"{what} must be a string of 1 to {max_chars} characters, "
            "without NUL or lone surrogates"
        )
    return value


def is_row_id(value: int) -> bool:
    """Whether `value` can be the id of a row (1 to MAX_ROW_ID)."""
    return 0 < value <= MAX_ROW_ID


# the store --------------------------------------------------------------------


def new_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


class _Leased(NamedTuple):
    """The conversation's columns that taking its lease returns."""

    channel: str
    talker: str
    state: dict[str, Any] | None


def inbox_row(row: sa.Row[Any]) -> InboxRow:
    """An InboxRow from a selected inbox row."""
    return InboxRow(
        id=row.id,
        conversation_id=row.conversation_id,
        channel=row.channel,
        kind=row.kind,
        message=Message.from_dict(row.message),
        reply_address=dict(row.reply_address or {}),
        state=row.state,
        received_at=row.received_at,
    )


def outbox_row(row: sa.Row[Any]) -> OutboxRow:
    """An OutboxRow from a selected outbox row."""
    return OutboxRow(
        id=row.id,
        conversation_id=row.conversation_id,
        inbox_id=row.inbox_id,
        channel=row.channel,
        reply_address=dict(row.reply_address or {}),
        replies=[Message.from_dict(m) for m in row.replies],
        state=row.state,
        attempts=row.attempts,
        progress=row.progress,
        last_error=row.last_error,
    )


def _decision_values(done: Done, now: float) -> dict[str, Any]:
    decision = done.decision
    assert decision is not None
    return {
        "iid": done.inbox_id,
        "now": now,
        "rule": decision.rule,
        "plugin": decision.plugin,
        "candidate": decision.candidate,
        "score": decision.score,
        "margin": decision.margin,
    }


def _lease_params(lease: Lease) -> dict[str, Any]:
    return {"cid": lease.conversation_id, "owner": lease.owner, "token": lease.token}


class Store:
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
        """Return the id of the talker's conversation on a channel, creating it.

        MessageRejected for a talker the store cannot hold (`identity`).
        """
        identity(talker, "talker", MAX_TALKER_CHARS)
        params = {"channel": channel, "talker": talker}
        with transaction(self.engine, write=False, single=True) as tx:
            found = tx.run(sql.CONVERSATION_ID, params).first()
            if found is not None:
                return int(found.id)
        now = self.clock()
        values = {**params, "state": {}, "lease_token": 0}
        values.update(created_at=now, updated_at=now)
        try:
            with transaction(self.engine, single=True) as tx:
                return int(tx.run(sql.NEW_CONVERSATION, values).inserted_id)
        except sa.exc.IntegrityError:  # another ingress created it meanwhile
            with transaction(self.engine, single=True) as tx:
                return int(tx.run(sql.CONVERSATION_ID, params).first().id)

    def conversation(self, conversation_id: int) -> ConversationRow:
        """Load a conversation's identity and state."""
        query = sa.select(conversations).where(conversations.c.id == conversation_id)
        with reading(self.engine) as conn:
            row = conn.execute(query).one()
        return ConversationRow(row.id, row.channel, row.talker, dict(row.state or {}))

    def has_messages(self, conversation_id: int, kind: str | None = None) -> bool:
        """Whether anything (of `kind`, e.g. "message") was recorded for it."""
        params: dict[str, Any] = {"cid": conversation_id}
        statement = sql.ANY_RECORDED
        if kind is not None:
            params["kind"], statement = kind, sql.ANY_RECORDED_OF_KIND
        with transaction(self.engine, write=False, single=True) as tx:
            return tx.run(statement, params).first() is not None

    # leases ------------------------------------------------------------------

    def _take_lease(
        self, tx: Transaction, conversation_id: int, owner: str, seconds: float
    ) -> tuple[Lease | None, Any]:
        now = self.clock()
        params = {"cid": conversation_id, "owner": owner, "now": now}
        row = tx.run(sql.TAKE_LEASE, {**params, "expires": now + seconds}).first()
        if row is None:
            return None, None
        return Lease(conversation_id, owner, int(row.lease_token)), row

    def renew_lease(self, lease: Lease, seconds: float) -> bool:
        """Extend a lease still held; False when it was lost (expired and taken)."""
        now = self.clock()
        params = {**_lease_params(lease), "now": now, "expires": now + seconds}
        with transaction(self.engine, single=True) as tx:
            return tx.run(sql.RENEW_LEASE, params).rowcount == 1

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up (a no-op when someone else holds it now)."""
        with transaction(self.engine, single=True) as tx:
            tx.run(sql.RELEASE_LEASE, _lease_params(lease))

    # inbox -------------------------------------------------------------------

    def record(
        self,
        conversation_id: int,
        message: Message,
        reply_address: dict[str, Any] | None = None,
        kind: str = "message",
        external_id: str | None = None,
    ) -> int:
        """Commit an incoming message; DuplicateMessage for a known external id,
        MessageRejected for an external id the store cannot hold (`identity`)."""
        if external_id is not None:
            identity(external_id, "external id", MAX_EXTERNAL_ID_CHARS)
        params = self._inbox_values(
            conversation_id, message, reply_address, kind, external_id
        )
        try:
            with transaction(self.engine, single=True) as tx:
                return tx.run(sql.RECORD, params).inserted_id
        except sa.exc.IntegrityError as exc:
            if external_id is None:
                raise
            raise DuplicateMessage(f"message {external_id!r}") from exc

    def _inbox_values(
        self,
        conversation_id: int,
        message: Message,
        reply_address: dict[str, Any] | None,
        kind: str,
        external_id: str | None,
    ) -> dict[str, Any]:
        return {
            "cid": conversation_id,
            "conversation_id": conversation_id,
            "kind": kind,
            "external_id": external_id,
            "message": message.to_dict(),
            "reply_address": reply_address or {},
            "state": PENDING,
            "attempts": 0,
            "received_at": self.clock(),
        }

    def new_conversation(
        self, channel: str, talker: str, greet: Message, reply_address: dict[str, Any]
    ) -> int | None:
        """A talker the ingress has just issued: its conversation and a pending
        greeting, one transaction, nothing looked up first (every connect of a
        new websocket talker). None if the talker has a conversation already."""
        identity(talker, "talker", MAX_TALKER_CHARS)
        now = self.clock()
        values = {"channel": channel, "talker": talker, "state": {}, "lease_token": 0}
        values.update(created_at=now, updated_at=now)
        try:
            with transaction(self.engine) as tx:
                found = int(tx.run(sql.NEW_CONVERSATION, values).inserted_id)
                greeting = self._inbox_values(
                    found, greet, reply_address, "greet", None
                )
                tx.run(sql.RECORD, greeting)
        except sa.exc.IntegrityError:  # not new after all: looked up as usual
            return None
        return found

    # the two steps of a turn -------------------------------------------------

    def claim(self, conversation_id: int, owner: str, seconds: float) -> Claim | None:
        """Take the lease, then the oldest pending message.

        None when another worker holds the lease, or nothing is pending (then the
        lease is not kept). The message's run is counted in its `attempts`.

        On SQLite one transaction. On PostgreSQL one statement (`CLAIM_NEXT`, one
        round trip) takes both; when it took the lease but no message, a second
        one looks again with a fresh snapshot: a message recorded while the
        first ran (or while it waited for the conversation's row) was rung,
        and that ring's claim found this lease held, so nobody else would take
        it before the sweep. The second statement is committed on its own,
        after the lease: a worker that stops between the two leaves a lease
        that expires, as one that stops during the turn does, and its message
        pending.
        """
        if self.engine.dialect.name != "postgresql":
            return self._claim_in_one(conversation_id, owner, seconds)
        now = self.clock()
        params = {"cid": conversation_id, "owner": owner, "now": now}
        with transaction(self.engine, single=True) as tx:
            row = tx.run(sql.CLAIM_NEXT, {**params, "expires": now + seconds}).first()
        if row is None:  # another worker holds the lease
            return None
        lease = Lease(conversation_id, owner, int(row.lease_token))
        found = _Leased(row.lease_channel, row.lease_talker, row.lease_state)
        if row.id is not None:
            return self._claimed(lease, found, row)
        try:
            with transaction(self.engine, single=True) as tx:
                next_row = tx.run(sql.COUNT_NEXT_PENDING, {"cid": conversation_id})
                counted = next_row.first()
        except Exception:
            with contextlib.suppress(Exception):  # else it expires
                self.release_lease(lease)
            raise
        if counted is None:
            self.release_lease(lease)
            return None
        return self._claimed(lease, found, counted)

    def _claim_in_one(
        self, conversation_id: int, owner: str, seconds: float
    ) -> Claim | None:
        with transaction(self.engine) as tx:
            lease, found = self._take_lease(tx, conversation_id, owner, seconds)
            if lease is None or found is None:
                return None
            counted = tx.run(sql.COUNT_NEXT_PENDING, {"cid": conversation_id}).first()
            if counted is None:
                tx.run(sql.RELEASE_LEASE, _lease_params(lease))
                return None
        return self._claimed(lease, found, counted)

    def _claimed(self, lease: Lease, found: Any, counted: Any) -> Claim:
        conversation_id = lease.conversation_id
        stored = ConversationRow(
            conversation_id, found.channel, found.talker, dict(found.state or {})
        )
        return Claim(lease, inbox_row(counted), stored, int(counted.attempts))

    def finish(self, lease: Lease, done: Done) -> Finished:
        """One transaction: commit the turn (its decision too), release the lease,
        look for more.

        Raises LeaseLost (and commits nothing) when the lease is no longer held.
        On PostgreSQL it is one statement (`FINISH_TURN`): one round trip, no
        BEGIN or COMMIT.
        """
        if self.engine.dialect.name == "postgresql":
            return self._finish_in_one(lease, done)
        with transaction(self.engine) as tx:
            return self._commit(tx, lease, done)

    def _finish_in_one(self, lease: Lease, done: Done) -> Finished:
        now = self.clock()
        params = {
            **_lease_params(lease),
            "now": now,
            "new_state": done.state,
            "iid": done.inbox_id,
        }
        if done.decision is not None:
            params.update(_decision_values(done, now))
        if done.replies:
            params.update(self._replies_values(lease, done, now))
        statement = sql.FINISH_TURN[done.decision is not None, bool(done.replies)]
        with transaction(self.engine, single=True) as tx:
            row = tx.run(statement, params).first()
        if not row.held:
            raise LeaseLost(f"conversation {lease.conversation_id}")
        if row.outbox_id is None:
            return Finished(None, bool(row.more))
        return Finished(int(row.outbox_id), bool(row.more), bool(row.alone))

    @staticmethod
    def _replies_values(lease: Lease, done: Done, now: float) -> dict[str, Any]:
        """The outbox row of a turn's replies (ADD_REPLIES' keys)."""
        return {
            "conversation_id": lease.conversation_id,
            "inbox_id": done.inbox_id,
            "channel": done.channel,
            "reply_address": done.reply_address,
            "replies": [m.to_dict() for m in done.replies],
            "state": PENDING,
            "attempts": 0,
            "progress": 0,
            "created_at": now,
            "updated_at": now,
        }

    def _commit(self, tx: Transaction, lease: Lease, done: Done) -> Finished:
        """The turn's statements in one SQLite transaction. A lost lease is seen
        by the first; LeaseLost rolls the transaction back."""
        now = self.clock()
        params = {**_lease_params(lease), "now": now, "new_state": done.state}
        if tx.run(sql.COMMIT_STATE_AND_RELEASE, params).rowcount != 1:
            raise LeaseLost(f"conversation {lease.conversation_id}")
        tx.run(sql.INBOX_DONE, {"iid": done.inbox_id, "now": now})
        if done.decision is not None:
            tx.run(sql.RECORD_DECISION, _decision_values(done, now))
        cid = {"cid": lease.conversation_id}
        outbox_id, alone = None, False
        if done.replies:
            alone = not tx.run(sql.ANY_OUTBOX_PENDING, cid).first().pending
            replies = self._replies_values(lease, done, now)
            outbox_id = tx.run(sql.ADD_REPLIES, replies).inserted_id
        more = tx.run(sql.ANY_PENDING, cid).first() is not None
        return Finished(outbox_id, more, alone)

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
        with reading(self.engine) as conn:
            return [int(i) for i in conn.execute(query).scalars()]

    def ring_stalled(
        self, older_than: float, waits: Sequence[float], abandoned: bool = False
    ) -> list[int]:
        """Stalled conversations (`stalled_conversations`) that are due a ring,
        counted as rung now; one transaction, so several sweepers ring each once.

        Due: never rung by the sweep since a worker last took it, or rung `n`
        times and the last ring is `waits[n - 1]` seconds old (the last wait
        repeats). A worker taking the conversation starts the count over.
        `abandoned`: only conversations whose lease expired unreleased (a
        worker took the ring and died or was cut off).
        """
        now = self.clock()
        c = conversations.c
        free = sa.or_(c.lease_owner.is_(None), c.lease_expires < now)
        if abandoned:
            free = sa.and_(c.lease_owner.is_not(None), c.lease_expires < now)
        rings = [(c.sweep_rings == n, wait) for n, wait in enumerate(waits[:-1], 1)]
        wait = sa.case(*rings, else_=waits[-1]) if rings else waits[-1]
        waiting = (
            sa.select(inbox.c.conversation_id)
            .where(inbox.c.state == PENDING)
            .where(inbox.c.received_at < now - older_than)
        )
        update = (
            conversations.update()
            .where(c.id.in_(waiting))
            .where(free)
            .where(sa.or_(c.swept_at.is_(None), c.swept_at + wait <= now))
            .values(sweep_rings=c.sweep_rings + 1, swept_at=now)
            .returning(c.id)
        )
        with self.engine.begin() as conn:
            return sorted(int(i) for i in conn.execute(update).scalars())

    def unring(self, conversation_ids: Sequence[int]) -> None:
        """Take back the sweep's rings the broker did not take: due again now."""
        c = conversations.c
        ids = list(conversation_ids)
        with self.engine.begin() as conn:
            for start in range(0, len(ids), UNRING_CHUNK):  # bound parameters
                chunk = ids[start : start + UNRING_CHUNK]
                update = (
                    conversations.update()
                    .where(c.id.in_(chunk), c.sweep_rings > 0)
                    .values(sweep_rings=c.sweep_rings - 1, swept_at=None)
                )
                conn.execute(update)

    # outbox ------------------------------------------------------------------

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        """Load one outbox row."""
        query = sa.select(outbox).where(outbox.c.id == outbox_id)
        with reading(self.engine) as conn:
            row = conn.execute(query).first()
        return outbox_row(row) if row else None

    def pending_outbox(self, conversation_id: int) -> list[OutboxRow]:
        """Undelivered replies of a conversation, oldest first."""
        with transaction(self.engine, write=False, single=True) as tx:
            found = tx.run(sql.PENDING_OUTBOX, {"cid": conversation_id}).all()
        return [outbox_row(r) for r in found]

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
        params = {"oid": outbox_id, "now": self.clock()}
        with transaction(self.engine, single=True) as tx:
            return tx.run(sql.MARK_SENT, params).rowcount == 1

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

    def unnoticed_outbox(
        self, channels: Sequence[str], waits: Sequence[float]
    ) -> list[tuple[int, int]]:
        """(row id, conversation id) of the pending rows of the given channels
        notified `n` times (`attempts`) and untouched for `waits[n]` seconds;
        rows notified `len(waits)` times are left for the talker's next
        connection."""
        o = outbox.c
        wait = sa.case(*((o.attempts == n, w) for n, w in enumerate(waits)))
        query = (
            sa.select(o.id, o.conversation_id)
            .where(o.state == PENDING)
            .where(o.channel.in_(list(channels)))
            .where(o.attempts < len(waits))
            .where(o.updated_at + wait < self.clock())
            .order_by(o.id)
        )
        with reading(self.engine) as conn:
            return [(int(r.id), int(r.conversation_id)) for r in conn.execute(query)]

    def count_notices(self, outbox_ids: Sequence[int]) -> None:
        """Count a repeated "replies are ready" notice of each of these websocket
        rows still pending, in one transaction."""
        o = outbox.c
        ids = list(outbox_ids)
        with self.engine.begin() as conn:
            for start in range(0, len(ids), UNRING_CHUNK):  # bound parameters
                update = (
                    outbox.update()
                    .where(o.id.in_(ids[start : start + UNRING_CHUNK]))
                    .where(o.state == PENDING)
                    .values(attempts=o.attempts + 1, updated_at=self.clock())
                )
                conn.execute(update)

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
        with reading(self.engine) as conn:
            return [int(i) for i in conn.execute(query).scalars()]
