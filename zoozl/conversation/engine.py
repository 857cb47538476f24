"""The conversation engine: route a message, run the plugin, decide completion.

`Bot` holds the plugins of one config and their router and applies the rules of a
conversation (subject, cancel, greet, help). Below it, `run_plugin` runs one plugin
call with a time limit: def or async def, the old one-argument signature or the new.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import functools
import inspect
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from zoozl.config import Config
from zoozl.conversation.loader import LoadedPlugin, load_labelled, load_plugins
from zoozl.embedding.base import Embedder
from zoozl.embedding.factory import make_embedder
from zoozl.errors import PluginError, PluginTimeout
from zoozl.plugin import Conversation, Interface, InterfaceRoot, Message, Package
from zoozl.routing.normalise import normalise_text
from zoozl.routing.router import Router
from zoozl.store import decisions as rules
from zoozl.store.rows import Decision

log = logging.getLogger(__name__)

HELP, CANCEL, GREET = "help", "cancel", "greet"
#: Routing decisions remembered, by normalised text (the router is fixed once
#: built, and decides on the normalised form alone: "Tell me a joke!", "tell me
#: a joke" and "please tell me a joke" are one decision).
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
    decision: Decision | None = None  # how the message was decided (recorded)


class Bot:
    """The plugins of one config, their router, and the rules of a conversation."""

    def __init__(self, config: Config, embedder: Embedder | None = None) -> None:
        self.config = config
        self.root = InterfaceRoot(config)
        self.plugins = load_plugins(config, self.root)
        self.labelled = load_labelled(config, self.plugins)
        self._by_key = {p.key: p for p in self.plugins}
        self._by_alias = {normalise_text(a): p for p in self.plugins for a in p.aliases}
        # Built now (its model loads on first use): a bad model folder stops start-up.
        self._embedder = embedder or make_embedder(
            config.embedder, config.model_cache_path
        )
        self._router: Router | None = None
        self._router_lock = threading.Lock()
        self._decide = functools.lru_cache(ROUTE_CACHE_SIZE)(self._decide_uncached)

    def special(self, alias: str) -> LoadedPlugin | None:
        """The plugin that provides a special alias (help, cancel, greet)."""
        return self._by_alias.get(alias)

    @property
    def router(self) -> Router:
        """The alias router; built (and the model loaded) on first use."""
        with self._router_lock:
            if self._router is None:
                self._router = Router.of_plugins(
                    self.plugins, self._embedder, self.config, self.labelled
                )
            return self._router

    def load(self) -> None:
        """Load the model and the alias matrix now rather than on the first message."""
        self.router.route("hello")

    def greet(self, conversation: Conversation) -> Turn:
        """Run the greet plugin for a newly connected talker."""
        plugin = self.special(GREET)
        if plugin is None:
            return Turn([], conversation, decision=Decision(rules.GREET))
        turn = self._run(plugin, conversation)
        turn.conversation.ongoing = True
        turn.decision = Decision(rules.GREET, plugin.key)
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
                turn = self._cancel(cancel, conversation)
                turn.decision = Decision(rules.CANCEL, cancel.key)
                return turn
            turn = self._run(current, conversation)
            turn.decision = Decision(rules.SUBJECT, current.key)
            return turn
        plugin, decision = self._route(message.text)
        score = _routed_score(decision)
        if plugin is None:  # no route and no help plugin: never leave it unanswered
            return Turn(
                [self._reply(self.config.fallback_text)],
                self._closed(conversation),
                score=score,
                decision=decision,
            )
        if plugin is cancel:
            conversation.subject = ""
            turn = self._cancel(cancel, conversation)
        else:
            conversation.subject = plugin.key
            turn = self._run(plugin, conversation)
        turn.score = score
        turn.decision = decision
        return turn

    def apology(self) -> Message:
        """The reply when a message cannot be handled."""
        return self._reply(APOLOGY)

    def _route(self, text: str) -> tuple[LoadedPlugin | None, Decision]:
        """The plugin for a text (None: no plugin at all) and how it was decided.

        A message no plugin takes is the help plugin's.
        """
        decision = self._decide(normalise_text(text))
        if decision.plugin:
            return self._by_key[decision.plugin], decision
        helper = self.special(HELP)
        if helper is None:
            return None, decision
        return helper, dataclasses.replace(decision, plugin=helper.key)

    def _decide_uncached(self, text: str) -> Decision:
        """How the router decides a normalised text (plugin "" when nothing is
        routed); the same text, the same decision. The router normalises what
        it is given, and normalising twice changes nothing, so this is its
        decision on every text of that normal form."""
        # A typed alias is its plugin, whatever near aliases other plugins have.
        exact = self.router.typed(text)
        if exact is not None:
            return Decision(rules.TYPED_ALIAS, exact, exact, 1.0)
        label = self.router.labelled(text)
        if label is not None:
            return Decision(rules.LABELLED, label, label, 1.0 if label else None)
        route, stopped = self.router.decide(text)
        if route is None:
            return Decision(rules.NO_CANDIDATE)
        if stopped:
            return Decision(stopped, "", route.plugin, route.score, route.margin)
        log.debug("routed %r to %s (%.3f)", text, route.plugin, route.score)
        rule = rules.CLASSIFIED if route.classified else rules.ROUTE
        return Decision(rule, route.plugin, route.plugin, route.score, route.margin)

    def _cancel(self, cancel: LoadedPlugin, conversation: Conversation) -> Turn:
        turn = self._run(cancel, conversation)
        return Turn(turn.replies, self._closed(turn.conversation), turn.plugin)

    def _closed(self, conversation: Conversation) -> Conversation:
        return Conversation(talker=conversation.talker, channel=conversation.channel)

    def _run(self, plugin: LoadedPlugin, conversation: Conversation) -> Turn:
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


def _routed_score(decision: Decision) -> float | None:
    """The score of the route taken (1 for a typed alias or labelled message);
    None when nothing was routed."""
    taken = decision.plugin and decision.plugin == decision.candidate
    return decision.score if taken else None


# running one plugin call ------------------------------------------------------

#: Positional parameters of plugin methods, by function: resolved once, not per call.
_ARITY: dict[Any, int] = {}


def _positional_count(method: Callable[..., Any]) -> int:
    key = getattr(method, "__func__", method)
    found = _ARITY.get(key)
    if found is None:
        found = _ARITY[key] = _count_positional(method)
    return found


def _count_positional(func: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(1 for p in params if p.kind in kinds)


def _consume(plugin: Interface, root: InterfaceRoot, package: Package) -> Any:
    # consume(package) is the older plugin form; consume(context, package) the new.
    if _positional_count(plugin.consume) == 1:
        return plugin.consume(package)  # type: ignore[call-arg,arg-type]
    return plugin.consume(root, package)


def is_complete(plugin: Interface, package: Package) -> bool:
    """What the plugin says of this conversation after it handled the package."""
    if package.complete is not None:
        return package.complete
    if _positional_count(plugin.is_complete) == 0:
        return bool(plugin.is_complete())  # type: ignore[call-arg]
    return bool(plugin.is_complete(package))


class _Call:
    """One plugin call, run by a plugin thread, with its outcome."""

    def __init__(self, plugin: Interface, root: InterfaceRoot, package: Package):
        self.plugin, self.root, self.package = plugin, root, package
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.abandoned = False
        self.thread_id: int | None = None

    def run(self) -> None:
        self.thread_id = threading.get_ident()
        try:
            result = _consume(self.plugin, self.root, self.package)
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
        except BaseException as exc:  # handed to the caller, never lost
            self.error = exc


async def _await(awaitable: Any) -> Any:
    return await awaitable


class _PluginThreads:
    """Idle daemon threads that run plugin calls; a new one when none is idle.

    Starting a thread per message cost more than most plugins. A call past its
    limit is abandoned: PluginTimeout is raised in its thread, which then exits
    instead of waiting for more work.
    """

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._waiting = 0
        self._lock = threading.Lock()

    def start(self, call: _Call) -> None:
        with self._lock:
            spare = self._waiting > 0
            if spare:
                self._waiting -= 1
        if spare:
            self._idle.put(call)
        else:
            threading.Thread(
                target=self._serve, args=(call,), name="zoozl-plugin", daemon=True
            ).start()

    def wait(self, call: _Call, timeout: float) -> bool:
        """Whether the call finished in time; if not, stop and abandon it."""
        if call.done.wait(timeout):
            return True
        with self._lock:
            if call.done.is_set():
                return True
            call.abandoned = True
            _stop_thread(call.thread_id)
        return False

    def _serve(self, call: _Call) -> None:
        try:
            while True:
                call.run()
                with self._lock:
                    if call.abandoned:
                        return
                    call.done.set()
                    self._waiting += 1
                call = self._idle.get()
        except PluginTimeout:  # a stop that reached an abandoned call late
            return


_threads = _PluginThreads()


def _stop_thread(thread_id: int | None) -> None:
    """Raise PluginTimeout inside the thread at its next Python instruction."""
    if thread_id is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(PluginTimeout)
    )


def run_plugin(
    plugin: Interface, root: InterfaceRoot, package: Package, timeout: float
) -> None:
    """Call the plugin's consume; re-raise what it raised; PluginTimeout past `timeout`.

    The call runs in a plugin thread so a stuck plugin cannot hold the worker:
    past the limit the thread gets PluginTimeout raised inside it and is
    abandoned; its late replies go to a package nobody reads any more.
    """
    call = _Call(plugin, root, package)
    _threads.start(call)
    if not _threads.wait(call, timeout):
        raise PluginTimeout(f"plugin ran longer than {timeout:g} s")
    if call.error is not None:
        raise call.error
