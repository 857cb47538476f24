"""Process a conversation's inbox in order under its lease; replies to the outbox."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

from zoozl.chatbot import Conversation, Message
from zoozl.engine import Bot, Turn
from zoozl.errors import LeaseLost
from zoozl.store import InboxRow, Lease, Store

log = logging.getLogger(__name__)

#: Runs on one inbox row before it is given up with an apology; a run fails
#: when something other than the plugin raises (a plugin's errors are answered).
MAX_ATTEMPTS = 3


@contextlib.contextmanager
def _renewing(store: Store, lease: Lease, seconds: float) -> Iterator[None]:
    """Renew the lease every third of its length while the block runs."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(seconds / 3):
            if not store.renew_lease(lease, seconds):
                log.warning("lease on conversation %s lost", lease.conversation_id)
                return

    thread = threading.Thread(target=renew, name="zoozl-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class Processor:
    """Runs a conversation's pending messages through the bot, one worker at a time.

    `prepare` turns an inbox row into the message the bot sees (a channel may
    fetch attachments there); `on_reply` hears of each committed outbox row.
    """

    def __init__(
        self,
        store: Store,
        bot: Bot,
        owner: str,
        lease_seconds: float,
        on_reply: Callable[[int], None] = lambda outbox_id: None,
        prepare: Callable[[InboxRow], Message] | None = None,
    ) -> None:
        self.store = store
        self.bot = bot
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.on_reply = on_reply
        self.prepare = prepare

    def process(self, conversation_id: int) -> int:
        """Handle every pending message of the conversation; return how many.

        Without the lease it returns at once: the holder handles the new rows,
        because after releasing it looks again (and loops) for rows that arrived
        while it held the lease.
        """
        handled = 0
        while True:
            lease = self.store.acquire_lease(
                conversation_id, self.owner, self.lease_seconds
            )
            if lease is None:
                return handled
            try:
                handled += self._drain(lease)
            except LeaseLost:
                log.warning(
                    "conversation %s: lease lost, not committed", conversation_id
                )
                return handled
            finally:
                self.store.release_lease(lease)
            if self.store.next_pending(conversation_id) is None:
                return handled

    def _drain(self, lease: Lease) -> int:
        handled = 0
        while (row := self.store.next_pending(lease.conversation_id)) is not None:
            if self.store.count_attempt(row.id) > MAX_ATTEMPTS:
                turn = self._give_up(row)
            else:
                with _renewing(self.store, lease, self.lease_seconds):
                    turn = self._turn(row)
            outbox_id = self.store.commit_turn(
                lease, row.id, turn.conversation.to_dict(), turn.replies, row.route
            )
            handled += 1
            if outbox_id is not None:
                self.on_reply(outbox_id)
        return handled

    def _conversation(self, row: InboxRow) -> Conversation:
        stored = self.store.conversation(row.conversation_id)
        return Conversation.from_dict(stored.state, stored.talker, stored.channel)

    def _give_up(self, row: InboxRow) -> Turn:
        """A row every run failed on: answer it with an apology and move on, so
        the talker's later messages are not stuck behind it."""
        log.error(
            "inbox %s failed %d runs; answered with an apology", row.id, MAX_ATTEMPTS
        )
        return Turn([self.bot.apology()], self._conversation(row))

    def _turn(self, row: InboxRow) -> Turn:
        conversation = self._conversation(row)
        if row.kind == "greet":
            return self.bot.greet(conversation)
        message = self.prepare(row) if self.prepare else row.message
        return self.bot.answer(conversation, message)
