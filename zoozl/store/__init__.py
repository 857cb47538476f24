"""Durable state: conversations with leases, inbox and outbox (SQLite or PostgreSQL)."""

from zoozl.store.store import (
    DONE,
    FAILED,
    PENDING,
    SENT,
    ConversationRow,
    InboxRow,
    Lease,
    OutboxRow,
    Store,
)

__all__ = [
    "DONE",
    "FAILED",
    "PENDING",
    "SENT",
    "ConversationRow",
    "InboxRow",
    "Lease",
    "OutboxRow",
    "Store",
]
