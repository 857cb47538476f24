"""Outbox operations of the store: replies waiting for, or done with, delivery."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from zoozl.store import statements as sql
from zoozl.store.database import reading
from zoozl.store.rows import FAILED, PENDING, OutboxRow, outbox_row
from zoozl.store.schema import outbox
from zoozl.store.transactions import transaction


class OutboxStore:
    """Mixed into Store: it provides `engine` and `clock`."""

    engine: sa.Engine
    clock: Callable[[], float]

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        """Load one outbox row."""
        query = sa.select(outbox).where(outbox.c.id == outbox_id)
        with reading(self.engine) as conn:
            row = conn.execute(query).first()
        return outbox_row(row) if row else None

    def pending_outbox(self, conversation_id: int) -> list[OutboxRow]:
        """Undelivered replies of a conversation, oldest first."""
        with transaction(self.engine, write=False) as tx:
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
        with transaction(self.engine) as tx:
            return tx.run(sql.MARK_SENT, params).rowcount == 1

    def mark_attempt(self, outbox_id: int, error: str) -> None:
        """Count a failed delivery attempt that will be retried."""
        self._update_outbox(
            outbox_id, True, attempts=outbox.c.attempts + 1, last_error=error[:2000]
        )

    def count_notice(self, outbox_id: int) -> None:
        """Count a repeated "replies are ready" notice of a websocket row."""
        self._update_outbox(outbox_id, True, attempts=outbox.c.attempts + 1)

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
        with reading(self.engine) as conn:
            return [int(i) for i in conn.execute(query).scalars()]
