"""Routing decisions as recorded with their messages, and reading back the doubtful
ones for `python -m zoozl route review`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from zoozl.plugin import Message
from zoozl.store.database import reading
from zoozl.store.rows import Decision
from zoozl.store.schema import decisions, inbox

if TYPE_CHECKING:
    from zoozl.store.store import Store

# The rules that decide a message, besides the router's own stops
# (`Route.stopped_by`: "threshold", "margin", "background", "request gate", ...).
#: The message is an alias, typed exactly (case and punctuation aside).
TYPED_ALIAS = "typed alias"
#: The message is a sentence the author labelled (`route_labels`), typed exactly.
LABELLED = "labelled"
#: The router's best plugin passed every rule of similarity.
ROUTE = "route"
#: The router's classifier chose the plugin: the decision's score is that
#: plugin's probability and its margin the lead over the next plugin or no plugin.
CLASSIFIED = "classified"
#: The conversation has a subject: its plugin takes the message unrouted.
SUBJECT = "subject"
#: The cancel plugin released the conversation.
CANCEL = "cancel"
#: A newly connected talker was greeted.
GREET = "greet"
#: Every run of the message failed; it was answered with an apology.
GAVE_UP = "gave up"
#: No plugin has an alias or example to compare the message with.
NO_CANDIDATE = "no candidate"
#: Rules that leave no doubt about the message: never listed for review.
SURE = frozenset({TYPED_ALIAS, LABELLED, SUBJECT, CANCEL, GREET, GAVE_UP})


@dataclasses.dataclass(frozen=True)
class RecordedDecision:
    """A recorded decision with its message."""

    inbox_id: int
    channel: str
    text: str
    decided_at: float
    decision: Decision


def doubtful_decisions(
    store: Store,
    unsure: Iterable[str],
    low_margin: float,
    limit: int,
    low_probability: float = 0.0,
) -> list[RecordedDecision]:
    """The newest `limit` decisions of messages the router was least sure of.

    Doubtful: stopped by a rule of the router, answered by one of the `unsure`
    plugins (help's key, "" for the fallback text), routed by similarity with a
    margin below `low_margin`, or routed by the classifier with a probability
    below `low_probability` (a margin of cosines and one of probabilities are
    not one scale). Typed aliases, labelled sentences, running subjects, cancel
    and greetings are never doubtful.
    """
    d = decisions.c
    unsure = list(unsure)
    doubtful = sa.or_(
        d.rule.not_in([*SURE, ROUTE, CLASSIFIED]),
        sa.and_(d.rule == ROUTE, sa.or_(d.plugin.in_(unsure), d.margin < low_margin)),
        sa.and_(
            d.rule == CLASSIFIED,
            sa.or_(d.plugin.in_(unsure), d.score < low_probability),
        ),
    )
    query = (
        sa.select(decisions, inbox.c.message, inbox.c.channel)
        .join(inbox, inbox.c.id == d.inbox_id)
        .where(inbox.c.kind == "message", doubtful)
        .order_by(d.id.desc())
        .limit(limit)
    )
    with reading(store.engine) as conn:
        found = conn.execute(query).all()
    return [_recorded(row) for row in found]


def decisions_of(store: Store, inbox_ids: Iterable[int]) -> dict[int, Decision]:
    """The recorded decision of each of these inbox rows (those that have one)."""
    query = sa.select(decisions).where(decisions.c.inbox_id.in_(list(inbox_ids)))
    with reading(store.engine) as conn:
        return {row.inbox_id: _decision(row) for row in conn.execute(query)}


def _decision(row: sa.Row[Any]) -> Decision:
    return Decision(row.rule, row.plugin, row.candidate, row.score, row.margin)


def _recorded(row: sa.Row[Any]) -> RecordedDecision:
    text = Message.from_dict(row.message).text
    return RecordedDecision(
        row.inbox_id, row.channel, text, row.decided_at, _decision(row)
    )
