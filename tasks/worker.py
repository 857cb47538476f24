"""A worker: what its process holds once (store, bot, senders, reply bus), the reply
leg (a handled message's replies go to the web process or to `deliver`), and, in
embedded mode, its threads.

Embedded mode rings work on threads of this process, no broker at all
(`InProcessDispatch`): conversations wait in one first-in, first-out line; a
worker thread takes one, handles its next message and, while more are pending,
puts it at the back of the line. So a talker who sends thirty messages at once
does not hold a thread while other talkers wait. Deliveries to the network (Slack,
SMTP) run on threads of their own, so replies never queue behind messages.
Scaled mode rings Celery tasks instead (`tasks.app.CeleryDispatch`).
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from tasks.buses import make_bus
from tasks.contract import Dispatch, ReplyBus
from tasks.delivery import Sender, deliver_row
from tasks.websocket import WebsocketNotifier
from zoozl.channels import WEB_CHANNELS, email, slack, websocket
from zoozl.config import Config
from zoozl.conversation.engine import Bot
from zoozl.conversation.turns import Handled, Processor, observe_handled
from zoozl.embedding.together import lend_while_waiting
from zoozl.plugin import Message
from zoozl.store import InboxRow, Store
from zoozl.store.database import is_busy
from zoozl.store.opening import open_store

log = logging.getLogger(__name__)

#: A channel's hook that turns an inbox row into the bot's message (Slack: files).
Prepare = Callable[[InboxRow], Message]


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Runtime:
    """Per-process resources of a worker, built lazily (never at import time).

    `dispatch` rings further work: Celery tasks in scaled mode, the worker
    threads of this process in embedded mode.
    """

    def __init__(
        self,
        config: Config,
        dispatch: Dispatch | None = None,
        store: Store | None = None,
        bus: ReplyBus | None = None,
        bot: Bot | None = None,
    ) -> None:
        self.config = config
        self._dispatch = dispatch
        self._store = store
        self._bus = bus
        self._bot = bot
        self._lock = threading.Lock()
        self.owner = _owner()

    @property
    def dispatch(self) -> Dispatch:
        if self._dispatch is None:
            raise RuntimeError("the runtime was built without a dispatch")
        return self._dispatch

    @dispatch.setter
    def dispatch(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.config.database_url)
            return self._store

    @property
    def bus(self) -> ReplyBus:
        with self._lock:
            if self._bus is None:
                self._bus = make_bus(
                    self.config.reply_bus_url or self.config.broker_url
                )
            return self._bus

    @property
    def bot(self) -> Bot:
        with self._lock:
            if self._bot is None:
                self._bot = Bot(self.config)
            return self._bot

    def load_model(self) -> None:
        """Load plugins and the embedding model now (before forking children)."""
        self.bot.load()

    def after_fork(self) -> None:
        """In a forked child: drop connections inherited from the parent."""
        self.owner = _owner()
        if self._store is not None:
            self._store.engine.dispose(close=False)
        self._bus = None
        for name in ("processor", "notifier", "senders"):
            self.__dict__.pop(name, None)

    @cached_property
    def senders(self) -> dict[str, Sender]:
        """The sender of every channel this config serves."""
        senders: dict[str, Sender] = {websocket.NAME: self.notifier}
        if self.config.slack_port is not None:
            from tasks.slack import SlackSender  # only Slack bots load slack_sdk

            senders[slack.NAME] = SlackSender(self.config, self.store)
        if self.config.email_port is not None:
            from tasks.email import SmtpSender

            senders[email.NAME] = SmtpSender(self.config, self.store)
        return senders

    @cached_property
    def preparers(self) -> dict[str, Prepare]:
        """The hooks of the channels this config serves (Slack fetches files)."""
        preparers: dict[str, Prepare] = {}
        if self.config.slack_port is not None:
            from tasks.slack import SlackFiles

            preparers[slack.NAME] = SlackFiles(self.config).prepare
        return preparers

    @cached_property
    def notifier(self) -> WebsocketNotifier:
        return WebsocketNotifier(self.bus, self.store)

    @cached_property
    def processor(self) -> Processor:
        return Processor(
            self.store,
            self.bot,
            self.owner,
            self.config.lease_seconds,
            prepare=self.prepare,
        )

    def prepare(self, row: InboxRow) -> Message:
        """The message the bot sees: the row's channel may fetch files first."""
        preparer = self.preparers.get(row.channel)
        return preparer(row) if preparer else row.message

    def handle(self, conversation_id: int) -> bool:
        """Handle the conversation's next message and send its replies on their way.

        Returns whether more messages of the conversation are pending.
        """
        handled = self.processor.process_one(conversation_id)
        if handled is None:
            return False
        observe_handled(handled)
        if handled.outbox_id is not None:
            self._reply_ready(handled, handled.outbox_id)
        return handled.more

    def _reply_ready(self, handled: Handled, outbox_id: int) -> None:
        row = handled.row
        if row.channel in WEB_CHANNELS:
            # The web process sends a websocket row it is given unread when no
            # earlier reply of the conversation was pending (ingress/websocket).
            given = handled.alone and row.channel == websocket.NAME
            replies = handled.replies if given else None
            try:
                self.notifier.notify(
                    row.conversation_id, outbox_id, row.reply_address, replies
                )
            except Exception as exc:  # the bus is down: the sweep notifies again
                log.warning("outbox %s: reply bus unavailable (%s)", outbox_id, exc)
        else:
            self.dispatch.deliver(outbox_id)

    def deliver(self, outbox_id: int, retries: int = 0) -> float | None:
        """Send an outbox row; seconds to wait before a retry, or None when done."""
        return deliver_row(self.store, self.senders, outbox_id, retries)


# embedded mode's worker threads ---------------------------------------------------

#: Threads that send Slack and e-mail replies.
DELIVERY_THREADS = 2
#: Worker threads beyond `worker_threads` that take messages only while others
#: wait for a model run: their texts, if new, join that thread's next run.
LENDING_THREADS = 12


class InProcessDispatch:
    """Rings `process` and `deliver` on threads of this process.

    `handle(conversation_id)` handles one message and says whether more wait;
    `deliver(outbox_id, retries)` sends a row and says how long before a retry.

    At most `threads` messages are handled at once, but a thread whose texts
    wait for a model run (zoozl.embedding.together) lends its place meanwhile:
    one of `lending` more threads takes the next message, so the new texts of
    up to `threads + lending` messages go through one run, while no more than
    `threads` at a time contend for the store and the interpreter. A thread
    whose run is over takes its place back before any new message is taken.
    """

    def __init__(
        self,
        handle: Callable[[int], bool],
        deliver: Callable[[int, int], float | None],
        threads: int,
        lending: int = 0,
    ) -> None:
        self._handle = handle
        self._deliver_row = deliver
        self.threads = threads
        self.lending = lending
        self._line: collections.deque[int] = collections.deque()
        self._waiting: set[int] = set()  # in the line
        self._running: set[int] = set()  # being handled now
        self._again: set[int] = set()  # rung while running
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # a message for a thread
        self._room = threading.Condition(self._lock)  # a place to take back
        self._busy = 0  # threads handling a message, not waiting for a run
        self._reclaiming = 0  # threads waiting to take their place back
        self._stopped = False
        self._workers: list[threading.Thread] = []
        self._delivery = ThreadPoolExecutor(DELIVERY_THREADS, "zoozl-deliver")
        self._timers: set[threading.Timer] = set()

    def start(self) -> None:
        """Start the worker threads."""
        for i in range(self.threads + self.lending):
            worker = threading.Thread(
                target=self._work, name=f"zoozl-worker-{i}", daemon=True
            )
            worker.start()
            self._workers.append(worker)

    def stop(self, timeout: float = 10.0) -> None:
        """Let running messages finish, then stop; pending ones stay in the store."""
        with self._ready:
            self._stopped = True
            self._ready.notify_all()
            self._room.notify_all()
        for timer in list(self._timers):
            timer.cancel()
        for worker in self._workers:
            worker.join(timeout)
        self._delivery.shutdown(wait=True, cancel_futures=True)

    def process(self, conversation_id: int) -> bool:
        with self._ready:
            if conversation_id in self._running:
                self._again.add(conversation_id)
            elif conversation_id not in self._waiting:
                self._enqueue(conversation_id)
                self._wake()
        return True

    def _enqueue(self, conversation_id: int) -> None:
        """Put a conversation at the back of the line (lock held)."""
        self._waiting.add(conversation_id)
        self._line.append(conversation_id)

    def lend(self) -> None:
        """The calling worker thread waits for a model run: another may work."""
        with self._ready:
            self._busy -= 1
            self._wake()

    def reclaim(self) -> None:
        """The calling worker thread's run is over: it works again, once a
        place is free (before any new message is taken)."""
        with self._ready:
            self._reclaiming += 1
            while self._busy >= self.threads and not self._stopped:
                self._room.wait()
            self._reclaiming -= 1
            self._busy += 1
            self._wake()

    def _wake(self) -> None:
        """Wake the thread a free place is for: one taking its place back
        first, else one to take the next message (lock held)."""
        if self._busy >= self.threads:
            return
        if self._reclaiming:
            self._room.notify()
        elif self._line:
            self._ready.notify()

    def queued(self) -> int | None:
        with self._ready:
            return len(self._line)

    def deliver(self, outbox_id: int, delay: float = 0.0, retries: int = 0) -> None:
        if delay > 0:
            timer = threading.Timer(delay, self._retry, (outbox_id, retries))
            timer.daemon = True
            self._timers.add(timer)
            timer.start()
            return
        try:
            self._delivery.submit(self._deliver, outbox_id, retries)
        except RuntimeError:  # stopping: the sweep sends it after a restart
            log.info("outbox %s: not sent, the server is stopping", outbox_id)

    def _retry(self, outbox_id: int, retries: int) -> None:
        self._timers = {t for t in self._timers if t.is_alive()}
        self.deliver(outbox_id, retries=retries)

    def _deliver(self, outbox_id: int, retries: int) -> None:
        try:
            wait = self._deliver_row(outbox_id, retries)
        except Exception:  # the store is down: the sweep rings it again
            log.exception("delivering outbox %s failed", outbox_id)
            return
        if wait is not None:
            self.deliver(outbox_id, wait, retries + 1)

    def _next(self) -> int | None:
        with self._ready:
            while not self._stopped and (
                not self._line or self._busy >= self.threads or self._reclaiming
            ):
                self._ready.wait()
            if self._stopped:
                return None
            conversation_id = self._line.popleft()
            self._waiting.discard(conversation_id)
            self._running.add(conversation_id)
            self._busy += 1
            return conversation_id

    def _work(self) -> None:
        lend_while_waiting(self)
        while (conversation_id := self._next()) is not None:
            more = False
            try:
                more = self._handle(conversation_id)
            except Exception as exc:  # the store is down: the sweep rings it again
                if is_busy(exc):
                    log.warning("conversation %s: store busy, retried", conversation_id)
                    more = True
                else:
                    log.exception("conversation %s: failed", conversation_id)
            with self._ready:
                self._running.discard(conversation_id)
                if conversation_id in self._again or more:
                    self._again.discard(conversation_id)
                    self._enqueue(conversation_id)
                # This thread takes the next message itself (`_next`): waking
                # another for it would only cost a context switch. A thread
                # waiting to take its place back goes first.
                self._busy -= 1
                if self._reclaiming:
                    self._room.notify()
