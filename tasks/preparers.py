"""Per-channel `prepare` hooks: what turns an inbox row into the bot's message."""

from __future__ import annotations

from collections.abc import Callable

from zoozl.chatbot import Message
from zoozl.config import Config
from zoozl.store import InboxRow

Prepare = Callable[[InboxRow], Message]


def make_preparers(config: Config) -> dict[str, Prepare]:
    """The hooks of the channels this config serves (Slack fetches files)."""
    preparers: dict[str, Prepare] = {}
    if config.slack_port is not None:
        from tasks.slack_files import SlackFiles

        preparers["slack"] = SlackFiles(config).prepare
    return preparers
