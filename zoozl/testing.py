"""A test harness for plugin authors: an in-process bot you talk to in pytest.

    from zoozl.testing import BotHarness

    def test_my_plugin():
        bot = BotHarness({"extensions": ["my_plugin_module"]})
        assert bot.say("call myplugin") == ["Hello this is my plugin response"]

It runs the same engine, store and processing as the server (an in-memory
SQLite store), without network, broker or threads of its own.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoozl.config import Config, config_from_dict
from zoozl.conversation.engine import Bot
from zoozl.conversation.turns import Processor
from zoozl.embedding.base import Embedder
from zoozl.embedding.factory import make_embedder
from zoozl.plugin import Message
from zoozl.store import Store, incoming_text

_talkers = itertools.count(1)


@functools.cache
def shared_embedder(name: str, cache_dir: Path | None = None) -> Embedder:
    """One embedder per kind per test process (the model loads once)."""
    return make_embedder(name, cache_dir)


class BotHarness:
    """A bot built from a config dict; `say()` returns the reply texts."""

    def __init__(
        self,
        config: Mapping[str, Any] | Config | None = None,
        talker: str | None = None,
        channel: str = "test",
        bot: Bot | None = None,
    ) -> None:
        if not isinstance(config, Config):
            config = config_from_dict(dict(config or {}))
        self.config = config
        if bot is None:
            embedder = shared_embedder(config.embedder, config.model_cache_path)
            bot = Bot(config, embedder)
        self.bot = bot
        self.store = Store.from_url("sqlite://")
        self.talker = talker or f"talker-{next(_talkers)}"
        self.conversation_id = self.store.conversation_for(channel, self.talker)
        self.processor = Processor(self.store, self.bot, "harness", 60.0)

    def talk_as(self, talker: str) -> BotHarness:
        """Another talker on the same bot (and the same loaded plugins)."""
        return BotHarness(self.config, talker=talker, bot=self.bot)

    def greet(self) -> list[str]:
        """What the bot says when this talker connects."""
        self.store.record(self.conversation_id, Message(), kind="greet")
        return self._replies()

    def say(self, text: str) -> list[str]:
        """Send a message and return the texts of the bot's replies, in order."""
        return [m.text for m in self.say_message(Message(text))]

    def say_message(self, message: Message) -> list[Message]:
        """Send a full Message (with files, say) and return the reply Messages."""
        incoming_text(message.text, self.config.max_message_chars)
        self.store.record(self.conversation_id, message)
        return self._reply_messages()

    @property
    def conversation(self) -> dict[str, Any]:
        """The stored conversation state (subject, data, ...)."""
        return self.store.conversation(self.conversation_id).state

    def _replies(self) -> list[str]:
        return [m.text for m in self._reply_messages()]

    def _reply_messages(self) -> list[Message]:
        self.processor.process(self.conversation_id)
        replies: list[Message] = []
        for row in self.store.pending_outbox(self.conversation_id):
            replies.extend(row.replies)
            self.store.mark_sent(row.id)
        return replies
