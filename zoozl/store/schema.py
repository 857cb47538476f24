"""The store's tables (SQLAlchemy Core) and the versioned schema creation."""

from __future__ import annotations

import sqlalchemy as sa

from zoozl.errors import ZoozlError
from zoozl.store.database import reading

#: Bump with every change of the tables below and add a step to `MIGRATIONS`.
SCHEMA_VERSION = 5
#: version -> SQL statements that bring the schema from version-1 to version.
MIGRATIONS: dict[int, tuple[str | sa.ExecutableDDLElement, ...]] = {
    2: ("ALTER TABLE inbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",),
    # "route" meant where to reply, and was confused with routing to a plugin.
    3: (
        "ALTER TABLE inbox RENAME COLUMN route TO reply_address",
        "ALTER TABLE outbox RENAME COLUMN route TO reply_address",
    ),
}

#: PostgreSQL advisory lock key held while the schema is created or migrated.
_LOCK = 0x7A6F6F7A6C

metadata = sa.MetaData()

schema_version = sa.Table(
    "zoozl_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("talker", sa.String(512), nullable=False),
    sa.Column("state", sa.JSON, nullable=False, default=dict),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_expires", sa.Float),
    sa.Column("lease_token", sa.Integer, nullable=False, default=0),
    # The sweep's rings since a worker last took the conversation, and when it
    # rang last: a stalled conversation is rung again only after a growing wait
    # (tasks/sweep.py), so a backlog of pending messages is not multiplied.
    sa.Column("sweep_rings", sa.Integer, nullable=False, server_default="0"),
    sa.Column("swept_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("channel", "talker", name="uq_conversation_talker"),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # message | greet
    sa.Column("external_id", sa.String(512)),
    sa.Column("message", sa.JSON, nullable=False),
    # Where replies go on the channel (web process, Slack channel, mail headers).
    sa.Column("reply_address", sa.JSON, nullable=False, default=dict),
    sa.Column("state", sa.String(16), nullable=False),  # pending | done
    # Runs that started on this row; processing gives up on a row that keeps failing.
    sa.Column("attempts", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("processed_at", sa.Float),
    sa.UniqueConstraint("channel", "external_id", name="uq_inbox_external_id"),
    sa.Index("ix_inbox_conversation_state", "conversation_id", "state", "id"),
    sa.Index("ix_inbox_state_received", "state", "received_at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("inbox_id", sa.ForeignKey("inbox.id")),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("reply_address", sa.JSON, nullable=False, default=dict),
    sa.Column("replies", sa.JSON, nullable=False),  # list of Message dicts
    sa.Column("state", sa.String(16), nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("progress", sa.Integer, nullable=False, default=0),  # replies sent
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float),
    sa.Index("ix_outbox_conversation_state", "conversation_id", "state", "id"),
    sa.Index("ix_outbox_state_updated", "state", "updated_at"),
)

#: One row per handled message: how it was routed (`zoozl.store.decisions`).
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("inbox_id", sa.ForeignKey("inbox.id"), nullable=False),
    # Typed alias, route, margin, request gate, subject, ... (zoozl.store.decisions).
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("plugin", sa.String(512), nullable=False),  # "": no plugin answered
    sa.Column("candidate", sa.String(512), nullable=False),  # the router's best
    sa.Column("score", sa.Float),
    sa.Column("margin", sa.Float),
    sa.Column("decided_at", sa.Float, nullable=False),
    # Not unique: a duplicate must never stop a message from being committed.
    sa.Index("ix_decisions_inbox", "inbox_id"),
)

# Every routing decision recorded with its message (issue 20).
DECISIONS_VERSION = 4
MIGRATIONS[4] = (
    sa.schema.CreateTable(decisions),
    *(sa.schema.CreateIndex(index) for index in decisions.indexes),
)

# The sweep rings a stalled conversation again only after a growing wait (issue 22).
MIGRATIONS[5] = (
    "ALTER TABLE conversations ADD COLUMN sweep_rings INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE conversations ADD COLUMN swept_at FLOAT",
)


class SchemaError(ZoozlError):
    """The database holds a schema this version of zoozl cannot use."""


def create_schema(engine: sa.Engine) -> None:
    """Create the tables, or migrate them up to `SCHEMA_VERSION`; never drop data.

    A store without a version gets every table at once; a store with one is
    changed by the steps of `MIGRATIONS`, in order, in one transaction, and then
    gets back any table it lost (the steps come first: they create the tables
    their version adds).
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several processes may start on an empty database at once.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        schema_version.create(conn, checkfirst=True)
        found = conn.execute(sa.select(sa.func.max(schema_version.c.version)))
        version = found.scalar()
        if version is None:
            metadata.create_all(conn, checkfirst=True)
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
            return
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"the store has schema version {version}, newer than this "
                f"zoozl's {SCHEMA_VERSION}; upgrade zoozl"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                conn.execute(
                    sa.text(statement) if isinstance(statement, str) else statement
                )
            conn.execute(schema_version.insert().values(version=step))
        metadata.create_all(conn, checkfirst=True)


def stored_version(engine: sa.Engine) -> int | None:
    """The schema version of the store (None: no zoozl schema there yet)."""
    with reading(engine) as conn:
        if not sa.inspect(conn).has_table(schema_version.name):
            return None
        found = conn.execute(sa.select(sa.func.max(schema_version.c.version)))
        version: int | None = found.scalar()
        return version
