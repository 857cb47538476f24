"""Rows of the store as Python objects: leases, conversations, inbox and outbox rows,
routing decisions."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from zoozl.plugin import Message

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
    reply_address: dict[str, Any]
    state: str
    received_at: float


@dataclasses.dataclass(frozen=True)
class Claim:
    """A conversation's lease with the message to handle under it (`Store.claim`)."""

    lease: Lease
    row: InboxRow
    conversation: ConversationRow
    attempts: int  # runs started on `row`, this one included


@dataclasses.dataclass(frozen=True)
class Decision:
    """How one message was decided: the rule, who answered, the router's evidence.

    The rules are named in `zoozl.store.decisions` and by `Route.stopped_by`.
    """

    rule: str
    plugin: str = ""  # the plugin that answered; "" for none (the fallback text)
    candidate: str = ""  # the router's best plugin, whether it passed or not
    score: float | None = None  # the candidate's score; None when not routed
    margin: float | None = None  # its lead over the next plugin's best


@dataclasses.dataclass(frozen=True)
class Done:
    """What a handled message commits: new state, the replies and how the message
    was decided (`Store.finish`)."""

    inbox_id: int
    channel: str
    state: dict[str, Any]
    replies: Sequence[Message]
    reply_address: dict[str, Any]
    decision: Decision | None = None


@dataclasses.dataclass(frozen=True)
class Finished:
    """The outcome of `Store.finish`: the outbox row, whether more is pending,
    and whether the row was added with no other reply of the conversation
    pending (every earlier one was delivered or given up)."""

    outbox_id: int | None
    more: bool
    alone: bool = False


@dataclasses.dataclass(frozen=True)
class OutboxRow:
    """The replies to one inbox row, waiting for or done with delivery."""

    id: int
    conversation_id: int
    inbox_id: int | None
    channel: str
    reply_address: dict[str, Any]
    replies: list[Message]
    state: str
    attempts: int
    progress: int
    last_error: str | None
