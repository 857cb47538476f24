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
from zoozl.store.store import Store, incoming_text

__all__ = [
    "DONE",
    "FAILED",
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
    "incoming_text",
]
