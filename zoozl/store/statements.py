"""The message path's statements, built once: no SQL is constructed per message.

Building a SQLAlchemy statement and its cache key on every call cost several
times more CPU than SQLite's own work; a prebuilt statement keeps its cache
key, so executing it only binds the parameters, and on SQLite its text is
compiled once too (`zoozl.store.transactions`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from zoozl.store.rows import DONE, PENDING, SENT
from zoozl.store.schema import conversations, decisions, inbox, outbox
from zoozl.store.transactions import Statement

_c, _i, _o = conversations.c, inbox.c, outbox.c


def _p(name: str, column: sa.Column[object] | None = None) -> sa.BindParameter[object]:
    return sa.bindparam(name, type_=column.type if column is not None else None)


#: A worker took the conversation: the sweep's rings were answered (or are
#: no longer needed), it starts over with its shortest wait. Params: cid, now,
#: owner, expires.
TAKE_LEASE = Statement(
    conversations.update()
    .where(_c.id == _p("cid"))
    .where(sa.or_(_c.lease_owner.is_(None), _c.lease_expires < _p("now")))
    .values(
        lease_owner=_p("owner"),
        lease_expires=_p("expires"),
        lease_token=_c.lease_token + 1,
        sweep_rings=0,
        swept_at=None,
    )
    .returning(_c.lease_token, _c.channel, _c.talker, _c.state)
)

#: Params: cid, owner, token.
RELEASE_LEASE = Statement(
    conversations.update()
    .where(_c.id == _p("cid"), _c.lease_token == _p("token"))
    .where(_c.lease_owner == _p("owner"))
    .values(lease_owner=None, lease_expires=None)
)

_HELD = sa.and_(
    _c.id == _p("cid"),
    _c.lease_owner == _p("owner"),
    _c.lease_token == _p("token"),
    _c.lease_expires >= _p("now"),
)

#: Params: cid, owner, token, now, expires.
RENEW_LEASE = Statement(
    conversations.update().where(_HELD).values(lease_expires=_p("expires"))
)


def _commit_state_and_release() -> sa.Update:
    """A new statement each time: once `Statement` has read one's columns, a
    statement derived from it keeps them (none), RETURNING added or not."""
    return (
        conversations.update()
        .where(_HELD)
        .values(state=_p("new_state", _c.state), updated_at=_p("now"))
        .values(lease_owner=None, lease_expires=None)
    )


#: The turn's state, and the lease given up. Params: cid, owner, token, now,
#: new_state.
COMMIT_STATE_AND_RELEASE = Statement(_commit_state_and_release())

_NEXT_PENDING_ID = (
    sa.select(_i.id)
    .where(_i.conversation_id == _p("cid"), _i.state == PENDING)
    .order_by(_i.id)
    .limit(1)
)

#: The oldest pending message, its run counted. Params: cid.
COUNT_NEXT_PENDING = Statement(
    inbox.update()
    .where(_i.id == _NEXT_PENDING_ID.scalar_subquery())
    .values(attempts=_i.attempts + 1)
    .returning(*inbox.c)
)

_LEASE = TAKE_LEASE.statement.cte("lease")
_TAKEN = (
    inbox.update()
    .where(
        _i.id == _NEXT_PENDING_ID.scalar_subquery(),
        # Checked again on the row's newest version when the statement waited
        # for the conversation's row (another writer held it): its snapshot is
        # older, and a message done meanwhile is not taken again.
        _i.state == PENDING,
        sa.exists(sa.select(_LEASE.c.lease_token)),
    )
    .values(attempts=_i.attempts + 1)
    .returning(*inbox.c)
    .cte("taken")
)

#: PostgreSQL: TAKE_LEASE and COUNT_NEXT_PENDING in one statement (one round
#: trip): the lease's columns as lease_*, the message's columns, None when no
#: message was taken (a second look with a fresh snapshot is the caller's).
#: No row: the lease is held. Params: cid, now, owner, expires.
CLAIM_NEXT = Statement(
    sa.select(
        _LEASE.c.lease_token,
        _LEASE.c.channel.label("lease_channel"),
        _LEASE.c.talker.label("lease_talker"),
        _LEASE.c.state.label("lease_state"),
        *_TAKEN.c,
    ).select_from(_LEASE.outerjoin(_TAKEN, sa.true()))
)

#: Any pending message of a conversation. Params: cid.
ANY_PENDING = Statement(_NEXT_PENDING_ID)

_INBOX_DONE = (
    inbox.update().where(_i.id == _p("iid")).values(state=DONE, processed_at=_p("now"))
)

#: Params: iid, now.
INBOX_DONE = Statement(_INBOX_DONE)

#: Params: cid (for the channel) and the keys below.
RECORD = Statement(
    inbox.insert().values(
        channel=sa.select(_c.channel).where(_c.id == _p("cid")).scalar_subquery()
    ),
    keys=(
        *("conversation_id", "kind", "external_id", "message", "reply_address"),
        *("state", "attempts", "received_at"),
    ),
)

#: Params: the keys below.
ADD_REPLIES = Statement(
    outbox.insert(),
    keys=(
        *("conversation_id", "inbox_id", "channel", "reply_address", "replies"),
        *("state", "attempts", "progress", "created_at", "updated_at"),
    ),
)

_DECISION = {
    "inbox_id": _p("iid"),
    **{name: _p(name) for name in ("rule", "plugin", "candidate", "score", "margin")},
    "decided_at": _p("now"),
}

#: Params: iid, now, rule, plugin, candidate, score, margin.
RECORD_DECISION = Statement(decisions.insert().values(**_DECISION))

_PENDING_REPLIES = (_o.conversation_id == _p("cid"), _o.state == PENDING)

#: Params: cid.
PENDING_OUTBOX = Statement(sa.select(outbox).where(*_PENDING_REPLIES).order_by(_o.id))

_OUTBOX_PENDING = sa.exists(sa.select(_o.id).where(*_PENDING_REPLIES))

#: Whether a reply of the conversation is pending. Params: cid.
ANY_OUTBOX_PENDING = Statement(sa.select(_OUTBOX_PENDING.label("pending")))

#: Params: oid, now.
MARK_SENT = Statement(
    outbox.update()
    .where(_o.id == _p("oid"), _o.state == PENDING)
    .values(state=SENT, sent_at=_p("now"), updated_at=_p("now"))
)

#: Params: channel, talker.
CONVERSATION_ID = Statement(
    sa.select(_c.id).where(_c.channel == _p("channel"), _c.talker == _p("talker"))
)

#: A new talker's conversation (every websocket connect of one). Params: the keys.
NEW_CONVERSATION = Statement(
    conversations.insert(),
    keys=("channel", "talker", "state", "lease_token", "created_at", "updated_at"),
)

#: Whether a conversation has an inbox row (of a kind): asked on every connect.
#: Params: cid; cid, kind.
ANY_RECORDED = Statement(
    sa.select(_i.id).where(_i.conversation_id == _p("cid")).limit(1)
)
ANY_RECORDED_OF_KIND = Statement(
    sa.select(_i.id)
    .where(_i.conversation_id == _p("cid"), _i.kind == _p("kind"))
    .limit(1)
)


def _finish_turn(decided: bool, replied: bool) -> Statement:
    """PostgreSQL: a whole turn in one statement (one round trip, no BEGIN or
    COMMIT): the state committed and the lease released while held, then, only
    if it was, the message done, its decision and its replies added.

    Returns one row: `held` (0: the lease was lost and nothing changed),
    `outbox_id` (None without replies), `more` (another message pending; the
    statement's snapshot still has this one pending, so it is left out) and
    `alone` (no other reply of the conversation pending; None without replies).
    Params: cid, owner, token, now, new_state, iid; the decision's (rule,
    plugin, candidate, score, margin) when `decided`; the replies' (ADD_REPLIES
    keys) when `replied`.
    """
    held = _commit_state_and_release().returning(_c.id).cte("held")
    is_held = sa.exists(sa.select(held.c.id))
    ctes: list[sa.CTE] = [_INBOX_DONE.where(is_held).cte("done")]
    # INSERT ... SELECT of parameters: each cast to its column's type (a None
    # in a select list would be text).
    if decided:
        columns = [c for c in decisions.c if c.key in _DECISION]
        values = [sa.cast(_p(_DECISION[c.key].key, c), c.type) for c in columns]
        ctes.append(
            decisions.insert()
            .from_select(columns, sa.select(*values).where(is_held))
            .cte("recorded")
        )
    outbox_id: sa.ColumnElement[Any] = sa.null()
    alone: sa.ColumnElement[Any] = sa.null()
    if replied:
        columns = [outbox.c[key] for key in ADD_REPLIES.keys]
        values = [sa.cast(_p(c.key, c), c.type) for c in columns]
        added = (
            outbox.insert()
            .from_select(columns, sa.select(*values).where(is_held))
            .returning(_o.id)
            .cte("added")
        )
        outbox_id = sa.select(added.c.id).scalar_subquery()
        alone = ~_OUTBOX_PENDING  # the snapshot has not the new row
    others = _NEXT_PENDING_ID.where(_i.id != _p("iid"))
    return Statement(
        sa.select(
            sa.select(sa.func.count())
            .select_from(held)
            .scalar_subquery()
            .label("held"),
            outbox_id.label("outbox_id"),
            sa.exists(others).label("more"),
            alone.label("alone"),
        ).add_cte(*ctes)
    )


#: `_finish_turn` by (decided, replied).
FINISH_TURN = {
    (decided, replied): _finish_turn(decided, replied)
    for decided in (False, True)
    for replied in (False, True)
}
