"""The plugin API: messages, conversations, packages and the Interface base class.

Re-exported by `zoozl` itself; `zoozl.plugin` is the same API under its 0.3.0 name.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import uuid
from collections.abc import Callable, Iterable, Mapping, MutableSequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoozl.config import Config

#: How many messages of the ongoing conversation a plugin sees in `messages`.
MESSAGES_KEPT = 50


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass
class MessagePart:
    """One atomic piece of a message: a text, or a binary blob such as a file."""

    text: str = ""
    binary: bytes = b""
    media_type: str = ""
    filename: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.binary, str):
            self.binary = base64.b64decode(self.binary)
        for name in ("text", "media_type", "filename"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"MessagePart.{name} must be a string")
        if not isinstance(self.binary, bytes):
            raise TypeError("MessagePart.binary must be bytes")

    def to_dict(self, binary: bool = True) -> dict[str, str]:
        """Return a JSON-ready dict (binary as base64, or left out)."""
        out = {"text": self.text}
        if self.binary and binary:
            out["binary"] = base64.b64encode(self.binary).decode("ascii")
        if self.media_type:
            out["media_type"] = self.media_type
        if self.filename:
            out["filename"] = self.filename
        return out


@dataclasses.dataclass
class Message:
    """A message between a talker and the bot, made of one or more parts."""

    parts: list[MessagePart] = dataclasses.field(default_factory=list)
    author: str = ""
    sent: datetime.datetime = dataclasses.field(default_factory=_utcnow)

    def __init__(
        self,
        parts: str | Iterable[MessagePart | Mapping[str, Any]] = (),
        author: str = "",
        sent: datetime.datetime | str | None = None,
    ) -> None:
        if isinstance(parts, str):
            self.parts = [MessagePart(parts)]
        else:
            self.parts = [
                p if isinstance(p, MessagePart) else MessagePart(**dict(p))
                for p in parts
            ]
        if not isinstance(author, str):
            raise TypeError("Message.author must be a string")
        self.author = author
        if isinstance(sent, str):
            sent = datetime.datetime.fromisoformat(sent)
        self.sent = sent or _utcnow()

    @property
    def text(self) -> str:
        """All text parts joined by a space."""
        return " ".join(part.text for part in self.parts if part.text)

    @property
    def files(self) -> list[MessagePart]:
        """The parts that carry binary data."""
        return [part for part in self.parts if part.binary]

    def to_dict(self, binary: bool = True) -> dict[str, Any]:
        """Return a JSON-ready dict; `binary=False` leaves file contents out."""
        return {
            "parts": [part.to_dict(binary) for part in self.parts],
            "author": self.author,
            "sent": self.sent.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Build a message from `to_dict` output."""
        return cls(data.get("parts", ()), data.get("author", ""), data.get("sent"))


@dataclasses.dataclass
class Conversation:
    """The state of one talker's conversation; plugins keep their state in `data`."""

    talker: str = ""
    ongoing: bool = False
    subject: str = ""
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    messages: MutableSequence[Message] = dataclasses.field(default_factory=list)
    uuid: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    channel: str = ""

    def to_dict(self, messages: bool = True) -> dict[str, Any]:
        """Return a JSON-ready dict of the state that persists between messages.

        File contents of earlier messages are left out (the inbox keeps them).
        The store keeps no messages in the state (`messages=False`): it reads
        them back from the inbox when a plugin looks at them.
        """
        state = {
            "uuid": self.uuid,
            "ongoing": self.ongoing,
            "subject": self.subject,
            "data": self.data,
        }
        if messages:
            kept = list(self.messages)[-MESSAGES_KEPT:]
            state["messages"] = [m.to_dict(binary=False) for m in kept]
        return state

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], talker: str = "", channel: str = ""
    ) -> Conversation:
        """Rebuild a conversation from `to_dict` output."""
        return cls(
            talker=talker,
            channel=channel,
            ongoing=bool(data.get("ongoing", False)),
            subject=data.get("subject") or "",
            data=dict(data.get("data") or {}),
            messages=[Message.from_dict(m) for m in data.get("messages", ())],
            uuid=data.get("uuid") or str(uuid.uuid4()),
        )


@dataclasses.dataclass
class Package:
    """What a plugin gets for one message: the conversation and a reply callback.

    `callback` takes a string or a `Message`. Set `complete` to say whether this
    conversation is finished after this message; left as None, the plugin's
    `is_complete(package)` decides.
    """

    conversation: Conversation
    callback: Callable[[str | Message], None]
    channel: dict[str, Any] = dataclasses.field(default_factory=dict)
    complete: bool | None = None

    @property
    def last_message(self) -> Message | None:
        """The message being handled (None when greeting)."""
        return self.conversation.messages[-1] if self.conversation.messages else None

    @property
    def last_message_text(self) -> str:
        """Text of the message being handled."""
        last = self.last_message
        return last.text if last else ""

    @property
    def talker(self) -> str:
        """Who the bot is talking to."""
        return self.conversation.talker


class InterfaceRoot:
    """The context every plugin receives: the configuration and plugin settings."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @property
    def conf(self) -> dict[str, Any]:
        """The configuration as the TOML dict (the older plugins read this)."""
        return self.config.raw

    @property
    def author(self) -> str:
        """The name put in every reply."""
        return self.config.author

    def settings(self, module: str | type | object) -> dict[str, Any]:
        """Return the TOML table `[module]` of a plugin module, or {}."""
        if not isinstance(module, str):
            cls = module if isinstance(module, type) else type(module)
            module = cls.__module__
        table = self.config.plugin_settings.get(module)
        if table is None:
            table = _dotted_table(self.config.raw, module)
        return dict(table)


def _dotted_table(raw: Mapping[str, Any], module: str) -> Mapping[str, Any]:
    """`[package.module]` in TOML is nested tables: follow the dotted name down."""
    table: Any = raw
    for part in module.split("."):
        table = table.get(part) if isinstance(table, Mapping) else None
    return table if isinstance(table, Mapping) else {}


class Interface:
    """Base class of plugins: set `aliases` (and `examples`), implement `consume`.

    `aliases` are short names of what the plugin does ("weather"); typing one
    exactly always reaches the plugin. `examples` are whole sentences that should
    reach it ("will it rain tomorrow"): compared by meaning only, never exactly.
    `near_misses` (only beside `examples`) are sentences on the plugin's topic
    that no plugin should take ("why is the sky blue"): they teach the router
    that talk about the topic is not a request.

    `consume(self, context, package)` may be `def` or `async def`; the older
    one-argument `consume(self, package)` works too. One instance serves every
    conversation, so keep per-talker state in `package.conversation.data`.
    """

    aliases: tuple[str, ...] | frozenset[str] | set[str] = ()
    examples: tuple[str, ...] = ()
    near_misses: tuple[str, ...] = ()

    def load(self, root: InterfaceRoot) -> None:
        """Prepare read-only resources once, when the plugin is loaded."""

    def consume(self, context: InterfaceRoot, package: Package) -> Any:
        """Handle the package's last message and answer through its callback."""

    def is_complete(self, package: Package) -> bool:
        """Whether the conversation is finished after this message (default yes)."""
        return True
