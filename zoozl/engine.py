"""The conversation engine: route a message, run the plugin, decide completion."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading

from zoozl.chatbot import Conversation, InterfaceRoot, Message, Package
from zoozl.config import Config
from zoozl.embeddings import Embedder, make_embedder
from zoozl.errors import PluginError, PluginTimeout
from zoozl.loader import Plugin, load_plugins
from zoozl.routing import Router
from zoozl.runner import is_complete, run_plugin
from zoozl.wording import normalise_text

log = logging.getLogger(__name__)

HELP, CANCEL, GREET = "help", "cancel", "greet"
#: Routing decisions remembered, by message text (the router is fixed once built).
ROUTE_CACHE_SIZE = 4096
APOLOGY = "Sorry, something went wrong on my side. Please try again."
TIMEOUT_APOLOGY = "Sorry, that took me too long. Please try again."


@dataclasses.dataclass
class Turn:
    """The outcome of one message: the replies and the conversation after it."""

    replies: list[Message]
    conversation: Conversation
    plugin: str = ""  # the plugin that answered ("" for none)
    score: float | None = None  # the route's similarity; None when not routed


class Bot:
    """The plugins of one config, their router, and the rules of a conversation."""

    def __init__(self, config: Config, embedder: Embedder | None = None) -> None:
        self.config = config
        self.root = InterfaceRoot(config)
        self.plugins = load_plugins(config, self.root)
        self._by_key = {p.key: p for p in self.plugins}
        self._by_alias = {normalise_text(a): p for p in self.plugins for a in p.aliases}
        self._embedder = embedder
        self._router: Router | None = None
        self._router_lock = threading.Lock()
        self._decide = functools.lru_cache(ROUTE_CACHE_SIZE)(self._decide_uncached)

    def special(self, alias: str) -> Plugin | None:
        """The plugin that provides a special alias (help, cancel, greet)."""
        return self._by_alias.get(alias)

    @property
    def router(self) -> Router:
        """The alias router; built (and the model loaded) on first use."""
        with self._router_lock:
            if self._router is None:
                embedder = self._embedder or make_embedder(
                    self.config.embedder, self.config.model_cache_path
                )
                self._router = Router.of_plugins(self.plugins, embedder, self.config)
            return self._router

    def load(self) -> None:
        """Load the model and the alias matrix now rather than on the first message."""
        self.router.route("hello")

    def greet(self, conversation: Conversation) -> Turn:
        """Run the greet plugin for a newly connected talker."""
        plugin = self.special(GREET)
        if plugin is None:
            return Turn([], conversation)
        turn = self._run(plugin, conversation)
        turn.conversation.ongoing = True
        return turn

    def answer(self, conversation: Conversation, message: Message) -> Turn:
        """Handle one message of the talker and return the replies and new state.

        The conversation is the caller's copy, freshly read from the store: the
        turn changes it in place (a failed turn returns a closed one instead).
        """
        conversation.ongoing = True
        conversation.messages.append(message)
        current = self._by_key.get(conversation.subject)
        cancel = self.special(CANCEL)
        if current is not None and current is not cancel:
            typed = normalise_text(message.text)
            if cancel is not None and typed in map(normalise_text, cancel.aliases):
                return self._cancel(cancel, conversation)
            return self._run(current, conversation)
        plugin, score = self._route(message.text)
        if plugin is None:  # no route and no help plugin: never leave it unanswered
            return Turn(
                [self._reply(self.config.fallback_text)],
                self._closed(conversation),
                score=score,
            )
        if plugin is cancel:
            conversation.subject = ""
            turn = self._cancel(cancel, conversation)
        else:
            conversation.subject = plugin.key
            turn = self._run(plugin, conversation)
        turn.score = score
        return turn

    def apology(self) -> Message:
        """The reply when a message cannot be handled."""
        return self._reply(APOLOGY)

    def _route(self, text: str) -> tuple[Plugin | None, float | None]:
        """The plugin for a text and the route's score (1 for a typed alias).

        No route above the threshold is the help plugin's, with the best score.
        """
        # A typed alias is its plugin, whatever near aliases other plugins have.
        exact = self._by_alias.get(normalise_text(text))
        if exact is not None:
            return exact, 1.0
        key, score = self._decide(text)
        return (self._by_key[key] if key else self.special(HELP)), score

    def _decide_uncached(self, text: str) -> tuple[str, float | None]:
        """The plugin key the router picks for a text ("" for none) and its score;
        the same text, the same pick."""
        route = self.router.route(text)
        if route is None:
            return "", None
        log.debug("routed %r to %s (%.3f)", text, route.plugin, route.score)
        return route.plugin, route.score

    def _cancel(self, cancel: Plugin, conversation: Conversation) -> Turn:
        turn = self._run(cancel, conversation)
        return Turn(turn.replies, self._closed(turn.conversation), turn.plugin)

    def _closed(self, conversation: Conversation) -> Conversation:
        return Conversation(talker=conversation.talker, channel=conversation.channel)

    def _run(self, plugin: Plugin, conversation: Conversation) -> Turn:
        replies: list[Message] = []
        package = Package(conversation, self._collector(replies))
        try:
            run_plugin(plugin.instance, self.root, package, self.config.plugin_timeout)
            done = is_complete(plugin.instance, package)
        except PluginTimeout:
            log.error(
                "plugin %s stopped after %ss", plugin.key, self.config.plugin_timeout
            )
            closed = self._closed(conversation)
            return Turn([self._reply(TIMEOUT_APOLOGY)], closed, plugin.key)
        except Exception:
            log.exception("plugin %s failed", plugin.key)
            return Turn([self._reply(APOLOGY)], self._closed(conversation), plugin.key)
        if done and plugin.key == conversation.subject:
            return Turn(replies, self._closed(package.conversation), plugin.key)
        return Turn(replies, package.conversation, plugin.key)

    def _reply(self, reply: str | Message) -> Message:
        if isinstance(reply, str):
            return Message(reply, author=self.config.author)
        if isinstance(reply, Message):
            return Message(reply.parts, author=self.config.author, sent=reply.sent)
        raise PluginError(
            f"a reply must be a string or a Message, not {type(reply).__name__}"
        )

    def _collector(self, replies: list[Message]):  # type: ignore[no-untyped-def]
        def callback(reply: str | Message) -> None:
            replies.append(self._reply(reply))

        return callback
