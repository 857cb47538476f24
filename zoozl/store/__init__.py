"""Durable state: conversations with leases, inbox and outbox (SQLite or PostgreSQL)."""

from zoozl.store.rows import (
    DONE,
    FAILED,
    PENDING,
    SENT,
    Claim,
    ConversationRow,
    Done,
    Finished,
    InboxRow,
    Lease,
    OutboxRow,
)
from zoozl.store.store import Store
from zoozl.store.values import incoming_text

__all__ = [
    "DONE",
    "FAILED",
    "PENDING",
    "SENT",
    "Claim",
    "ConversationRow",
    "Done",
    "Finished",
    "InboxRow",
    "Lease",
    "OutboxRow",
    "Store",
    "incoming_text",
]
