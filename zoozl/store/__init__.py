"""Durable state: conversations with leases, inbox, outbox and routing decisions
(SQLite or PostgreSQL)."""

from zoozl.store.rows import (
    DONE,
    FAILED,
    PENDING,
    SENT,
    Claim,
    ConversationRow,
    Decision,
    Done,
    Finished,
    InboxRow,
    Lease,
    OutboxRow,
)
from zoozl.store.store import (
    MAX_EXTERNAL_ID_CHARS,
    MAX_ROW_ID,
    MAX_TALKER_CHARS,
    Store,
    identity,
    incoming_text,
    is_row_id,
    unstorable,
)

__all__ = [
    "DONE",
    "FAILED",
    "MAX_EXTERNAL_ID_CHARS",
    "MAX_ROW_ID",
    "MAX_TALKER_CHARS",
    "PENDING",
    "SENT",
    "Claim",
    "ConversationRow",
    "Decision",
    "Done",
    "Finished",
    "InboxRow",
    "Lease",
    "OutboxRow",
    "Store",
    "identity",
    "incoming_text",
    "is_row_id",
    "unstorable",
]
