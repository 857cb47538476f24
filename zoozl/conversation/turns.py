"""Turns: a conversation's pending messages handled in order, one per turn, under
its lease; the thread that renews leases of long turns; the transcript a plugin
reads back; and the log line and metrics of each handled message."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, MutableSequence, Sequence
from typing import overload

from zoozl.conversation.engine import Bot, Turn
from zoozl.errors import LeaseLost
from zoozl.ops import metrics
from zoozl.plugin import MESSAGES_KEPT, Conversation, Message
from zoozl.store import Claim, Decision, Done, InboxRow, Lease, Store
from zoozl.store.decisions import GAVE_UP
from zoozl.store.history import earlier_messages

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
    replies: Sequence[Message] = ()  # the outbox row's replies
    alone: bool = False  # no other reply of the conversation was pending


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
            done.replies,
            outcome.alone,
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
        done = Done(
            row.id, row.channel, state, turn.replies, row.reply_address, turn.decision
        )
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
        return Turn([self.bot.apology()], conversation, decision=Decision(GAVE_UP))

    def _turn(self, row: InboxRow, conversation: Conversation) -> Turn:
        if row.kind == "greet":
            return self.bot.greet(conversation)
        message = self.prepare(row) if self.prepare else row.message
        return self.bot.answer(conversation, message)


# leases -----------------------------------------------------------------------


class LeaseKeeper:
    """Renews every held lease once it is a third of `seconds` old.

    Most messages are handled in milliseconds and are never renewed: the
    thread only writes for turns that run long. It starts on first use, and
    again in a forked child (threads do not survive a fork).
    """

    def __init__(self, store: Store, seconds: float) -> None:
        self.store = store
        self.seconds = seconds
        self._held: dict[Lease, float] = {}  # lease -> when last taken or renewed
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextlib.contextmanager
    def holding(self, lease: Lease) -> Iterator[None]:
        """Keep `lease` renewed while the block runs."""
        with self._lock:
            self._held[lease] = time.monotonic()
            self._ensure_thread()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(lease, None)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(
            target=self._run, name="zoozl-leases", daemon=True
        )
        self._thread.start()

    def _due(self) -> list[Lease]:
        older = time.monotonic() - self.seconds / 3
        with self._lock:
            return [lease for lease, at in self._held.items() if at <= older]

    def _run(self) -> None:
        while not self._wake.wait(self.seconds / 6):
            for lease in self._due():
                self._renew(lease)

    def _renew(self, lease: Lease) -> None:
        try:
            kept = self.store.renew_lease(lease, self.seconds)
        except Exception:  # the store is down: the commit will be fenced
            log.exception(
                "renewing the lease of conversation %s failed", lease.conversation_id
            )
            return
        with self._lock:
            if lease not in self._held:
                return
            if kept:
                self._held[lease] = time.monotonic()
                return
            del self._held[lease]  # the commit will be fenced; stop renewing
        log.warning("lease on conversation %s lost", lease.conversation_id)


# the transcript ---------------------------------------------------------------


class Transcript(MutableSequence[Message]):
    """A list of messages whose earlier part is loaded on first use.

    Most plugins only read the message being handled: appending and reading
    the last message cost nothing, so the store is asked for the earlier
    messages only when a plugin reads further back.
    """

    def __init__(self, load_earlier: Callable[[], list[Message]]) -> None:
        self._load_earlier: Callable[[], list[Message]] | None = load_earlier
        self._items: list[Message] = []

    @property
    def loaded(self) -> bool:
        """Whether the earlier messages were read from the store."""
        return self._load_earlier is None

    def _all(self) -> list[Message]:
        if self._load_earlier is not None:
            earlier, self._load_earlier = self._load_earlier(), None
            self._items[:0] = earlier
        return self._items

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> MutableSequence[Message]: ...

    def __getitem__(self, index: int | slice) -> Message | MutableSequence[Message]:
        if index == -1 and self._items:  # the message being handled
            return self._items[-1]
        return self._all()[index]

    def __setitem__(self, index, value):  # type: ignore[no-untyped-def]
        self._all()[index] = value

    def __delitem__(self, index: int | slice) -> None:
        del self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __bool__(self) -> bool:
        return bool(self._items) or len(self) > 0

    def insert(self, index: int, value: Message) -> None:
        self._all().insert(index, value)

    def append(self, value: Message) -> None:
        self._items.append(value)

    def __repr__(self) -> str:
        return f"Transcript({self._all()!r})"


# what an operator sees of each handled message --------------------------------

handled_log = logging.getLogger("zoozl.handled")

#: The routes label of a message no plugin took (no help plugin loaded either).
NO_PLUGIN = "help"


def observe_handled(handled: Handled) -> None:
    """Log the handled message at INFO and count it; a few microseconds."""
    row = handled.row
    plugin = handled.plugin or NO_PLUGIN
    if row.kind == "message":
        metrics.ROUTES.labels(plugin).inc()
    metrics.PLUGIN_SECONDS.observe(handled.plugin_seconds)
    metrics.QUEUE_WAIT_SECONDS.observe(max(0.0, handled.started - row.received_at))
    if not handled_log.isEnabledFor(logging.INFO):
        return
    rounded = None if handled.score is None else round(handled.score, 3)
    score = "-" if rounded is None else f"{rounded:.3f}"
    ms = round(handled.seconds * 1000, 1)
    handled_log.info(
        "handled %s conversation=%s channel=%s plugin=%s score=%s ms=%s",
        row.kind,
        row.conversation_id,
        row.channel,
        plugin,
        score,
        ms,
        extra={
            "conversation": row.conversation_id,
            "channel": row.channel,
            "kind": row.kind,
            "plugin": plugin,
            "score": rounded,
            "ms": ms,
        },
    )
