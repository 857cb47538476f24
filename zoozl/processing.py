"""Handle a conversation's pending messages in order, one per turn, under its lease."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from zoozl.chatbot import MESSAGES_KEPT, Conversation, Message
from zoozl.engine import Bot, Turn
from zoozl.errors import LeaseLost
from zoozl.leases import LeaseKeeper
from zoozl.store import Claim, Done, InboxRow, Store
from zoozl.store.history import earlier_messages
from zoozl.transcript import Transcript

log = logging.getLogger(__name__)

#: Runs on one inbox row before it is given up with an apology; a run fails
#: when something other than the plugin raises (a plugin's errors are answered).
MAX_ATTEMPTS = 3
#: State key: the inbox id where the ongoing conversation began (its transcript).
SINCE = "since"


@dataclasses.dataclass(frozen=True)
class Handled:
    """One message handled and committed."""

    row: InboxRow
    outbox_id: int | None  # None: no replies
    more: bool  # more messages of the conversation are pending
    seconds: float  # from the claim to the commit
    plugin: str = ""  # the plugin that answered ("" for none)
    score: float | None = None  # the route's similarity; None when not routed
    started: float = 0.0  # wall clock (time.time) when the claim began
    plugin_seconds: float = 0.0  # the engine's turn: routing and plugin


class Processor:
    """Handles a conversation's messages through the bot, one worker at a time.

    Each turn is two transactions: `claim` (lease + oldest pending message)
    and `finish` (state, replies, message done, lease released). A turn
    handles one message; the caller rings again while `more` is pending, so a
    talker who sends many messages does not hold a worker while others wait.
    `prepare` turns an inbox row into the message the bot sees (a channel may
    fetch attachments there).
    """

    def __init__(
        self,
        store: Store,
        bot: Bot,
        owner: str,
        lease_seconds: float,
        prepare: Callable[[InboxRow], Message] | None = None,
    ) -> None:
        self.store = store
        self.bot = bot
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.prepare = prepare
        self.leases = LeaseKeeper(store, lease_seconds)

    def process(self, conversation_id: int) -> int:
        """Handle every pending message of the conversation; return how many."""
        handled = 0
        while (turn := self.process_one(conversation_id)) is not None:
            handled += 1
            if not turn.more:
                break
        return handled

    def process_one(self, conversation_id: int) -> Handled | None:
        """Handle the oldest pending message; None without the lease or work."""
        wall, started = time.time(), time.perf_counter()
        claim = self.store.claim(conversation_id, self.owner, self.lease_seconds)
        if claim is None:
            return None
        finished = False
        try:
            with self.leases.holding(claim.lease):
                done, turn, took = self._done(claim)
                outcome = self.store.finish(claim.lease, done)
            finished = True
        except LeaseLost:
            log.warning("conversation %s: lease lost, not committed", conversation_id)
            return None
        finally:
            if not finished:
                self.store.release_lease(claim.lease)
        seconds = time.perf_counter() - started
        more = outcome.more
        return Handled(
            claim.row,
            outcome.outbox_id,
            more,
            seconds,
            turn.plugin,
            turn.score,
            wall,
            took,
        )

    def _done(self, claim: Claim) -> tuple[Done, Turn, float]:
        """What the turn commits, the turn, and the seconds the engine took."""
        row = claim.row
        conversation = self._conversation(claim)
        started = time.perf_counter()
        if claim.attempts > MAX_ATTEMPTS:
            turn = self._give_up(row, conversation)
        else:
            turn = self._turn(row, conversation)
        took = time.perf_counter() - started
        state = turn.conversation.to_dict(messages=False)
        if turn.conversation.uuid == conversation.uuid:  # the conversation goes on
            state[SINCE] = claim.conversation.state.get(SINCE) or row.id
        done = Done(row.id, row.channel, state, turn.replies, row.reply_address)
        return done, turn, took

    def _conversation(self, claim: Claim) -> Conversation:
        stored = claim.conversation
        conversation = Conversation.from_dict(
            stored.state, stored.talker, stored.channel
        )
        since = stored.state.get(SINCE)
        if since is not None and not conversation.messages:
            before, limit = claim.row.id, MESSAGES_KEPT - 1
            conversation.messages = Transcript(
                lambda: earlier_messages(self.store, stored.id, since, before, limit)
            )
        elif not conversation.messages:
            conversation.messages = Transcript(list)
        return conversation

    def _give_up(self, row: InboxRow, conversation: Conversation) -> Turn:
        """A row every run failed on: answer it with an apology and move on, so
        the talker's later messages are not stuck behind it."""
        log.error(
            "inbox %s failed %d runs; answered with an apology", row.id, MAX_ATTEMPTS
        )
        return Turn([self.bot.apology()], conversation)

    def _turn(self, row: InboxRow, conversation: Conversation) -> Turn:
        if row.kind == "greet":
            return self.bot.greet(conversation)
        message = self.prepare(row) if self.prepare else row.message
        return self.bot.answer(conversation, message)
