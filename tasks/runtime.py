"""What a worker process holds once: store, bot, senders, bus, and the reply leg."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from functools import cached_property

from tasks.bus import make_bus
from tasks.contract import Dispatch, ReplyBus
from tasks.delivery import deliver_row
from tasks.notifier import WebsocketNotifier
from tasks.preparers import Prepare, make_preparers
from tasks.senders import Sender, make_senders
from zoozl.chatbot import Message
from zoozl.config import Config
from zoozl.engine import Bot
from zoozl.observe import observe_handled
from zoozl.processing import Handled, Processor
from zoozl.store import InboxRow, Store
from zoozl.store.opening import open_store

log = logging.getLogger(__name__)

WEBSOCKET = "websocket"
#: Channels whose replies the web process that took the message hands out.
WEB_CHANNELS = (WEBSOCKET, "api")


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
        return make_senders(self.config, self)

    @cached_property
    def preparers(self) -> dict[str, Prepare]:
        return make_preparers(self.config)

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
            web = row.reply_address.get("web")
            try:
                self.notifier.notify(row.conversation_id, outbox_id, web)
            except Exception as exc:  # the bus is down: the sweep notifies again
                log.warning("outbox %s: reply bus unavailable (%s)", outbox_id, exc)
        else:
            self.dispatch.deliver(outbox_id)

    def deliver(self, outbox_id: int, retries: int = 0) -> float | None:
        """Send an outbox row; seconds to wait before a retry, or None when done."""
        return deliver_row(self, outbox_id, retries)
