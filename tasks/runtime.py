"""What a worker process holds once: the store, the bot (model), senders, the bus."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from functools import cached_property

from celery import Celery

from tasks.bus import ReplyBus, make_bus
from tasks.names import DELIVER
from tasks.preparers import Prepare, make_preparers
from tasks.senders import Sender, make_senders
from zoozl.chatbot import Message
from zoozl.config import Config
from zoozl.engine import Bot
from zoozl.processing import Processor
from zoozl.store import InboxRow, Store

log = logging.getLogger(__name__)


class Runtime:
    """Per-process resources of a worker, built lazily (never at import time)."""

    def __init__(
        self,
        app: Celery,
        config: Config,
        store: Store | None = None,
        bus: ReplyBus | None = None,
        bot: Bot | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self._store = store
        self._bus = bus
        self._bot = bot
        self._lock = threading.Lock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store.from_url(self.config.database_url)
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
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        if self._store is not None:
            self._store.engine.dispose(close=False)
        self._bus = None

    @cached_property
    def senders(self) -> dict[str, Sender]:
        return make_senders(self.config, self)

    @cached_property
    def preparers(self) -> dict[str, Prepare]:
        return make_preparers(self.config)

    def prepare(self, row: InboxRow) -> Message:
        """The message the bot sees: the row's channel may fetch files first."""
        preparer = self.preparers.get(row.channel)
        return preparer(row) if preparer else row.message

    def ring_deliver(self, outbox_id: int) -> None:
        """Ask for delivery of a reply; in a broker outage the sweep sends it later."""
        try:
            self.app.send_task(DELIVER, [outbox_id])
        except Exception as exc:  # kombu raises many kinds; the row is safe
            log.warning(
                "outbox %s: broker unavailable (%s); the sweep sends it", outbox_id, exc
            )

    def processor(self) -> Processor:
        """A processor that rings `deliver` as soon as each reply is committed."""
        return Processor(
            self.store,
            self.bot,
            self.owner,
            self.config.lease_seconds,
            on_reply=self.ring_deliver,
            prepare=self.prepare,
        )
